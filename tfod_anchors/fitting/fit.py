"""``fit_generator``: the model's own anchors, refitted to the boxes, in named steps.

:func:`fit` runs them in this order (each a function of this module or of :mod:`.decide`):

1. :func:`plan` — group boxes by padded shape and take each shape's anchor layout
   (:mod:`.problem`); the parameterisations to try are the config's own counts or,
   for ``grid_anchor_generator`` without explicit counts, every scales x ratios
   split of the same anchors-per-location count (12 = 4 x 3, 6 x 2, 3 x 4, 2 x 6:
   the box predictor only sees the count, so checkpoints still restore);
2. :func:`score_config` — the config's exact coverage on all boxes, started in the
   background (the other core) while the next steps run;
3. :func:`draw_samples` — the search boxes (all of them up to ``max_boxes_exact``,
   else a seeded stratified sample), a smaller coarse sample and the screen's sample,
   all keyed on box content, so the input order never matters (:mod:`.sample`); for a
   free-shape generator, the IoU k-means floors (:func:`kmeans_floors`);
4. :func:`coarse_search` — on the coarse sample, for every split (they share the pool
   of shapes and its columns); the best split, and any other whose coarse score is
   within the sample's noise of it (a paired 95 % bound) or within the minimum gain,
   go on to
5. :func:`refine` — on the search sample (:mod:`.strategy`), beside the unguarded
   search that says what the guard gave up (:mod:`.unguarded`);
6. :func:`~.decide.verify_exactly` — the candidates measured exactly on all boxes,
   after the ``check`` rules (:mod:`.verify`) and, on large sampled fits, a screen that
   turns away those that miss a guard floor beyond doubt (:mod:`.screen`); a fit on
   augmented draws keeps the guard on the static boxes too, measured exactly;
7. :func:`~.decide.decide` — the best wins if it keeps the guard and gains at least
   ``max(0.002, 10 / N)`` (:mod:`.objective`): the :class:`FitResult`.

The search vocabulary: a *sample* is a set of boxes the search scores on; its
*scoring* (:class:`~.scoring.SampleScoring`) holds their columns and one *scorer*
(evaluator + guarded objective) per parameterisation. "Stage" is kept for the data
flow of ``docs/architecture.md``. Written values are rounded to 4 significant
decimals before any final scoring.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from tfod_anchors.boxes import ResizedBoxes
from tfod_anchors.coverage.metrics import METRIC_KEYS, CoverageReport, evaluate
from tfod_anchors.errors import InputError
from tfod_anchors.fitting.background import Background, Clock
from tfod_anchors.fitting.guard import Guard
from tfod_anchors.fitting.objective import (
    WEIGHT_KEYS,
    Objective,
    band_shares,
    guard_floors,
    min_gain,
)
from tfod_anchors.fitting.options import FitOptions
from tfod_anchors.fitting.problem import Problem, build_problem
from tfod_anchors.fitting.reference import kmeans_references
from tfod_anchors.fitting.result import FitResult
from tfod_anchors.fitting.sample import Sample, coarse_and_search, half_width
from tfod_anchors.fitting.scoring import SampleScoring, static_samples
from tfod_anchors.fitting.screen import draw_screen
from tfod_anchors.fitting.search import Candidate
from tfod_anchors.fitting.strategy import (
    GridPool,
    Scorer,
    grid_ascent,
    grid_pool,
    polish_search,
    rounded_score,
)
from tfod_anchors.fitting.strategy import coarse_search as coarse_candidates
from tfod_anchors.fitting.unguarded import unguarded_best
from tfod_anchors.frameworks import ModelSpec, as_spec
from tfod_anchors.matcher import MatcherSpec

DEFAULT_MAX_BOXES_EXACT = {"clip": 20_000, "prune": 20_000, "none": 40_000}
COARSE_BOXES = 4_000
#: At most this many splits are refined in the coarse search (after their pool ascent) ...
MAX_SPLITS = 2
#: ... and this many coarse candidates go on to the refinement (when the search boxes
#: are a sample, its noise makes a third not worth it).
MAX_POLISHED = 3
MAX_POLISHED_SAMPLED = 2


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
    guard = settings.guard
    # the static boxes keep the guard's tolerances; absolute floors (--guard M>=V, the
    # k-means ones) are about the fitted distribution
    static_guard = replace(guard, minimum=(), kmeans=False)
    own = build_problem(resized, model, stride_rule=guard.stride)
    options = dict(_options(resized, model, own, settings))
    max_exact = settings.max_boxes_exact
    if max_exact is None:
        max_exact = DEFAULT_MAX_BOXES_EXACT[own.window_policy]
    return FitPlan(resized, static, model, settings, own, options, model.matcher(), guard,
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


# --- step 4: the coarse search ---------------------------------------------------------------


def _contribution(obj: Objective, best: np.ndarray) -> np.ndarray:
    """float64 ``[B]`` each box's share of the primary (its weighted mean is the primary)."""
    parts = {"recall_matched": best >= np.float32(obj.matched),
             "mean_iou": best.astype(np.float64), "recall_0.5": best >= np.float32(0.5),
             "recall_0.7": best >= np.float32(0.7)}
    out = np.zeros(best.shape, dtype=np.float64)
    for key, w in zip(WEIGHT_KEYS, obj.weights):
        if w:
            out += float(w) * np.asarray(parts[key], dtype=np.float64)
    return out


