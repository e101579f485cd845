"""``fit --anchors-per-location N``: the counts that give ``N`` anchors per location.

Each generator makes its per-location anchors from two counts (what ``--num-scales`` and
``--num-aspect-ratios`` set): grid ``scales`` x ``aspect_ratios``, multiscale
``scales_per_octave`` x ``aspect_ratios``, SSD ``aspect_ratios`` (plus one when
``interpolated_scale_aspect_ratio`` > 0), a flexible grid's (base size, aspect ratio) pairs.
:func:`counts_for` keeps the config's number of aspect ratios when ``N`` allows it, else the
divisor of ``N`` nearest to it.
"""

from __future__ import annotations

from typing import Any

from tfod_anchors.anchors import (
    FlexibleGridAnchorGenerator,
    GridAnchorGenerator,
    MultiscaleAnchorGenerator,
    SsdAnchorGenerator,
)
from tfod_anchors.config import query as cq
from tfod_anchors.errors import UsageError


def nearest_divisor(n: int, near: int) -> int:
    """The divisor of ``n`` nearest to ``near`` (ties: the smaller)."""
    return min((d for d in range(1, n + 1) if n % d == 0), key=lambda d: (abs(d - near), d))


def counts_for(cfg: Any, n: int) -> tuple[int | None, int | None]:
    """``(num_scales, num_aspect_ratios)`` giving ``n`` anchors per location for the
    config's generator (None: unchanged).

    Raises:
        UsageError: ``n`` below 1, or not reachable with this generator.
    """
    if n < 1:
        raise UsageError(f"--anchors-per-location must be at least 1, got {n}")
    generator = cq.anchor_generator(cfg)
    kind = cq.anchor_generator_kind(cfg)
    if generator is None or not kind:
        raise UsageError("--anchors-per-location: the config has no anchor generator")
    msg = getattr(generator, kind)
    if kind in (GridAnchorGenerator.kind, MultiscaleAnchorGenerator.kind):
        ratios = nearest_divisor(n, max(1, len(msg.aspect_ratios)))
        return n // ratios, ratios
    if kind == SsdAnchorGenerator.kind:
        extra = 1 if msg.interpolated_scale_aspect_ratio > 0 else 0
        if n - extra < 1:
            raise UsageError(f"--anchors-per-location {n}: ssd_anchor_generator gives one "
                             f"anchor per aspect ratio plus {extra} interpolated; use at least "
                             f"{extra + 1}")
        return None, n - extra
    if kind == FlexibleGridAnchorGenerator.kind:
        return n, None
    raise UsageError(f"--anchors-per-location: no anchor generator to change ({kind})")
