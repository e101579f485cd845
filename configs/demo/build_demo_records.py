"""Rebuild the demo TFRecords in this folder from the CSV subsets beside it.

The records hold only what TFOD's decoder reads for boxes (no image bytes):
``image/height``, ``image/width``, ``image/filename``, ``image/source_id``,
``image/object/bbox/{ymin,xmin,ymax,xmax}`` (normalized to the image),
``image/object/class/text`` and ``image/object/class/label``.

Usage: ``python configs/demo/build_demo_records.py`` (needs TensorFlow).
"""

from __future__ import annotations

import csv
from collections import OrderedDict
from pathlib import Path

import tensorflow as tf

HERE = Path(__file__).resolve().parent
DATASETS = {
    "raccoon": "raccoon.csv",
    "coco_val2017_subset": "coco_val2017_subset.csv",
}


def _feature_float(values):
    return tf.train.Feature(float_list=tf.train.FloatList(value=values))


def _feature_int(values):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=values))


def _feature_bytes(values):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[v.encode() for v in values]))


def build(name: str, csv_name: str) -> None:
    rows = list(csv.DictReader(open(HERE / csv_name, newline="")))
    labels = sorted({r["label"] for r in rows})
    label_id = {text: i + 1 for i, text in enumerate(labels)}
    images: OrderedDict[str, list[dict]] = OrderedDict()
    for row in rows:
        images.setdefault(row["image_id"], []).append(row)
    with tf.io.TFRecordWriter(str(HERE / f"{name}.tfrecord")) as writer:
        for image_id, objs in images.items():
            width = int(objs[0]["image_width"])
            height = int(objs[0]["image_height"])
            feature = {
                "image/height": _feature_int([height]),
                "image/width": _feature_int([width]),
                "image/filename": _feature_bytes([image_id + ".jpg"]),
                "image/source_id": _feature_bytes([image_id]),
                "image/object/bbox/ymin": _feature_float([float(o["ymin"]) / height for o in objs]),
                "image/object/bbox/xmin": _feature_float([float(o["xmin"]) / width for o in objs]),
                "image/object/bbox/ymax": _feature_float([float(o["ymax"]) / height for o in objs]),
                "image/object/bbox/xmax": _feature_float([float(o["xmax"]) / width for o in objs]),
                "image/object/class/text": _feature_bytes([o["label"] for o in objs]),
                "image/object/class/label": _feature_int([label_id[o["label"]] for o in objs]),
            }
            example = tf.train.Example(features=tf.train.Features(feature=feature))
            writer.write(example.SerializeToString(deterministic=True))
    with open(HERE / f"{name}_label_map.pbtxt", "w") as f:
        for text in labels:
            f.write(f"item {{\n  id: {label_id[text]}\n  name: '{text}'\n}}\n")
    print(f"{name}: {len(images)} images, {len(rows)} boxes, {len(labels)} classes")


if __name__ == "__main__":
    for dataset_name, csv_file in DATASETS.items():
        build(dataset_name, csv_file)
