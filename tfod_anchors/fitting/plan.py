"""The fit's first three steps (see :mod:`.fit`): the plan, the config's own score, the samples.

:func:`plan` builds the config's :class:`~.problem.Problem` and the parameterisations to
search (the config's own counts, or every scales x ratios split of a grid generator's
count) and the guards; :func:`score_config` measures the config exactly (the fit runs it
in the background); :func:`draw_samples` draws every sample, content-keyed with the seed;
:func:`kmeans_floors` adds the IoU k-means floors of a free-shape generator.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from tfod_anchors.boxes import ResizedBoxes
from tfod_anchors.coverage.metrics import METRIC_KEYS, CoverageReport, evaluate
from tfod_anchors.fitting.effort import Budget, budget
from tfod_anchors.fitting.guard import Guard
from tfod_anchors.fitting.objective import band_shares, min_gain
from tfod_anchors.fitting.options import FitOptions
from tfod_anchors.fitting.problem import Problem, build_problem
from tfod_anchors.fitting.reference import kmeans_references
from tfod_anchors.fitting.sample import Sample, coarse_and_search
from tfod_anchors.fitting.scoring import static_samples
from tfod_anchors.fitting.screen import draw_screen
from tfod_anchors.frameworks import ModelSpec
from tfod_anchors.matcher import MatcherSpec

DEFAULT_MAX_BOXES_EXACT = {"clip": 20_000, "prune": 20_000, "none": 40_000}
COARSE_BOXES = 4_000


def splits(num_scales: int, num_ratios: int) -> list[tuple[int, int]]:
    """``(scales, ratios)`` pairs with the same product, both at least 2; the
    config's own split first. ``[]`` when there is no alternative."""
    n = num_scales * num_ratios
    others = [(s, n // s) for s in range(2, n // 2 + 1)
              if n % s == 0 and (s, n // s) != (num_scales, num_ratios)]
    return [(num_scales, num_ratios), *others] if others else []


# --- step 1: the plan ------------------------------------------------------------------------


@dataclass(frozen=True)
class FitPlan:
    """What every step shares: the boxes, the model and the options, the config's own
    :class:`Problem`, the parameterisations to search and the guards.

    Attributes:
        resized: the boxes fitted (resized pixels); ``static``: the static boxes of an
            augmented fit, or None.
        options: ``{label: Problem}``, the config's own first (``"config"``, ``"counts"``
            or a grid split such as ``"4x3"``).
        guard: the guard on ``resized`` (the IoU k-means floors are added by
            :func:`kmeans_floors`); ``static_guard``: its tolerances, for ``static``.
        bands, static_bands: the size bands guarded on each.
        max_exact: the search-sample size (``max_boxes_exact`` or the default).
    """

    resized: ResizedBoxes
    static: ResizedBoxes | None
    model: ModelSpec
    settings: FitOptions
    own: Problem
    options: dict[str, Problem]
    matcher: MatcherSpec
    guard: Guard
    static_guard: Guard
    bands: tuple[str, ...]
    static_bands: tuple[str, ...]
    max_exact: int

    @property
    def budget(self) -> Budget:
        """The search's counts for the options' effort (:mod:`.effort`)."""
        return budget(self.settings.effort)

    @property
    def needed(self) -> float:
        """The minimum gain (:func:`~.objective.min_gain`)."""
        return min_gain(self.resized.num_boxes)

    @property
    def n_coarse(self) -> int:
        return min(COARSE_BOXES, self.max_exact)


def _options(resized: ResizedBoxes, model: ModelSpec, own: Problem,
             settings: FitOptions) -> list[tuple[str, Problem]]:
    """The parameterisations to search: ``[(label, problem)]``, the config's first."""
    num_scales, num_aspect_ratios = settings.num_scales, settings.num_aspect_ratios
    stride_rule = settings.guard.stride
    if own.space.split_counts is None or num_scales or num_aspect_ratios:
        if num_scales is None and num_aspect_ratios is None:
            return [("config", own)]
        return [("counts", build_problem(resized, model, num_scales=num_scales,
                                         num_aspect_ratios=num_aspect_ratios,
                                         stride_rule=stride_rule, like=own))]
    n_scales, n_ratios = own.space.split_counts
    out = [(f"{n_scales}x{n_ratios}", own)]
    for s, a in splits(n_scales, n_ratios)[1:]:
        out.append((f"{s}x{a}", build_problem(resized, model, num_scales=s,
                                              num_aspect_ratios=a, stride_rule=stride_rule,
                                              like=own)))
    return out


def _guarded_bands(boxes: np.ndarray, guard: Guard) -> tuple[str, ...]:
    """The size bands of ``boxes`` the guard keeps (those with at least its share)."""
    return tuple(b for b, share in band_shares(boxes).items()
                 if guard.bands is not None and share >= guard.band_share)


def plan(resized: ResizedBoxes, model: ModelSpec, settings: FitOptions,
         static: ResizedBoxes | None) -> FitPlan:
    """Step 1: the config's problem, the parameterisations and the guards."""
    matcher = model.matcher()
    guard = settings.guard
    if matcher.shape_rule is not None:
        guard = guard.for_shape_rule()
    # the static boxes keep the guard's tolerances; absolute floors (--guard M>=V, the
    # k-means ones) are about the fitted distribution
    static_guard = replace(guard, minimum=(), kmeans=False)
    own = build_problem(resized, model, stride_rule=guard.stride)
    options = dict(_options(resized, model, own, settings))
    max_exact = settings.max_boxes_exact
    if max_exact is None:
        max_exact = DEFAULT_MAX_BOXES_EXACT[own.window_policy]
    return FitPlan(resized, static, model, settings, own, options, matcher, guard,
                   static_guard, _guarded_bands(resized.boxes, guard),
                   _guarded_bands(static.boxes, static_guard) if static is not None else (),
                   max_exact)


# --- step 2: the config's own score ----------------------------------------------------------


def score_config(p: FitPlan) -> tuple[CoverageReport, CoverageReport | None]:
    """Step 2: the config's exact coverage on all boxes (and on the static boxes)."""
    static_report = evaluate(p.static, p.own.layout_for, p.matcher) \
        if p.static is not None else None
    return evaluate(p.resized, p.own.layout_for, p.matcher), static_report


# --- step 3: the samples ---------------------------------------------------------------------


@dataclass(frozen=True)
class Samples:
    """Step 3's samples: ``coarse`` and ``search`` of the fitted boxes, the screen's
    (None when the search is exact or the data small) and the static boxes' coarse and
    search samples (None without static boxes)."""

    coarse: Sample
    search: Sample
    screen: Sample | None
    static_coarse: Sample | None
    static_search: Sample | None


def draw_samples(p: FitPlan) -> Samples:
    """Step 3: every sample of the fit, content-keyed with the seed."""
    resized, own, seed = p.resized, p.own, p.settings.seed
    window = own.shapes.astype(np.float64)[own.group]
    drawn = coarse_and_search(resized.boxes, window, own.group, seed, p.max_exact, p.n_coarse)
    screen = draw_screen(resized.boxes, window, own.group, drawn.parts, seed, drawn.hashes,
                         not drawn.search.exact)
    static_coarse, static_search = (None, None) if p.static is None else \
        static_samples(p.static, seed, p.max_exact, p.n_coarse)
    return Samples(drawn.coarse, drawn.search, screen, static_coarse, static_search)


@dataclass(frozen=True)
class KmeansFloors:
    """The IoU k-means sets of a free-shape generator: their points (extra starts and
    fallbacks, ``[(origin, x)]``) and their best metrics on all boxes (None: none)."""

    extra: list[tuple[str, np.ndarray]]
    metrics: dict[str, float] | None


def kmeans_floors(p: FitPlan, sample: Sample) -> tuple[FitPlan, KmeansFloors]:
    """A free-shape generator is never left below IoU k-means on its metrics: the plan
    with the k-means sets' mean IoU and recall@0.5 as guard floors, and the sets."""
    references = kmeans_references(p.own, sample, p.settings.seed) \
        if p.guard.kmeans and list(p.options) == ["config"] else []
    if not references:
        return p, KmeansFloors([], None)
    ref_ms = [evaluate(p.resized, p.model.with_anchors(gen).layout_function(),
                       p.matcher).metrics for _, gen in references]
    metrics = {k: max(float(m[k]) for m in ref_ms) for k in METRIC_KEYS}
    guard = replace(p.guard, minimum=(*p.guard.minimum, ("mean_iou", metrics["mean_iou"]),
                                      ("recall_0.5", metrics["recall_0.5"])))
    extra = [(f"kmeans_{i}", x) for i, (x, _) in enumerate(references)]
    return replace(p, guard=guard), KmeansFloors(extra, metrics)