def _close_to_best(found: dict[str, list[Candidate]], scorers: dict[str, Scorer],
                   coarse: Sample, needed: float, most: int) -> list[tuple[str, Candidate]]:
    """The best candidate, plus every other (of any split) whose score is within the
    coarse sample's noise (paired 95 % bound of the primary difference) or the
    minimum gain of it; at most ``most``, best first."""
    ranked = sorted(((label, c) for label, cs in found.items() for c in cs),
                    key=lambda lc: lc[1].score, reverse=True)
    lead_label, lead = ranked[0]
    lead_contrib = _contribution(scorers[lead_label].objective,
                                 scorers[lead_label].evaluator.best(lead.x))
    keep = [ranked[0]]
    seen = {(lead_label, tuple(np.round(lead.x, 6)))}
    for label, c in ranked[1:]:
        key = (label, tuple(np.round(c.x, 6)))
        if c.score[0] < lead.score[0] or len(keep) >= most or key in seen:
            continue
        seen.add(key)
        other = _contribution(scorers[label].objective, scorers[label].evaluator.best(c.x))
        noise = half_width(coarse, lead_contrib - other)
        if lead.score[1] - c.score[1] <= max(noise, needed):
            keep.append((label, c))
    return keep


@dataclass
class CoarseResult:
    """Step 4's outcome.

    Attributes:
        scoring: the coarse sample's scoring; ``scorers``: one per option.
        pool: the grid generator's shared pool of shapes, or None.
        pooled: per option, the pool ascent's candidates (grid generator only).
        searched: the options whose coarse search ran (the splits close to the best).
        found: per searched option, its candidates, best first.
        trace: per option, JSON-ready scores of every search.
    """

    scoring: SampleScoring
    scorers: dict[str, Scorer]
    pool: GridPool | None
    pooled: dict[str, list[Candidate]]
    searched: list[str]
    found: dict[str, list[Candidate]]
    trace: dict[str, Any]


def _static_side(p: FitPlan, part: Sample | None) -> tuple | None:
    """What a scoring needs to guard the static boxes, on their sample ``part``."""
    return None if p.static is None or part is None else \
        (p.static, part, p.static_guard, p.static_bands)


