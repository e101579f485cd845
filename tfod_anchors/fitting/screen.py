"""A cheap look at a candidate before its exact measurement on all boxes.

A sampled search keeps its candidates inside the guard on its own sample, and the
winners of a search are the candidates that sample flatters most: measured on all
boxes they often land below a guard floor, by several times the sample's error
bound. Each such measurement is a full pass over the data (millions of boxes, an
augmented fit several times that). A screen is a larger stratified sample, drawn
independently of the search samples; a candidate is measured exactly on it, paired
with the config measured on the same boxes, and is turned away when a guarded
metric would miss its floor beyond doubt.

Estimate of a guarded metric on all boxes: the config's exact value plus the
weighted mean of the per-box differences candidate - config on the screen (for a
size band, over that band's boxes). The candidate is turned away when the estimate
plus ``z`` (default 3) times its standard error stays below the floor. A candidate
that keeps the floor on all boxes is turned away with probability at most about
0.13 % per metric, so the screen only saves passes and almost never changes the
answer; the candidates that get through are measured exactly as before.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tfod_anchors.anchors.layout import AnchorLayout
from tfod_anchors.boxes import ResizedBoxes
from tfod_anchors.coverage.metrics import SIZE_BANDS, CoverageReport, evaluate
from tfod_anchors.fitting.objective import BAND_PREFIX, Objective
from tfod_anchors.fitting.sample import Sample, choose_keys, draw, half_width
from tfod_anchors.matcher import MatcherSpec

#: Boxes in a screen; used only when all boxes are at least ``SCREEN_SHARE`` times more.
SCREEN_BOXES = 200_000
SCREEN_SHARE = 4
#: Standard errors below the floor that turn a candidate away.
SCREEN_Z = 3.0
#: Salt of the screen's draw, so that it is independent of the search samples.
SCREEN_SALT = 0x5C2EE7


def draw_screen(boxes: np.ndarray, window: np.ndarray, shape_id: np.ndarray, parts: list,
                seed: int, hashes: np.ndarray | None, sampled: bool) -> Sample | None:
    """The screen's sample of ``boxes`` (float ``[N, 4]``; ``window``, ``shape_id``,
    ``parts`` and ``hashes`` as for :func:`.sample.draw`), or None when the search
    is exact or the data are less than ``SCREEN_SHARE`` screens."""
    if not sampled or boxes.shape[0] < SCREEN_SHARE * SCREEN_BOXES:
        return None
    keys = choose_keys(boxes, window, shape_id, SCREEN_BOXES, parts)
    return draw(keys, SCREEN_BOXES, seed ^ SCREEN_SALT, boxes, shape_id, hashes)


def subset(resized: ResizedBoxes, index: np.ndarray) -> ResizedBoxes:
    """The boxes ``index`` (int64 ``[B]``) of ``resized``, their images kept whole."""
    return ResizedBoxes(resized.true_shape, resized.padded_shape, resized.box_image[index],
                        resized.boxes[index], resized.label[index])


def _per_box(key: str, report: CoverageReport, matched: float) -> np.ndarray:
    """float64 ``[B]``: what box contributes to the headline metric ``key`` (the matcher's
    recall follows its shape rule when it has one)."""
    best = report.best_iou
    if key == "mean_iou":
        return best
    if key == "recall_matched":
        return report.hits(matched).astype(np.float64)
    return (best >= {"recall_0.5": 0.5, "recall_0.7": 0.7}[key]).astype(np.float64)


@dataclass
class Screen:
    """The screen of one fit.

    Attributes:
        sample: which boxes, with their weights and strata (:mod:`.sample`).
        resized: those boxes.
        matcher: the config's matcher (its matched threshold).
        exact_before: the config's exact metrics on all boxes (``flat_metrics``).
        z: standard errors below a floor that turn a candidate away.
    """

    sample: Sample
    resized: ResizedBoxes
    matcher: MatcherSpec
    exact_before: dict[str, float]
    layout_for: Callable[[tuple[int, int]], AnchorLayout]
    z: float = SCREEN_Z
    _before_best: CoverageReport | None = field(default=None, repr=False)

    def _best(self, layout_for: Callable[[tuple[int, int]], AnchorLayout]) -> CoverageReport:
        return evaluate(self.resized, layout_for, self.matcher)

    def estimates(self, layout_for: Callable[[tuple[int, int]], AnchorLayout],
                  objective: Objective) -> dict[str, tuple[float, float]]:
        """``{metric: (estimate on all boxes, 95 % bound)}`` of every floor of
        ``objective`` that the screen can estimate."""
        if self._before_best is None:
            self._before_best = self._best(self.layout_for)
        cand, base = self._best(layout_for), self._before_best
        weight = self.sample.weight
        matched = float(self.matcher.matched_threshold)
        boxes = self.resized.boxes
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        out: dict[str, tuple[float, float]] = {}
        for key in objective.floors:
            if key not in self.exact_before:
                continue
            if key.startswith(BAND_PREFIX):
                lo, hi = next((lo, hi) for name, lo, hi in SIZE_BANDS
                              if BAND_PREFIX + name == key)
                inband = ((area >= lo) & (area < hi)).astype(np.float64)
                share = float(np.sum(weight * inband) / np.sum(weight))
                if share <= 0.0:
                    continue
                diff = (_per_box("recall_matched", cand, matched)
                        - _per_box("recall_matched", base, matched)) * inband
            else:
                share = 1.0
                diff = _per_box(key, cand, matched) - _per_box(key, base, matched)
            shift = float(np.sum(weight * diff) / np.sum(weight)) / share
            bound = half_width(self.sample, diff) / share
            out[key] = (self.exact_before[key] + shift, bound)
        return out

    def turned_away(self, layout_for: Callable[[tuple[int, int]], AnchorLayout],
                    objective: Objective) -> dict[str, float]:
        """The floors of ``objective`` the candidate laid out by ``layout_for`` misses
        beyond doubt: ``{metric: estimate}`` (empty: measure it exactly)."""
        out = {}
        for key, (estimate, bound) in self.estimates(layout_for, objective).items():
            if estimate + bound * (self.z / 1.96) < objective.floors[key] - 1e-12:
                out[key] = round(estimate, 6)
        return out


def describe(screen: Screen | None) -> dict[str, Any] | None:
    """The JSON ``diagnostics.screen`` entry."""
    if screen is None:
        return None
    return {"boxes": screen.sample.size, "z": screen.z}
