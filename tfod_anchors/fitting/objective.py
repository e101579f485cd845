"""What fitting maximises, what it may not give away, and when a gain counts.

Objectives (the ``primary`` value; ties are always broken by mean IoU). Each is a
weighted sum of the four headline metrics (:data:`WEIGHT_KEYS`):

* ``"recall"`` (default): share of boxes whose best anchor reaches the matcher's
  ``matched_threshold`` (0.7 for the Faster R-CNN first stage, the config's
  ``argmax_matcher`` value for SSD).
* ``"mean_iou"``: mean over boxes of the best anchor IoU (YOLO9000's avg IoU, positioned).
* ``"recall_0.5"``, ``"recall_0.7"``: share of boxes with best IoU >= 0.5 / 0.7.
* ``"balanced"``: the mean of recall@0.5, recall@0.7 and mean IoU.
* ``"w:R,M,F"``: ``(R * recall_matched + M * mean_iou + F * recall_0.5) / (R + M + F)``,
  any point of the trade-off front between the matcher's recall and the two
  shape metrics (weights >= 0, not all 0).

Guard (:class:`~tfod_anchors.fitting.guard.Guard`, each part can be switched off or given
another tolerance):

* ``mean_iou``, ``recall_0.5`` and the matcher's recall, where they are not the
  primary itself, may not fall more than 0.01 below the config's value;
* ``recall_0.7`` likewise (0.01) when the matched threshold is below 0.7 (SSD);
* under a shape-only rule (YOLO's) neither positioned recall is guarded unless the
  ``--guard`` spec names it (:meth:`Guard.for_shape_rule`);
* ``bands``: the matcher's recall of every COCO size band (small < 32², medium
  < 96², large; resized pixels) holding at least 5 % of the boxes may not fall more
  than 0.05 below the config's;
* ``stride``: no candidate may make the smallest anchor narrower than its stride
  (``check``'s ``anchor_below_stride``) unless the config already does; enforced
  through the ``"constraint"`` entry of the metrics (see :mod:`.problem`).

Candidates are ranked lexicographically by ``(-violation, primary, mean_iou)``: a
guarded solution always beats an unguarded one, so the start (violation 0) can never
be traded away. A fit counts as better only when the primary gains at least
:func:`min_gain` (``max(0.002, 10 / N)``; a tenth of the boxes below 100) on all
boxes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from tfod_anchors.coverage.metrics import SIZE_BANDS
from tfod_anchors.errors import UsageError
from tfod_anchors.fitting.guard import GUARD_KEYS, Guard  # noqa: F401  (re-exported)

OBJECTIVES = ("recall", "mean_iou", "recall_0.5", "recall_0.7", "balanced")
#: What the primary of every objective is a weighted sum of (in this order).
WEIGHT_KEYS = ("recall_matched", "mean_iou", "recall_0.5", "recall_0.7")
NAMED_WEIGHTS = {
    "recall": (1.0, 0.0, 0.0, 0.0),
    "mean_iou": (0.0, 1.0, 0.0, 0.0),
    "recall_0.5": (0.0, 0.0, 1.0, 0.0),
    "recall_0.7": (0.0, 0.0, 0.0, 1.0),
    "balanced": (0.0, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0),
}
BAND_PREFIX = "band:"
#: Metrics of the second distribution an augmented fit guards (its static boxes).
STATIC_PREFIX = "static:"
#: Per-class matcher recall keys (``--guard classes``): ``"class:ID"``.
CLASS_PREFIX = "class:"
#: Metrics by name: floats for one candidate, float64 ``[C]`` arrays for several.
Metrics = Mapping[str, Any]
MIN_GAIN_ABS = 0.002
MIN_GAIN_BOXES = 10


def min_gain(num_boxes: int) -> float:
    """Smallest objective gain that counts as better: ``max(0.002, 10 / N)``, i.e. at
    least ten boxes' worth; below 100 boxes a tenth of them (at least one box), so
    that a small set can still improve at all."""
    n = max(1, int(num_boxes))
    return max(MIN_GAIN_ABS, min(MIN_GAIN_BOXES, math.ceil(n / 10)) / n)


def objective_weights(name: str) -> tuple[float, float, float, float]:
    """Weights over :data:`WEIGHT_KEYS` of objective ``name`` (summing to 1).

    Raises:
        UsageError: unknown name or bad weights.
    """
    if name in NAMED_WEIGHTS:
        return NAMED_WEIGHTS[name]
    if name.startswith("w:"):
        try:
            raw = [float(v) for v in name[2:].split(",")]
        except ValueError:
            raw = []
        if len(raw) == 3 and all(math.isfinite(v) and v >= 0 for v in raw) and sum(raw) > 0:
            total = sum(raw)
            return raw[0] / total, raw[1] / total, raw[2] / total, 0.0
        raise UsageError(f"objective {name!r}: give three weights >= 0, not all 0, as "
                         "w:RECALL,MEAN_IOU,RECALL_0.5 (e.g. w:1,0.5,0.5)")
    raise UsageError(f"unknown objective {name!r}; choose one of {', '.join(OBJECTIVES)} "
                     "or weights w:RECALL,MEAN_IOU,RECALL_0.5")


def guarded_metrics(name: str, matched: float, guard: Guard | None = None) -> tuple[str, ...]:
    """The whole-set metrics the guard keeps for objective ``name`` (never the primary
    itself, nor a recall at the same threshold as the primary)."""
    return tuple((guard or Guard()).tolerances(name, matched))


@dataclass(frozen=True)
class BandWeights:
    """Per-band normalised box weights: ``matrix`` float64 ``[nb, B]``, rows summing
    to 1 over the band's boxes; ``names`` the band names."""

    names: tuple[str, ...]
    matrix: np.ndarray

    @classmethod
    def of(cls, boxes: np.ndarray, weight: np.ndarray, names: tuple[str, ...]) -> BandWeights:
        """Bands ``names`` of ``boxes`` float ``[B, 4]`` (pixels) with ``weight [B]``."""
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        rows = []
        kept = []
        for name, lo, hi in SIZE_BANDS:
            if name not in names:
                continue
            w = np.where((area >= lo) & (area < hi), weight, 0.0)
            if w.sum() > 0:
                rows.append(w / w.sum())
                kept.append(name)
        matrix = np.array(rows, dtype=np.float64).reshape(len(rows), boxes.shape[0])
        return cls(tuple(kept), matrix)


