"""``fit_counts``: the config's own anchor generator, refitted to the boxes with given counts.

Flow: group boxes by padded shape and take each shape's anchor layout; draw the
search boxes (all of them up to ``max_boxes_exact``, else a seeded stratified
sample, plus a smaller coarse sample); start the config's exact coverage on all
boxes in the background; search (:mod:`tfod_anchors.fitting.strategy`); then
score the best candidates exactly on all boxes with
:func:`tfod_anchors.coverage.metrics.evaluate` and keep the first that beats the config
under the guard (else the config itself, unchanged). Written values are rounded
to 4 significant decimals before any final scoring.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from tfod_anchors.anchors.model import layout_function
from tfod_anchors.boxes import ResizedBoxes
from tfod_anchors.config import query as config_query
from tfod_anchors.config.query import PipelineLike
from tfod_anchors.coverage.metrics import METRIC_KEYS, CoverageReport, evaluate
from tfod_anchors.errors import InputError, UsageError
from tfod_anchors.fitting.background import Background, Clock
from tfod_anchors.fitting.evaluator import Evaluator
from tfod_anchors.fitting.objective import Objective, make_objective
from tfod_anchors.fitting.params import ParamSpace
from tfod_anchors.fitting.problem import Problem, build_problem
from tfod_anchors.fitting.result import (
    FitResult,
    copy_message,
    generator_diff,
    with_generator,
)
from tfod_anchors.fitting.sample import Sample, choose_keys, draw
from tfod_anchors.fitting.search import Candidate
from tfod_anchors.fitting.strategy import Stage, error_bounds, rounded_score, run_search

DEFAULT_MAX_BOXES_EXACT = {"clip": 20_000, "prune": 20_000, "none": 40_000}
COARSE_BOXES = 4_000
VERIFY = 4
SAMPLED_MARGIN = 0.002


def fit_counts(
    resized: ResizedBoxes,
    cfg: PipelineLike,
    *,
    objective: str = "recall",
    seed: int = 0,
    num_scales: int | None = None,
    num_aspect_ratios: int | None = None,
    max_boxes_exact: int | None = None,
    guard_tolerance: float | None = 0.01,
    progress: Callable[[str], None] | None = None,
) -> FitResult:
    """Fit the config's anchor generator parameters to ``resized`` boxes.

    Args:
        resized: boxes in pixels of the resized image (the config's resizer).
        cfg: ``TrainEvalPipelineConfig`` (either schema) or TFOD's configs dict.
        objective: see :mod:`tfod_anchors.fitting.objective`.
        seed: seeds the sample and the random starts (same seed, same result).
        num_scales, num_aspect_ratios: change the counts (and anchors per location).
        max_boxes_exact: above this many boxes the search uses a stratified sample;
            None: 20 000 where anchors are clipped or pruned (Faster R-CNN), 40 000
            otherwise (the kernel is several times cheaper there).
        guard_tolerance: how far guarded metrics may fall (None: no guard).
        progress: called with one-line status messages.
    Raises:
        UsageError: no boxes, bad options; ConfigError: no fittable generator.
    """
    t0 = time.perf_counter()
    clock = Clock()
    say = progress or (lambda _msg: None)
    if resized.num_boxes == 0:
        raise InputError("no boxes to fit anchors to")
    if max_boxes_exact is not None and max_boxes_exact < 100:
        raise UsageError(f"max_boxes_exact must be at least 100, got {max_boxes_exact}")
    pipeline = config_query.as_pipeline(cfg)
    problem = build_problem(resized, pipeline, num_scales=num_scales,
                            num_aspect_ratios=num_aspect_ratios)
    space, generator, kind = problem.space, problem.generator, problem.kind
    matcher = config_query.matcher_spec(pipeline)
    window = problem.shapes.astype(np.float64)[problem.group]
    if max_boxes_exact is None:
        max_boxes_exact = DEFAULT_MAX_BOXES_EXACT[problem.window_policy]
    keys = choose_keys(resized.boxes, window, problem.group, max_boxes_exact)
    sample = draw(keys, max_boxes_exact, seed)
    n_coarse = min(COARSE_BOXES, max_boxes_exact)
    coarse = draw(choose_keys(resized.boxes, window, problem.group, n_coarse), n_coarse, seed)
    say(f"searching on {coarse.size} then {sample.size} of {resized.num_boxes} boxes")
    tol = guard_tolerance
    rng = np.random.default_rng(seed)

    def make_stage(smp: Sample) -> Stage:
        ev = Evaluator(problem.geometry(smp.index), smp.weight, space, problem.matched)
        start_m = {k: float(v) for k, v in ev.metrics(ev.best(space.x0)).items()}
        margin = 0.0 if smp.exact else SAMPLED_MARGIN
        stol = None if tol is None else max(0.0, tol - margin)
        return Stage(ev, make_objective(objective, problem.matched, start_m, stol), start_m)

    # The config's own coverage runs beside the search, on the other core.
    with Background(lambda: evaluate(resized, problem.layout_for, matcher)) as before_job:
        clock.lap("setup")
        search = run_search(problem, coarse, sample, make_stage, rng, clock=clock, say=say,
                            t0=t0)
        report_before = before_job.result()
    clock.lap("coverage_before")
    before = report_before.metrics
    exact_obj = make_objective(objective, problem.matched,
                               {k: float(before[k]) for k in METRIC_KEYS}, tol)
    verified: list[dict[str, Any]] = []
    chosen_x, report_after = _first_better(problem, pipeline, search.polished + search.found,
                                           before, exact_obj, verified)
    clock.lap("verify")
    diag: dict[str, Any] = {"num_boxes": resized.num_boxes, "search_boxes": sample.size,
                            "coarse_boxes": coarse.size, "sampled": not sample.exact,
                            **search.trace, "verified": verified}
    if not sample.exact:
        diag["error_bound_95"] = error_bounds(search.polish.evaluator, sample,
                                              chosen_x if chosen_x is not None else space.x0,
                                              problem.matched)
    new_generator = copy_message(generator) if chosen_x is None else \
        written_generator(space, generator, chosen_x)
    changed, previous = generator_diff(generator, new_generator, kind)
    improved = chosen_x is not None and bool(changed)
    if not improved or report_after is None:
        report_after = report_before
    after = report_after.metrics
    diag["columns_computed"] = (search.coarse.evaluator.columns_computed
                                + search.polish.evaluator.columns_computed)
    diag["candidates_scored"] = (search.coarse.evaluator.candidates_scored
                                 + search.polish.evaluator.candidates_scored)
    diag["stage_seconds"] = clock.laps
    diag["seconds"] = round(time.perf_counter() - t0, 3)
    apl_before = [int(level.sizes.shape[0]) for level in problem.layouts[0].levels]
    apl_after = ([len(s) for s in space.shapes_of(chosen_x)]
                 if improved and chosen_x is not None else apl_before)
    say(f"done in {diag['seconds']:.1f} s")
    return FitResult(
        generator=new_generator, kind=kind, changed=changed, previous=previous,
        before=before, after=after,
        moved={k: float(after[k]) - float(before[k]) for k in METRIC_KEYS},
        improved=improved, objective=objective,
        matched_threshold=float(matcher.matched_threshold),
        guard=({k: float(before[k]) - tol for k in exact_obj.floors}
               if tol is not None else {}),
        anchors_per_location=(apl_before, apl_after), diagnostics=diag,
        report_before=report_before, report_after=report_after)


def _first_better(problem: Problem, pipeline: Any, candidates: list[Candidate],
                  before: dict[str, Any], exact_obj: Objective, tried: list[dict[str, Any]]
                  ) -> tuple[np.ndarray | None, CoverageReport | None]:
    """The first candidate (in order) that beats the config on all boxes, exactly, and
    its coverage report; each candidate scored is appended to ``tried``.

    Polished candidates come first (scored on the larger sample), then the coarse
    ones; at most ``VERIFY`` distinct written generators are scored.
    """
    space, generator = problem.space, problem.generator
    matcher = config_query.matcher_spec(pipeline)
    start = exact_obj.score({k: float(before[k]) for k in METRIC_KEYS})
    seen: set = set()
    for c in candidates:
        key = tuple(np.round(space.rounded(c.x), 9))
        if key in seen or len(tried) >= VERIFY:
            continue
        seen.add(key)
        gen_c = written_generator(space, generator, c.x)
        if not generator_diff(generator, gen_c, problem.kind)[0]:
            continue
        report = evaluate(problem.resized, layout_function(with_generator(pipeline, gen_c)),
                          matcher)
        m = report.metrics
        tried.append({"origin": c.origin, "search_score": rounded_score(c.score),
                      "exact": {k: round(float(m[k]), 6) for k in METRIC_KEYS}})
        if exact_obj.score(m) > start:
            return c.x, report
    return None, None


def written_generator(space: ParamSpace, generator: Any, x: np.ndarray) -> Any:
    """The generator message with ``x``'s values, rounded to 4 significant decimals,
    lists in the config's rank order."""
    values = np.exp(space.rounded(space.in_config_order(x)))
    return space.write(generator, np.array([float(f"{v:.4g}") for v in values]))
