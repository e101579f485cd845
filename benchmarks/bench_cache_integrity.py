"""What the #23 safety checks cost, as ratios against the unchecked work in the same run.

1. Box cache reads: ``read_cache_rows`` (manifest validated, SHA-256 of every shard,
   Parquet page CRCs, ``source_file`` and record checks) against the same shards read
   with ``pyarrow.parquet.read_table`` + ``table_to_rows`` and no check at all.
2. The header walk before ``tf.data`` (:mod:`tfod_anchors.sources.tfrecord.prescan`) against
   the ``tf.data`` read it protects (``read_boxes(reader="tf")``), on box-only records
   (~150 bytes) and on image-bearing records (~100 KB), page cache warm.

Usage: ``nice -n 10 python benchmarks/bench_cache_integrity.py [--records 1000000]
[--image-records 4000] [--repeats 3]``. Times are CPU seconds of the process (all
threads), less distorted than wall time by other work on a shared machine; prints
the worst ratio over the repeats and every ratio.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tfod_anchors.sources import read_boxes  # noqa: E402
from tfod_anchors.sources.cache import load_manifest, read_cache_rows, table_to_rows  # noqa: E402
from tfod_anchors.sources.cache_write import extract_local  # noqa: E402
from tfod_anchors.sources.tfrecord.files import expand_paths, inspect_files  # noqa: E402
from tfod_anchors.sources.tfrecord.prescan import overruns  # noqa: E402
from tfod_anchors.sources.tfrecord.rows import concat_rows  # noqa: E402


def _example(rng: np.random.Generator, payload: int) -> bytes:
    n = int(rng.integers(1, 6))
    ymin, xmin = rng.uniform(0, 0.6, n), rng.uniform(0, 0.6, n)
    feature = {
        "image/height": tf.train.Feature(int64_list=tf.train.Int64List(value=[480])),
        "image/width": tf.train.Feature(int64_list=tf.train.Int64List(value=[640])),
        "image/object/class/label": tf.train.Feature(
            int64_list=tf.train.Int64List(value=rng.integers(1, 5, n).tolist())),
    }
    for key, values in (("ymin", ymin), ("xmin", xmin), ("ymax", ymin + 0.2),
                        ("xmax", xmin + 0.3)):
        feature[f"image/object/bbox/{key}"] = tf.train.Feature(
            float_list=tf.train.FloatList(value=values.tolist()))
    if payload:
        feature["image/encoded"] = tf.train.Feature(bytes_list=tf.train.BytesList(
            value=[rng.integers(0, 256, payload, dtype=np.uint8).tobytes()]))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def records_file(path: Path, n: int, payload: int, distinct: int = 64) -> str:
    """``n`` records cycling through ``distinct`` framed examples."""
    rng = np.random.default_rng(0)
    one = path.with_suffix(".distinct")
    with tf.io.TFRecordWriter(str(one)) as writer:
        for _ in range(distinct):
            writer.write(_example(rng, payload))
    block = one.read_bytes()
    with open(path, "wb") as f:
        for _ in range(n // distinct):
            f.write(block)
    return str(path)


def best_and_worst(fn, repeats: int) -> list[float]:
    """CPU seconds of ``fn`` (all threads; the shared machine's load distorts wall time)."""
    times = []
    for _ in range(repeats):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return times


def unchecked_rows(cache: str, manifest: dict) -> int:
    import pyarrow.parquet as pq

    parts = [table_to_rows(pq.read_table(os.path.join(cache, s["path"])))
             for s in manifest["shards"]]
    return concat_rows(parts).sorted().num_rows


def cache_part(work: Path, n: int, repeats: int) -> None:
    records = records_file(work / "box.record", n, 0, distinct=4096)
    cache = str(work / "cache")
    extract_local([records], cache, progress=False, reader="native", shard_rows=250_000)
    manifest = load_manifest(cache)
    size = sum(s["bytes"] for s in manifest["shards"]) / 1e6
    unchecked_rows(cache, manifest)  # warm the page cache
    ratios = []
    for _ in range(repeats):
        base = best_and_worst(lambda: unchecked_rows(cache, manifest), 1)[0]
        checked = best_and_worst(lambda: read_cache_rows(cache, load_manifest(cache)), 1)[0]
        ratios.append((checked / base, base, checked))
    worst = max(ratios)
    print(f"cache read, {n} records, {len(manifest['shards'])} shards, {size:.1f} MB (CPU s): "
          f"unchecked {worst[1]:.3f} s, checked {worst[2]:.3f} s, ratio {worst[0]:.3f} "
          f"(worst of {repeats}; all: {', '.join(f'{r[0]:.3f}' for r in ratios)})")


def prescan_part(work: Path, name: str, n: int, payload: int, repeats: int) -> None:
    records = records_file(work / f"{name}.record", n, payload)
    infos = inspect_files(expand_paths([records]), None)
    size = infos[0].size / 1e6
    read_boxes([records], reader="tf", progress=False)  # warm: TF imported, page cache
    ratios = []
    for _ in range(repeats):
        scan = best_and_worst(lambda: overruns(infos), 1)[0]
        read = best_and_worst(lambda: read_boxes([records], reader="tf", progress=False), 1)[0]
        ratios.append((scan / read, scan, read))
    worst = max(ratios)
    print(f"header walk, {name}: {n} records, {size:.0f} MB (CPU s): walk {worst[1]:.3f} s, "
          f"tf.data "
          f"read {worst[2]:.3f} s, walk/read {worst[0]:.3f} (worst of {repeats}; all: "
          f"{', '.join(f'{r[0]:.3f}' for r in ratios)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--image-records", type=int, default=4_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--parts", default="cache,walk")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tfod_bench_integrity_"))
    print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f}")
    try:
        if "cache" in args.parts:
            cache_part(work, args.records, args.repeats)
        if "walk" in args.parts:
            prescan_part(work, "box-only", args.records, 0, args.repeats)
            prescan_part(work, "image-bearing", args.image_records, 100_000, args.repeats)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
