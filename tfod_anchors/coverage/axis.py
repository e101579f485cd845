"""Which cells of an anchor grid can hold a box's best anchor, along one axis.

Shared by the two best-IoU kernels: :mod:`tfod_anchors.coverage.best_iou` (float64,
one level's grid for all boxes, the reported metrics) and
:mod:`tfod_anchors.fitting.kernel` (float32, a grid per box, the search).

On one axis an anchor of length ``a`` (half ``h = a / 2``) sits at centres
``offset + j * stride``. Against a box ``[b0, b1]`` the overlap, and with clipping
the anchor's extent, are piecewise linear in the centre, with breakpoints where an
anchor edge meets a box edge. Between breakpoints the IoU is monotone, so the best
cell is the nearest cell to the box centre (no clipping), or a cell next to a
breakpoint: the anchor's far edge at ``b1`` (centre ``b1 - h``) or its near edge at
``b0`` (centre ``b0 + h``). Callers clamp the indices to the cells their window
policy allows. The derivation is in :mod:`tfod_anchors.coverage.best_iou`.

Every function takes broadcastable float arrays and ``inv_stride = 1 / stride``
(0 for a single-cell axis), and returns float cell indices (not yet clamped).
"""

from __future__ import annotations

from typing import Union

import numpy as np

#: An array, or a scalar broadcast against one.
Values = Union[np.ndarray, float]


def nearest_cell(centre: Values, offset: Values, inv_stride: Values) -> np.ndarray:
    """Index of the cell whose centre is nearest to ``centre`` (halves round up)."""
    return np.floor((centre - offset) * inv_stride + 0.5)


def far_edge_cell(b1: Values, half: Values, offset: Values, inv_stride: Values) -> np.ndarray:
    """The last cell whose anchor's far edge ``centre + half`` is at most ``b1``;
    with the next cell, the candidates around that breakpoint."""
    return np.floor((b1 - half - offset) * inv_stride)


def near_edge_cell(b0: Values, half: Values, offset: Values, inv_stride: Values) -> np.ndarray:
    """The last cell whose anchor's near edge ``centre - half`` is at most ``b0``;
    with the next cell, the candidates around that breakpoint."""
    return np.floor((b0 + half - offset) * inv_stride)
