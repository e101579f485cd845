"""What fitting maximises: the matcher's recall, guarded so nothing else drops.

Objectives (``primary`` value; ties are always broken by mean IoU):

* ``"recall"`` (default): share of boxes whose best anchor reaches the matcher's
  ``matched_threshold`` (0.7 for the Faster R-CNN first stage, the config's
  ``argmax_matcher`` value for SSD).
* ``"mean_iou"``: mean over boxes of the best anchor IoU (YOLO9000's avg IoU, positioned).
* ``"recall_0.5"``, ``"recall_0.7"``: share of boxes with best IoU >= 0.5 / 0.7.
* ``"balanced"``: the mean of recall@0.5, recall@0.7 and mean IoU.

Guard: every metric among mean IoU, recall@0.5 and recall at the matched threshold
that is not the primary itself must stay within ``tolerance`` (default 0.01) of
the starting config's value. Candidates are ranked lexicographically by
``(-violation, primary, mean_iou)``: a guarded solution always beats an unguarded
one, so the start (violation 0) can never be traded away.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from tfod_anchors.errors import UsageError

OBJECTIVES = ("recall", "mean_iou", "recall_0.5", "recall_0.7", "balanced")


def metrics_of(best: np.ndarray, weight: np.ndarray, matched: float) -> dict[str, np.ndarray]:
    """Weighted metrics of best-IoU columns.

    Args:
        best: float ``[B]`` or ``[B, C]`` best IoU per box (per candidate ``C``).
        weight: float64 ``[B]`` box weights (sum = number of boxes represented).
        matched: the matcher's matched threshold.
    Returns:
        ``{metric: float64 [] or [C]}`` for :data:`METRICS`.
    """
    w = weight / weight.sum()
    return {
        "mean_iou": w @ best.astype(np.float64),
        "recall_matched": w @ (best >= np.float32(matched)),
        "recall_0.5": w @ (best >= np.float32(0.5)),
        "recall_0.7": w @ (best >= np.float32(0.7)),
    }


@dataclass(frozen=True)
class Objective:
    """A named objective with its guard.

    Attributes:
        name: one of :data:`OBJECTIVES`.
        matched: matched threshold of the config's matcher.
        floors: ``{metric: lowest allowed value}`` (start value minus tolerance).
        penalty: None ranks feasibility first (the guard is a hard constraint);
            a number ``p`` ranks by ``primary - p * violation`` instead, which lets a
            search cross briefly infeasible ground (used while exploring only).
    """

    name: str
    matched: float
    floors: dict[str, float]
    penalty: float | None = None

    def primary(self, m: Mapping[str, Any]) -> np.ndarray:
        if self.name == "recall":
            return m["recall_matched"]
        if self.name == "balanced":
            return (m["recall_0.5"] + m["recall_0.7"] + m["mean_iou"]) / 3.0
        return m[self.name]

    def violation(self, m: Mapping[str, Any]) -> np.ndarray:
        total = np.zeros_like(np.asarray(m["mean_iou"], dtype=np.float64))
        for key, floor in self.floors.items():
            total = total + np.maximum(0.0, floor - m[key])
        return np.where(total < 1e-12, 0.0, total)

    def keys(self, m: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(-violation, primary, mean_iou)``: larger is better, lexicographically."""
        # Rounded so that summation order (dot vs matrix product) cannot decide a tie.
        viol = self.violation(m)
        prim = np.asarray(self.primary(m), np.float64)
        if self.penalty is not None:
            prim, viol = prim - self.penalty * viol, np.zeros_like(viol)
        return (np.round(-viol, 12), np.round(prim, 12),
                np.round(np.asarray(m["mean_iou"], np.float64), 12))

    def with_penalty(self, penalty: float | None) -> Objective:
        return Objective(self.name, self.matched, self.floors, penalty)

    def score(self, m: Mapping[str, Any]) -> tuple[float, float, float]:
        """Comparable tuple for one candidate."""
        a, b, c = self.keys(m)
        return float(a), float(b), float(c)


def guarded_metrics(name: str, matched: float) -> tuple[str, ...]:
    """The metrics the guard keeps for objective ``name`` (never the primary itself,
    nor a recall at the same threshold as the primary)."""
    thresholds = {"recall_matched": matched, "recall_0.5": 0.5, "recall_0.7": 0.7}
    primary = {"recall": "recall_matched", "recall_0.5": "recall_0.5",
               "recall_0.7": "recall_0.7", "mean_iou": "mean_iou"}.get(name)
    out: list[str] = []
    for key in ("mean_iou", "recall_0.5", "recall_matched"):
        if key == primary:
            continue
        thr = thresholds.get(key)
        if thr is not None and primary in thresholds and abs(thr - thresholds[primary]) < 1e-6:
            continue
        if thr is not None and any(abs(thr - thresholds[k]) < 1e-6 for k in out if k in thresholds):
            continue
        out.append(key)
    return tuple(out)


def make_objective(name: str, matched: float, start: dict[str, float],
                   tolerance: float | None) -> Objective:
    """Objective ``name`` guarded against ``start`` metrics (``tolerance`` None: no guard).

    Raises:
        UsageError: unknown name or negative tolerance.
    """
    if name not in OBJECTIVES:
        raise UsageError(f"unknown objective {name!r}; choose one of {', '.join(OBJECTIVES)}")
    if tolerance is None:
        return Objective(name, matched, {})
    if tolerance < 0:
        raise UsageError(f"guard tolerance must be >= 0, got {tolerance}")
    floors = {k: float(start[k]) - tolerance for k in guarded_metrics(name, matched)}
    return Objective(name, matched, floors)
