"""Shape-only matcher rules (YOLO's), computed as the labelers compute them.

Two rules decide positives from box and anchor *sizes* alone (no position, no IoU of
placed boxes), so a box's fate does not depend on where it lies on the grid:

* ``"ratio"`` (scaled YOLO, YOLOv5/v7's ``anchor_t``): an anchor of level ``l`` is a
  positive of a box when ``max(w/a_w, a_w/w, h/a_h, a_h/h) < t``, sizes in grid units of
  that level (box ``size / input * (input // stride)``, anchor ``size / stride``), in
  float32 as the labeler computes them; no forced match, so a box that no anchor passes
  gets **no target at all**.
* ``"wh_iou"`` (YOLO darknet): the IoU of box and anchor placed on one centre, on sizes
  relative to the input (float32 box sizes, float64 IoU), ``>= t``; the best anchor is
  forced, so every box has a target and the headline is the share that passes.

A box *passes* when some anchor passes; the count of passing anchors is YOLOv5's
"anchors above threshold". Shapes: boxes ``[N, 4]`` ``(ymin, xmin, ymax, xmax)`` pixels
of the padded input, sizes ``(w, h)``.
"""

from __future__ import annotations

import numpy as np

from tfod_anchors.anchors.layout import AnchorLayout
from tfod_anchors.matcher import RATIO, WH_IOU, ShapeRule

__all__ = ["RATIO", "WH_IOU", "ShapeRule", "anchor_sizes", "box_sizes", "layout_passes",
           "rule_values"]

def box_sizes(rule: ShapeRule, boxes: np.ndarray, window: np.ndarray,
              cells: np.ndarray) -> np.ndarray:
    """``[N, 2]`` ``(w, h)`` of ``boxes`` in the rule's units on one level: float32 grid
    units (``"ratio"``; ``cells`` int ``[N, 2]`` ``(fh, fw)`` of the level) or float64
    sizes relative to the input (``"wh_iou"``). ``window``: float64 ``[N, 2]`` padded
    ``(H, W)`` of each box's image."""
    scale = np.concatenate([window, window], axis=1)
    norm = (np.asarray(boxes, dtype=np.float64) / scale).astype(np.float32)
    wh = np.stack([norm[:, 3] - norm[:, 1], norm[:, 2] - norm[:, 0]], axis=1)
    if rule.kind == WH_IOU:
        return wh.astype(np.float64)
    return wh * np.asarray(cells, dtype=np.float32)[:, ::-1]


def anchor_sizes(rule: ShapeRule, sizes_hw: np.ndarray, stride: np.ndarray,
                 window: np.ndarray) -> np.ndarray:
    """``[N, K, 2]`` ``(w, h)`` of anchor shapes ``sizes_hw`` ``[K, 2]`` (height, width,
    pixels) as each box's level sees them: float32 ``size / stride`` (``"ratio"``;
    ``stride`` float64 ``[N, 2]`` (y, x)) or float64 ``size / input`` (``"wh_iou"``)."""
    wh = np.asarray(sizes_hw, dtype=np.float64)[None, :, ::-1]
    if rule.kind == WH_IOU:
        return wh / np.asarray(window, dtype=np.float64)[:, None, ::-1]
    return (wh / np.asarray(stride, dtype=np.float64)[:, None, ::-1]).astype(np.float32)


def rule_values(rule: ShapeRule, box_wh: np.ndarray, anchor_wh: np.ndarray) -> np.ndarray:
    """``[N, K]`` rule values of boxes ``box_wh [N, 2]`` against ``anchor_wh [N, K, 2]``
    (both from the functions above): float32 ``max(w/a_w, a_w/w, h/a_h, a_h/h)`` (inf for
    a zero side) or float64 centred IoU."""
    if rule.kind == RATIO:
        with np.errstate(divide="ignore", invalid="ignore"):
            r = box_wh[:, None, :] / anchor_wh
            r = np.maximum(r, np.float32(1.0) / r)
        return np.nan_to_num(r, nan=np.inf).max(axis=2)
    inter = (np.minimum(box_wh[:, None, 0], anchor_wh[:, :, 0])
             * np.minimum(box_wh[:, None, 1], anchor_wh[:, :, 1]))
    union = (box_wh[:, 0] * box_wh[:, 1])[:, None] + anchor_wh[:, :, 0] * anchor_wh[:, :, 1] \
        - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def layout_passes(rule: ShapeRule, boxes: np.ndarray, layout: AnchorLayout
                  ) -> tuple[np.ndarray, np.ndarray]:
    """``(passed bool [N], count int64 [N])`` of boxes on one padded input: whether some
    anchor shape of the layout passes the rule, and how many do (every level)."""
    n = boxes.shape[0]
    window = np.broadcast_to(np.asarray(layout.padded_shape, dtype=np.float64), (n, 2))
    count = np.zeros(n, dtype=np.int64)
    for level in layout.levels:
        if level.sizes.shape[0] == 0:
            continue
        cells = np.broadcast_to(np.asarray(level.grid_shape, dtype=np.int64), (n, 2))
        stride = np.broadcast_to(np.asarray(level.stride, dtype=np.float64), (n, 2))
        values = rule_values(rule, box_sizes(rule, boxes, window, cells),
                             anchor_sizes(rule, level.sizes, stride, window))
        count += rule.passes(values).sum(axis=1)
    return count > 0, count
