"""Reader throughput: our TFRecord reader against a bare tf.data reference and a naive loop.

Builds two datasets in a temporary directory (removed at the end unless ``--keep``):

(a) image-bearing records: >= ``--image-gb`` GB of records with a ~100 KB random
    ``image/encoded`` payload each plus real box features;
(b) box-only records: ``--box-records`` records with box features only.

For each regime it prints, in one run:

* raw file read (Python ``open().read`` in 8 MB chunks, page cache warm);
* a bare ``tf.data.TFRecordDataset(num_parallel_reads=AUTOTUNE)`` + ``batch`` +
  ``tf.io.parse_example`` of the same box features, results pulled to numpy;
* a naive loop: ``tf.train.Example.FromString`` per record, features to Python lists;
* ours: ``tfod_anchors.sources.read_boxes``.

Targets: ours >= 0.8x the bare reference and >= 10x the naive loop.

Usage: ``python benchmarks/bench_readers.py [--image-gb 1.0] [--box-records 100000]``.
Not a test; numbers depend on the machine (note the core count in the output).
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
from tfod_anchors.sources.tfrecord.files import batch_size, inspect_files  # noqa: E402

PAYLOAD = 100_000
CLASSES = [b"cat", b"dog", b"person", b"car"]


def _example(rng: np.random.Generator, index: int, payload: bytes | None) -> bytes:
    n = int(rng.integers(1, 6))
    ymin = rng.uniform(0, 0.6, n)
    xmin = rng.uniform(0, 0.6, n)
    boxes = np.stack([ymin, xmin, ymin + rng.uniform(0.05, 0.4, n),
                      xmin + rng.uniform(0.05, 0.4, n)], axis=1)
    labels = rng.integers(1, 5, n)

    def floats(v):
        return tf.train.Feature(float_list=tf.train.FloatList(value=v))

    def ints(v):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=v))

    def byts(v):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=v))

    feature = {
        "image/height": ints([480]), "image/width": ints([640]),
        "image/filename": byts([f"{index:08d}.jpg".encode()]),
        "image/source_id": byts([str(index).encode()]),
        "image/format": byts([b"jpeg"]),
        "image/object/bbox/ymin": floats(boxes[:, 0].tolist()),
        "image/object/bbox/xmin": floats(boxes[:, 1].tolist()),
        "image/object/bbox/ymax": floats(boxes[:, 2].tolist()),
        "image/object/bbox/xmax": floats(boxes[:, 3].tolist()),
        "image/object/class/label": ints(labels.tolist()),
        "image/object/class/text": byts([CLASSES[i - 1] for i in labels]),
        "image/object/difficult": ints([0] * n),
    }
    if payload is not None:
        feature["image/encoded"] = byts([payload])
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def build(directory: Path, name: str, records: int, shards: int, payload: bool,
          seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    paths = [str(directory / f"{name}-{s:05d}-of-{shards:05d}.tfrecord") for s in range(shards)]
    writers = [tf.io.TFRecordWriter(p) for p in paths]
    for i in range(records):
        data = rng.bytes(PAYLOAD) if payload else None
        writers[i * shards // records].write(_example(rng, i, data))
    for w in writers:
        w.close()
    return paths


def _timed(fn, repeat: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def raw_read(paths: list[str]) -> int:
    total = 0
    for path in paths:
        with open(path, "rb") as f:
            while chunk := f.read(8 << 20):
                total += len(chunk)
    return total



def bare_reference(paths: list[str], batch: int) -> int:
    ragged = {k: tf.io.RaggedFeature(tf.float32, row_splits_dtype=tf.int64)
              for k in ("image/object/bbox/ymin", "image/object/bbox/xmin",
                        "image/object/bbox/ymax", "image/object/bbox/xmax")}
    for k in ("image/object/class/label", "image/object/difficult", "image/object/group_of",
              "image/object/is_crowd"):
        ragged[k] = tf.io.RaggedFeature(tf.int64, row_splits_dtype=tf.int64)
    features = dict(ragged)
    features["image/height"] = tf.io.FixedLenFeature([], tf.int64, default_value=0)
    features["image/width"] = tf.io.FixedLenFeature([], tf.int64, default_value=0)
    features["image/source_id"] = tf.io.FixedLenFeature([], tf.string, default_value="")
    features["image/filename"] = tf.io.FixedLenFeature([], tf.string, default_value="")
    ds = tf.data.TFRecordDataset(paths, num_parallel_reads=tf.data.AUTOTUNE).batch(batch)

    def parse(serialized):  # ragged -> (values, row splits): what any numpy consumer needs
        parsed = tf.io.parse_example(serialized, features)
        return {k: (v.flat_values, v.row_splits) if isinstance(v, tf.RaggedTensor) else v
                for k, v in parsed.items()}

    ds = ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
    boxes = 0
    for parsed in ds.as_numpy_iterator():
        boxes += parsed["image/object/bbox/ymin"][0].shape[0]
    return boxes


def naive_loop(paths: list[str]) -> int:
    boxes = 0
    for raw in tf.data.TFRecordDataset(paths):
        example = tf.train.Example.FromString(raw.numpy())
        f = example.features.feature
        ymin = list(f["image/object/bbox/ymin"].float_list.value)
        _ = (list(f["image/object/bbox/xmin"].float_list.value),
             list(f["image/object/bbox/ymax"].float_list.value),
             list(f["image/object/bbox/xmax"].float_list.value),
             list(f["image/object/class/label"].int64_list.value),
             f["image/height"].int64_list.value[0], f["image/width"].int64_list.value[0])
        boxes += len(ymin)
    return boxes


def ours(paths: list[str]) -> int:
    return read_boxes(paths, progress=False).num_boxes


def regime(title: str, paths: list[str], records: int, repeat: int) -> None:
    size = sum(os.path.getsize(p) for p in paths)
    mb = size / 1e6
    raw_read(paths)  # warm the page cache
    batch = batch_size(inspect_files(paths, None))
    t_raw, _ = _timed(lambda: raw_read(paths), repeat)
    t_ref = t_ours = float("inf")
    for _ in range(repeat):  # alternate, so both see the same machine load
        t, ref_boxes = _timed(lambda: bare_reference(paths, batch), 1)
        t_ref = min(t_ref, t)
        t, our_boxes = _timed(lambda: ours(paths), 1)
        t_ours = min(t_ours, t)
    t_naive, naive_boxes = _timed(lambda: naive_loop(paths), 1)
    assert ref_boxes == our_boxes == naive_boxes, (ref_boxes, our_boxes, naive_boxes)
    print(f"\n== {title}: {records:,} records, {our_boxes:,} boxes, {mb:,.0f} MB in "
          f"{len(paths)} files (batch {batch})")
    print(f"{'method':<34}{'seconds':>9}{'MB/s':>10}{'records/s':>12}")
    for name, t in (("raw file read", t_raw), ("bare tf.data + parse_example", t_ref),
                    ("naive Example.FromString loop", t_naive), ("ours (read_boxes)", t_ours)):
        print(f"{name:<34}{t:>9.2f}{mb / t:>10.0f}{records / t:>12,.0f}")
    print(f"ours / bare reference: {t_ref / t_ours:.2f}x speed (target >= 0.8)")
    print(f"ours / naive loop:     {t_naive / t_ours:.1f}x speed (target >= 10)")
    print(f"(raw file read / naive loop: {t_naive / t_raw:.1f}x - the most any reader that "
          "reads every byte could gain over the naive loop)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--image-gb", type=float, default=1.0)
    parser.add_argument("--box-records", type=int, default=100_000)
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3,
                        help="best of N, alternating reference and ours (naive loop: once)")
    parser.add_argument("--keep", metavar="DIR", help="build in DIR and keep the files")
    args = parser.parse_args()
    print(f"TensorFlow {tf.__version__}, {os.cpu_count()} CPUs")
    directory = Path(args.keep or tempfile.mkdtemp(prefix="tfod-anchors-bench-"))
    directory.mkdir(parents=True, exist_ok=True)
    try:
        image_records = int(np.ceil(args.image_gb * 1e9 / PAYLOAD))
        start = time.perf_counter()
        images = build(directory, "images", image_records, args.shards, True, seed=0)
        boxes = build(directory, "boxes", args.box_records, args.shards, False, seed=1)
        print(f"built in {time.perf_counter() - start:.0f} s under {directory}")
        regime("(a) image-bearing records", images, image_records, args.repeat)
        regime("(b) box-only records", boxes, args.box_records, args.repeat)
    finally:
        if not args.keep:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
