"""The anchor fields of a Model Garden experiment that fitting may move, as a
:class:`~tfod_anchors.fitting.params.ParamSpace`.

The anchors value is a *change*: dotted experiment keys to values, the vocabulary of
:mod:`.yaml_patch` (``task.model.anchor.{anchor_size, aspect_ratios, num_scales}``, or
``task.model.anchor_boxes.boxes`` as ``[[w, h], ...]``). Levels, input size and the number
of anchors per location (or per YOLO level) belong to the network and stay.

* RetinaNet / R-CNN: ``x = log([anchor_size, *aspect_ratios])``; shapes per level
  scale-major then ratio, as ``Anchor`` lays them (:mod:`.geometry`). ``num_scales`` is kept
  unless a new count is asked for (the head's shape depends on it).
* YOLO: ``x = log([w_0, h_0, w_1, h_1, ...])`` pixels at the input size, fitted as one set
  and handed to the levels smallest area first (as the Model Garden's own k-means sorts
  them), ``anchors_per_scale`` per level.

Shape units are pixels of the network input (:func:`shape_unit` is ``(1, 1)``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tfod_anchors.errors import UsageError
from tfod_anchors.fitting.params import RATIO_BOUNDS, ParamSpace, _resample
from tfod_anchors.frameworks.modelgarden.geometry import MultilevelAnchors, YoloAnchors

ANCHOR = "task.model.anchor."
BOXES = "task.model.anchor_boxes.boxes"
#: ``ParamSpace.kind`` of each space (also the spec's ``kind``).
MULTILEVEL, YOLO_BOXES = "multilevel", "yolo_boxes"


def multilevel_change(anchors: MultilevelAnchors) -> dict[str, Any]:
    """The anchors value of a ``task.model.anchor`` block."""
    return {ANCHOR + "anchor_size": float(anchors.anchor_size),
            ANCHOR + "aspect_ratios": [float(r) for r in anchors.aspect_ratios],
            ANCHOR + "num_scales": int(anchors.num_scales)}


def yolo_change(anchors: YoloAnchors) -> dict[str, Any]:
    """The anchors value of ``task.model.anchor_boxes``."""
    return {BOXES: [[float(w), float(h)] for w, h in anchors.boxes]}


def multilevel_space(anchors: MultilevelAnchors, num_scales: int | None = None,
                     num_ratios: int | None = None) -> ParamSpace:
    """``anchor_size`` and ``aspect_ratios``; ``num_scales`` / ``num_ratios`` change counts."""
    spo = int(num_scales or anchors.num_scales)
    if spo <= 0:
        raise UsageError(f"num_scales must be positive, got {spo}")
    ratios = _resample(list(anchors.aspect_ratios), num_ratios or len(anchors.aspect_ratios))
    levels = range(anchors.min_level, anchors.max_level + 1)

    def shapes_of(x: np.ndarray) -> list[np.ndarray]:
        cand = MultilevelAnchors(anchors.min_level, anchors.max_level, spo,
                                 tuple(np.exp(x[1:])), math.exp(x[0]))
        return [cand.sizes(level) for level in levels]

    def write(template: Any, values: np.ndarray) -> dict[str, Any]:
        return {ANCHOR + "anchor_size": float(values[0]),
                ANCHOR + "aspect_ratios": [float(v) for v in values[1:]],
                ANCHOR + "num_scales": spo}

    nr = len(ratios)
    x0 = np.log([float(anchors.anchor_size)] + ratios)
    lower = np.array([math.log(0.25)] + [math.log(RATIO_BOUNDS[0])] * nr)
    upper = np.array([math.log(32.0)] + [math.log(RATIO_BOUNDS[1])] * nr)
    return ParamSpace(MULTILEVEL, ["anchor_size"] + [f"aspect_ratios[{i}]" for i in range(nr)],
                      {"anchor_size": [0], "aspect_ratios": list(range(1, 1 + nr))},
                      np.minimum(lower, x0), np.maximum(upper, x0), x0, shapes_of, write,
                      coupled=True, diagonals=[(0, 1 + j) for j in range(nr)],
                      unordered=("aspect_ratios",))


def yolo_space(anchors: YoloAnchors, size_range: tuple[float, float] = (2.0, 2048.0)
               ) -> ParamSpace:
    """Every box's ``(w, h)``; the count per level stays ``anchors_per_scale``."""
    k = anchors.anchors_per_scale
    n = len(anchors.boxes)

    def by_area(wh: np.ndarray) -> np.ndarray:
        return wh[np.argsort(wh[:, 0] * wh[:, 1], kind="stable")]

    def shapes_of(x: np.ndarray) -> list[np.ndarray]:
        wh = by_area(np.exp(np.asarray(x, dtype=np.float64)).reshape(-1, 2))
        return [wh[i:i + k, ::-1].copy() for i in range(0, n, k)]

    def write(template: Any, values: np.ndarray) -> dict[str, Any]:
        wh = by_area(np.asarray(values, dtype=np.float64).reshape(-1, 2))
        return {BOXES: [[float(w), float(h)] for w, h in wh]}

    x0 = np.log(np.asarray(anchors.boxes, dtype=np.float64).reshape(-1))
    lo, hi = math.log(size_range[0]), math.log(size_range[1])
    names = [f"boxes[{i // 2}].{'wh'[i % 2]}" for i in range(2 * n)]
    def from_shapes(wh: np.ndarray) -> np.ndarray:
        wh = np.asarray(wh, dtype=np.float64).reshape(-1, 2)
        if wh.shape[0] != n:
            raise ValueError(f"{wh.shape[0]} shapes for {n} YOLO boxes")
        return np.log(by_area(wh).reshape(-1))

    return ParamSpace(YOLO_BOXES, names, {"boxes": list(range(2 * n))},
                      np.minimum(np.full(2 * n, lo), x0), np.maximum(np.full(2 * n, hi), x0),
                      x0, shapes_of, write, from_shapes=from_shapes)
