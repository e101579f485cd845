"""From resized boxes and a config to the arrays the search works on.

Boxes are grouped by their image's padded shape; each group's anchor layout
(feature-map sizes, strides, offsets, window policy) comes from the config via
:func:`tfod_anchors.anchors.model.model_anchor_layout` and is spread to per-box arrays
(:class:`~tfod_anchors.fitting.kernel.BoxGeometry`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tfod_anchors.anchors.layout import AnchorLayout
from tfod_anchors.boxes import ResizedBoxes
from tfod_anchors.errors import ConfigError
from tfod_anchors.fitting.kernel import BoxGeometry, LevelGrid

LayoutFn = Callable[[tuple[int, int]], AnchorLayout]


def padded_groups(resized: ResizedBoxes) -> tuple[np.ndarray, np.ndarray]:
    """Distinct padded shapes ``int64 [G, 2]`` and each box's group ``int64 [N]``."""
    padded = np.asarray(resized.padded_shape, dtype=np.int64)
    if resized.num_boxes == 0:
        return np.zeros((0, 2), np.int64), np.zeros(0, np.int64)
    code = (padded[:, 0] << 32) + padded[:, 1]  # one int per image, same order as pairs
    used = code[resized.box_image]
    uniq, inverse = np.unique(used, return_inverse=True)
    shapes = np.stack([uniq >> 32, uniq & 0xFFFFFFFF], axis=1)
    return shapes, inverse.reshape(-1)


def build_geometry(boxes: np.ndarray, group: np.ndarray, shapes: np.ndarray,
                   layouts: list[AnchorLayout], units: list[tuple[float, float]]
                   ) -> BoxGeometry:
    """Per-box geometry for ``boxes [B, 4]`` whose padded shape is ``shapes[group]``.

    Raises:
        ConfigError: layouts of different shapes disagree on the number of levels or
            the window policy (the generator would not be the same network).
    """
    first = layouts[0]
    for lay in layouts[1:]:
        if len(lay.levels) != len(first.levels) or lay.window_policy != first.window_policy:
            raise ConfigError("anchor layouts differ in levels or window policy between "
                              "input shapes; cannot fit one generator to them")
    levels = []
    for li in range(len(first.levels)):
        cells = np.array([lay.levels[li].grid_shape for lay in layouts], dtype=np.int64)
        stride = np.array([lay.levels[li].stride for lay in layouts], dtype=np.float64)
        offset = np.array([lay.levels[li].offset for lay in layouts], dtype=np.float64)
        levels.append(LevelGrid(cells[group], stride[group], offset[group]))
    window = shapes.astype(np.float64)[group]
    unit = np.asarray(units, dtype=np.float64)[group]
    return BoxGeometry(np.asarray(boxes, dtype=np.float64), window, unit, tuple(levels),
                       first.window_policy)
