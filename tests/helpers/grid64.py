"""The hand-made Faster R-CNN dataset of the end-to-end tests (``test_cli`` works out its
coverage): 64x64 images through a ``fixed_shape_resizer``, a ResNet-50 Faster R-CNN
(stride 16 -> 4x4 feature map) and two square grid anchors per cell (16 and 48 px)
centred at ``8 + 16 i``. Records are written with TensorFlow.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow", reason="the end-to-end tests write TFRecords with TF")

#: ``%(fe_stride)d``: the extractor's first-stage stride; ``%(records)s``: the input path.
CONFIG = """\
# hand-made test config
model {
  faster_rcnn {
    num_classes: 1
    image_resizer {
      fixed_shape_resizer { height: 64 width: 64 }
    }
    feature_extractor {
      type: 'faster_rcnn_resnet50_keras'
      first_stage_features_stride: %(fe_stride)d
    }
    first_stage_anchor_generator {
      grid_anchor_generator {
        height: 16
        width: 16
        scales: [1.0, 3.0]
        aspect_ratios: [1.0]
        height_stride: 16
        width_stride: 16
        height_offset: 8
        width_offset: 8
      }
    }
    second_stage_box_predictor { mask_rcnn_box_predictor { } }
  }
}
train_config {
  batch_size: 1
  fine_tune_checkpoint: "ckpt/model.ckpt-0"
}
train_input_reader {
  tf_record_input_reader { input_path: "%(records)s" }
}
"""


def example(boxes: list[list[float]], height: int = 64, width: int = 64) -> bytes:
    """A tf.Example of one ``height`` x ``width`` image with ``boxes`` ([ymin, xmin, ymax,
    xmax] rows, normalized), every box of class 1."""
    cols = np.asarray(boxes, dtype=np.float32).reshape(-1, 4).T
    feature = {
        "image/height": tf.train.Feature(int64_list=tf.train.Int64List(value=[height])),
        "image/width": tf.train.Feature(int64_list=tf.train.Int64List(value=[width])),
        "image/object/class/label": tf.train.Feature(
            int64_list=tf.train.Int64List(value=[1] * cols.shape[1])),
    }
    for key, values in zip(("ymin", "xmin", "ymax", "xmax"), cols):
        feature[f"image/object/bbox/{key}"] = tf.train.Feature(
            float_list=tf.train.FloatList(value=values.tolist()))
    example = tf.train.Example(features=tf.train.Features(feature=feature))
    return example.SerializeToString(deterministic=True)


def write_records(path: Path, examples: list[bytes]) -> Path:
    """A plain TFRecord file of ``examples`` (serialized records), in order."""
    with tf.io.TFRecordWriter(str(path)) as writer:
        for record in examples:
            writer.write(record)
    return path


def make_dataset(tmp_path: Path) -> dict[str, Path]:
    """The records (four images of two boxes) and the config reading them."""
    records = write_records(tmp_path / "train.tfrecord", [
        example([[0.25, 0.25, 0.5, 0.5], [0.4375, 0.4375, 0.8125, 0.8125]]) for _ in range(4)
    ])
    config = tmp_path / "pipeline.config"
    config.write_text(CONFIG % {"fe_stride": 16, "records": records})
    return {"dir": tmp_path, "records": records, "config": config}
