"""The public fit: :func:`fit_generator`, the config's own anchor generator fitted to boxes.

For grid anchors it first chooses how the anchors per location split into scales x
aspect ratios, then runs :func:`tfod_anchors.fitting.counts.fit_counts`.

TFOD's ``grid_anchor_generator`` lays out the Cartesian product of ``scales`` and
``aspect_ratios``, so 12 anchors per location can be 4 x 3 (the sample configs),
but equally 6 x 2, 3 x 4 or 2 x 6. The box predictor only sees the count, so every
split restores from the same checkpoint shapes. :func:`fit_generator` tries each
split with at least two scales and two ratios on a seeded subsample, keeps the one
the objective prefers (the config's own split on ties), and fits it on all boxes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tfod_anchors.boxes import ResizedBoxes
from tfod_anchors.config import query as config_query
from tfod_anchors.config.query import PipelineLike
from tfod_anchors.coverage.metrics import METRIC_KEYS
from tfod_anchors.fitting.background import Background
from tfod_anchors.fitting.counts import FitResult, fit_counts
from tfod_anchors.fitting.objective import make_objective

#: Boxes the split is chosen on (all boxes when there are fewer).
SELECTION_BOXES = 2_000


def splits(num_scales: int, num_ratios: int) -> list[tuple[int, int]]:
    """``(scales, ratios)`` pairs with the same product, both at least 2; the
    config's own split first. ``[]`` when there is no alternative."""
    n = num_scales * num_ratios
    others = [(s, n // s) for s in range(2, n // 2 + 1)
              if n % s == 0 and (s, n // s) != (num_scales, num_ratios)]
    return [(num_scales, num_ratios), *others] if others else []


def subsample(resized: ResizedBoxes, size: int, seed: int) -> ResizedBoxes:
    """A seeded uniform subsample of ``size`` boxes (image arrays kept whole)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5EED]))
    idx = np.sort(rng.choice(resized.num_boxes, size=size, replace=False))
    return ResizedBoxes(resized.true_shape, resized.padded_shape, resized.box_image[idx],
                        resized.boxes[idx], resized.label[idx])


def _score(fit: FitResult, objective: str, tolerance: float | None) -> tuple:
    base = {k: float(fit.before[k]) for k in METRIC_KEYS}
    obj = make_objective(objective, fit.matched_threshold, base, tolerance)
    return obj.score({k: float(fit.after[k]) for k in METRIC_KEYS})


def fit_generator(resized: ResizedBoxes, cfg: PipelineLike, *, objective: str = "recall",
                  seed: int = 0, num_scales: int | None = None,
                  num_aspect_ratios: int | None = None, guard_tolerance: float | None = 0.01,
                  **kwargs: Any) -> FitResult:
    """Fit the config's anchor generator (see :func:`tfod_anchors.fitting.counts.fit_counts`).

    For ``grid_anchor_generator`` without explicit counts, every scales x ratios
    split of the same anchors-per-location count is tried first (module docstring);
    ``diagnostics["splits"]`` records the selection scores.
    """
    common = dict(objective=objective, seed=seed, guard_tolerance=guard_tolerance, **kwargs)
    generator = config_query.anchor_generator(config_query.as_pipeline(cfg))
    kind = generator.WhichOneof("anchor_generator_oneof") if generator is not None else None
    if generator is None or kind != "grid_anchor_generator" or num_scales or num_aspect_ratios:
        return fit_counts(resized, cfg, num_scales=num_scales,
                          num_aspect_ratios=num_aspect_ratios, **common)
    grid = generator.grid_anchor_generator
    options = splits(len(grid.scales), len(grid.aspect_ratios))
    if not options or resized.num_boxes == 0:
        return fit_counts(resized, cfg, **common)
    exact = resized.num_boxes <= SELECTION_BOXES
    probe = resized if exact else subsample(resized, SELECTION_BOXES, seed)
    quiet = {**common, "progress": None}

    def run(opt: tuple[int, int]) -> FitResult:
        return fit_counts(probe, cfg, num_scales=opt[0], num_aspect_ratios=opt[1],
                          **(common if exact and opt == options[0] else quiet))

    if exact:  # small data: the probes are the fits
        results = {opt: run(opt) for opt in options}
        scores = {opt: _score(r, objective, guard_tolerance) for opt, r in results.items()}
    else:  # half of the probes on the other core; only their scores come back
        half = options[len(options) // 2:]
        with Background(lambda: {o: _score(run(o), objective, guard_tolerance)
                                 for o in half}) as other:
            scores = {o: _score(run(o), objective, guard_tolerance)
                      for o in options[:len(options) // 2]}
            scores.update(other.result())
    best = max(options, key=lambda opt: (scores[opt], opt == options[0]))
    if exact:
        chosen = results[best]
    else:
        chosen = fit_counts(resized, cfg, num_scales=best[0], num_aspect_ratios=best[1],
                            **common)
        if best != options[0] and not chosen.improved:  # the subsample misled us
            chosen = fit_counts(resized, cfg, **common)
    chosen.diagnostics["splits"] = {
        f"{s}x{a}": [round(float(v), 6) for v in scores[(s, a)]] for s, a in options}
    chosen.diagnostics["split_selection_boxes"] = probe.num_boxes
    return chosen
