"""Beam inside the CLI contract (#23 items 5-7, 10, 14): options checked before
anything as one line, the previous cache kept through any failure, Ctrl-C exits 130
leaving no ``beam-temp-*``, error documents name file and record."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

beam = pytest.importorskip("apache_beam", reason="needs Apache Beam (extra 'beam')")
pytest.importorskip("pyarrow")
tf = pytest.importorskip("tensorflow")

from conftest import ROOT  # noqa: E402
from helpers.cli import run_cli  # noqa: E402
from helpers.tfexample import example, write  # noqa: E402

from tfod_anchors.sources import read_boxes  # noqa: E402
from tfod_anchors.sources.cache_write import extract_local  # noqa: E402

B1 = [0.1, 0.2, 0.5, 0.6]

BAD_OPTIONS = {
    "--direct_num_workers=abc": "argument --direct_num_workers: invalid int value: 'abc'",
    "--direct_running_mode=warp_speed": "argument --direct_running_mode: invalid choice: "
                                        "'warp_speed'",
    "--temp_location": "argument --temp_location: expected one argument",
    "--pickle_library=nope": "argument --pickle_library: invalid choice: 'nope'",
    "--direct_num_workers=-3": "--direct_num_workers must be >= 0 (0: one per core), got -3",
}


@pytest.fixture
def cached(tmp_path) -> tuple[str, Path, dict]:
    records = write(tmp_path / "train.record",
                    [example([B1], 40, 40, labels=[1]) for _ in range(6)])
    cache = tmp_path / "cache"
    extract_local([records], str(cache), progress=False)
    return records, cache, json.loads((cache / "manifest.json").read_text())


@pytest.mark.parametrize("option", sorted(BAD_OPTIONS))
def test_bad_beam_options_are_one_usage_line_before_anything(cached, capsys, option):
    records, cache, before = cached
    code, out, err = run_cli(capsys, "extract", "--input", records, "--output", cache,
                             "--runner", "DirectRunner", "--json", "--", option)
    assert code == 2
    error = json.loads(out)["error"]
    assert error["kind"] == "usage"
    assert BAD_OPTIONS[option] in error["message"]
    assert len(err.strip().splitlines()) == 1, err
    assert json.loads((cache / "manifest.json").read_text()) == before


def test_dataflow_without_its_options_is_one_usage_line(cached, capsys):
    pytest.importorskip("apache_beam.runners.dataflow.dataflow_runner")
    records, cache, before = cached
    code, out, err = run_cli(capsys, "extract", "--input", records, "--output", cache,
                             "--runner", "DataflowRunner", "--json")
    assert code == 2
    error = json.loads(out)["error"]
    assert error["kind"] == "usage" and "Missing required option: project" in error["message"]
    assert len(err.strip().splitlines()) == 1, err
    assert json.loads((cache / "manifest.json").read_text()) == before


def test_a_failed_beam_job_keeps_the_previous_cache(cached, tmp_path, capsys):
    records, cache, before = cached
    bad = write(tmp_path / "bad.record",
                [example([B1], 40, 40, labels=[1]), example([B1, B1], 40, 40, labels=[1])])
    code, out, _ = run_cli(capsys, "extract", "--input", bad, "--output", cache,
                           "--runner", "DirectRunner", "--json")
    assert code == 2
    error = json.loads(out)["error"]
    assert (error["file"], error["record"]) == (bad, 1)
    assert json.loads((cache / "manifest.json").read_text()) == before
    assert sorted(p.name for p in cache.iterdir()) == ["boxes-a-00000-of-00001.parquet",
                                                       "manifest.json"]
    assert read_boxes([str(cache)], progress=False).num_images == 6


def test_a_beam_job_replaces_the_cache_by_a_swap(cached, capsys):
    records, cache, _ = cached
    code, _, err = run_cli(capsys, "extract", "--input", records, "--output", cache,
                           "--runner", "DirectRunner", "--quiet")
    assert code == 0, err
    manifest = json.loads((cache / "manifest.json").read_text())
    names = sorted(p.name for p in cache.iterdir())
    assert names == sorted([s["path"] for s in manifest["shards"]] + ["manifest.json"])
    assert all(n.startswith("boxes-b-") for n in names[:-1])
    assert read_boxes([str(cache)], progress=False).num_images == 6


def test_ctrl_c_during_a_beam_extraction_exits_130_and_keeps_the_cache(cached, tmp_path):
    records, cache, before = cached
    one = Path(records).read_bytes()
    big = tmp_path / "big.record"
    big.write_bytes(one * 20_000)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    job = subprocess.Popen([sys.executable, "-m", "tfod_anchors", "extract", "--input",
                            str(big), "--output", str(cache), "--runner", "DirectRunner",
                            "--json"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and job.poll() is None and \
            not any(p.name.startswith("beam-temp-") for p in cache.iterdir()):
        time.sleep(0.05)
    time.sleep(0.5)
    job.send_signal(signal.SIGINT)
    out, err = job.communicate(timeout=300)
    if job.returncode == 0:
        pytest.skip("the job finished before Ctrl-C")
    assert job.returncode == 130, err
    assert json.loads(out)["error"]["kind"] == "interrupted"
    assert len(err.strip().splitlines()) <= 2, err
    assert not [p for p in cache.iterdir() if p.name.startswith("beam-temp-")]
    assert json.loads((cache / "manifest.json").read_text()) == before
