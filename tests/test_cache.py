"""The box cache (local extraction): same BoxSet as the records with every reading
option, exact skip counts, byte-identical ``fit --json``, stale and incomplete caches."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pyarrow", reason="the box cache needs pyarrow (extra 'cache')")
tf = pytest.importorskip("tensorflow")

from helpers.cache import damaged_dataset  # noqa: E402
from helpers.cli import run_cli  # noqa: E402
from helpers.grid64 import CONFIG  # noqa: E402
from helpers.tfexample import example, write  # noqa: E402

from tfod_anchors.errors import InputError, UsageError  # noqa: E402
from tfod_anchors.sources import read_boxes, source_kind  # noqa: E402
from tfod_anchors.sources.cache import load_manifest  # noqa: E402
from tfod_anchors.sources.cache_write import extract_local  # noqa: E402
from tfod_anchors.sources.raw import SKIP_KEYS  # noqa: E402

FIELDS = ("image_height", "image_width", "image_key", "box_image", "boxes", "label",
          "difficult", "group_of", "is_crowd")


def assert_same(a, b) -> None:
    for name in FIELDS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.skipped == b.skipped
    assert a.skip_examples == b.skip_examples
    assert a.sources == b.sources


@pytest.fixture()
def damaged(tmp_path: Path) -> dict[str, str]:
    data = damaged_dataset(tmp_path / "data")
    extract_local([data["glob"]], str(tmp_path / "cache"), skip_bad=True, progress=False)
    data["cache"] = str(tmp_path / "cache")
    return data


OPTIONS = [
    {},
    {"label_map_path": "LM"},
    {"max_number_of_boxes": 1},
    {"drop_difficult": True, "max_number_of_boxes": 2, "label_map_path": "LM"},
]


@pytest.mark.parametrize("options", OPTIONS)
def test_cache_reads_like_the_records_with_every_option(damaged, options):
    options = {k: damaged["label_map"] if v == "LM" else v for k, v in options.items()}
    records = read_boxes([damaged["glob"]], skip_bad=True, progress=False, **options)
    cached = read_boxes([damaged["cache"]], skip_bad=True, progress=False, **options)
    assert_same(records, cached)


def test_exact_skip_counts_in_the_manifest(damaged):
    manifest = load_manifest(damaged["cache"])
    # a-0: 6 records, one malformed (2 boxes, 1 label); a-1: record 0 kept, CRC damage
    # at record 1; a-2: not a TFRecord. Stored: 7 records with 2+0+2+3+2+2+1 = 12 box
    # entries. Kept: 6 images with 2+0+2+3+2+1 = 10 boxes, minus 1 inverted and 1 NaN.
    assert manifest["counts"] == {"files": 3, "records": 7, "box_entries": 12, "images": 6,
                                  "boxes": 8}
    expected = dict.fromkeys(SKIP_KEYS, 0)
    expected.update(corrupt_files=2, malformed_records=1, inverted_boxes=1, nan_boxes=1,
                    images_without_boxes=1)
    assert manifest["skipped"] == expected
    assert list(manifest["skipped"]) == list(SKIP_KEYS)
    assert manifest["stored_skips"]["counts"] == {"corrupt_files": 2}
    assert [f["read"] for f in manifest["inputs"]["files"]] == [True, True, False]
    [shard] = manifest["shards"]
    assert (shard["path"], shard["rows"]) == ("boxes-a-00000-of-00001.parquet", 7)
    data = (Path(damaged["cache"]) / shard["path"]).read_bytes()
    assert (shard["bytes"], shard["sha256"]) == (len(data), hashlib.sha256(data).hexdigest())


def test_cache_without_skip_bad_fails_like_the_records(damaged):
    with pytest.raises(InputError) as from_records:
        read_boxes([damaged["glob"]], progress=False)
    with pytest.raises(InputError) as from_cache:
        read_boxes([damaged["cache"]], progress=False)
    # the records stop at the first bad file; the cache (extracted with skip_bad) knows
    # both and names the same first one
    assert "a-2.record: not a TFRecord file" in str(from_records.value)
    assert str(from_cache.value).startswith("2 file(s) are corrupt")
    assert "first: " + damaged["glob"].replace("*", "2") + ": not a TFRecord" in \
        str(from_cache.value)


def test_extraction_without_skip_bad_stops_at_the_bad_file(damaged, tmp_path):
    with pytest.raises(InputError, match=r"a-2\.record: not a TFRecord file"):
        extract_local([damaged["glob"]], str(tmp_path / "c2"), progress=False)
    assert not (tmp_path / "c2").exists()


def test_manifest_is_deterministic_and_cache_is_a_source_kind(damaged, tmp_path):
    again = tmp_path / "again"
    extract_local([damaged["glob"]], str(again), skip_bad=True, progress=False)
    assert (again / "manifest.json").read_bytes() == \
        (Path(damaged["cache"]) / "manifest.json").read_bytes()
    assert source_kind(damaged["cache"]) == "cache"


def test_stale_manifest_warns_one_line(damaged, capsys):
    os.utime(damaged["good"], ns=(1_000_000_000, 1_000_000_000))
    read_boxes([damaged["cache"]], skip_bad=True, progress=False)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "inputs changed since this box cache was extracted" in err[0]
    assert "a-0.record modified" in err[0]


def test_unchanged_inputs_do_not_warn(damaged, capsys):
    read_boxes([damaged["cache"]], skip_bad=True, progress=False)
    assert capsys.readouterr().err == ""


def test_incomplete_cache_is_refused(damaged):
    os.remove(Path(damaged["cache"]) / "manifest.json")
    with pytest.raises(InputError, match="extraction did not finish"):
        read_boxes([damaged["cache"]], skip_bad=True, progress=False)


def test_verify_sizes_must_match_the_extraction(damaged):
    with pytest.raises(InputError, match="extracted without verify_sizes=True"):
        read_boxes([damaged["cache"]], skip_bad=True, verify_sizes=True, progress=False)


def test_output_directory_with_other_files_is_refused(damaged, tmp_path):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match="holds other files"):
        extract_local([damaged["glob"]], str(busy), skip_bad=True, progress=False)
    assert (busy / "notes.txt").read_text() == "mine"


def test_extract_refuses_non_tfrecord_inputs(tmp_path):
    with pytest.raises(UsageError, match="extract caches TFRecord files"):
        extract_local([str(tmp_path / "boxes.csv")], str(tmp_path / "c"), progress=False)


def test_fit_json_is_byte_identical_on_cache_and_records(tmp_path, capsys):
    rng = np.random.default_rng(5)
    records = []
    for _ in range(30):
        n = int(rng.integers(1, 4))
        ymin, xmin = rng.uniform(0, 0.6, n), rng.uniform(0, 0.6, n)
        boxes = np.stack([ymin, xmin, ymin + rng.uniform(0.1, 0.4, n),
                          xmin + rng.uniform(0.1, 0.4, n)], axis=1)
        records.append(example(boxes, 64, 64))
    path = write(tmp_path / "train.tfrecord", records)
    config = tmp_path / "pipeline.config"
    config.write_text(CONFIG % {"fe_stride": 16, "records": path})
    code, _, err = run_cli(capsys, "extract", "--config", config, "--output", tmp_path / "cache",
                           "--quiet")
    assert code == 0, err
    outputs = []
    for source in (path, tmp_path / "cache"):
        code, out, err = run_cli(capsys, "fit", config, "--input", source, "--json")
        assert code == 0, err
        outputs.append(out)
    assert outputs[0] == outputs[1]
    assert json.loads(outputs[0])["num_boxes"] > 0


def test_stats_json_is_identical_on_cache_and_records(damaged, capsys):
    docs = []
    for source in (damaged["glob"], damaged["cache"]):
        code, out, err = run_cli(capsys, "stats", "--input", source, "--skip-bad",
                                 "--label-map", damaged["label_map"], "--json")
        assert code == 0, err
        docs.append(out)
    assert docs[0] == docs[1]
    assert json.loads(docs[0])["skipped"]["corrupt_files"] == 2


def test_missing_pyarrow_is_one_clear_line(damaged):
    import subprocess
    import sys

    code = ("import sys; sys.modules['pyarrow'] = None; from tfod_anchors.cli import main; "
            f"sys.exit(main(['stats', '--input', {damaged['cache']!r}, '--skip-bad']))")
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root,
                         env={**os.environ, "PYTHONPATH": str(root)})
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1] == (
        "tfod-anchors: error: the box cache (Parquet) needs pyarrow: pip install "
        "'tfod-anchors[cache]' (or pip install pyarrow)")
