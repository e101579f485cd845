"""Measure a changed config as ``fit`` would leave it, without writing anything.

For a change (``FIELD=VALUE`` assignments), the boxes already read go through the
changed config's augmentation and resizer; coverage is measured with its anchors as
they are (``as_is``) and after fitting them exactly as ``fit`` does, same seed and
same distribution (``predicted``: what ``fit`` on a config with that change reports
as ``after``, or ``before`` when it finds nothing better; its ``by_size`` bands are
by area at the changed input size, as ``fit`` reports them, and ``by_current_size``
gives the recall of the boxes in each band at the current size, which is what a
band finding is about). Cost is the change in input pixels and in anchors, for the
most common padded input shape.

The config's own fit (``check``'s decision: can ``fit`` gain the minimum gain?) is ``fit``'s
exactly, run once. The advice entries are a cheaper fit of the same anchors
(:data:`ADVICE_SEARCH`): the search looks at a seeded, content-keyed stratified sample of
at most :data:`ADVICE_SEARCH_BOXES` boxes (the fitting package's sampler, so the same boxes
in any order give the same sample), without the static boxes' guard of an augmented fit
and without the unguarded comparison; the candidates it finds are still verified on
every box, so ``as_is`` and ``predicted`` are exact coverage of anchors a search on the
sample found. An entry says how many boxes its search saw (``sampled_boxes``, None when
all of them) and its note says so in the text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tfod_anchors import pipeline
from tfod_anchors.boxes import BoxSet
from tfod_anchors.coverage.metrics import METRIC_KEYS, SIZE_BANDS
from tfod_anchors.errors import ConfigError, InputError, UsageError
from tfod_anchors.pipeline import AugmentOptions, SourceOptions
from tfod_anchors.whatif.changes import Change, candidate_changes
from tfod_anchors.whatif.fields import apply_assignments


def _brief(metrics: dict[str, Any]) -> dict[str, Any]:
    """The headline metrics and each size band's count and recall."""
    return {**{k: metrics.get(k) for k in METRIC_KEYS},
            "by_size": {band: {"count": e.get("count"), "recall_matched": e.get("recall_matched")}
                        for band, e in (metrics.get("by_size") or {}).items()}}


def band_recalls(best_iou: np.ndarray, area: np.ndarray, t: float) -> dict[str, Any]:
    """``{band: {count, recall_matched}}`` of boxes banded by ``area`` (pixels², e.g.
    at the current input size) with ``best_iou`` measured elsewhere (same box order)."""
    out = {}
    for name, lo, hi in SIZE_BANDS:
        m = (area >= lo) & (area < hi)
        out[name] = {"count": int(m.sum()),
                     "recall_matched": float((best_iou[m] >= t).mean()) if m.any() else None}
    return out


def _shape_cost(cfg: Any, resized: Any) -> tuple[int, int]:
    """``(pixels, anchors)`` of the most common padded input of ``resized``."""
    shape = resized.most_common_shape()
    layout = pipeline.layout_function(cfg)(shape)
    return int(shape[0]) * int(shape[1]), int(layout.num_anchors)


#: Search-sample size of an advice entry's fit (``fit``'s own default is 20 000-40 000).
ADVICE_SEARCH_BOXES = 6_000


@dataclass(frozen=True)
class FitEffort:
    """How a :func:`measure` fit searches: ``search_boxes`` is ``max_boxes_exact`` (None:
    ``fit``'s default); ``static_guard``: also guard the static boxes of an augmented
    fit, as ``fit`` does."""

    search_boxes: int | None = None
    static_guard: bool = True


#: ``fit``'s own search (the config's own fit: the decision ``fit`` would make).
EXACT_FIT = FitEffort()
#: The advice entries' search (see the module docstring).
ADVICE_SEARCH = FitEffort(ADVICE_SEARCH_BOXES, static_guard=False)


def measure(cfg: Any, boxes: BoxSet, augmentation: AugmentOptions, seed: int,
            *, fit: bool = True, effort: FitEffort = EXACT_FIT) -> dict[str, Any]:
    """Coverage of ``cfg`` on ``boxes`` as is and after a fit (``fit``), plus the
    ``(pixels, anchors)`` cost basis and ``sampled_boxes`` (the fit's search-sample size
    when it did not see every box, else None); the fit is ``fit``'s own (same seed,
    guard, distribution) searched with ``effort``."""
    from tfod_anchors.fitting import fit_generator
    from tfod_anchors.frameworks import as_spec

    model = as_spec(cfg)
    training = pipeline.training_boxes(model, None, SourceOptions(), augmentation, boxes=boxes,
                                       keep_static=effort.static_guard)
    static = training.static if training.augmentation is not None else None
    report = pipeline.measure_coverage(training.resized, model)
    predicted, improved, best, sampled = report.metrics, False, report.best_iou, None
    if fit:
        result = fit_generator(training.resized, model, seed=seed,
                               static=static if effort.static_guard else None,
                               unguarded_report=False, max_boxes_exact=effort.search_boxes)
        improved = bool(result.improved)
        if result.diagnostics.get("sampled"):
            sampled = int(result.diagnostics["search_boxes"])
        predicted = result.after if improved else result.before
        if improved and result.report_after is not None:
            best = result.report_after.best_iou
    pixels, anchors = _shape_cost(model, training.resized)
    r = training.resized
    return {"as_is": _brief(report.metrics), "predicted": _brief(predicted),
            "fit_improves": improved, "sampled_boxes": sampled, "num_boxes": r.num_boxes,
            "pixels": pixels, "anchors": anchors,
            "padded_shape": list(r.most_common_shape()), "best_iou": np.asarray(best),
            "area": np.asarray(r.widths * r.heights, dtype=np.float64),
            "matched_threshold": float(report.metrics["matched_threshold"])}


