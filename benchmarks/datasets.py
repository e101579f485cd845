"""The benchmark datasets in the three input orders the fit must not depend on.

``../shared/datasets`` (or ``$TFOD_ANCHORS_SHARED/datasets``) holds VOC2007 trainval
and COCO val2017 as CSV box tables. :func:`inputs` returns, per order,

* ``"tfrecord"``: box-only TFRecords with TFOD's keys (``image/height``,
  ``image/width``, ``image/filename``, ``image/source_id``, ``image/object/bbox/*``,
  ``image/object/class/label``, ``image/object/difficult``), one record per image in
  the CSV's image order, written once under ``$TMPDIR/tfod_anchors_bench``;
* ``"csv"``: the CSV itself;
* ``"shuffled"``: the CSV's rows in a seeded random order (same directory).

The TFRecord floats are the CSV reader's own normalised float32 values, so the three
orders hold bit-identical boxes. :func:`repeated_records` writes the box-only
records of a dataset repeated ``k`` times (the ~1M-box speed benchmark).
"""

from __future__ import annotations

import csv
import os
import random
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("TFOD_ANCHORS_SHARED", ROOT.parent / "shared"))
DATASETS = {
    "voc": ("VOC2007 trainval", "datasets/voc2007/voc2007_trainval.csv"),
    "coco": ("COCO val2017", "datasets/coco_val2017/coco_val2017.csv"),
}
ORDERS = ("tfrecord", "csv", "shuffled")
WORK = Path(tempfile.gettempdir()) / "tfod_anchors_bench"


def csv_path(dataset: str) -> Path:
    return SHARED / DATASETS[dataset][1]


def shuffled_csv(dataset: str, seed: int = 0) -> Path:
    """The dataset's CSV with its rows in a seeded random order (header first)."""
    out = WORK / f"{dataset}_shuffled{seed}.csv"
    if not out.exists():
        WORK.mkdir(parents=True, exist_ok=True)
        with open(csv_path(dataset), newline="") as f:
            rows = list(csv.reader(f))
        body = rows[1:]
        random.Random(seed).shuffle(body)
        tmp = out.with_suffix(".tmp")
        with open(tmp, "w", newline="") as f:
            csv.writer(f).writerows([rows[0], *body])
        tmp.replace(out)
    return out


def _examples(boxset, copies: int = 1):
    import tensorflow as tf

    def ints(v):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=v))

    def floats(v):
        return tf.train.Feature(float_list=tf.train.FloatList(value=v))

    def byts(v):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=v))

    bounds = np.searchsorted(boxset.box_image, np.arange(boxset.num_images + 1))
    for copy in range(copies):
        for i in range(boxset.num_images):
            sl = slice(bounds[i], bounds[i + 1])
            b = boxset.boxes[sl]
            name = f"{boxset.image_key[i]}" + (f"_{copy}" if copies > 1 else "")
            feature = {
                "image/height": ints([int(boxset.image_height[i])]),
                "image/width": ints([int(boxset.image_width[i])]),
                "image/filename": byts([f"{name}.jpg".encode()]),
                "image/source_id": byts([name.encode()]),
                "image/object/bbox/ymin": floats(b[:, 0].tolist()),
                "image/object/bbox/xmin": floats(b[:, 1].tolist()),
                "image/object/bbox/ymax": floats(b[:, 2].tolist()),
                "image/object/bbox/xmax": floats(b[:, 3].tolist()),
                "image/object/class/label": ints(boxset.label[sl].tolist()),
                "image/object/difficult": ints(boxset.difficult[sl].astype(int).tolist()),
            }
            yield tf.train.Example(
                features=tf.train.Features(feature=feature)).SerializeToString()


def _write(path: Path, records) -> Path:
    import tensorflow as tf

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tf.io.TFRecordWriter(str(tmp)) as writer:
        for record in records:
            writer.write(record)
    tmp.replace(path)
    return path


def tfrecord(dataset: str) -> Path:
    """Box-only TFRecords of the dataset (TFOD keys), written once."""
    from tfod_anchors.sources import read_boxes

    out = WORK / f"{dataset}.tfrecord"
    if not out.exists():
        boxset = read_boxes([str(csv_path(dataset))], progress=False)
        _write(out, _examples(boxset))
    return out


def repeated_records(dataset: str, copies: int, shards: int = 8) -> list[Path]:
    """The dataset's box-only records ``copies`` times over, in ``shards`` files."""
    from tfod_anchors.sources import read_boxes

    paths = [WORK / f"{dataset}_x{copies}-{i:02d}-of-{shards:02d}.tfrecord"
             for i in range(shards)]
    if not all(p.exists() for p in paths):
        boxset = read_boxes([str(csv_path(dataset))], progress=False)
        records = list(_examples(boxset, copies))
        for i, path in enumerate(paths):
            _write(path, records[i::shards])
    return paths


def inputs(dataset: str, order: str) -> str:
    """The input path of ``dataset`` in ``order`` (one of :data:`ORDERS`)."""
    if order == "tfrecord":
        return str(tfrecord(dataset))
    if order == "csv":
        return str(csv_path(dataset))
    if order == "shuffled":
        return str(shuffled_csv(dataset))
    raise ValueError(f"unknown order {order!r}; choose one of {', '.join(ORDERS)}")
