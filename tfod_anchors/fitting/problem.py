"""From resized boxes and a config to the arrays the search works on.

Boxes are grouped by their image's padded shape; each group's anchor layout
(feature-map sizes, strides, offsets, window policy) comes from the config via
:func:`tfod_anchors.anchors.model.model_anchor_layout` and is spread to per-box arrays
(:class:`~tfod_anchors.fitting.kernel.BoxGeometry`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from tfod_anchors.anchors.layout import AnchorLayout
from tfod_anchors.anchors.model import layout_function
from tfod_anchors.boxes import ResizedBoxes
from tfod_anchors.config import query as config_query
from tfod_anchors.errors import ConfigError
from tfod_anchors.fitting.kernel import BoxGeometry, LevelGrid
from tfod_anchors.fitting.params import ParamSpace, param_space, shape_unit

LayoutFn = Callable[[tuple[int, int]], AnchorLayout]


@dataclass
class Problem:
    """Everything the search and the verification share.

    Attributes:
        resized: all boxes, in resized pixels.
        shapes: int64 ``[G, 2]`` distinct padded shapes; ``group``: int64 ``[N]`` each
            box's shape index (:meth:`ResizedBoxes.padded_groups`).
        generator: the config's ``AnchorGenerator`` message; ``space``: its
            :class:`ParamSpace`.
        matched: the matcher's matched threshold.
        layout_for: padded ``(H, W)`` -> the config's :class:`AnchorLayout` (memoised).
        layouts, units: per shape group, the anchor layout and the shape unit.
    """

    resized: ResizedBoxes
    shapes: np.ndarray
    group: np.ndarray
    generator: Any
    space: ParamSpace
    matched: float
    layout_for: LayoutFn
    layouts: list[AnchorLayout]
    units: list[tuple[float, float]]

    @property
    def kind(self) -> str:
        return str(self.generator.WhichOneof("anchor_generator_oneof"))

    @property
    def window_policy(self) -> str:
        return self.layouts[0].window_policy

    def geometry(self, index: np.ndarray) -> BoxGeometry:
        return build_geometry(self.resized.boxes[index], self.group[index], self.shapes,
                              self.layouts, self.units)


def build_problem(resized: ResizedBoxes, pipeline: Any, *, num_scales: int | None = None,
                  num_aspect_ratios: int | None = None) -> Problem:
    """The :class:`Problem` of fitting ``pipeline``'s generator to ``resized`` boxes
    (``num_scales``/``num_aspect_ratios`` change the counts).

    Raises:
        ConfigError: the config has no anchor generator.
    """
    generator = config_query.anchor_generator(pipeline)
    if generator is None:
        raise ConfigError("the config has no anchor generator to fit")
    shapes, group = resized.padded_groups()
    layout_for = layout_function(pipeline)
    pairs = [(int(h), int(w)) for h, w in shapes]
    side = np.sqrt(np.maximum(resized.heights * resized.widths, 1e-6))
    size_range = (max(2.0, float(side.min()) / 2.0), 2.0 * float(shapes.max()))
    space = param_space(generator, num_scales=num_scales, num_aspect_ratios=num_aspect_ratios,
                        size_range=size_range)
    return Problem(resized=resized, shapes=shapes, group=group, generator=generator,
                   space=space, matched=config_query.matcher_spec(pipeline).matched_threshold,
                   layout_for=layout_for, layouts=[layout_for(p) for p in pairs],
                   units=[shape_unit(generator, p) for p in pairs])


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
