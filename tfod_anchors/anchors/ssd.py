"""``ssd_anchor_generator``: TFOD's ``create_ssd_anchors`` (SSD paper default boxes).

Per layer ``k`` the scale is ``min + (max - min) * k / (num_layers - 1)``
(or the explicit ``scales``); ``1.0`` is appended as the "next scale" of the last
layer. Layer ``k`` gets ``(s_k, a)`` for each configured aspect ratio, then, when
``interpolated_scale_aspect_ratio > 0``, one more ``(sqrt(s_k * s_{k+1}),
interpolated_scale_aspect_ratio)``. With ``reduce_boxes_in_lowest_layer`` layer 0
is exactly ``(0.1, 1.0), (s_0, 2.0), (s_0, 0.5)``.

Geometry (SSD passes the padded input size ``(H, W)``): anchors are normalized
to ``(H, W)``; the base size is ``base_anchor_{height,width} * min(H, W)`` pixels,
so scales are fractions of the shorter side; without explicit strides the
centres are ``(i + 0.5) / fh`` (spread evenly over the input, whatever the
network's real stride), with explicit ``height_stride``/``height_offset`` they
are ``(offset + i * stride) / H``. Nothing is clipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError
from .common import concat_levels_f32
from .grid import (
    FASTER_RCNN,
    SSD,
    FeatureMapShapes,
    Pair,
    check_feature_map_count,
    f32,
    level_from_specs,
    tile_anchors_f32,
)
from .layout import AnchorLayout


def ssd_box_specs(
    num_layers: int,
    min_scale: float,
    max_scale: float,
    scales: Sequence[float],
    aspect_ratios: Sequence[float],
    interpolated_scale_aspect_ratio: float,
    reduce_boxes_in_lowest_layer: bool,
) -> list[list[Pair]]:
    """Per layer, the ``(scale, aspect_ratio)`` basis TFOD builds (Python doubles).

    Explicit ``scales`` shorter than ``num_layers`` give fewer layers (TFOD zips the
    lists); longer ones leave the extra scales as "next scale" only.

    Raises:
        ConfigError: ``num_layers`` is 1 without explicit scales (TFOD divides by 0).
    """
    if scales:
        all_scales = [float(s) for s in scales] + [1.0]
    else:
        if num_layers == 1:
            raise ConfigError(
                "ssd_anchor_generator with num_layers 1 needs explicit 'scales' (TFOD "
                "interpolates min_scale..max_scale over num_layers - 1 steps)"
            )
        all_scales = [
            min_scale + (max_scale - min_scale) * i / (num_layers - 1) for i in range(num_layers)
        ] + [1.0]
    specs: list[list[Pair]] = []
    for layer, scale, scale_next in zip(range(num_layers), all_scales[:-1], all_scales[1:]):
        if layer == 0 and reduce_boxes_in_lowest_layer:
            specs.append([(0.1, 1.0), (scale, 2.0), (scale, 0.5)])
            continue
        layer_specs = [(scale, float(a)) for a in aspect_ratios]
        if interpolated_scale_aspect_ratio > 0.0:
            layer_specs.append(
                (float(np.sqrt(scale * scale_next)), float(interpolated_scale_aspect_ratio))
            )
        specs.append(layer_specs)
    return specs


@dataclass(frozen=True)
class SsdAnchorGenerator:
    """``ssd_anchor_generator`` (TFOD's ``MultipleGridAnchorGenerator``).

    Attributes:
        specs: per layer, the ``(scale, aspect_ratio)`` basis (see :func:`ssd_box_specs`).
        base_size: ``(base_anchor_height, base_anchor_width)``, fractions of min(H, W).
        strides, offsets: per layer ``(y, x)`` in pixels, or ``None`` for TFOD's
            defaults (``H / fh`` and half of it).
        meta_architecture: ``"ssd"`` (normalized anchors) or ``"faster_rcnn"``
            (TFOD then passes no image size: the formulas run with ``H = W = 1``).
    """

    specs: tuple[tuple[Pair, ...], ...]
    base_size: Pair = (1.0, 1.0)
    strides: tuple[Pair, ...] | None = None
    offsets: tuple[Pair, ...] | None = None
    meta_architecture: str = SSD

    kind = "ssd_anchor_generator"

    def __post_init__(self) -> None:
        for name, arg in (("height_stride/width_stride", self.strides),
                          ("height_offset/width_offset", self.offsets)):
            if arg and len(arg) != len(self.specs):
                raise ConfigError(
                    f"ssd_anchor_generator gives {len(arg)} {name} pair(s) for "
                    f"{len(self.specs)} layer(s); give one per layer or none"
                )

    @property
    def normalized(self) -> bool:
        return self.meta_architecture != FASTER_RCNN

    def box_specs(self) -> list[list[Pair]]:
        return [list(layer) for layer in self.specs]

    def num_anchors_per_location(self) -> list[int]:
        return [len(layer) for layer in self.specs]

    def _image_dims(self, padded_shape: tuple[int, int]) -> tuple[int, int]:
        if self.meta_architecture == FASTER_RCNN:
            return (1, 1)
        return (int(padded_shape[0]), int(padded_shape[1]))

    def _level_params(self, feature_map_shapes: FeatureMapShapes, dims: tuple[int, int]):
        """Per layer (stride, offset) in the generator's units (float64)."""
        im_h, im_w = float(dims[0]), float(dims[1])
        out = []
        for index, (fh, fw) in enumerate(feature_map_shapes):
            if self.strides:
                stride = (self.strides[index][0] / im_h, self.strides[index][1] / im_w)
            else:
                stride = (1.0 / fh, 1.0 / fw)
            if self.offsets:
                offset = (self.offsets[index][0] / im_h, self.offsets[index][1] / im_w)
            else:
                offset = (0.5 * stride[0], 0.5 * stride[1])
            out.append((stride, offset))
        return out

    def layout(
        self, feature_map_shapes: FeatureMapShapes, padded_shape: tuple[int, int]
    ) -> AnchorLayout:
        """:class:`AnchorLayout` in pixels of the padded input ``(H, W)``."""
        check_feature_map_count(self.kind, self.num_anchors_per_location(), feature_map_shapes)
        dims = self._image_dims(padded_shape)
        # Pixels per generator unit: (H, W) when normalized, 1 otherwise.
        unit = (float(dims[0]), float(dims[1]))
        min_dim = float(min(dims))
        base = (self.base_size[0] * min_dim, self.base_size[1] * min_dim)
        levels = []
        for index, (shape, specs, (stride, offset)) in enumerate(
            zip(feature_map_shapes, self.specs, self._level_params(feature_map_shapes, dims))
        ):
            levels.append(
                level_from_specs(
                    shape, specs, base,
                    (stride[0] * unit[0], stride[1] * unit[1]),
                    (offset[0] * unit[0], offset[1] * unit[1]),
                    level=index,
                )
            )
        return AnchorLayout(
            padded_shape=(int(padded_shape[0]), int(padded_shape[1])),
            levels=tuple(levels),
            normalized=self.normalized,
        )

    def tfod_anchors(
        self, feature_map_shapes: FeatureMapShapes, padded_shape: tuple[int, int]
    ) -> np.ndarray:
        """float32 ``[A, 4]`` exactly as TFOD returns them (normalized for SSD)."""
        check_feature_map_count(self.kind, self.num_anchors_per_location(), feature_map_shapes)
        dims = self._image_dims(padded_shape)
        im_h, im_w = np.float32(dims[0]), np.float32(dims[1])
        min_im = min(im_h, im_w)
        base = (
            (min_im / im_h) * f32(self.base_size[0]),
            (min_im / im_w) * f32(self.base_size[1]),
        )
        one, half = np.float32(1.0), np.float32(0.5)
        parts = []
        stride: tuple[Any, Any]
        offset: tuple[Any, Any]
        for index, ((fh, fw), specs) in enumerate(zip(feature_map_shapes, self.specs)):
            if self.strides:
                stride = (f32(self.strides[index][0]) / im_h, f32(self.strides[index][1]) / im_w)
            else:
                stride = (one / np.float32(fh), one / np.float32(fw))
            if self.offsets:
                offset = (f32(self.offsets[index][0]) / im_h, f32(self.offsets[index][1]) / im_w)
            else:
                offset = (half * stride[0], half * stride[1])
            parts.append(
                tile_anchors_f32(
                    (fh, fw), [s for s, _ in specs], [a for _, a in specs], base, stride, offset
                )
            )
        return concat_levels_f32(parts)

