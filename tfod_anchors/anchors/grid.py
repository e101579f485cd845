"""``grid_anchor_generator``: the single-level Faster R-CNN anchor grid.

Also home of the float32 tiling shared by every generator. TFOD builds all of
its anchors with one routine: a per-location *basis* of ``(scale, aspect)``
pairs, each turned into ``h = scale / sqrt(aspect) * base_h`` and
``w = scale * sqrt(aspect) * base_w``, placed at centres
``(offset_y + i * stride_y, offset_x + j * stride_x)``. Anchors are ordered by
row ``i``, then column ``j``, then basis index. The float32 functions here
repeat TFOD's operations one by one (same operand order, one rounding per
operation) so the arrays they return equal TFOD's bit for bit.

Grid anchors are in absolute pixels of the padded input. The basis is every
combination of the configured scales and aspect ratios, aspect ratio outer and
scale inner (index ``k = ai * len(scales) + si``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from .layout import AnchorLayout, AnchorLevel

Pair = tuple[float, float]
FeatureMapShapes = Sequence[tuple[int, int]]

# Meta-architectures (the ``DetectionModel`` oneof names), defined here once for every
# generator and extractor: SSD passes the input size to ``generate``; Faster R-CNN
# passes only the feature-map shapes.
SSD = "ssd"
FASTER_RCNN = "faster_rcnn"


def f32(values) -> np.ndarray:
    """float32 array of ``values`` (Python doubles round to nearest, as TF does)."""
    return np.asarray(values, dtype=np.float64).astype(np.float32)


def tile_anchors_f32(
    grid_shape: tuple[int, int],
    scales,
    aspect_ratios,
    base_size,
    stride,
    offset,
) -> np.ndarray:
    """TFOD's tiling of one feature map, in float32.

    Args:
        grid_shape: ``(fh, fw)`` cells.
        scales, aspect_ratios: ``[K]`` basis, paired element-wise (an aspect
            list of length 1 broadcasts, as in TF).
        base_size, stride, offset: ``(y, x)`` pairs in the generator's units.

    Returns:
        float32 ``[fh * fw * K, 4]`` ``[ymin, xmin, ymax, xmax]``, ordered by row,
        column, basis index.
    """
    scales = f32(scales).reshape(-1)
    ratio_sqrts = np.sqrt(f32(aspect_ratios).reshape(-1))
    base = f32(base_size)
    stride = f32(stride)
    offset = f32(offset)
    heights = (scales / ratio_sqrts) * base[0]
    widths = (scales * ratio_sqrts) * base[1]
    fh, fw = int(grid_shape[0]), int(grid_shape[1])
    yc = np.arange(fh, dtype=np.float32) * stride[0] + offset[0]
    xc = np.arange(fw, dtype=np.float32) * stride[1] + offset[1]
    k = heights.shape[0]
    cy = np.broadcast_to(yc[:, None, None], (fh, fw, k))
    cx = np.broadcast_to(xc[None, :, None], (fh, fw, k))
    half_h = np.broadcast_to(np.float32(0.5) * heights, (fh, fw, k))
    half_w = np.broadcast_to(np.float32(0.5) * widths, (fh, fw, k))
    out = np.stack([cy - half_h, cx - half_w, cy + half_h, cx + half_w], axis=-1)
    return out.reshape(-1, 4).astype(np.float32, copy=False)


def normalize_f32(anchors: np.ndarray, padded_shape: tuple[int, int]) -> np.ndarray:
    """TFOD's ``to_normalized_coordinates``: multiply by ``float32(1 / H)``, ``float32(1 / W)``.

    Args:
        anchors: float32 ``[A, 4]`` in pixels.
        padded_shape: ``(H, W)``.
    """
    one = np.float32(1.0)
    y_scale = one / np.float32(padded_shape[0])
    x_scale = one / np.float32(padded_shape[1])
    scale = np.array([y_scale, x_scale, y_scale, x_scale], dtype=np.float32)
    return (scale[None, :] * anchors).astype(np.float32, copy=False)


def check_feature_map_count(
    kind: str, num_anchors_per_location: Sequence[int], feature_map_shapes: FeatureMapShapes
) -> None:
    """Raise as TFOD's ``AnchorGenerator.generate`` does when the map count is wrong."""
    if len(feature_map_shapes) != len(num_anchors_per_location):
        raise ConfigError(
            f"{kind} makes anchors for {len(num_anchors_per_location)} feature map(s) but the "
            f"feature extractor gives {len(feature_map_shapes)}; make the anchor levels match "
            "the extractor's feature maps"
        )


