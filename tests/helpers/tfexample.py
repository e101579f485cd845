"""TFOD-style tf.Example records built with TensorFlow, for the reader tests."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
tf = pytest.importorskip("tensorflow")


def float_feature(values):
    """A float_list feature."""
    return tf.train.Feature(float_list=tf.train.FloatList(value=values))


def int_feature(values):
    """An int64_list feature."""
    return tf.train.Feature(int64_list=tf.train.Int64List(value=values))


def bytes_feature(values):
    """A bytes_list feature (``str`` values encoded as UTF-8)."""
    return tf.train.Feature(bytes_list=tf.train.BytesList(
        value=[v if isinstance(v, bytes) else v.encode() for v in values]))


def example(boxes=(), height=100, width=200, labels=None, texts=None, difficult=None,
            encoded=None, source_id=None, filename=None, extra=None) -> bytes:
    """A TFOD-style tf.Example; ``boxes`` as [ymin, xmin, ymax, xmax] rows; ``None``
    height/width leave the keys out."""
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    feature = {}
    if height is not None:
        feature["image/height"] = int_feature([height])
    if width is not None:
        feature["image/width"] = int_feature([width])
    if len(boxes) or extra is None:
        for i, key in enumerate(("ymin", "xmin", "ymax", "xmax")):
            feature[f"image/object/bbox/{key}"] = float_feature(boxes[:, i].tolist())
    if labels is None and texts is None:
        labels = [1] * len(boxes)
    if labels is not None:
        feature["image/object/class/label"] = int_feature(labels)
    if texts is not None:
        feature["image/object/class/text"] = bytes_feature(texts)
    if difficult is not None:
        feature["image/object/difficult"] = int_feature(difficult)
    if encoded is not None:
        feature["image/encoded"] = bytes_feature([encoded])
    if source_id is not None:
        feature["image/source_id"] = bytes_feature([source_id])
    if filename is not None:
        feature["image/filename"] = bytes_feature([filename])
    feature.update(extra or {})
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def write(path, records, options=None) -> str:
    """A TFRecord file of ``records`` (serialized), ``options``: tf.io.TFRecordOptions."""
    with tf.io.TFRecordWriter(str(path), options=options) as writer:
        for record in records:
            writer.write(record)
    return str(path)
