"""CSV boxes and a config with augmentation steps, for the augmented-distribution tests.

The config is the grid of :mod:`helpers.grid64` (64x64 ``fixed_shape_resizer``, square grid
anchors of 16 and 48 px centred at ``8 + 16 i``) with ``%(steps)s`` in its ``train_config``;
``test_augment_integration``'s docstring works out the coverage under :data:`CONCAT`
(:data:`IOU_A_HALF`, :data:`IOU_B_HALF`).
"""

from __future__ import annotations

from pathlib import Path

CONFIG = """\
model {
  faster_rcnn {
    num_classes: 2
    image_resizer { fixed_shape_resizer { height: 64 width: 64 } }
    feature_extractor { type: 'faster_rcnn_resnet50_keras' first_stage_features_stride: 16 }
    first_stage_anchor_generator {
      grid_anchor_generator {
        height: 16 width: 16 scales: [1.0, 3.0] aspect_ratios: [1.0]
        height_stride: 16 width_stride: 16 height_offset: 8 width_offset: 8
      }
    }
    second_stage_box_predictor { mask_rcnn_box_predictor { } }
  }
}
train_config {
  batch_size: 1
%(steps)s
}
train_input_reader {
  max_number_of_boxes: %(max_boxes)d
  tf_record_input_reader { input_path: "PATH_TO_BE_CONFIGURED" }
}
"""

CONCAT = ("data_augmentation_options { random_self_concat_image { "
          "concat_vertical_probability: 1.0 concat_horizontal_probability: 0.0 } }")
SSD_CROP = ("data_augmentation_options { random_horizontal_flip { } }\n"
            "data_augmentation_options { ssd_random_crop { } }")
#: Best IoU of box A and of box B, each halved in y by :data:`CONCAT`.
IOU_A_HALF, IOU_B_HALF = 128 / 256, 160 / 384


def write_csv(path: Path, rows: list[tuple[str, str, tuple[int, int, int, int]]],
              size: tuple[int, int] = (64, 64)) -> Path:
    """``(image, class, (xmin, ymin, xmax, xmax))`` rows; every image ``size`` (w, h)."""
    lines = ["filename,width,height,class,xmin,ymin,xmax,ymax"]
    lines += [f"{image},{size[0]},{size[1]},{cls},{x0},{y0},{x1},{y1}"
              for image, cls, (x0, y0, x1, y1) in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_config(path: Path, *steps: str, max_boxes: int = 100) -> Path:
    """:data:`CONFIG` with ``steps`` (``data_augmentation_options`` texts) at ``path``."""
    path.write_text(CONFIG % {"steps": "\n".join(steps), "max_boxes": max_boxes})
    return path