def band_shares(boxes: np.ndarray) -> dict[str, float]:
    """Share of ``boxes`` float ``[N, 4]`` (pixels) in each size band."""
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    n = max(1, boxes.shape[0])
    return {name: float(((area >= lo) & (area < hi)).sum()) / n for name, lo, hi in SIZE_BANDS}


def smooth_recall(best: np.ndarray, w: np.ndarray, threshold: float, width: float
                  ) -> np.ndarray:
    """The weighted share of ``best`` (``[B]`` or ``[B, C]``) at or above ``threshold``
    with the step replaced by a linear ramp ``width`` wide centred on it: a box at the
    threshold counts one half, ``width / 2`` above it fully. ``w``: weights summing to 1."""
    ramp = (best.astype(np.float64) - threshold) / width + 0.5
    return weighted_sum(w, np.clip(ramp, 0.0, 1.0))


def weighted_sum(w: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``sum_b w[b] * values[b]`` per candidate: float64 ``[]`` for ``values [B]``,
    ``[C]`` for ``[B, C]`` (bool or float).

    For one candidate and for a column-major ``[B, C]`` block (each candidate's values
    contiguous, as :meth:`.Evaluator.line_scores` scores them) each sum is numpy's
    pairwise sum of that candidate's values alone: a candidate's metrics do not depend
    on which others share its batch (a BLAS matrix-vector product's last bits do), so a
    remembered score is the one another batch would compute. A row-major block (the
    grid's pool ascent) keeps the BLAS product, several times faster in that layout."""
    values = np.asarray(values)
    if values.ndim == 2 and not values.flags.f_contiguous:
        return w @ values
    return np.multiply(values.T, w, dtype=np.float64).sum(axis=-1)


def metrics_of(best: np.ndarray, weight: np.ndarray, matched: float,
               bands: BandWeights | None = None, smooth: float = 0.0
               ) -> dict[str, np.ndarray]:
    """Weighted metrics of best-IoU columns.

    Args:
        best: float ``[B]`` or ``[B, C]`` best IoU per box (per candidate ``C``).
        weight: float64 ``[B]`` box weights (sum = number of boxes represented).
        matched: the matcher's matched threshold.
        bands: size bands whose matcher recall is wanted (``"band:NAME"`` keys).
        smooth: when positive, the three whole-set recalls are :func:`smooth_recall`
            with this ramp width (IoU units); the band recalls stay exact.
    Returns:
        ``{metric: float64 [] or [C]}``: ``mean_iou``, ``recall_matched``,
        ``recall_0.5``, ``recall_0.7`` and the band recalls.
    """
    w = weight / weight.sum()
    hit = best >= np.float32(matched)
    if smooth > 0:
        def recall(t: float) -> np.ndarray:
            return smooth_recall(best, w, t, smooth)
    else:
        def recall(t: float) -> np.ndarray:
            return weighted_sum(w, best >= np.float32(t))
    out = {"mean_iou": weighted_sum(w, best),
           "recall_matched": recall(matched) if smooth > 0 else weighted_sum(w, hit)}
    for key, t in (("recall_0.5", 0.5), ("recall_0.7", 0.7)):  # the same sum: computed once
        out[key] = out["recall_matched"] if np.float32(matched) == np.float32(t) \
            else recall(t)
    if bands is not None and bands.names:
        for row, name in zip(bands.matrix, bands.names):
            out[BAND_PREFIX + name] = weighted_sum(row, hit)
    return out


@dataclass(frozen=True)
class Objective:
    """A named objective with its guard.

    Attributes:
        name: an objective name (:data:`OBJECTIVES` or ``w:R,M,F``).
        matched: matched threshold of the config's matcher.
        floors: ``{metric: lowest allowed value}`` (start value minus tolerance);
            metric names as in :func:`metrics_of`.
        penalty: None ranks feasibility first (the guard is a hard constraint);
            a number ``p`` ranks by ``primary - p * violation`` instead, which lets a
            search cross briefly infeasible ground (used while exploring only).
        weights: over :data:`WEIGHT_KEYS`.
    """

    name: str
    matched: float
    floors: dict[str, float]
    penalty: float | None = None
    weights: tuple[float, ...] = field(default=(1.0, 0.0, 0.0, 0.0))

    def primary(self, m: Metrics) -> np.ndarray:
        total = np.zeros_like(np.asarray(m["mean_iou"], dtype=np.float64))
        for key, w in zip(WEIGHT_KEYS, self.weights):
            if w:
                total = total + w * np.asarray(m[key], dtype=np.float64)
        return total

    def violation(self, m: Metrics) -> np.ndarray:
        total = np.zeros_like(np.asarray(m["mean_iou"], dtype=np.float64))
        for key, floor in self.floors.items():
            if key in m:
                total = total + np.maximum(0.0, floor - m[key])
        if "constraint" in m:
            total = total + m["constraint"]
        return np.where(total < 1e-12, 0.0, total)

    def keys(self, m: Metrics) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(-violation, primary, mean_iou)``: larger is better, lexicographically."""
        # Rounded so that summation order (dot vs matrix product) cannot decide a tie.
        viol = self.violation(m)
        prim = np.asarray(self.primary(m), np.float64)
        if self.penalty is not None:
            prim, viol = prim - self.penalty * viol, np.zeros_like(viol)
        return (np.round(-viol, 12), np.round(prim, 12),
                np.round(np.asarray(m["mean_iou"], np.float64), 12))

    def with_penalty(self, penalty: float | None) -> Objective:
        return replace(self, penalty=penalty)

    def unguarded(self) -> Objective:
        """The same primary without any floor (rule constraints still count)."""
        return replace(self, floors={}, penalty=None)

    def score(self, m: Metrics) -> tuple[float, float, float]:
        """Comparable tuple for one candidate."""
        a, b, c = self.keys(m)
        return float(a), float(b), float(c)

    def broken(self, m: Metrics) -> list[str]:
        """The floors ``m`` violates (metric names)."""
        return [k for k, floor in self.floors.items() if k in m and m[k] < floor - 1e-12]


def make_objective(name: str, matched: float, start: dict[str, float],
                   guard: Guard | float | None, *, bands: tuple[str, ...] = (),
                   margins: dict[str, float] | None = None) -> Objective:
    """Objective ``name`` guarded against ``start`` metrics.

    Args:
        guard: a :class:`Guard`; a number is the tolerance of the whole-set metrics
            with the other parts of the default guard; None: no guard.
        bands: the size bands to guard (``start`` must hold their ``"band:NAME"``).
        margins: per metric, how much of the tolerance a sampled search keeps in
            reserve (the floor moves up by that much, never above the start).

    Raises:
        UsageError: unknown name or negative tolerance.
    """
    weights = objective_weights(name)
    if guard is None:
        return Objective(name, matched, {}, weights=weights)
    if not isinstance(guard, Guard):
        if guard < 0:
            raise UsageError(f"guard tolerance must be >= 0, got {guard}")
        guard = Guard(guard, guard, guard, guard)
    margins = margins or {}
    floors = {}
    tolerances = dict(guard.tolerances(name, matched))
    if guard.bands is not None:
        tolerances.update({BAND_PREFIX + b: guard.bands for b in bands})
    if guard.classes is not None:
        tolerances.update({k: guard.classes for k in start if k.startswith(CLASS_PREFIX)})
    for key, tol in tolerances.items():
        if key in start and start[key] is not None:
            floors[key] = float(start[key]) - max(0.0, tol - margins.get(key, 0.0))
    for key, value in guard.minimum:
        floors[key] = max(floors.get(key, -math.inf), value + margins.get(key, 0.0))
    floors = {k: v for k, v in floors.items() if v > 0.0}  # a floor <= 0 cannot bind
    return Objective(name, matched, floors, weights=weights)


def guard_floors(name: str, matched: float, guard: Guard | None,
                 bands: tuple[str, ...] = ()) -> bool:
    """Whether objective ``name`` under ``guard`` has any floor at all."""
    if guard is None:
        return False
    return bool(guard.tolerances(name, matched) or guard.minimum
                or (guard.bands is not None and bands))


def describe_metric(key: str, matched: float, rule: str | None = None) -> str:
    """Readable name of a metric key (for messages); ``rule``: the shape rule's words
    (metrics' ``matched_rule``), which decides the matcher's recall instead of an IoU."""
    recall = f"recall@{matched:g}" if rule is None else f"recall ({rule})"
    if key.startswith(BAND_PREFIX):
        return f"{key[len(BAND_PREFIX):]}-box {recall}"
    if key.startswith(CLASS_PREFIX):
        return f"class {key[len(CLASS_PREFIX):]} {recall}"
    return {"mean_iou": "mean IoU", "recall_matched": recall,
            "recall_0.5": "recall@0.5", "recall_0.7": "recall@0.7"}.get(key, key)


def describe_objective(name: str, matched: float, rule: str | None = None) -> str:
    """Readable name of objective ``name``'s primary value: the metric itself when the
    objective is one metric (:func:`describe_metric`), else ``"objective NAME"``."""
    keys = [k for k, w in zip(WEIGHT_KEYS, objective_weights(name)) if w > 0]
    return describe_metric(keys[0], matched, rule) if len(keys) == 1 else f"objective {name}"


def flat_metrics(metrics: dict) -> dict[str, float]:
    """The guardable values of a coverage metrics dict (``coverage.metrics``): the
    four headline metrics and ``"band:NAME"`` per size band with boxes."""
    out = {k: float(metrics[k]) for k in WEIGHT_KEYS if metrics.get(k) is not None}
    for name, band in (metrics.get("by_size") or {}).items():
        if band.get("recall_matched") is not None:
            out[BAND_PREFIX + name] = float(band["recall_matched"])
    return out


def class_recalls(best: np.ndarray, label: np.ndarray, matched: float,
                  ids: list[int] | None = None, min_share: float = 0.0) -> dict[str, float]:
    """``{"class:ID": matcher recall}`` from exact best IoUs ``[N]`` (or bool ``[N]``: the
    boxes matched, e.g. under a shape rule) and class ids ``[N]``: for ``ids``, or every
    class holding at least ``min_share`` of the boxes."""
    label = np.asarray(label)
    best = np.asarray(best)
    hit = best if best.dtype == bool else best >= np.float32(matched)
    if ids is None:
        found, counts = np.unique(label, return_counts=True)
        ids = [int(i) for i, c in zip(found, counts) if c >= min_share * max(1, label.size)]
    out = {}
    for cid in ids:
        m = label == cid
        if m.any():
            out[f"{CLASS_PREFIX}{cid}"] = float(hit[m].mean())
    return out


def class_ids(floors: Mapping[str, float]) -> list[int]:
    """The class ids an objective's floors guard (``"class:ID"`` keys)."""
    return [int(k[len(CLASS_PREFIX):]) for k in floors if k.startswith(CLASS_PREFIX)]


def exact_start(report: Any, label: np.ndarray, matched: float, guard: Guard) -> dict[str, float]:
    """The config's exact guardable values (:func:`flat_metrics` of ``report.metrics``),
    plus each class's recall (:func:`class_recalls`) when ``guard.classes`` is on."""
    start = flat_metrics(report.metrics)
    if guard.classes is not None:
        start.update(class_recalls(report.hits(matched), label, matched,
                                   min_share=guard.class_share))
    return start


def exact_metrics(report: Any, label: np.ndarray, objective: Objective) -> dict[str, float]:
    """A candidate's exact guardable values (:func:`flat_metrics`), plus the recall of
    each class ``objective`` has a floor for (``--guard classes``)."""
    m = flat_metrics(report.metrics)
    ids = class_ids(objective.floors)
    if ids:
        m.update(class_recalls(report.hits(objective.matched), label, objective.matched, ids))
    return m