def coarse_search(p: FitPlan, samples: Samples, extra: list[tuple[str, np.ndarray]],
                  rng: np.random.Generator) -> CoarseResult:
    """Step 4: every option on the coarse sample (for the grid generator, a pool ascent
    per split first; only the splits close to the best search on)."""
    coarse = samples.coarse
    scoring = SampleScoring(p.own, coarse, p.settings.objective, p.guard, p.bands,
                            _static_side(p, samples.static_coarse))
    scorers = {label: scoring.scorer(problem) for label, problem in p.options.items()}
    pool = None
    searched = list(p.options)
    pooled: dict[str, list[Candidate]] = {}
    trace: dict[str, Any] = {}
    if p.own.space.split_counts is not None:
        pool = GridPool(*grid_pool(p.own, scoring.config_evaluator, coarse.weight))
        for label, problem in p.options.items():
            pooled[label], trace[label] = grid_ascent(
                scorers[label].evaluator, problem, scorers[label].objective, coarse, rng, pool)
        searched = list(dict.fromkeys(label for label, _ in _close_to_best(
            {k: v[:1] for k, v in pooled.items()}, scorers, coarse, p.needed, MAX_SPLITS)))
    found: dict[str, list[Candidate]] = {}
    for label in searched:
        found[label], more = coarse_candidates(p.options[label], scorers[label], coarse, rng,
                                               pooled.get(label), pool, extra)
        trace.setdefault(label, {}).update(more)
    return CoarseResult(scoring, scorers, pool, pooled, searched, found, trace)


# --- step 5: the refinement ------------------------------------------------------------------


def choose_for_refinement(p: FitPlan, samples: Samples, coarse: CoarseResult
                          ) -> list[tuple[str, Candidate]]:
    """The coarse candidates worth refining: the best, and those within the coarse
    sample's noise of it (at most 3, or 2 when the search boxes are a sample)."""
    return _close_to_best(coarse.found, coarse.scorers, samples.coarse, p.needed,
                          MAX_POLISHED if samples.search.exact else MAX_POLISHED_SAMPLED)


@dataclass
class Refined:
    """Step 5's outcome: the coarse candidates refined (``to_polish``, from the options
    ``chosen``), the search sample's ``scoring``, the refined candidates best first
    (``[(label, candidate)]``) and the unguarded search's best (None when not run)."""

    to_polish: list[tuple[str, Candidate]]
    chosen: list[str]
    scoring: SampleScoring
    polished: list[tuple[str, Candidate]]
    free: Candidate | None


def refine(p: FitPlan, samples: Samples, coarse: CoarseResult,
           to_polish: list[tuple[str, Candidate]], rng: np.random.Generator) -> Refined:
    """Step 5: the candidates ``to_polish`` (:func:`choose_for_refinement`) refined on the
    search sample, the lead here and the rest, then the unguarded search, on the other
    core."""
    sample = samples.search
    chosen = list(dict.fromkeys(label for label, _ in to_polish))
    scoring = coarse.scoring if coarse.scoring.same_samples(sample, samples.static_search) \
        else SampleScoring(p.own, sample, p.settings.objective, p.guard, p.bands,
                           _static_side(p, samples.static_search))
    fine = {label: scoring.scorer(p.options[label]) for label in chosen}
    seeds = [int(rng.integers(0, 2**31)) for _ in to_polish]
    lead = to_polish[0][0]

    def free_search() -> Candidate | None:
        if not (p.settings.unguarded_report
                and guard_floors(p.settings.objective, p.own.matched, p.guard, p.bands)):
            return None
        return unguarded_best(p.options[lead], coarse.scorers[lead], coarse.found[lead],
                              coarse.pool)

    def polish_one(i: int) -> list[Candidate]:
        label, cand = to_polish[i]
        return polish_search(p.options[label], fine[label], [cand], sample, seeds[i])

    with Background(lambda: ([polish_one(i) for i in range(1, len(to_polish))],
                             free_search())) as other:
        lead_polished = polish_one(0)
        rest, free = other.result()
    polished: list[tuple[str, Candidate]] = []
    for (label, _), cands in zip(to_polish, [lead_polished, *rest]):
        for c in cands:
            polished.append((label, c))
            coarse.trace[label].setdefault("refined", {})[c.origin] = rounded_score(c.score)
    polished.sort(key=lambda lc: lc[1].score, reverse=True)
    return Refined(to_polish, chosen, scoring, polished, free)


