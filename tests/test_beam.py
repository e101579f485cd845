"""Real Apache Beam (DirectRunner) on small real TFRecords: the extraction equals the
local reader, counters and manifest give exact skip counts, bad input is one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

beam = pytest.importorskip("apache_beam", reason="needs Apache Beam (extra 'beam')")
pytest.importorskip("pyarrow")
tf = pytest.importorskip("tensorflow")

from apache_beam.testing.util import assert_that  # noqa: E402
from conftest import ROOT  # noqa: E402
from helpers.cache import damaged_dataset  # noqa: E402
from helpers.cli import run_cli  # noqa: E402
from helpers.tfexample import example, write  # noqa: E402

from tfod_anchors.beam import BoxStatsFn, ReadBoxes, ReadOptions, run_extraction  # noqa: E402
from tfod_anchors.commands.stats import box_statistics, original_pixels  # noqa: E402
from tfod_anchors.sources import read_boxes  # noqa: E402
from tfod_anchors.sources.cache_write import extract_local  # noqa: E402

B1 = [0.1, 0.2, 0.5, 0.6]


def test_beam_extraction_equals_the_local_reader_on_damaged_records(tmp_path):
    data = damaged_dataset(tmp_path / "data")
    local = extract_local([data["glob"]], str(tmp_path / "local"), skip_bad=True,
                          label_map_path=data["label_map"], progress=False)
    done = run_extraction([data["glob"]], str(tmp_path / "beam"),
                          ReadOptions(skip_bad=True, label_map_path=data["label_map"]),
                          runner="DirectRunner", beam_args=["--direct_num_workers=1"])
    manifest = done.manifest
    assert manifest["counts"] == local["counts"]
    assert manifest["skipped"] == local["skipped"]
    # one framing for both (CRC damage worded and located alike)
    assert manifest["skip_examples"]["corrupt_files"] == local["skip_examples"]["corrupt_files"]
    # hand count (tests/test_cache.py's dataset), plus the label map: "zzz" is unknown
    assert {k: v for k, v in manifest["skipped"].items() if v} == {
        "corrupt_files": 2, "malformed_records": 1, "inverted_boxes": 1, "nan_boxes": 1,
        "unknown_class_boxes": 1, "images_without_boxes": 1}
    assert manifest["counts"]["boxes"] == 7
    skip_counters = {k: v for k, v in done.counters.items()
                     if k not in ("records", "images", "boxes")}
    assert skip_counters == {k: v for k, v in manifest["skipped"].items() if v}
    assert (done.counters["records"], done.counters["images"], done.counters["boxes"]) == \
        (7, 6, 7)
    for options in ({}, {"label_map_path": data["label_map"], "max_number_of_boxes": 1}):
        records = read_boxes([data["glob"]], skip_bad=True, progress=False, **options)
        cached = read_boxes([str(tmp_path / "beam")], skip_bad=True, progress=False, **options)
        for name in ("image_height", "image_width", "image_key", "box_image", "boxes",
                     "label", "difficult"):
            np.testing.assert_array_equal(getattr(records, name), getattr(cached, name))
        assert records.skipped == cached.skipped
        assert records.sources == cached.sources


def test_beam_bad_record_stops_with_one_line_exit_2(tmp_path, capsys):
    good = [example([B1], 40, 40, labels=[1]) for _ in range(5)]
    malformed = example([B1, B1], 40, 40, labels=[1])          # 2 boxes, 1 label
    records = write(tmp_path / "train.record", good + [malformed] + good)
    code, out, err = run_cli(capsys, "extract", "--input", records, "--output",
                             tmp_path / "cache", "--runner", "DirectRunner", "--quiet")
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("tfod-anchors: error: 1 malformed record(s), row(s) or "
                               f"annotation(s) cannot be used; first: {records} (record 5): ")
    assert "Traceback" not in err
    assert not (tmp_path / "cache").exists()  # created by this run, removed again


def test_beam_names_a_record_tensorflow_cannot_even_word_an_error_for(tmp_path, capsys):
    # A feature name that is not UTF-8: protobuf and TensorFlow refuse the record, and
    # TensorFlow's own error message fails to decode (the extraction once died here
    # with "unexpected UnicodeDecodeError", even with --skip-bad).
    name = bytes([0x0A, 0x0C, 0x0A, 0x02, 0xFF, 0xFE, 0x12, 0x06, 0x1A, 0x04, 0x0A, 0x02,
                  0x01, 0x02])
    good = example([B1], 40, 40, labels=[1])
    records = write(tmp_path / "train.record", [good, good + name, good])
    code, out, err = run_cli(capsys, "extract", "--input", records, "--output",
                             tmp_path / "stop", "--runner", "DirectRunner", "--quiet")
    assert (code, out) == (2, "")
    assert err.strip() == (f"tfod-anchors: error: {records} (record 1): not a usable "
                           "tf.Example (cannot parse the record as a tf.Example) (skip and "
                           "count it with --skip-bad)")
    done = run_extraction([records], str(tmp_path / "skip"), ReadOptions(skip_bad=True),
                          runner="DirectRunner", beam_args=["--direct_num_workers=1"])
    local = extract_local([records], str(tmp_path / "local"), skip_bad=True, progress=False)
    assert done.manifest["counts"] == local["counts"]
    assert done.manifest["counts"]["records"] == 2
    assert done.manifest["skipped"]["malformed_records"] == 1 == \
        local["skipped"]["malformed_records"]


def test_read_boxes_and_box_stats_match_the_local_reader_and_stats(tmp_path):
    data = damaged_dataset(tmp_path / "data")
    local = read_boxes([data["glob"]], skip_bad=True, label_map_path=data["label_map"],
                       progress=False)
    stats = box_statistics(local, original_pixels(local), "original pixels")
    expected_images = sorted(
        (str(local.image_key[i]), int(local.image_height[i]),
         local.boxes[local.box_image == i].tolist(), local.label[local.box_image == i].tolist())
        for i in range(local.num_images))
    labels, counts = np.unique(local.label, return_counts=True)

    def check_images(images):
        got = sorted((im["image_key"], im["image_height"], im["boxes"].tolist(),
                      im["label"].tolist()) for im in images)
        assert got == expected_images

    def check_stats(results):
        (result,) = results
        assert result["num_images"] == stats["num_images"]
        assert result["num_boxes"] == stats["num_boxes"]
        assert result["size_bands"] == stats["size_bands"]
        assert result["classes"] == {int(k): int(v) for k, v in zip(labels, counts)}
        assert sum(result["width_hist"]) == sum(result["height_hist"]) == stats["num_boxes"]

    options = ReadOptions(skip_bad=True, label_map_path=data["label_map"])
    with beam.Pipeline(runner="DirectRunner") as pipeline:
        images = pipeline | ReadBoxes(data["glob"], options)
        assert_that(images, check_images, label="images")
        totals = images | beam.CombineGlobally(BoxStatsFn())
        assert_that(totals, check_stats, label="stats")


def test_box_stats_fn_merges_partial_results_exactly():
    fn = BoxStatsFn()
    images = [{"boxes": np.array([[0, 0, 0.5, 0.5]], np.float32), "image_height": 100,
               "image_width": 40, "label": np.array([2], np.int32)},
              {"boxes": np.array([[0, 0, 1, 1], [0, 0, 0.1, 0.1]], np.float32),
               "image_height": 200, "image_width": 300, "label": np.array([1, 2], np.int32)}]
    parts = [fn.add_input(fn.create_accumulator(), im) for im in images]
    out = fn.extract_output(fn.merge_accumulators(parts))
    # box areas: 50x20 = 1000 (small), 200x300 (large), 20x30 = 600 (small)
    assert out["size_bands"] == {"small": 2, "medium": 0, "large": 1}
    assert out["classes"] == {1: 1, 2: 2}
    assert (out["num_images"], out["num_boxes"]) == (2, 3)
    # widths 20, 300, 30 px: bins of 2 ** (k / 4); 20 px -> k = 17 (2**4.25 = 19.03)
    edges = np.asarray(out["hist_edges_px"])
    assert out["width_hist"][int(np.searchsorted(edges, 20, side="right"))] == 1
    assert sum(out["width_hist"]) == 3


def test_beam_package_imports_without_importing_beam():
    import subprocess
    import sys

    code = ("import sys, tfod_anchors.beam as b; "
            "print('apache_beam' in sys.modules, b.RUNNERS[0])")
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=root, env={"PYTHONPATH": str(root), "PATH": ""}, check=True)
    assert out.stdout.split() == ["False", "DirectRunner"]


def test_beam_extraction_runs_without_tensorflow(tmp_path):
    """Workers parse with the TensorFlow-free parser and get the label map parsed, so an
    extraction of local records (label map included) runs where TensorFlow cannot even
    be imported: Dataflow workers need no TensorFlow."""
    records = write(tmp_path / "train.record",
                    [example([B1], 40, 40, texts=["cat"]) for _ in range(3)])
    label_map = tmp_path / "map.pbtxt"
    label_map.write_text("item { id: 4 name: 'cat' }\n")
    probe = (
        "import sys, json; sys.modules['tensorflow'] = None\n"  # any import of it fails
        "from tfod_anchors.beam import ReadOptions, run_extraction\n"
        f"done = run_extraction([{str(records)!r}], {str(tmp_path / 'cache')!r}, "
        f"ReadOptions(label_map_path={str(label_map)!r}), runner='DirectRunner', "
        "beam_args=['--direct_running_mode=in_memory'])\n"
        "print(json.dumps(done.manifest['counts']))\n")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    counts = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (counts["records"], counts["images"], counts["boxes"]) == (3, 3, 3)
    cached = read_boxes([str(tmp_path / "cache")], label_map_path=str(label_map),
                        progress=False)
    assert cached.label.tolist() == [4, 4, 4]
