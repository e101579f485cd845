"""``multiscale_anchor_generator``: RetinaNet / EfficientDet / FPN Faster R-CNN anchors.

For each pyramid level ``l = min_level..max_level``: stride ``2**l`` on both axes,
base size ``anchor_scale * 2**l``, octave scales ``2**(i / scales_per_octave)``;
the basis at a location is every (octave scale, aspect ratio) pair, aspect
ratio outer and scale inner, so ``h = anchor_scale * 2**l * 2**(i/spo) /
sqrt(a)`` and ``w = ... * sqrt(a)``.

Centre of cell ``(0, 0)`` on an axis (TFOD's rule): ``2**l / 2`` when the input
dimension is a Python int divisible by ``2**l`` (or equal to 1), else 0. The
dimension is a Python int only when the input size is known while the graph is
built (``fixed_shape_resizer``, ``keep_aspect_ratio_resizer`` with
``pad_to_max_dimension``); otherwise TFOD passes tensors and uses ``2**l / 2``.
Faster R-CNN passes no image size at all (so 1): always ``2**l / 2``.

With ``normalize_coordinates`` the pixel anchors are multiplied by
``float32(1 / H)`` and ``float32(1 / W)`` of the padded input; Faster R-CNN cannot
do this (TFOD raises), so FPN Faster R-CNN configs set it to false.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .common import check_normalizable, concat_levels_f32
from .grid import (
    FASTER_RCNN,
    SSD,
    FeatureMapShapes,
    Pair,
    check_feature_map_count,
    level_from_specs,
    normalize_f32,
    tile_anchors_f32,
)
from .layout import AnchorLayout


def octave_scales(scales_per_octave: int) -> list[float]:
    """``[2**(i / spo) for i < spo]`` (Python doubles, as TFOD computes them)."""
    return [2 ** (float(i) / scales_per_octave) for i in range(scales_per_octave)]


def level_offset(dim: int, level: int, image_size_known: bool) -> float:
    """Centre of the first cell on one axis, in pixels (TFOD's divisibility rule)."""
    stride = 2**level
    if not image_size_known or dim == 1 or dim % stride == 0:
        return stride / 2.0
    return 0.0


@dataclass(frozen=True)
class MultiscaleAnchorGenerator:
    """``multiscale_anchor_generator``.

    Attributes:
        min_level, max_level: pyramid levels (inclusive); level ``l`` has stride ``2**l``.
        anchor_scale: base size in strides.
        aspect_ratios: as configured (width / height).
        scales_per_octave: number of octave scales.
        normalize_coordinates: TFOD's flag (output units only).
        meta_architecture: ``"ssd"`` or ``"faster_rcnn"`` (no image size passed).
        image_size_known: SSD only: whether TFOD sees the input size as Python ints
            (see the module docstring); ``False`` means offsets are always half a stride.
    """

    min_level: int = 3
    max_level: int = 7
    anchor_scale: float = 4.0
    aspect_ratios: tuple[float, ...] = ()
    scales_per_octave: int = 2
    normalize_coordinates: bool = True
    meta_architecture: str = SSD
    image_size_known: bool = True

    kind = "multiscale_anchor_generator"

    @property
    def normalized(self) -> bool:
        return self.normalize_coordinates

    @property
    def levels(self) -> list[int]:
        return list(range(self.min_level, self.max_level + 1))

    def box_specs(self) -> list[list[Pair]]:
        """Per level, ``(octave scale, aspect_ratio)`` pairs in TFOD's order."""
        basis = [(s, float(a)) for a in self.aspect_ratios
                 for s in octave_scales(self.scales_per_octave)]
        return [list(basis) for _ in self.levels]

    def num_anchors_per_location(self) -> list[int]:
        return [len(self.aspect_ratios) * self.scales_per_octave for _ in self.levels]

    def _dims(self, padded_shape: tuple[int, int]) -> tuple[int, int]:
        check_normalizable(self.kind, self.meta_architecture, self.normalize_coordinates)
        if self.meta_architecture == FASTER_RCNN:
            return (1, 1)
        return (int(padded_shape[0]), int(padded_shape[1]))

    def _offsets(self, level: int, dims: tuple[int, int]) -> Pair:
        known = self.image_size_known or self.meta_architecture == FASTER_RCNN
        return (level_offset(dims[0], level, known), level_offset(dims[1], level, known))

    def layout(
        self, feature_map_shapes: FeatureMapShapes, padded_shape: tuple[int, int]
    ) -> AnchorLayout:
        """:class:`AnchorLayout` in pixels of the padded input ``(H, W)``."""
        check_feature_map_count(self.kind, self.num_anchors_per_location(), feature_map_shapes)
        dims = self._dims(padded_shape)
        levels = []
        for shape, level, specs in zip(feature_map_shapes, self.levels, self.box_specs()):
            stride = float(2**level)
            base = 2**level * float(self.anchor_scale)
            levels.append(
                level_from_specs(
                    shape, specs, (base, base), (stride, stride), self._offsets(level, dims),
                    level=level,
                )
            )
        return AnchorLayout(
            padded_shape=(int(padded_shape[0]), int(padded_shape[1])),
            levels=tuple(levels),
            normalized=self.normalize_coordinates,
        )

    def tfod_anchors(
        self, feature_map_shapes: FeatureMapShapes, padded_shape: tuple[int, int]
    ) -> np.ndarray:
        """float32 ``[A, 4]`` exactly as TFOD returns them."""
        check_feature_map_count(self.kind, self.num_anchors_per_location(), feature_map_shapes)
        dims = self._dims(padded_shape)
        parts = []
        for shape, level, specs in zip(feature_map_shapes, self.levels, self.box_specs()):
            base = 2**level * float(self.anchor_scale)
            anchors = tile_anchors_f32(
                shape, [s for s, _ in specs], [a for _, a in specs], (base, base),
                (2**level, 2**level), self._offsets(level, dims),
            )
            if self.normalize_coordinates:
                anchors = normalize_f32(anchors, dims)
            parts.append(anchors)
        return concat_levels_f32(parts)