# --- the fit ---------------------------------------------------------------------------------


@dataclass
class Searched:
    """What steps 3-5 found, for the exact verification and the decision."""

    samples: Samples
    floors: KmeansFloors
    coarse: CoarseResult
    refined: Refined


def fit(resized: ResizedBoxes, model: ModelSpec, settings: FitOptions, *,
        progress: Callable[[str], None] | None = None,
        static: ResizedBoxes | None = None) -> FitResult:
    """The seven steps of the module docstring, in order (see :func:`fit_generator`).

    Raises:
        InputError: no boxes; ConfigError: nothing fittable; UsageError: bad counts.
    """
    from tfod_anchors.fitting.decide import decide, verify_exactly

    t0 = time.perf_counter()
    clock = Clock()
    say = progress or (lambda _msg: None)
    if resized.num_boxes == 0:
        raise InputError("no boxes to fit anchors to")
    p = plan(resized, model, settings, static)
    with Background(lambda: score_config(p)) as before_job:
        samples = draw_samples(p)
        p, floors = kmeans_floors(p, samples.search)
        say(f"searching on {samples.coarse.size} then {samples.search.size} of "
            f"{resized.num_boxes} boxes"
            + (f"; splits {', '.join(p.options)}" if len(p.options) > 1 else ""))
        rng = np.random.default_rng(settings.seed)
        clock.lap("setup")
        coarse = coarse_search(p, samples, floors.extra, rng)
        to_polish = choose_for_refinement(p, samples, coarse)
        say(f"coarse search done in {time.perf_counter() - t0:.1f} s"
            + (f"; polishing {', '.join(dict.fromkeys(label for label, _ in to_polish))}"
               if len(p.options) > 1 else ""))
        clock.lap("coarse")
        searched = Searched(samples, floors, coarse, refine(p, samples, coarse, to_polish, rng))
        say(f"search done in {time.perf_counter() - t0:.1f} s; checking on all boxes")
        clock.lap("polish")
        before = before_job.result()
    clock.lap("coverage_before")
    exact = verify_exactly(p, searched, before)
    clock.lap("verify")
    return decide(p, searched, exact, clock, t0, say)


def fit_generator(resized: ResizedBoxes, cfg: ModelSpec | Any, *,
                  progress: Callable[[str], None] | None = None,
                  static: ResizedBoxes | None = None, **options: Any) -> FitResult:
    """Fit the model's anchor parameters to ``resized`` boxes.

    Args:
        resized: boxes in pixels of the resized image (the model's resizer); their
            order does not matter.
        cfg: a model spec, a ``TrainEvalPipelineConfig`` (either schema) or TFOD's
            configs dict.
        progress: called with one-line status messages.
        static: when ``resized`` are augmented draws, the static boxes: the guard (its
            tolerances, not its absolute floors) must hold on them too, against the
            config's own coverage of them; the result reports ``static_before`` and
            ``static_after``.
        options: the keywords of :meth:`FitOptions.build` (``objective``, ``seed``,
            ``num_scales``, ``num_aspect_ratios``, ``max_boxes_exact``, ``guard``: a
            :class:`Guard`, a ``--guard`` spec, a number (that tolerance for the whole-set
            metrics) or None, ``unguarded_report``, ``effort``).
    Raises:
        UsageError: bad options; InputError: no boxes; ConfigError: no fittable generator.
    """
    if resized.num_boxes == 0:
        raise InputError("no boxes to fit anchors to")
    return fit(resized, as_spec(cfg), FitOptions.build(**options), progress=progress,
               static=static)
