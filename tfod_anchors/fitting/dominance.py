"""Saying when the search could do better: a point that dominates the written one.

The guarded search can stop short of points that are better on every guarded metric:
an unguarded search, or one for another objective (more weight on mean IoU), may end
in a corner the guarded search never crossed into. After the fit, short unguarded
searches for the fit's own objective and for two alternatives (``w:2,1,0`` and
``w:1,1,1``) run on the coarse sample; a point that is at least as good as the
written anchors (or the config's, when nothing is written) on recall at the matched
threshold, mean IoU, recall@0.5 and recall@0.7, and better on one of them by the
minimum gain, first on the search sample and then exactly on all boxes, is reported
with the flags that reach it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tfod_anchors.fitting.objective import describe_metric, make_objective
from tfod_anchors.fitting.problem import Problem
from tfod_anchors.fitting.search import Candidate, coordinate_scan
from tfod_anchors.fitting.strategy import GridPool, Scorer, unguarded_grid

#: The metrics a dominating point must not lose on (and gain on one of).
DOMINANCE_KEYS = ("recall_matched", "mean_iou", "recall_0.5", "recall_0.7")
#: The other objectives tried (besides the fit's own), unguarded.
ALTERNATIVES = ("w:2,1,0", "w:1,1,1")


def _flags(objective: str) -> str:
    return "--guard off" if objective == "recall" else f"--objective {objective} --guard off"


def alternative_points(problem: Problem, stage: Scorer, found: list[Candidate],
                       pool: GridPool | None, objective: str, wanted: bool = True
                       ) -> list[tuple[str, Candidate]]:
    """``[(flags, candidate)]``: the best point of a short unguarded search on the coarse
    sample (``stage``) for each of :data:`ALTERNATIVES` (not the fit's own objective:
    :func:`with_own` adds the unguarded search the fit runs anyway), starting from the
    guarded solutions ``found`` (none unless ``wanted``). For the generators other than
    the grid (whose pool makes this cheap) one single-sweep coordinate scan each."""
    out: list[tuple[str, Candidate]] = []
    if not wanted:
        return out
    for name in ALTERNATIVES:
        if name == objective:
            continue
        obj = make_objective(name, problem.matched, {}, None)
        if pool is not None and pool.columns is not None:
            cand = unguarded_grid(stage.evaluator, problem, obj, pool, found)
        else:
            cand = coordinate_scan(stage.evaluator, problem.space, obj, found[0].x,
                                   points=12, zoom=2, max_sweeps=1, origin="unguarded")
        out.append((_flags(name), cand))
    return out


def with_own(free: Candidate | None, objective: str, points: list[tuple[str, Candidate]]
             ) -> list[tuple[str, Candidate]]:
    """``points`` with the fit's own unguarded best ``free`` first (when it ran)."""
    return ([(_flags(objective), free)] if free is not None else []) + points


def dominates(a: dict[str, float], b: dict[str, float], needed: float) -> bool:
    """``a`` is at least ``b`` on every :data:`DOMINANCE_KEYS` metric and ahead by at least
    ``needed`` on one."""
    diffs = [float(a[k]) - float(b[k]) for k in DOMINANCE_KEYS]
    return min(diffs) >= 0.0 and max(diffs) >= needed


def dominating_point(points: list[tuple[str, Candidate]],
                     on_sample: Callable[[np.ndarray], dict[str, float]],
                     written_sample: dict[str, float], written_exact: dict[str, Any],
                     needed: float, exact: Callable[[np.ndarray], dict[str, Any]]
                     ) -> dict[str, Any] | None:
    """The first of ``points`` that dominates the written anchors on the search sample
    (``on_sample(x)``: a point's metrics there; ``written_sample``: the written
    anchors') and then exactly (``exact(x)``: metrics on all boxes; ``written_exact``),
    as ``{flags, metrics, written, message}``; None when there is none."""
    for flags, cand in points:
        if not dominates(on_sample(cand.x), written_sample, needed):
            continue
        got = exact(cand.x)
        if not dominates(got, written_exact, needed):
            continue
        matched = float(written_exact["matched_threshold"])
        rule = written_exact.get("matched_rule")
        # at a 0.7 matched threshold recall_matched is recall@0.7: name it once
        named: dict[str, str] = {}
        for k in DOMINANCE_KEYS:
            named.setdefault(describe_metric(k, matched, rule), k)
        parts = ", ".join(f"{name} {float(written_exact[k]):.3f} -> {float(got[k]):.3f}"
                          for name, k in named.items())
        return {"flags": flags,
                "metrics": {k: round(float(got[k]), 6) for k in DOMINANCE_KEYS},
                "written": {k: round(float(written_exact[k]), 6) for k in DOMINANCE_KEYS},
                "message": (f"the search could do better: `{flags}` reaches a point at least "
                            f"as good on every guarded metric ({parts}); its size bands and "
                            "static boxes are not guarded, so check them before taking it")}
    return None
