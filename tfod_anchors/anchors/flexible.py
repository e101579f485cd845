"""``flexible_grid_anchor_generator``: one explicit grid per feature map.

Each ``anchor_grid`` pairs ``base_sizes`` with ``aspect_ratios`` element-wise
(not a product): anchor ``k`` is ``h = base_sizes[k] / sqrt(aspect_ratios[k])``,
``w = base_sizes[k] * sqrt(aspect_ratios[k])`` pixels, centred at
``offset + i * stride`` (offset defaults to 0, not half a stride). With
``normalize_coordinates`` (the default) the anchors are multiplied by
``float32(1 / H)``, ``float32(1 / W)`` of the padded input; Faster R-CNN passes
no image size, so it needs ``normalize_coordinates: false``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from .common import check_normalizable, concat_levels_f32
from .grid import (
    SSD,
    FeatureMapShapes,
    Pair,
    check_feature_map_count,
    level_from_specs,
    normalize_f32,
    tile_anchors_f32,
)
from .layout import AnchorLayout


@dataclass(frozen=True)
class FlexibleGrid:
    """One ``anchor_grid``: sizes in pixels, stride and offset ``(y, x)`` in pixels."""

    base_sizes: tuple[float, ...]
    aspect_ratios: tuple[float, ...]
    stride: Pair
    offset: Pair = (0.0, 0.0)

    def specs(self) -> list[Pair]:
        """``(base_size, aspect_ratio)`` pairs; a single aspect ratio applies to every size."""
        ratios = self.aspect_ratios
        if len(ratios) == 1:
            ratios = ratios * len(self.base_sizes)
        return [(float(s), float(a)) for s, a in zip(self.base_sizes, ratios)]


@dataclass(frozen=True)
class FlexibleGridAnchorGenerator:
    """``flexible_grid_anchor_generator``.

    Raises (on construction):
        ConfigError: a grid whose ``base_sizes`` and ``aspect_ratios`` lengths differ
            (TFOD only tolerates a single aspect ratio, which broadcasts).
    """

    grids: tuple[FlexibleGrid, ...]
    normalize_coordinates: bool = True
    meta_architecture: str = SSD

    kind = "flexible_grid_anchor_generator"

    def __post_init__(self) -> None:
        for index, grid in enumerate(self.grids):
            n_sizes, n_ratios = len(grid.base_sizes), len(grid.aspect_ratios)
            if n_sizes != n_ratios and n_ratios != 1:
                raise ConfigError(
                    f"flexible_grid_anchor_generator anchor_grid {index} has {n_sizes} "
                    f"base_sizes but {n_ratios} aspect_ratios; they pair element-wise, so give "
                    "the same number of each"
                )

    @property
    def normalized(self) -> bool:
        return self.normalize_coordinates

    def box_specs(self) -> list[list[Pair]]:
        return [grid.specs() for grid in self.grids]

    def num_anchors_per_location(self) -> list[int]:
        return [len(grid.base_sizes) for grid in self.grids]

    def _check(self, feature_map_shapes: FeatureMapShapes) -> None:
        check_feature_map_count(self.kind, self.num_anchors_per_location(), feature_map_shapes)
        check_normalizable(self.kind, self.meta_architecture, self.normalize_coordinates)

    def layout(
        self, feature_map_shapes: FeatureMapShapes, padded_shape: tuple[int, int]
    ) -> AnchorLayout:
        """:class:`AnchorLayout` in pixels of the padded input ``(H, W)``."""
        self._check(feature_map_shapes)
        levels = tuple(
            level_from_specs(shape, grid.specs(), (1.0, 1.0), grid.stride, grid.offset, index)
            for index, (shape, grid) in enumerate(zip(feature_map_shapes, self.grids))
        )
        return AnchorLayout(
            padded_shape=(int(padded_shape[0]), int(padded_shape[1])),
            levels=levels,
            normalized=self.normalize_coordinates,
        )

    def tfod_anchors(
        self, feature_map_shapes: FeatureMapShapes, padded_shape: tuple[int, int]
    ) -> np.ndarray:
        """float32 ``[A, 4]`` exactly as TFOD returns them."""
        self._check(feature_map_shapes)
        parts = []
        for shape, grid in zip(feature_map_shapes, self.grids):
            specs = grid.specs()
            anchors = tile_anchors_f32(
                shape, [s for s, _ in specs], [a for _, a in specs], (1.0, 1.0),
                grid.stride, grid.offset,
            )
            if self.normalize_coordinates:
                anchors = normalize_f32(anchors, padded_shape)
            parts.append(anchors)
        return concat_levels_f32(parts)
