"""The fit's last two steps: verify exactly, and decide (see :mod:`.fit`).

:func:`verify_exactly` measures the refined candidates (then the coarse ones, then the
IoU k-means sets) on all boxes after the ``check`` rules (:mod:`.verify`);
:func:`decide` says what the guard gave up (:mod:`.unguarded`) and assembles the
:class:`~tfod_anchors.fitting.result.FitResult` with its diagnostics.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from tfod_anchors.coverage.metrics import METRIC_KEYS, CoverageReport, evaluate
from tfod_anchors.fitting.background import Clock
from tfod_anchors.fitting.coarse_refine import CoarseResult, Refined
from tfod_anchors.fitting.dominance import dominating_point, with_own
from tfod_anchors.fitting.effort import search_effort
from tfod_anchors.fitting.fit import Searched
from tfod_anchors.fitting.objective import (
    Objective,
    exact_start,
    flat_metrics,
    make_objective,
)
from tfod_anchors.fitting.plan import FitPlan
from tfod_anchors.fitting.result import FitResult
from tfod_anchors.fitting.screen import Screen, subset
from tfod_anchors.fitting.screen import describe as describe_screen
from tfod_anchors.fitting.search import Candidate
from tfod_anchors.fitting.strategy import error_bounds, rounded_score
from tfod_anchors.fitting.unguarded import what_the_guard_blocked
from tfod_anchors.fitting.verify import (
    VERIFY,
    Bar,
    SecondGuard,
    Verified,
    reason,
    verify,
    written_generator,
)


@dataclass
class Exact:
    """Step 6's outcome: the config's exact reports (``before``; ``static_before`` or
    None), the guarded objective on all boxes, the static guard (``second``), the screen
    and the verified best (``checked``)."""

    before: CoverageReport
    static_before: CoverageReport | None
    objective: Objective
    second: SecondGuard | None
    screen: Screen | None
    checked: Verified

    @property
    def flat_before(self) -> dict[str, float]:
        return flat_metrics(self.before.metrics)


def _second_guard(p: FitPlan, static_before: CoverageReport | None) -> SecondGuard | None:
    """The guard on the static boxes of an augmented fit, against the config's own
    exact coverage of them (None for a static fit)."""
    if p.static is None or static_before is None:
        return None
    objective = make_objective(p.settings.objective, p.own.matched,
                               flat_metrics(static_before.metrics), p.static_guard,
                               bands=p.static_bands)
    return SecondGuard("static", p.static, objective, static_before)


def verify_exactly(p: FitPlan, searched: Searched,
                   before: tuple[CoverageReport, CoverageReport | None]) -> Exact:
    """Step 6: the refined candidates, then the coarse ones of the refined options, then
    the IoU k-means sets, measured exactly (:func:`~.verify.verify`). On a sampled search
    the search sample ranks the refined candidates, so only the best is measured unless
    it fails."""
    samples, coarse, refined = searched.samples, searched.coarse, searched.refined
    report_before, static_before = before
    flat_before = exact_start(report_before, p.resized.label, p.own.matched, p.guard)
    exact_obj = make_objective(p.settings.objective, p.own.matched, flat_before, p.guard,
                               bands=p.bands)
    later = sorted(((label, c) for label in refined.chosen for c in coarse.found[label]),
                   key=lambda lc: lc[1].score, reverse=True)
    first = len(refined.polished) if samples.search.exact or p.budget.verify_polished else 1
    for origin, x in searched.floors.extra[::-1]:  # the k-means sets: the fallbacks
        later.insert(0, ("config", Candidate(x, (0.0, 0.0, 0.0), origin)))
    screen = None if samples.screen is None else Screen(
        samples.screen, subset(p.resized, samples.screen.index), p.matcher, flat_before,
        p.own.layout_for)
    second = _second_guard(p, static_before)
    checked = verify([(p.options[label], c) for label, c in refined.polished + later],
                     p.model, Bar(report_before.metrics, exact_obj, p.needed), first=first,
                     limit=VERIFY + first - 1, second=second, screen=screen)
    return Exact(report_before, static_before, exact_obj, second, screen, checked)


def _blocked(p: FitPlan, coarse: CoarseResult, refined: Refined, exact: Exact
             ) -> dict | None:
    """What the guard gave up, when the unguarded search ran and clearly did better."""
    if refined.free is None or not exact.objective.floors:
        return None
    checked = exact.checked
    final = checked.report.metrics if checked.improved and checked.report \
        else exact.before.metrics
    lead = refined.to_polish[0][0]
    return what_the_guard_blocked(
        refined.free, coarse.found[lead][0],
        lambda: refined.scoring.scorer(p.options[lead]).evaluator, refined.scoring.sample,
        exact.objective, {**exact.flat_before, "matched_rule":
                          exact.before.metrics.get("matched_rule")}, p.needed,
        float(exact.objective.primary(flat_metrics(final))))


def _could_do_better(p: FitPlan, searched: Searched, exact: Exact) -> dict | None:
    """:func:`.dominance.dominating_point` of the unguarded points (the fit's own and the
    other objectives', in the lead option's space) against what the fit writes (the
    config's anchors when nothing is)."""
    refined, checked = searched.refined, exact.checked
    points = with_own(refined.free, p.settings.objective, refined.alternatives)
    if not points:
        return None
    lead = p.options[refined.to_polish[0][0]]
    problem, x, written = p.own, p.own.space.x0, exact.before.metrics
    if checked.improved and checked.problem is not None and checked.x is not None \
            and checked.report is not None:
        problem, x, written = checked.problem, checked.x, checked.report.metrics
    ev_lead = refined.scoring.scorer(lead).evaluator
    ev_written = refined.scoring.scorer(problem).evaluator

    def on_sample(ev: Any, v: np.ndarray) -> dict[str, float]:
        return ev.metrics_at(v)

    def exact_metrics(v: np.ndarray) -> dict[str, Any]:
        gen = written_generator(lead.space, lead.generator, v)
        return evaluate(p.resized, p.model.with_anchors(gen).layout_function(),
                        p.matcher).metrics

    return dominating_point(points, lambda v: on_sample(ev_lead, v), on_sample(ev_written, x),
                            written, p.needed, exact_metrics)


def diagnostics(p: FitPlan, searched: Searched, exact: Exact) -> dict[str, Any]:
    """The JSON-ready ``FitResult.diagnostics`` of the search (timings added later)."""
    samples, coarse, refined = searched.samples, searched.coarse, searched.refined
    sample, checked = samples.search, exact.checked
    diag: dict[str, Any] = {
        "num_boxes": p.resized.num_boxes, "search_boxes": sample.size,
        "coarse_boxes": samples.coarse.size, "sampled": not sample.exact,
        "start_search_metrics": refined.scoring.start, "searches": coarse.trace,
        "polished": refined.chosen, "verified": checked.tried,
        "effort": search_effort(p.budget, coarse.trace, coarse.found, refined.polished,
                                checked)}
    if searched.floors.metrics is not None:
        diag["kmeans_reference"] = searched.floors.metrics
    if exact.screen is not None:
        diag["screen"] = describe_screen(exact.screen)
    if len(p.options) > 1:
        diag["splits"] = {label: rounded_score((coarse.found.get(label)
                                                or coarse.pooled[label])[0].score)
                          for label in p.options}
        diag["splits_refined"] = coarse.searched
        diag["split_selection_boxes"] = samples.coarse.size
    if checked.problem is not None:
        label_of = {id(problem): label for label, problem in p.options.items()}
        diag["chosen_split"] = label_of.get(id(checked.problem))
    if not sample.exact:
        probe = checked.problem or p.own
        x = checked.x if checked.x is not None else p.own.space.x0
        ev = refined.scoring.scorer(probe).evaluator
        diag["error_bound_95"] = error_bounds(ev, sample, x, p.own.matched)
    diag["columns_computed"] = coarse.scoring.store.columns_computed + (
        refined.scoring.store.columns_computed if refined.scoring is not coarse.scoring else 0)
    return diag


def _static_results(p: FitPlan, exact: Exact) -> dict[str, Any]:
    """The ``static_*`` fields of :class:`FitResult` (empty without a static guard);
    the best candidate is measured on the static boxes here when :func:`verify` did not
    (it does so only for candidates that keep the guard on the fitted boxes)."""
    second, checked = exact.second, exact.checked
    if second is None:
        return {}
    before = second.before.metrics
    report = checked.second_report
    if report is None and checked.generator is not None:
        report = evaluate(second.resized,
                          p.model.with_anchors(checked.generator).layout_function(), p.matcher)
    best = report.metrics if report is not None else None
    return {"static_before": before,
            "static_after": best if checked.improved and best else before,
            "static_best_after": best, "static_guard": dict(second.objective.floors)}


def decide(p: FitPlan, searched: Searched, exact: Exact, clock: Clock, t0: float,
           say: Callable[[str], None]) -> FitResult:
    """Step 7: what the guard gave up, and the :class:`FitResult` (the verified best
    when it is an improvement, else the config's own anchors)."""
    blocked = _blocked(p, searched.coarse, searched.refined, exact)
    better = _could_do_better(p, searched, exact)
    clock.lap("unguarded")
    diag = diagnostics(p, searched, exact)
    own, checked = p.own, exact.checked
    improved = checked.improved
    new_generator = checked.generator if improved else p.model.copy_anchors(own.generator)
    changed, previous = p.model.anchors_changes(own.generator, new_generator)
    report_after = checked.report if improved and checked.report is not None \
        else exact.before
    before, after = exact.before.metrics, report_after.metrics
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
        improved=improved, objective=p.settings.objective,
        matched_threshold=float(own.matched), guard=dict(exact.objective.floors),
        anchors_per_location=(apl_before, apl_after), diagnostics=diag,
        report_before=exact.before, report_after=report_after, gain=checked.gain,
        min_gain=p.needed,
        best_generator=checked.generator if checked.generator is not None
        else p.model.copy_anchors(own.generator),
        best_after=checked.report.metrics if checked.report is not None else None,
        guard_spec=p.guard.to_dict(), bands=p.bands, blocked=blocked, could_do_better=better,
        findings=checked.findings, rejected=checked.rejected,
        reason=reason(checked, p.needed), **_static_results(p, exact))