#: Changes whose input has more than this many times the pixels are not measured here.
MAX_PIXEL_RATIO = 16.0


def _too_large(changed: Any, boxes: BoxSet, baseline: dict[str, Any]) -> str | None:
    """Why ``changed`` is not measured (its padded input of the first image is more than
    :data:`MAX_PIXEL_RATIO` times the config's most common one), or None."""
    from tfod_anchors.anchors.model import resized_shapes

    if boxes.num_images == 0:
        return None
    size = (int(boxes.image_height[0]), int(boxes.image_width[0]))
    try:
        _, (h, w) = resized_shapes(changed, size)
    except (ConfigError, UsageError):
        return None  # measure() reports it
    ratio = h * w / max(1, baseline["pixels"])
    if ratio <= MAX_PIXEL_RATIO:
        return None
    return (f"not measured: a {h}x{w} input is {ratio:.0f}x the pixels of today's "
            f"(more than {MAX_PIXEL_RATIO:g}x)")


def sampled_note(got: dict[str, Any]) -> str:
    """The text of a sampled search (``got``: :func:`measure`'s result)."""
    return (f"fit searched on a sample of {got['sampled_boxes']} of {got['num_boxes']} boxes; "
            "coverage measured on all")


def evaluate_change(cfg: Any, change: Change, boxes: BoxSet, augmentation: AugmentOptions,
                    seed: int, baseline: dict[str, Any],
                    effort: FitEffort = ADVICE_SEARCH) -> dict[str, Any]:
    """One ``advice`` entry: the change, its assignments, and (when supported and
    valid) ``as_is``/``predicted`` coverage and ``cost`` relative to ``baseline``
    (:func:`measure` of the config itself), the fit searched with ``effort``."""
    from tfod_anchors.rules import ERROR, check_rules

    entry: dict[str, Any] = {"change": change.name, "kind": change.kind,
                             "assignments": list(change.assignments),
                             "supported": change.supported, "note": change.note or None,
                             "as_is": None, "predicted": None, "cost": None,
                             "sampled_boxes": None}
    if not change.supported:
        return entry
    changed = apply_assignments(cfg, list(change.assignments))
    errors = [f for f in check_rules(changed) if f.severity == ERROR]
    if errors:
        entry.update(supported=False, note=f"TFOD would reject it: {errors[0].code}: "
                                           f"{errors[0].message}")
        return entry
    too_large = _too_large(changed, boxes, baseline)
    if too_large:
        entry.update(supported=False, note=too_large)
        return entry
    try:
        got = measure(changed, boxes, augmentation, seed, effort=effort)
    except (ConfigError, UsageError, InputError) as err:
        entry.update(supported=False, note=f"cannot be measured: {err.message}")
        return entry
    if got["best_iou"].shape == baseline["area"].shape:  # the same boxes, in the same order
        got["predicted"]["by_current_size"] = band_recalls(
            got["best_iou"], baseline["area"], got["matched_threshold"])
    if got["sampled_boxes"] is not None:
        entry["note"] = "; ".join(filter(None, [entry["note"], sampled_note(got)]))
    entry.update(as_is=got["as_is"], predicted=got["predicted"], fit_improves=got["fit_improves"],
                 sampled_boxes=got["sampled_boxes"],
                 cost={"pixels": got["pixels"] / baseline["pixels"],
                       "anchors": got["anchors"] / baseline["anchors"],
                       "padded_shape": got["padded_shape"]})
    return entry


def advise(cfg: Any, boxes: BoxSet, augmentation: AugmentOptions, seed: int,
           baseline: dict[str, Any], extra: list[Change] | None = None) -> list[dict[str, Any]]:
    """Every :func:`~tfod_anchors.whatif.changes.candidate_changes` entry of ``cfg``
    (then ``extra``), evaluated with :func:`evaluate_change`."""
    changes = [*candidate_changes(cfg), *(extra or [])]
    return [evaluate_change(cfg, c, boxes, augmentation, seed, baseline) for c in changes]
