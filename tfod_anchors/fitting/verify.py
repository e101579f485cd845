"""Exact verification of search candidates on all boxes, and what may be written.

A candidate's values are rounded as they will be written, re-checked with the
``check`` rules (:func:`tfod_anchors.rules.check_rules`) and, unless they would
add an error the config does not already have, measured exactly on all boxes with
:func:`tfod_anchors.coverage.metrics.evaluate`. The best measured candidate wins,
candidates that add no new warning first; it is an improvement only when it keeps
the guard and gains at least the minimum gain on the objective.

When the fit is on augmented draws (``fit``'s default for configs that augment), the
guard holds on a second distribution too, the static boxes (:class:`SecondGuard`): a
candidate that breaks it there is not an improvement, and the next one is tried.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tfod_anchors.boxes import ResizedBoxes
from tfod_anchors.coverage.metrics import METRIC_KEYS, CoverageReport, evaluate
from tfod_anchors.fitting.objective import Objective, exact_metrics, flat_metrics
from tfod_anchors.fitting.params import ParamSpace
from tfod_anchors.fitting.problem import Problem
from tfod_anchors.fitting.screen import Screen
from tfod_anchors.fitting.search import Candidate
from tfod_anchors.frameworks import ModelSpec, as_spec
from tfod_anchors.rules import ERROR, WARNING, Finding

#: Candidates measured on all boxes at most (rule rejections do not count).
VERIFY = 4


def written_generator(space: ParamSpace, generator: Any, x: np.ndarray) -> Any:
    """The generator message with ``x``'s values, rounded to 4 significant decimals,
    lists in the config's rank order."""
    values = np.exp(space.rounded(space.in_config_order(x)))
    return space.write(generator, np.array([float(f"{v:.4g}") for v in values]))


def new_findings(model: ModelSpec | Any, generator: Any, baseline: list[Finding] | None = None
                 ) -> list[Finding]:
    """``check`` findings of ``model`` (a spec, or a TFOD config) with the anchors value
    ``generator`` whose codes the config's own
    findings (``baseline``, computed when None) do not have. Only the model rules
    (:func:`~tfod_anchors.rules.check_rules`) can change with the generator: the
    input-pipeline notes of ``config_findings`` (augmentation steps, ignored box limits)
    are the config's own, and on a huge config they cost a pass over every step."""
    model = as_spec(model)
    base = model.check_rules() if baseline is None else baseline
    codes = {f.code for f in base}
    return [f for f in model.with_anchors(generator).check_rules() if f.code not in codes]


@dataclass(frozen=True)
class SecondGuard:
    """Another distribution the guard must hold on (exactly, on all its boxes).

    Attributes:
        name: what it is, for messages (``"static"``).
        resized: its boxes, in resized pixels.
        objective: the objective guarded against the config's exact metrics on them.
        before: the config's coverage report on them.
    """

    name: str
    resized: ResizedBoxes
    objective: Objective
    before: CoverageReport


@dataclass(frozen=True)
class Bar:
    """What a candidate must beat, exactly on all boxes.

    Attributes:
        before: the config's exact metrics (``coverage.metrics``).
        objective: guarded against ``before`` (exact floors).
        needed_gain: minimum objective gain that counts as better.
    """

    before: dict[str, Any]
    objective: Objective
    needed_gain: float


@dataclass
class Verified:
    """Outcome of :func:`verify`.

    Attributes:
        problem, x: the best measured candidate's problem (its split) and log values;
            None when no candidate changed the written values.
        generator: its written ``AnchorGenerator`` message.
        report: its exact coverage on all boxes.
        improved: it keeps the guard (on the second distribution too) and gains at
            least the minimum gain; ``feasible``: it keeps the guard on the fitted boxes;
            ``second_feasible``: on the second distribution (True without one).
        second_report: its exact coverage on the second distribution, or None.
        gain: its objective gain over the config (exact).
        findings: its new ``check`` findings (warnings or info; dicts).
        rejected: new error findings that ruled candidates out (dicts, one per code).
        tried: JSON-ready record of every candidate looked at.
    """

    problem: Problem | None = None
    x: np.ndarray | None = None
    generator: Any = None
    report: CoverageReport | None = None
    improved: bool = False
    feasible: bool = False
    second_feasible: bool = True
    second_report: CoverageReport | None = None
    second_name: str = ""
    gain: float = 0.0
    findings: list[dict] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)
    tried: list[dict[str, Any]] = field(default_factory=list)


