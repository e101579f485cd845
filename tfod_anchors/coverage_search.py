"""Best IoU of each box over every position of each anchor shape (exact search kernel).

Provisional implementation: a chunked literal evaluation of every anchor. The
signatures are final; the fast exact search replaces the body.
"""

from __future__ import annotations

import numpy as np

from tfod_anchors.anchors.layout import AnchorLayout, AnchorLevel

WINDOW_POLICIES = ("none", "prune", "clip")


def level_best_iou(
    boxes: np.ndarray,
    padded_shape: tuple[int, int],
    grid_shape: tuple[int, int],
    stride: tuple[float, float],
    offset: tuple[float, float],
    sizes: np.ndarray,
    window_policy: str,
) -> np.ndarray:
    """float64 ``[N, K]``: for each box, the best IoU over every position of each shape.

    Args:
        boxes: float64 ``[N, 4]`` ``[ymin, xmin, ymax, xmax]`` in pixels of the padded image.
        padded_shape: ``(H, W)``; the window is ``[0, 0, H, W]``.
        grid_shape, stride, offset: the level's regular grid (see ``AnchorLevel``).
        sizes: ``[K, 2]`` anchor ``(height, width)`` in pixels.
        window_policy: ``"none"``, ``"prune"`` or ``"clip"``.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    sizes = np.asarray(sizes, dtype=np.float64).reshape(-1, 2)
    level = AnchorLevel(tuple(grid_shape), tuple(stride), tuple(offset), sizes)
    k = sizes.shape[0]
    anchors = level.boxes().reshape(-1, k, 4)
    h, w = float(padded_shape[0]), float(padded_shape[1])
    keep = np.ones(anchors.shape[:2], dtype=bool)
    if window_policy == "prune":
        keep = ((anchors[..., 0] >= 0) & (anchors[..., 1] >= 0)
                & (anchors[..., 2] <= h) & (anchors[..., 3] <= w))
    elif window_policy == "clip":
        anchors = np.stack([np.clip(anchors[..., 0], 0, h), np.clip(anchors[..., 1], 0, w),
                            np.clip(anchors[..., 2], 0, h), np.clip(anchors[..., 3], 0, w)], -1)
    out = np.zeros((boxes.shape[0], k), dtype=np.float64)
    area_a = (anchors[..., 2] - anchors[..., 0]) * (anchors[..., 3] - anchors[..., 1])
    step = max(1, 2_000_000 // max(1, anchors.shape[0] * k))
    for s in range(0, boxes.shape[0], step):
        b = boxes[s:s + step, None, None, :]
        a = anchors
        oy = np.maximum(0.0, np.minimum(b[..., 2], a[..., 2]) - np.maximum(b[..., 0], a[..., 0]))
        ox = np.maximum(0.0, np.minimum(b[..., 3], a[..., 3]) - np.maximum(b[..., 1], a[..., 1]))
        inter = oy * ox
        area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
        union = area_b + area_a - inter
        iou = np.where(inter > 0, inter / np.where(inter > 0, union, 1.0), 0.0)
        iou = np.where(keep, iou, 0.0)
        out[s:s + step] = iou.max(axis=1) if iou.shape[1] else 0.0
    return out


def layout_best_iou(boxes: np.ndarray, layout: AnchorLayout) -> np.ndarray:
    """float64 ``[N, S]``, :func:`level_best_iou` for every level of ``layout``
    concatenated in level order (``S`` = total anchor shapes over levels)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    parts = [
        level_best_iou(boxes, layout.padded_shape, lv.grid_shape, lv.stride, lv.offset, lv.sizes,
                       layout.window_policy)
        for lv in layout.levels
    ]
    if not parts:
        return np.zeros((boxes.shape[0], 0), dtype=np.float64)
    return np.concatenate(parts, axis=1)
