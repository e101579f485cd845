"""``fit_counts``: the config's anchor generator refitted with given counts.

A thin entry point over :func:`tfod_anchors.fitting.fit.fit_generator` for callers
that fix the number of scales / aspect ratios themselves (no split search).
"""

from __future__ import annotations

from typing import Any

from tfod_anchors.boxes import ResizedBoxes
from tfod_anchors.errors import TfodAnchorsError
from tfod_anchors.fitting.fit import COARSE_BOXES, DEFAULT_MAX_BOXES_EXACT, fit_generator
from tfod_anchors.fitting.result import FitResult
from tfod_anchors.fitting.scoring import SAMPLED_MARGIN
from tfod_anchors.fitting.verify import VERIFY, written_generator
from tfod_anchors.frameworks import as_spec

__all__ = ["COARSE_BOXES", "DEFAULT_MAX_BOXES_EXACT", "SAMPLED_MARGIN", "VERIFY", "fit_counts",
           "written_generator"]


def fit_counts(resized: ResizedBoxes, cfg: Any, *, num_scales: int | None = None,
               num_aspect_ratios: int | None = None, **kwargs: Any) -> FitResult:
    """Fit with the config's own counts, or ``num_scales``/``num_aspect_ratios``; the
    grid generator's split is not searched. Keywords as :func:`fit_generator`."""
    model = as_spec(cfg)
    if num_scales is None and num_aspect_ratios is None and model.anchors is not None:
        try:
            split = model.param_space().split_counts
        except TfodAnchorsError:  # reported by the fit itself
            split = None
        if split is not None:
            num_scales = split[0] or None
    return fit_generator(resized, model, num_scales=num_scales,
                         num_aspect_ratios=num_aspect_ratios, **kwargs)
