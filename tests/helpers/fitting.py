"""Small hand-made configs of the fitting tests and boxes placed exactly on their anchors."""

from __future__ import annotations

import numpy as np

from tfod_anchors.anchors.model import model_anchor_layout
from tfod_anchors.boxes import ResizedBoxes
from tfod_anchors.config.schema import parse_pipeline_text

#: A 320x320 ResNet-50 Faster R-CNN with a stride-16 grid; ``%s``: clip_anchors_to_image.
FRCNN = """
model { faster_rcnn {
  num_classes: 1
  image_resizer { fixed_shape_resizer { height: 320 width: 320 } }
  feature_extractor { type: 'faster_rcnn_resnet50_keras' }
  first_stage_anchor_generator { grid_anchor_generator {
    scales: [0.25, 1.0] aspect_ratios: [1.0, 3.0] height_stride: 16 width_stride: 16 } }
  clip_anchors_to_image: %s
} }
"""

#: A 300x300 MobileNet v2 SSD; ``%s``: its anchor generator.
SSD = """
model { ssd {
  num_classes: 1
  image_resizer { fixed_shape_resizer { height: 300 width: 300 } }
  feature_extractor { type: 'ssd_mobilenet_v2_keras' }
  anchor_generator { %s }
  matcher { argmax_matcher { matched_threshold: 0.5 unmatched_threshold: 0.5
                             force_match_for_each_row: true } }
  similarity_calculator { iou_similarity {} }
} }
"""

SSD_GEN = ("ssd_anchor_generator { num_layers: 6 min_scale: 0.2 max_scale: 0.95 "
           "aspect_ratios: [1.0, 2.0, 0.5] }")

def parse_config(text: str):
    """The pipeline message of a config text (bundled or installed schema)."""
    return parse_pipeline_text(text, "test.config")


def boxes_from_anchors(cfg, shape, n, seed, jitter=0.0) -> ResizedBoxes:
    """Boxes equal to ``n`` random in-window anchors of ``cfg`` (optionally jittered)."""
    rng = np.random.default_rng(seed)
    anchors = model_anchor_layout(cfg, shape).boxes()
    inside = anchors[(anchors[:, 0] >= 0) & (anchors[:, 1] >= 0) & (anchors[:, 2] <= shape[0])
                     & (anchors[:, 3] <= shape[1])]
    boxes = inside[rng.choice(len(inside), n, replace=len(inside) < n)]
    if jitter:
        boxes = boxes + rng.uniform(-jitter, jitter, boxes.shape)
        boxes = np.clip(boxes, 0, [shape[0], shape[1], shape[0], shape[1]])
    images = n // 4 + 1
    return ResizedBoxes(np.tile(shape, (images, 1)).astype(np.int32),
                        np.tile(shape, (images, 1)).astype(np.int32),
                        (np.arange(n) % images).astype(np.int32), boxes.astype(np.float64),
                        np.ones(n, np.int32))
