"""``fit_counts``: the config's anchor generator refitted with given counts.

A thin entry point over :func:`tfod_anchors.fitting.fit.fit_generator` for callers
that fix the number of scales / aspect ratios themselves (no split search).
"""

from __future__ import annotations

from typing import Any

from tfod_anchors.boxes import ResizedBoxes
from tfod_anchors.fitting.fit import COARSE_BOXES, DEFAULT_MAX_BOXES_EXACT, fit_generator
from tfod_anchors.fitting.result import FitResult
from tfod_anchors.fitting.scoring import SAMPLED_MARGIN
from tfod_anchors.fitting.verify import VERIFY, written_generator

__all__ = ["COARSE_BOXES", "DEFAULT_MAX_BOXES_EXACT", "SAMPLED_MARGIN", "VERIFY", "fit_counts",
           "written_generator"]


def fit_counts(resized: ResizedBoxes, cfg: Any, *, num_scales: int | None = None,
               num_aspect_ratios: int | None = None, **kwargs: Any) -> FitResult:
    """Fit with the config's own counts, or ``num_scales``/``num_aspect_ratios``; the
    grid generator's split is not searched. Keywords as :func:`fit_generator`."""
    if num_scales is None and num_aspect_ratios is None:
        from tfod_anchors.config import query as config_query

        gen = config_query.anchor_generator(config_query.as_pipeline(cfg))
        if gen is not None and gen.WhichOneof("anchor_generator_oneof") == \
                "grid_anchor_generator":
            num_scales = len(gen.grid_anchor_generator.scales) or None
    return fit_generator(resized, cfg, num_scales=num_scales,
                         num_aspect_ratios=num_aspect_ratios, **kwargs)
