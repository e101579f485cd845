"""Slow reference implementations the tests compare the package's fast code against."""

from __future__ import annotations

import numpy as np


def brute_force_columns(geom, level: int, shapes: np.ndarray) -> np.ndarray:
    """Reference for tests: every position tried (slow; small grids only)."""
    shapes = np.asarray(shapes, dtype=np.float64).reshape(-1, 2)
    out = np.zeros((geom.num_boxes, shapes.shape[0]))
    grid = geom.levels[level]
    for b in range(geom.num_boxes):
        y0, x0, y1, x1 = geom.boxes[b]
        fh, fw = (int(v) for v in grid.cells[b])
        cy = grid.offset[b, 0] + np.arange(fh) * grid.stride[b, 0]
        cx = grid.offset[b, 1] + np.arange(fw) * grid.stride[b, 1]
        cyy, cxx = np.meshgrid(cy, cx, indexing="ij")
        for k, (sh, sw) in enumerate(shapes):
            ah, aw = sh * geom.unit[b, 0], sw * geom.unit[b, 1]
            a = np.stack([cyy - ah / 2, cxx - aw / 2, cyy + ah / 2, cxx + aw / 2], -1)
            a = a.reshape(-1, 4)
            hh, ww = geom.window[b]
            if geom.policy == "prune":
                keep = (a[:, 0] >= 0) & (a[:, 1] >= 0) & (a[:, 2] <= hh) & (a[:, 3] <= ww)
                a = a[keep]
            elif geom.policy == "clip":
                a = np.stack([np.clip(a[:, 0], 0, hh), np.clip(a[:, 1], 0, ww),
                              np.clip(a[:, 2], 0, hh), np.clip(a[:, 3], 0, ww)], -1)
            if len(a) == 0:
                continue
            ih = np.maximum(0, np.minimum(a[:, 2], y1) - np.maximum(a[:, 0], y0))
            iw = np.maximum(0, np.minimum(a[:, 3], x1) - np.maximum(a[:, 1], x0))
            inter = ih * iw
            union = (y1 - y0) * (x1 - x0) + (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]) - inter
            iou = np.where(inter > 0, inter / np.where(union > 0, union, 1), 0)
            out[b, k] = iou.max()
    return out