def verify(candidates: list[tuple[Problem, Candidate]], model: ModelSpec, bar: Bar, *,
           first: int = 1, limit: int = VERIFY, second: SecondGuard | None = None,
           screen: Screen | None = None) -> Verified:
    """Measure ``candidates`` (in order) exactly on all boxes; keep the best.

    A candidate whose written config would get a new ``check`` error is never
    measured. Among the measured ones, improvements without new warnings come first,
    then improvements with them (the warnings are reported), then the rest by score.

    Args:
        candidates: ``(problem, candidate)`` pairs, most promising first.
        model: the config's spec (its own anchors, matcher and rules).
        bar: the config's exact metrics, the guarded objective, the minimum gain.
        first: always measure this many (the polished candidates) before stopping at
            the first clean improvement.
        limit: at most this many exact measurements.
        second: a second distribution the guard must hold on (the static boxes of an
            augmented fit), or None; measured for candidates that keep the guard on
            the fitted boxes (the others cannot be taken anyway).
        screen: a larger sample on which a candidate that misses a guard floor beyond
            doubt is turned away before its exact measurement (:mod:`.screen`);
            turned-away candidates do not count towards ``limit``.
    """
    out = Verified(second_name=second.name if second is not None else "")
    objective, needed_gain = bar.objective, bar.needed_gain
    generator, matcher = model.anchors, model.matcher()
    start = objective.primary(flat_metrics(bar.before))
    baseline = model.check_rules()
    seen: set[bytes] = set()
    measured = 0
    best_key = None
    for problem, cand in candidates:
        if measured >= limit:
            break
        gen_c = written_generator(problem.space, problem.generator, cand.x)
        key = model.anchors_key(gen_c)
        if key in seen or not model.anchors_changes(generator, gen_c)[0]:
            continue
        seen.add(key)
        entry: dict[str, Any] = {"origin": cand.origin, "search_score":
                                 [round(float(v), 6) for v in cand.score]}
        fresh = _passes_rules(problem, cand, model, gen_c, baseline, entry, out)
        if fresh is None:
            continue
        layout = model.with_anchors(gen_c).layout_function()
        if screen is not None and objective.floors:
            missed = screen.turned_away(layout, objective)
            if missed:
                entry["rejected"] = ["screen"]
                entry["screen_estimate"] = missed
                out.tried.append(entry)
                continue
        report = evaluate(problem.resized, layout, matcher)
        measured += 1
        m = exact_metrics(report, problem.resized.label, objective)
        score = objective.score(m)
        gain = float(objective.primary(m) - start)
        second_report, second_ok = None, True
        if second is not None and score[0] == 0.0:  # only a feasible one can be taken
            second_report, second_ok = _on_second(second, layout, matcher, entry)
        ok = score[0] == 0.0 and second_ok and gain >= needed_gain - 1e-12
        clean = not any(f.severity == WARNING for f in fresh)
        entry["exact"] = {k: round(float(report.metrics[k]), 6) for k in METRIC_KEYS}
        entry["gain"] = round(gain, 6)
        if objective.broken(m):
            entry["guard_broken"] = objective.broken(m)
        if not clean:
            entry["new_warnings"] = [f.code for f in fresh if f.severity == WARNING]
        out.tried.append(entry)
        rank = (ok, clean, second_ok, score)
        if best_key is None or rank > best_key:
            best_key = rank
            out.problem, out.x, out.generator, out.report = problem, cand.x, gen_c, report
            out.improved, out.gain, out.feasible = ok, gain, score[0] == 0.0
            out.second_feasible, out.second_report = second_ok, second_report
            out.findings = [f.to_dict() for f in fresh]
        if out.improved and not out.findings and measured >= first:
            break
    return out


def _passes_rules(problem: Problem, cand: Candidate, model: ModelSpec, gen_c: Any,
                  baseline: list[Finding], entry: dict[str, Any], out: Verified
                  ) -> list[Finding] | None:
    """The candidate's new ``check`` findings, or None when it is refused before any
    measurement (a size rule of the search, or a new error; recorded in ``out``)."""
    if problem.constraint is not None and \
            problem.constraint(problem.space.rounded(cand.x)) > 1e-9:
        entry["rejected"] = ["constraint"]  # e.g. below the stride, decreasing scales
        out.tried.append(entry)
        return None
    fresh = new_findings(model, gen_c, baseline)
    errors = [f for f in fresh if f.severity == ERROR]
    if errors:
        entry["rejected"] = [f.code for f in errors]
        out.tried.append(entry)
        for f in errors:
            if all(r["code"] != f.code for r in out.rejected):
                out.rejected.append(f.to_dict())
        return None
    return fresh


def _on_second(second: SecondGuard, layout: Any, matcher: Any, entry: dict[str, Any]
               ) -> tuple[CoverageReport, bool]:
    """A candidate's exact coverage on the second distribution, and whether it keeps the
    guard there (recorded in ``entry``)."""
    report = evaluate(second.resized, layout, matcher)
    m2 = flat_metrics(report.metrics)
    entry[f"{second.name}_exact"] = {k: round(float(report.metrics[k]), 6)
                                     for k in METRIC_KEYS}
    if second.objective.broken(m2):
        entry[f"{second.name}_guard_broken"] = second.objective.broken(m2)
    return report, second.objective.score(m2)[0] == 0.0


def reason(v: Verified, needed_gain: float) -> str:
    """Why :func:`verify`'s result is or is not an improvement (``FitResult.reason``)."""
    if v.improved:
        return "better"
    if v.problem is None:
        if v.rejected:
            return "rules"
        return "guard" if any("rejected" in t for t in v.tried) else "no_candidate"
    if not v.feasible:
        return "guard"
    if not v.second_feasible:
        return f"{v.second_name}_guard"
    return "min_gain" if v.gain > 0 else "no_gain"
