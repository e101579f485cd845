"""Augmentation inputs built by hand: preprocessing steps from text, a BoxSet from lists."""

from __future__ import annotations

import numpy as np
from google.protobuf import text_format

from tfod_anchors.boxes import BoxSet
from tfod_anchors.config.schema import get_schema


def steps(*texts: str) -> list:
    """PreprocessingStep messages (bundled schema) from text format."""
    cls = get_schema("bundled").PreprocessingStep
    return [text_format.Parse(t, cls()) for t in texts]


def boxset(sizes: list[tuple[int, int]], boxes: list[list[list[float]]],
           labels: list[list[int]] | None = None) -> BoxSet:
    """A BoxSet of images of ``sizes`` ((height, width) each) holding ``boxes`` (per image,
    normalized [ymin, xmin, ymax, xmax] rows), class 1 unless ``labels`` are given."""
    box_image = np.concatenate([np.full(len(b), i) for i, b in enumerate(boxes)]).astype(np.int32)
    flat = np.array([box for image in boxes for box in image], dtype=np.float32).reshape(-1, 4)
    lab = (np.array([v for image in labels for v in image], dtype=np.int32) if labels
           else np.ones(len(flat), dtype=np.int32))
    n = len(flat)
    return BoxSet(image_height=np.array([s[0] for s in sizes], np.int32),
                  image_width=np.array([s[1] for s in sizes], np.int32),
                  image_key=np.array([f"img{i}" for i in range(len(sizes))], dtype=object),
                  box_image=box_image, boxes=flat, label=lab,
                  difficult=np.zeros(n, bool), group_of=np.zeros(n, bool),
                  is_crowd=np.zeros(n, bool))
