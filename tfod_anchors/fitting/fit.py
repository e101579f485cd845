"""``fit_generator``: the config's own anchor generator, refitted to the boxes.

Flow:

1. group boxes by padded shape and take each shape's anchor layout
   (:mod:`.problem`); the parameterisations to try are the config's own counts or,
   for ``grid_anchor_generator`` without explicit counts, every scales x ratios
   split of the same anchors-per-location count (12 = 4 x 3, 6 x 2, 3 x 4, 2 x 6:
   the box predictor only sees the count, so checkpoints still restore);
2. start the config's exact coverage on all boxes in the background (the other core);
3. draw the search boxes (all of them up to ``max_boxes_exact``, else a seeded
   stratified sample) and a smaller coarse sample, both keyed on box content, so
   the input order never matters (:mod:`.sample`);
4. stage A on the coarse sample for every split (they share the pool of shapes and
   its columns); the best split, and any other whose stage A score is within the
   sample's noise of it (a paired 95 % bound) or within the minimum gain, go on to
5. stage B on the search sample (:mod:`.strategy`);
6. the candidates are measured exactly on all boxes, after the ``check`` rules
   (:mod:`.verify`) and, on large sampled fits, a screen that turns away those
   that miss a guard floor beyond doubt (:mod:`.screen`); the best wins if it keeps
   the guard and gains at least ``max(0.002, 10 / N)`` (:mod:`.objective`); a fit
   on augmented draws keeps the guard on the static boxes too (``static``),
   measured exactly on all of them;
7. an unguarded search on the coarse sample says what the guard gave up, if anything
   (:mod:`.unguarded`).

Written values are rounded to 4 significant decimals before any final scoring.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Any

import numpy as np

from tfod_anchors.anchors.model import layout_function
from tfod_anchors.boxes import ResizedBoxes
from tfod_anchors.config import query as config_query
from tfod_anchors.coverage.metrics import METRIC_KEYS, evaluate
from tfod_anchors.errors import InputError, UsageError
from tfod_anchors.fitting.background import Background, Clock
from tfod_anchors.fitting.dominance import alternative_points, dominating_point, with_own
from tfod_anchors.fitting.effort import budget, parse_effort, search_effort
from tfod_anchors.fitting.objective import (
    WEIGHT_KEYS,
    Guard,
    Objective,
    band_shares,
    flat_metrics,
    guard_floors,
    make_objective,
    min_gain,
)
from tfod_anchors.fitting.problem import Problem, build_problem
from tfod_anchors.fitting.reference import kmeans_references
from tfod_anchors.fitting.result import FitResult, copy_message, generator_diff, with_generator
from tfod_anchors.fitting.sample import Sample, coarse_and_search, half_width
from tfod_anchors.fitting.screen import Screen, draw_screen, subset
from tfod_anchors.fitting.screen import describe as describe_screen
from tfod_anchors.fitting.search import Candidate
from tfod_anchors.fitting.stages import Stages, static_samples
from tfod_anchors.fitting.strategy import (
    GridPool,
    Stage,
    coarse_search,
    error_bounds,
    grid_ascent,
    grid_pool,
    polish_search,
    rounded_score,
)
from tfod_anchors.fitting.unguarded import unguarded_best, what_the_guard_blocked
from tfod_anchors.fitting.verify import (
    VERIFY,
    SecondGuard,
    Verified,
    reason,
    verify,
    written_generator,
)

DEFAULT_MAX_BOXES_EXACT = {"clip": 20_000, "prune": 20_000, "none": 40_000}
COARSE_BOXES = 4_000
#: At most this many splits are refined in stage A (after their pool ascent) ...
MAX_SPLITS = 2
#: ... and this many stage A candidates go on to stage B (when the search boxes are
#: a sample, its noise makes a third not worth it).
MAX_POLISHED_SAMPLED = 2


def splits(num_scales: int, num_ratios: int) -> list[tuple[int, int]]:
    """``(scales, ratios)`` pairs with the same product, both at least 2; the
    config's own split first. ``[]`` when there is no alternative."""
    n = num_scales * num_ratios
    others = [(s, n // s) for s in range(2, n // 2 + 1)
              if n % s == 0 and (s, n // s) != (num_scales, num_ratios)]
    return [(num_scales, num_ratios), *others] if others else []


def _options(resized: ResizedBoxes, pipeline: Any, own: Problem, num_scales: int | None,
             num_aspect_ratios: int | None, stride_rule: bool) -> list[tuple[str, Problem]]:
    """The parameterisations to search: ``[(label, problem)]``, the config's first."""
    if own.kind != "grid_anchor_generator" or num_scales or num_aspect_ratios:
        if num_scales is None and num_aspect_ratios is None:
            return [("config", own)]
        return [("counts", build_problem(resized, pipeline, num_scales=num_scales,
                                         num_aspect_ratios=num_aspect_ratios,
                                         stride_rule=stride_rule, like=own))]
    grid = own.generator.grid_anchor_generator
    options = splits(len(grid.scales), len(grid.aspect_ratios))
    out = [(f"{len(grid.scales)}x{len(grid.aspect_ratios)}", own)]
    for s, a in options[1:]:
        out.append((f"{s}x{a}", build_problem(resized, pipeline, num_scales=s,
                                              num_aspect_ratios=a, stride_rule=stride_rule,
                                              like=own)))
    return out


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


def _close_to_best(found: dict[str, list[Candidate]], stages: dict[str, Stage],
                   coarse: Sample, needed: float, most: int, sure: int = 1
                   ) -> list[tuple[str, Candidate]]:
    """The best candidate, plus every other (of any split) whose score is within the
    coarse sample's noise (paired 95 % bound of the primary difference) or the
    minimum gain of it; the first ``sure`` distinct ones whatever their score; at most
    ``most``, best first."""
    ranked = sorted(((label, c) for label, cs in found.items() for c in cs),
                    key=lambda lc: lc[1].score, reverse=True)
    lead_label, lead = ranked[0]
    lead_contrib = _contribution(stages[lead_label].objective,
                                 stages[lead_label].evaluator.best(lead.x))
    keep = [ranked[0]]
    seen = {(lead_label, tuple(np.round(lead.x, 6)))}
    for label, c in ranked[1:]:
        key = (label, tuple(np.round(c.x, 6)))
        if c.score[0] < lead.score[0] or len(keep) >= most or key in seen:
            continue
        seen.add(key)
        if len(keep) < sure:
            keep.append((label, c))
            continue
        other = _contribution(stages[label].objective, stages[label].evaluator.best(c.x))
        noise = half_width(coarse, lead_contrib - other)
        if lead.score[1] - c.score[1] <= max(noise, needed):
            keep.append((label, c))
    return keep


def fit_generator(resized: ResizedBoxes, cfg: Any, *, objective: str = "recall", seed: int = 0,
                  num_scales: int | None = None, num_aspect_ratios: int | None = None,
                  max_boxes_exact: int | None = None, guard: Guard | float | None = None,
                  progress: Callable[[str], None] | None = None,
                  unguarded_report: bool = True,
                  static: ResizedBoxes | None = None, effort: float = 1.0) -> FitResult:
    """Fit the config's anchor generator parameters to ``resized`` boxes.

    Args:
        resized: boxes in pixels of the resized image (the config's resizer); their
            order does not matter.
        cfg: ``TrainEvalPipelineConfig`` (either schema) or TFOD's configs dict.
        objective: see :mod:`tfod_anchors.fitting.objective`.
        seed: seeds the samples and the random starts (same seed, same result).
        num_scales, num_aspect_ratios: change the counts (and anchors per location);
            without them the grid generator tries every split of its count.
        max_boxes_exact: above this many boxes the search uses a stratified sample;
            None: 20 000 where anchors are clipped or pruned (Faster R-CNN), 40 000
            otherwise (the kernel is several times cheaper there).
        guard: a :class:`Guard` (None: the default guard); a number: that tolerance for
            the whole-set metrics with the rest of the default guard;
            ``Guard.off()``: no guard at all.
        progress: called with one-line status messages.
        unguarded_report: also search without the guard to say what it gave up.
        static: when ``resized`` are augmented draws, the static boxes: the guard (its
            tolerances, not its absolute floors) must hold on them too, against the
            config's own coverage of them; the result reports ``static_before`` and
            ``static_after``.
        effort: how much search (:mod:`.effort`; 1: the default budget, 3: ``high``).
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
    if guard is None:
        guard = Guard()
    elif not isinstance(guard, Guard):
        if guard < 0:
            raise UsageError(f"guard tolerance must be >= 0, got {guard}")
        guard = Guard(guard, guard, guard, guard)
    make_objective(objective, 0.5, {}, None)  # validates the name before any work
    plan = budget(parse_effort(effort))
    # the static boxes keep the guard's tolerances; absolute floors (--guard M>=V, the
    # k-means ones) are about the fitted distribution
    static_guard = replace(guard, minimum=(), kmeans=False)
    pipeline = config_query.as_pipeline(cfg)
    own = build_problem(resized, pipeline, stride_rule=guard.stride)
    options = dict(_options(resized, pipeline, own, num_scales, num_aspect_ratios,
                            guard.stride))
    matcher = config_query.matcher_spec(pipeline)
    window = own.shapes.astype(np.float64)[own.group]
    if max_boxes_exact is None:
        max_boxes_exact = DEFAULT_MAX_BOXES_EXACT[own.window_policy]

    def before_reports() -> tuple[Any, Any]:
        static_report = evaluate(static, own.layout_for, matcher) if static is not None \
            else None
        return evaluate(resized, own.layout_for, matcher), static_report

    # The config's own coverage runs beside sampling and search, on the other core.
    with Background(before_reports) as before_job:
        n_coarse = min(COARSE_BOXES, max_boxes_exact)
        drawn = coarse_and_search(resized.boxes, window, own.group, seed, max_boxes_exact,
                                  n_coarse)
        coarse, sample = drawn.coarse, drawn.search
        screen_sample = draw_screen(resized.boxes, window, own.group, drawn.parts, seed,
                                    drawn.hashes, not sample.exact)
        shares = band_shares(resized.boxes)
        trace: dict[str, Any] = {}
        bands = tuple(b for b, share in shares.items()
                      if guard.bands is not None and share >= guard.band_share)
        needed = min_gain(resized.num_boxes)
        extra: list[tuple[str, np.ndarray]] = []
        ref_metrics = None
        references = kmeans_references(own, sample, seed) if guard.kmeans and \
            list(options) == ["config"] else []
        if references:  # a free-shape generator: never below IoU k-means on its metrics
            ref_ms = [evaluate(resized, layout_function(with_generator(pipeline, gen)),
                               matcher).metrics for _, gen in references]
            ref_metrics = {k: max(float(m[k]) for m in ref_ms) for k in METRIC_KEYS}
            guard = replace(guard, minimum=(
                *guard.minimum, ("mean_iou", ref_metrics["mean_iou"]),
                ("recall_0.5", ref_metrics["recall_0.5"])))
            extra += [(f"kmeans_{i}", x) for i, (x, _) in enumerate(references)]
        say(f"searching on {coarse.size} then {sample.size} of {resized.num_boxes} boxes"
            + (f"; splits {', '.join(options)}" if len(options) > 1 else ""))
        rng = np.random.default_rng(seed)
        clock.lap("setup")
        static_coarse, static_search = (None, None) if static is None else \
            static_samples(static, seed, max_boxes_exact, n_coarse)
        static_bands = tuple(b for b, share in band_shares(static.boxes).items()
                             if static_guard.bands is not None
                             and share >= static_guard.band_share) if static is not None else ()

        def static_on(part: Sample | None) -> tuple | None:
            """What a stage needs to guard the static boxes, on their sample ``part``."""
            return None if static is None or part is None else \
                (static, part, static_guard, static_bands)

        a_stages = Stages(own, coarse, objective, guard, bands, static_on(static_coarse))
        stage_a = {label: a_stages.stage(p) for label, p in options.items()}
        pool = None
        searched = list(options)
        pooled: dict[str, list[Candidate]] = {}
        if own.kind == "grid_anchor_generator":
            pool = GridPool(*grid_pool(own, a_stages.config_evaluator, coarse.weight))
            for label, problem in options.items():
                pooled[label], trace[label] = grid_ascent(
                    stage_a[label].evaluator, problem, stage_a[label].objective, coarse, rng,
                    pool, plan)
            # only the splits whose pool ascent is close to the best go on
            searched = list(dict.fromkeys(label for label, _ in _close_to_best(
                {k: v[:1] for k, v in pooled.items()}, stage_a, coarse, needed, MAX_SPLITS)))
        found: dict[str, list[Candidate]] = {}
        for label in searched:
            found[label], more = coarse_search(options[label], stage_a[label], coarse, rng,
                                               pooled.get(label), pool, extra, plan)
            trace.setdefault(label, {}).update(more)
        to_polish = _close_to_best(found, stage_a, coarse, needed, plan.polished
                                   if plan.polish_all or sample.exact else MAX_POLISHED_SAMPLED,
                                   plan.sure_polished(own.kind != "grid_anchor_generator"))
        chosen = list(dict.fromkeys(label for label, _ in to_polish))
        say(f"coarse search done in {time.perf_counter() - t0:.1f} s"
            + (f"; polishing {', '.join(chosen)}" if len(options) > 1 else ""))
        clock.lap("coarse")
        b_stages = a_stages if a_stages.same_samples(sample, static_search) else Stages(
            own, sample, objective, guard, bands, static_on(static_search))
        b_stage = {label: b_stages.stage(options[label]) for label in chosen}
        seeds = [int(rng.integers(0, 2**31)) for _ in to_polish]
        lead = to_polish[0][0]

        def free_search() -> Candidate | None:
            if not (unguarded_report and guard_floors(objective, own.matched, guard, bands)):
                return None
            return unguarded_best(options[lead], stage_a[lead], found[lead], pool)

        def polish_one(i: int) -> list[Candidate]:
            label, cand = to_polish[i]
            return polish_search(options[label], b_stage[label], [cand], sample, seeds[i],
                                 plan)

        # the other core: the rest of the polish, then the unguarded searches
        with Background(lambda: ([polish_one(i) for i in range(1, len(to_polish))],
                                 free_search(), alternative_points(
            options[lead], stage_a[lead], found[lead], pool, objective, unguarded_report))
                        ) as other:
            lead_polished = polish_one(0)
            rest, free, alts = other.result()
        polished: list[tuple[str, Candidate]] = []
        for (label, _), cands in zip(to_polish, [lead_polished, *rest]):
            for c in cands:
                polished.append((label, c))
                trace[label].setdefault("refined", {})[c.origin] = rounded_score(c.score)
        polished.sort(key=lambda lc: lc[1].score, reverse=True)
        say(f"search done in {time.perf_counter() - t0:.1f} s; checking on all boxes")
        clock.lap("polish")
        report_before, static_report_before = before_job.result()
    clock.lap("coverage_before")
    before = report_before.metrics
    flat_before = flat_metrics(before)
    exact_obj = make_objective(objective, own.matched, flat_before, guard, bands=bands)
    second = None
    if static is not None and static_report_before is not None:
        second = SecondGuard("static", static, make_objective(
            objective, own.matched, flat_metrics(static_report_before.metrics), static_guard,
            bands=static_bands), static_report_before)
    later = sorted(((label, c) for label in chosen for c in found[label]),
                   key=lambda lc: lc[1].score, reverse=True)
    # on a sampled search the search sample ranks the polished candidates; exactly
    # measured (on all boxes, the costly part) is only the best, unless it fails
    first = len(polished) if sample.exact or plan.verify_polished else 1
    for origin, x in extra[::-1]:  # the k-means sets: the fallbacks
        later.insert(0, ("config", Candidate(x, (0.0, 0.0, 0.0), origin)))
    screen = None if screen_sample is None else Screen(
        screen_sample, subset(resized, screen_sample.index), matcher, flat_before,
        own.layout_for)
    checked = verify([(options[label], c) for label, c in polished + later], pipeline,
                     own.generator, matcher, before, exact_obj, needed,
                     first=first, limit=VERIFY + first - 1, second=second, screen=screen)
    clock.lap("verify")
    blocked = None
    if free is not None and exact_obj.floors:
        final = checked.report.metrics if checked.improved and checked.report else before
        blocked = what_the_guard_blocked(
            free, found[lead][0], lambda: b_stages.stage(options[lead]).evaluator,
            b_stages.sample, exact_obj, flat_before, needed,
            float(exact_obj.primary(flat_metrics(final))))
    better = _could_do_better(with_own(free, objective, alts), options[lead], checked, own,
                              b_stages, partial(_exact, resized, pipeline, matcher), needed,
                              before)
    clock.lap("unguarded")
    label_of = {id(p): label for label, p in options.items()}
    diag: dict[str, Any] = {
        "num_boxes": resized.num_boxes, "search_boxes": sample.size,
        "coarse_boxes": coarse.size, "sampled": not sample.exact,
        "start_search_metrics": b_stages.start, "searches": trace,
        "polished": chosen, "verified": checked.tried}
    diag["effort"] = search_effort(plan, trace, found, polished, checked)
    if ref_metrics is not None:
        diag["kmeans_reference"] = ref_metrics
    if screen is not None:
        diag["screen"] = describe_screen(screen)
    if len(options) > 1:
        diag["splits"] = {label: rounded_score((found.get(label) or pooled[label])[0].score)
                          for label in options}
        diag["splits_refined"] = searched
        diag["split_selection_boxes"] = coarse.size
    if checked.problem is not None:
        diag["chosen_split"] = label_of.get(id(checked.problem))
    if not sample.exact:
        probe = checked.problem or own
        x = checked.x if checked.x is not None else own.space.x0
        ev = b_stages.stage(probe).evaluator
        diag["error_bound_95"] = error_bounds(ev, sample, x, own.matched)
    diag["columns_computed"] = a_stages.store.columns_computed + (
        b_stages.store.columns_computed if b_stages is not a_stages else 0)
    improved = checked.improved
    new_generator = checked.generator if improved else copy_message(own.generator)
    changed, previous = generator_diff(own.generator, new_generator, own.kind)
    report_after = checked.report if improved and checked.report is not None \
        else report_before
    after = report_after.metrics
    diag["stage_seconds"] = clock.laps
    diag["seconds"] = round(time.perf_counter() - t0, 3)
    apl_before = [int(level.sizes.shape[0]) for level in own.layouts[0].levels]
    apl_after = apl_before
    if improved and checked.problem is not None and checked.x is not None:
        apl_after = [len(s) for s in checked.problem.space.shapes_of(checked.x)]
    say(f"done in {diag['seconds']:.1f} s")
    return FitResult(
        generator=new_generator, kind=own.kind, changed=changed, previous=previous,
        before=before, after=after,
        moved={k: float(after[k]) - float(before[k]) for k in METRIC_KEYS},
        improved=improved, objective=objective, matched_threshold=float(own.matched),
        guard=dict(exact_obj.floors), anchors_per_location=(apl_before, apl_after),
        diagnostics=diag, report_before=report_before, report_after=report_after,
        gain=checked.gain, min_gain=needed,
        best_generator=checked.generator if checked.generator is not None
        else copy_message(own.generator),
        best_after=checked.report.metrics if checked.report is not None else None,
        guard_spec=guard.to_dict(), bands=bands, blocked=blocked, could_do_better=better,
        findings=checked.findings, rejected=checked.rejected, reason=reason(checked, needed),
        **_static_results(second, checked, improved, pipeline, matcher))


def _exact(resized: ResizedBoxes, pipeline: Any, matcher: Any, problem: Problem,
           x: np.ndarray) -> dict[str, Any]:
    """Exact metrics on all boxes of ``problem``'s candidate ``x`` as it would be written."""
    gen = written_generator(problem.space, problem.generator, x)
    return evaluate(resized, layout_function(with_generator(pipeline, gen)), matcher).metrics


def _could_do_better(points: list[tuple[str, Candidate]], lead: Problem, checked: Verified,
                     own: Problem, stages: Stages,
                     exact: Callable[[Problem, np.ndarray], dict[str, Any]], needed: float,
                     before: dict[str, Any]) -> dict | None:
    """:func:`.dominance.dominating_point` of the unguarded ``points`` (in ``lead``'s
    space) against what the fit writes (the config's anchors when nothing is)."""
    if not points:
        return None
    problem, x, exact_written = own, own.space.x0, before
    if checked.improved and checked.problem is not None and checked.x is not None \
            and checked.report is not None:
        problem, x, exact_written = checked.problem, checked.x, checked.report.metrics
    ev_lead, ev_written = stages.stage(lead).evaluator, stages.stage(problem).evaluator

    def on_sample(ev: Any, v: np.ndarray) -> dict[str, float]:
        return {k: float(m) for k, m in ev.metrics(ev.best(v)).items()}

    return dominating_point(points, lambda v: on_sample(ev_lead, v), on_sample(ev_written, x),
                            exact_written, needed, lambda v: exact(lead, v))


def _static_results(second: SecondGuard | None, checked: Verified, improved: bool,
                    pipeline: Any, matcher: Any) -> dict[str, Any]:
    """The ``static_*`` fields of :class:`FitResult` (empty without a static guard);
    the best candidate is measured on the static boxes here when :func:`verify` did not
    (it does so only for candidates that keep the guard on the fitted boxes)."""
    if second is None:
        return {}
    before = second.before.metrics
    report = checked.second_report
    if report is None and checked.generator is not None:
        report = evaluate(second.resized,
                          layout_function(with_generator(pipeline, checked.generator)), matcher)
    best = report.metrics if report is not None else None
    return {"static_before": before, "static_after": best if improved and best else before,
            "static_best_after": best, "static_guard": dict(second.objective.floors)}