def level_from_specs(
    grid_shape: tuple[int, int],
    specs: Sequence[Pair],
    base_size: Pair,
    stride: Pair,
    offset: Pair,
    level: int,
) -> AnchorLevel:
    """An :class:`AnchorLevel` (float64 pixels) from a basis of ``(scale, aspect)`` pairs."""
    sizes = np.zeros((len(specs), 2), dtype=np.float64)
    for k, (scale, aspect) in enumerate(specs):
        root = np.sqrt(float(aspect))
        sizes[k, 0] = float(scale) / root * float(base_size[0])
        sizes[k, 1] = float(scale) * root * float(base_size[1])
    return AnchorLevel(
        grid_shape=(int(grid_shape[0]), int(grid_shape[1])),
        stride=(float(stride[0]), float(stride[1])),
        offset=(float(offset[0]), float(offset[1])),
        sizes=sizes,
        level=int(level),
    )


@dataclass(frozen=True)
class GridAnchorGenerator:
    """``grid_anchor_generator`` (absolute pixels, one feature map).

    Attributes:
        scales, aspect_ratios: as configured (an empty list means no anchors).
        base_size: ``(height, width)`` of the scale-1, aspect-1 anchor in pixels.
        stride, offset: ``(y, x)`` in pixels; the centre of cell ``(0, 0)`` is
            ``offset`` (TFOD's default 0, not half a stride).
        meta_architecture: ``"faster_rcnn"`` (where TFOD can use it) or ``"ssd"``
            (TFOD's SSD passes the image size, which this generator rejects).
    """

    scales: tuple[float, ...]
    aspect_ratios: tuple[float, ...]
    base_size: Pair = (256.0, 256.0)
    stride: Pair = (16.0, 16.0)
    offset: Pair = (0.0, 0.0)
    meta_architecture: str = FASTER_RCNN

    kind = "grid_anchor_generator"

    @property
    def normalized(self) -> bool:
        return False

    def box_specs(self) -> list[list[Pair]]:
        """Per level, the ``(scale, aspect_ratio)`` basis in TFOD's order."""
        return [[(s, a) for a in self.aspect_ratios for s in self.scales]]

    def num_anchors_per_location(self) -> list[int]:
        return [len(self.scales) * len(self.aspect_ratios)]

    def _check(self, feature_map_shapes: FeatureMapShapes) -> None:
        if self.meta_architecture == SSD:
            raise ConfigError(
                "grid_anchor_generator cannot be used by an SSD model (TFOD's SSD passes the "
                "image size, which it does not accept); use ssd_anchor_generator or "
                "multiscale_anchor_generator"
            )
        if len(feature_map_shapes) != 1:
            raise ConfigError(
                "grid_anchor_generator makes anchors for exactly one feature map but the "
                f"feature extractor gives {len(feature_map_shapes)}; use "
                "multiscale_anchor_generator for a feature pyramid"
            )

    def layout(self, feature_map_shapes: FeatureMapShapes, padded_shape: tuple[int, int]):
        """:class:`AnchorLayout` in pixels of the padded input ``(H, W)``."""
        self._check(feature_map_shapes)
        level = level_from_specs(
            feature_map_shapes[0], self.box_specs()[0], self.base_size, self.stride,
            self.offset, level=0,
        )
        return AnchorLayout(
            padded_shape=(int(padded_shape[0]), int(padded_shape[1])), levels=(level,),
            normalized=False,
        )

    def tfod_anchors(
        self, feature_map_shapes: FeatureMapShapes, padded_shape: tuple[int, int]
    ) -> np.ndarray:
        """float32 ``[A, 4]`` exactly as TFOD returns them (absolute pixels)."""
        self._check(feature_map_shapes)
        specs = self.box_specs()[0]
        return tile_anchors_f32(
            feature_map_shapes[0],
            [s for s, _ in specs],
            [a for _, a in specs],
            self.base_size,
            self.stride,
            self.offset,
        )
