"""Small hand-built inputs shared by the hostile-input tests (issue 12).

A Faster R-CNN config on a 64x64 fixed-size input whose grid anchors (16 px base,
scales 1 and 3, stride 16) fit 8 boxes badly, so ``fit`` improves and writes.
"""

from __future__ import annotations

from pathlib import Path

from helpers.cli import run_cli
from helpers.grid64 import example, write_records

__all__ = ["CONFIG", "GOOD_BOXES", "example", "good_records", "make_config", "run_cli",
           "write_records"]

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
      first_stage_features_stride: 16
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
train_input_reader {
  tf_record_input_reader { input_path: "%(records)s" }
}
"""

GOOD_BOXES = [[0.25, 0.25, 0.5, 0.5], [0.4375, 0.4375, 0.8125, 0.8125]]


def good_records(path: Path, extra: list[bytes] = ()) -> Path:
    """Four images with :data:`GOOD_BOXES`, then ``extra`` records."""
    return write_records(path, [example(GOOD_BOXES) for _ in range(4)] + list(extra))


def make_config(directory: Path, records: Path, name: str = "pipeline.config") -> Path:
    path = directory / name
    path.write_text(CONFIG % {"records": records})
    return path
