"""From an ``AnchorGenerator`` proto to one of our numpy generators.

One small builder per name of the ``anchor_generator_oneof``, as TFOD's
``anchor_generator_builder`` does. Fields are read by name, so protos of the
bundled schema and of an installed TFOD both work. Every generator returned has
``kind``, ``normalized``, ``box_specs()``, ``num_anchors_per_location()``,
``layout(feature_map_shapes, padded_shape)`` and
``tfod_anchors(feature_map_shapes, padded_shape)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Union

from ..errors import ConfigError
from .flexible import FlexibleGrid, FlexibleGridAnchorGenerator
from .grid import FASTER_RCNN, SSD, GridAnchorGenerator
from .multiscale import MultiscaleAnchorGenerator
from .ssd import SsdAnchorGenerator, ssd_box_specs

AnchorGenerator = Union[
    GridAnchorGenerator, SsdAnchorGenerator, MultiscaleAnchorGenerator, FlexibleGridAnchorGenerator
]

ONEOF = "anchor_generator_oneof"

# Where each generator is normally used, when the caller does not say.
_HOME = {
    "grid_anchor_generator": FASTER_RCNN,
    "ssd_anchor_generator": SSD,
    "multiscale_anchor_generator": SSD,
    "flexible_grid_anchor_generator": SSD,
}


#: The generator a meta-architecture's sample configs use (``check``'s suggestion).
DEFAULT_GENERATOR = {FASTER_RCNN: "grid_anchor_generator", SSD: "ssd_anchor_generator"}


def _floats(values) -> tuple[float, ...]:
    return tuple(float(v) for v in values)


def _build_grid(msg: Any, meta: str) -> GridAnchorGenerator:
    return GridAnchorGenerator(
        scales=_floats(msg.scales),
        aspect_ratios=_floats(msg.aspect_ratios),
        base_size=(float(msg.height), float(msg.width)),
        stride=(float(msg.height_stride), float(msg.width_stride)),
        offset=(float(msg.height_offset), float(msg.width_offset)),
        meta_architecture=meta,
    )


def _pairs(first, second) -> tuple[tuple[float, float], ...] | None:
    """TFOD's ``list(zip(height_*, width_*))`` when ``height_*`` is set, else None."""
    if not len(first):
        return None
    return tuple((float(a), float(b)) for a, b in zip(first, second))


def _build_ssd(msg: Any, meta: str) -> SsdAnchorGenerator:
    specs = ssd_box_specs(
        num_layers=int(msg.num_layers),
        min_scale=float(msg.min_scale),
        max_scale=float(msg.max_scale),
        scales=_floats(msg.scales),
        aspect_ratios=_floats(msg.aspect_ratios),
        interpolated_scale_aspect_ratio=float(msg.interpolated_scale_aspect_ratio),
        reduce_boxes_in_lowest_layer=bool(msg.reduce_boxes_in_lowest_layer),
    )
    return SsdAnchorGenerator(
        specs=tuple(tuple(layer) for layer in specs),
        base_size=(float(msg.base_anchor_height), float(msg.base_anchor_width)),
        strides=_pairs(msg.height_stride, msg.width_stride),
        offsets=_pairs(msg.height_offset, msg.width_offset),
        meta_architecture=meta,
    )


def _build_multiscale(msg: Any, meta: str) -> MultiscaleAnchorGenerator:
    return MultiscaleAnchorGenerator(
        min_level=int(msg.min_level),
        max_level=int(msg.max_level),
        anchor_scale=float(msg.anchor_scale),
        aspect_ratios=_floats(msg.aspect_ratios),
        scales_per_octave=int(msg.scales_per_octave),
        normalize_coordinates=bool(msg.normalize_coordinates),
        meta_architecture=meta,
    )


def _build_flexible(msg: Any, meta: str) -> FlexibleGridAnchorGenerator:
    grids = tuple(
        FlexibleGrid(
            base_sizes=_floats(g.base_sizes),
            aspect_ratios=_floats(g.aspect_ratios),
            stride=(float(g.height_stride), float(g.width_stride)),
            offset=(float(g.height_offset), float(g.width_offset)),
        )
        for g in msg.anchor_grid
    )
    return FlexibleGridAnchorGenerator(
        grids=grids,
        normalize_coordinates=bool(msg.normalize_coordinates),
        meta_architecture=meta,
    )


BUILDERS: dict[str, Callable[[Any, str], AnchorGenerator]] = {
    "grid_anchor_generator": _build_grid,
    "ssd_anchor_generator": _build_ssd,
    "multiscale_anchor_generator": _build_multiscale,
    "flexible_grid_anchor_generator": _build_flexible,
}


def generator_kind(anchor_generator: Any) -> str | None:
    """The set oneof name of an ``AnchorGenerator`` message, or None."""
    if anchor_generator is None:
        return None
    return anchor_generator.WhichOneof(ONEOF)


def build_anchor_generator(
    anchor_generator: Any, meta_architecture: str | None = None
) -> AnchorGenerator:
    """Build the generator an ``AnchorGenerator`` message describes.

    Args:
        anchor_generator: ``object_detection.protos.AnchorGenerator`` (either schema).
        meta_architecture: ``"ssd"`` or ``"faster_rcnn"``: how TFOD will call the
            generator (SSD passes the padded input size, Faster R-CNN does not).
            Default: the generator's usual home (grid: Faster R-CNN, others: SSD).

    Raises:
        ConfigError: no generator set, or parameters TFOD's builder rejects.
    """
    kind = generator_kind(anchor_generator)
    if kind is None:
        raise ConfigError("the anchor generator is empty; set one of " + ", ".join(BUILDERS))
    if kind not in BUILDERS:
        raise ConfigError(f"unsupported anchor generator {kind!r}")
    meta = meta_architecture or _HOME[kind]
    if meta not in (SSD, FASTER_RCNN):
        raise ConfigError(f"unknown meta-architecture {meta!r} (expected 'ssd' or 'faster_rcnn')")
    return BUILDERS[kind](getattr(anchor_generator, kind), meta)
