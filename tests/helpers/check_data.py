"""Small real data for the ``check`` tests of #20 (``test_check_honest``, ``test_check_advice``).

The config: a 64x64 ``fixed_shape_resizer``, ResNet-50 Faster R-CNN (stride 16, a 4x4 map) and
square grid anchors of 16 and 48 px centred at ``8 + 16 i`` (matched threshold 0.7), so a
16x16 box on a cell has IoU 1 and a 24x24 box centred on (40, 40) IoU 256 / 576 = 0.4444.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

CELLS_CONFIG = """\
model {
  faster_rcnn {
    num_classes: %(num_classes)d
    image_resizer { fixed_shape_resizer { height: 64 width: 64 } }
    feature_extractor {
      type: 'faster_rcnn_resnet50_keras'
      first_stage_features_stride: 16
    }
    first_stage_anchor_generator {
      grid_anchor_generator {
        height: 16 width: 16 scales: %(scales)s aspect_ratios: [1.0]
        height_stride: 16 width_stride: 16 height_offset: 8 width_offset: 8
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
%(reader)s  tf_record_input_reader { input_path: "%(records)s" }
}
"""


def example(tf, boxes: list[list[float]], labels: list[int],
            texts: list[str] | None = None) -> bytes:
    """A 64x64 tf.Example with ``class/label`` (and ``class/text`` when given) per box."""
    cols = np.asarray(boxes, dtype=np.float32).reshape(-1, 4).T
    feature = {
        "image/height": tf.train.Feature(int64_list=tf.train.Int64List(value=[64])),
        "image/width": tf.train.Feature(int64_list=tf.train.Int64List(value=[64])),
        "image/object/class/label": tf.train.Feature(int64_list=tf.train.Int64List(value=labels)),
    }
    if texts is not None:
        feature["image/object/class/text"] = tf.train.Feature(
            bytes_list=tf.train.BytesList(value=[t.encode() for t in texts]))
    for key, values in zip(("ymin", "xmin", "ymax", "xmax"), cols):
        feature[f"image/object/bbox/{key}"] = tf.train.Feature(
            float_list=tf.train.FloatList(value=values.tolist()))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString(
        deterministic=True)


def write_records(tf, path: Path, records: list[bytes]) -> Path:
    with tf.io.TFRecordWriter(str(path)) as writer:
        for record in records:
            writer.write(record)
    return path


def cells_config(folder: Path, records: Path, *, reader: str = "", num_classes: int = 1,
                 scales: str = "[1.0, 3.0]") -> Path:
    """``folder/pipeline.config`` reading ``records``, with ``reader`` lines added."""
    path = folder / "pipeline.config"
    path.write_text(CELLS_CONFIG % {"num_classes": num_classes, "scales": scales,
                                    "reader": reader, "records": records})
    return path
