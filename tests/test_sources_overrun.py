"""A record header with a valid CRC and a length far past the end of the file
(2^40, 2^62) must never crash the process, whatever reader runs: every path that
hands files to ``tf.data`` walks the headers first (:mod:`tfod_anchors.sources.tfrecord.prescan`).
Each case runs in a subprocess, where a crash shows as a signal exit code."""

from __future__ import annotations

import gzip
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

tf = pytest.importorskip("tensorflow")

from helpers.tfexample import example, write  # noqa: E402

from tfod_anchors.sources.tfrecord.files import inspect_files  # noqa: E402
from tfod_anchors.sources.tfrecord.framing import masked_crc  # noqa: E402
from tfod_anchors.sources.tfrecord.prescan import overrun  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
B1 = [0.1, 0.2, 0.5, 0.6]


def hostile_record_file(path: Path, length: int, good: int = 10) -> tuple[str, int]:
    """``good`` records, then a header claiming ``length`` bytes with a valid CRC and
    a few bytes of data; returns the path and the byte offset of that header."""
    write(path, [example([B1], 64, 64, labels=[1]) for _ in range(good)])
    data = path.read_bytes()
    head = struct.pack("<Q", length)
    path.write_bytes(data + head + struct.pack("<I", masked_crc(head)) + b"\0" * 40)
    return str(path), len(data)


def run(*argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-m", "tfod_anchors", *argv], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=300)


@pytest.mark.parametrize("length", [2**40, 2**62])
def test_prescan_finds_the_overlong_header(tmp_path, length):
    path, offset = hostile_record_file(tmp_path / "h.record", length)
    hit = overrun(inspect_files([path], None)[0])
    assert hit is not None and hit.record == 10
    assert hit.detail == f"file truncated (incomplete record at byte {offset})"


def test_prescan_finds_it_in_a_gzip_stream(tmp_path):
    path, offset = hostile_record_file(tmp_path / "h.record", 2**40)
    gz = tmp_path / "h.record.gz"
    gz.write_bytes(gzip.compress(Path(path).read_bytes()))
    hit = overrun(inspect_files([str(gz)], None)[0])
    assert hit is not None and (hit.record, hit.detail) == (
        10, f"file truncated (incomplete record at byte {offset})")


def test_prescan_passes_good_and_crc_damaged_files(tmp_path):
    good = write(tmp_path / "g.record", [example([B1], 64, 64, labels=[1])] * 3)
    assert overrun(inspect_files([good], None)[0]) is None
    path, offset = hostile_record_file(tmp_path / "h.record", 2**40)
    data = bytearray(Path(path).read_bytes())
    data[offset + 8] ^= 1  # the length CRC no longer matches: tf.data stops safely there
    Path(path).write_bytes(bytes(data))
    assert overrun(inspect_files([path], None)[0]) is None


@pytest.mark.parametrize("length", [2**40, 2**62])
def test_tf_reader_reports_instead_of_crashing(tmp_path, length):
    path, offset = hostile_record_file(tmp_path / "h.record", length)
    done = run("stats", "--input", path, "--reader", "tf", "--json")
    assert done.returncode == 2, done.stderr
    error = json.loads(done.stdout)["error"]
    assert (error["file"], error["record"]) == (path, 10)
    assert f"(record 10): file truncated (incomplete record at byte {offset})" in \
        error["message"]
    done = run("stats", "--input", path, "--reader", "tf", "--skip-bad", "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["skipped"]["corrupt_files"] == 1
    assert doc["num_images"] == 10
    native = json.loads(run("stats", "--input", path, "--reader", "native", "--skip-bad",
                            "--json").stdout)
    assert native == doc


def test_local_extract_reports_instead_of_crashing(tmp_path):
    path, offset = hostile_record_file(tmp_path / "h.record", 2**40)
    for reader in ("tf", "native"):
        done = run("extract", "--input", path, "--output", str(tmp_path / f"c-{reader}"),
                   "--reader", reader, "--skip-bad", "--json")
        assert done.returncode == 0, done.stderr
        doc = json.loads(done.stdout)
        assert doc["counts"]["records"] == 10
        assert doc["skip_examples"]["corrupt_files"] == (
            f"{path} (record 10): file truncated (incomplete record at byte {offset})")
