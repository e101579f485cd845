"""What the guard gave up: the best candidate without it, and what that one drops.

After a guarded fit, a search of the same coarse sample for the primary objective alone
(the ``check`` rules still kept) says whether the guard held anything back. When the
unguarded candidate does clearly better, the fit reports which guarded metrics it
would have dropped, so that a user can decide whether to relax the guard.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tfod_anchors.fitting.evaluator import Evaluator
from tfod_anchors.fitting.objective import Objective, describe_metric
from tfod_anchors.fitting.problem import Problem
from tfod_anchors.fitting.sample import Sample
from tfod_anchors.fitting.search import Candidate
from tfod_anchors.fitting.strategy import GridPool, Scorer, unguarded_generic, unguarded_grid


def unguarded_best(problem: Problem, scorer: Scorer, found: list[Candidate],
                   pool: GridPool | None) -> Candidate:
    """The best candidate for the primary alone on the coarse sample (rules kept)."""
    ev = scorer.evaluator
    if pool is not None and pool.columns is not None:
        return unguarded_grid(ev, problem, scorer.objective, pool, found)
    return unguarded_generic(ev, problem, scorer.objective, found)


def what_the_guard_blocked(free: Candidate, guarded: Candidate,
                           search_evaluator: Callable[[], Evaluator], search_sample: Sample,
                           exact_obj: Objective, before: dict[str, Any], needed: float,
                           p_guarded: float) -> dict | None:
    """When the unguarded search's ``free`` beats the coarse search's ``guarded`` candidate on
    the coarse sample, and what the fit returns (``p_guarded``: its primary, on all
    boxes) by at least the minimum gain, measured on the search sample (its evaluator
    made by ``search_evaluator`` only then), name the guarded metrics it drops (None
    otherwise). ``before``: the config's metrics on all boxes (``matched_rule`` names a
    shape rule in the message)."""
    if free.score[0] < 0 or free.score[1] - guarded.score[1] < needed:
        return None
    b_ev = search_evaluator()
    m_free = b_ev.metrics_at(free.x)
    p_free = float(exact_obj.primary(m_free))
    broken = exact_obj.broken(m_free)
    if not broken or p_free - p_guarded < needed:
        return None
    rule = before.get("matched_rule")
    what = describe_metric("recall_matched", exact_obj.matched, rule) \
        if exact_obj.weights == (1.0, 0.0, 0.0, 0.0) else f"objective {exact_obj.name!r}"
    dropped = {k: [round(before[k], 6), round(m_free[k], 6)] for k in broken if k in before}
    parts = [f"{describe_metric(k, exact_obj.matched, rule)} {a:.2f} -> {b:.2f}"
             for k, (a, b) in dropped.items()]
    where = "all boxes" if search_sample.exact else \
        f"a stratified sample of {search_sample.size} boxes"
    return {"message": f"unguarded search reached {what} {p_free:.3f} (guarded {p_guarded:.3f})"
                       f" by dropping {', '.join(parts)}",
            "primary": round(p_free, 6), "guarded_primary": round(p_guarded, 6),
            "dropped": dropped, "measured_on": where}
