"""How the search is run: stages, starts and refinement schedules.

Stage A ("coarse", a small stratified sample) finds basins: for the grid
generator a pool ascent from the config, IoU k-means, quantile and random starts;
for the others zoomed 1-D coordinate scans from the config and random starts. The
best few are refined with the guard first as a penalty (crossing slightly
infeasible ground reaches better corners of the feasible set) and then as a hard
constraint. Stage B ("polish", the full search sample) refines the best one the
same way; when the search boxes are all the boxes it finishes with height-only /
width-only moves and, where the kernel is cheap, a short (1+1) random search.

Everything is seeded through the ``rng`` passed in: same seed, same result.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from tfod_anchors.fitting.evaluator import Evaluator
from tfod_anchors.fitting.objective import Objective
from tfod_anchors.fitting.params import ParamSpace
from tfod_anchors.fitting.problem import Problem
from tfod_anchors.fitting.sample import Sample, half_width
from tfod_anchors.fitting.search import (
    Candidate,
    coordinate_scan,
    mutation_search,
    pool_ascent,
    refine,
)

POOL_SCALES = 24
POOL_RATIOS = 15
COARSE_REFINE = 2
POLISH = 1
RANDOM_STARTS = 12
GENERIC_RANDOM_STARTS = 2
EXPLORE_PENALTY = 2.0
POLISH_MUTATIONS = 100


def weighted_quantiles(values: np.ndarray, weight: np.ndarray, qs: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(weight[order])
    return np.interp(qs * cum[-1], cum, values[order])


def _snap(pool: np.ndarray, values: np.ndarray) -> list[int]:
    """Distinct pool indices nearest to ``values`` (log), in order."""
    taken: list[int] = []
    for v in values:
        order = np.argsort(np.abs(pool - v), kind="stable")
        taken.append(int(next(i for i in order if i not in taken)))
    return taken


def _pool_starts(space: ParamSpace, hw: np.ndarray, weight: np.ndarray, scales: np.ndarray,
                 ratios: np.ndarray, base: float, rng: np.random.Generator):
    ns, nr = len(space.groups["scales"]), len(space.groups["aspect_ratios"])

    x0 = space.x0
    starts = [("config", _snap(scales, x0[:ns]), _snap(ratios, x0[ns:]))]
    qs_s = (np.arange(ns) + 0.5) / ns
    qs_r = (np.arange(nr) + 0.5) / nr
    size = np.log(np.sqrt(hw[:, 0] * hw[:, 1]) / base)
    aspect = np.log(hw[:, 1] / hw[:, 0])
    starts.append(("quantiles", _snap(scales, weighted_quantiles(size, weight, qs_s)),
                   _snap(ratios, weighted_quantiles(aspect, weight, qs_r))))
    for i in range(RANDOM_STARTS):
        starts.append((f"random{i}", sorted(rng.choice(len(scales), ns, replace=False)),
                       sorted(rng.choice(len(ratios), nr, replace=False))))
    return starts


def kmeans_start(problem: Problem, ev: Evaluator, seed: int) -> np.ndarray | None:
    """Log parameter vector from IoU k-means centroids of the search boxes, mapped to
    the generator's fields by :mod:`tfod_anchors.cluster.centroids` (None when not applicable,
    e.g. flexible grids or too few distinct shapes).

    Used as a pool-ascent start for the grid generator. For the others it was measured
    (bench_fit_quality) to win the coarse sample's ranking by noise and then lose on
    all boxes, so their scans start from the config and random points only.
    """
    from tfod_anchors.cluster import centroids as cmap
    from tfod_anchors.cluster.kmeans import iou_kmeans
    from tfod_anchors.errors import TfodAnchorsError

    space, gen = problem.space, problem.generator
    kind = gen.WhichOneof("anchor_generator_oneof")
    b = ev.geom.boxes
    wh = np.stack([b[:, 3] - b[:, 1], b[:, 2] - b[:, 0]], axis=1)
    keep = (wh > 0).all(axis=1)
    wh, weight = wh[keep], ev.weight[keep]
    groups = space.groups
    if kind == "grid_anchor_generator":
        counts = {"num_scales": len(groups["scales"]), "num_ratios": len(groups["aspect_ratios"])}
        k = counts["num_scales"] * counts["num_ratios"]
    elif kind == "multiscale_anchor_generator":
        per_level = len(space.shapes_of(space.x0)[0])
        counts = {"scales_per_octave": round(per_level / len(groups["aspect_ratios"])),
                  "num_ratios": len(groups["aspect_ratios"])}
        k = min(30, len(space.shapes_of(space.x0)) * per_level)
    elif kind == "ssd_anchor_generator" and "min_max_scale" in groups:
        counts = {"num_ratios": len(groups["aspect_ratios"])}
        k = min(30, int(gen.ssd_anchor_generator.num_layers) * (counts["num_ratios"] + 1))
    else:
        return None
    x = space.x0.copy()
    try:
        res = iou_kmeans(wh, k, seed=seed, n_init=3, weights=weight)
        fields = cmap.generator_fields(
            gen, res.centroids, padded_shape=tuple(int(v) for v in problem.shapes[0]),
            weights=np.bincount(res.labels, weights=weight, minlength=k), **counts)
        for name, values in fields.items():
            if name == "min_scale":
                x[groups["min_max_scale"]] = np.log([values, fields["max_scale"]])
            elif name in groups and name != "max_scale" and len(groups[name]):
                x[groups[name]] = np.log(values)
    except (TfodAnchorsError, ValueError, KeyError):  # e.g. fewer distinct values than slots
        return None
    return space.clip(x) if np.all(np.isfinite(x)) else None


def search_grid(ev: Evaluator, problem: Problem, objective: Objective, sample: Sample,
                rng: np.random.Generator) -> tuple[list[Candidate], dict[str, Any]]:
    """Stage A for the grid generator: pool ascent from several starts, then a coarse
    refinement of the best few (on the coarse sample). Also returns the trace entry
    ``{"pool": {"scales", "ratios", "starts": {origin: score}}}``."""
    space = problem.space
    g = problem.generator.grid_anchor_generator
    base = math.sqrt(float(g.height) * float(g.width))
    boxes = ev.geom.boxes
    hw = np.maximum(np.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]], 1), 1e-3)
    side = np.sqrt(hw[:, 0] * hw[:, 1])
    lo = max(2.0, 0.5 * float(weighted_quantiles(side, sample.weight, np.array([0.002]))[0]))
    hi = 1.5 * float(weighted_quantiles(side, sample.weight, np.array([0.998]))[0])
    ns = len(space.groups["scales"])
    lo_s = min(math.log(lo / base), float(space.x0[:ns].min()))
    hi_s = max(math.log(hi / base), float(space.x0[:ns].max()))
    scales = np.linspace(lo_s, hi_s, POOL_SCALES)
    span = float(np.abs(weighted_quantiles(np.log(hw[:, 1] / hw[:, 0]), sample.weight,
                                            np.array([0.005, 0.995]))).max())
    span = max(math.log(3.0), min(math.log(12.0), 1.2 * span),
               float(np.abs(space.x0[ns:]).max()) + 0.05)
    ratios = np.linspace(-span, span, POOL_RATIOS)
    starts = _pool_starts(space, hw, sample.weight, scales, ratios, base, rng)
    warm = kmeans_start(problem, ev, int(rng.integers(0, 2**31)))
    if warm is not None:
        ns = len(space.groups["scales"])
        starts.insert(1, ("kmeans", _snap(scales, warm[:ns]), _snap(ratios, warm[ns:])))
    pooled = pool_ascent(ev, objective, scales, ratios, starts)
    trace = {"pool": {"scales": len(scales), "ratios": len(ratios),
                      "starts": {c.origin: rounded_score(c.score) for c in pooled}}}
    pooled.sort(key=lambda c: c.score, reverse=True)
    chosen = [Candidate(space.x0.copy(), ev.score(space.rounded(space.x0), objective)[0],
                        "config")]
    seen = set()
    for c in pooled:
        key = tuple(np.round(c.x, 6))
        if key not in seen and len(chosen) < COARSE_REFINE:
            seen.add(key)
            chosen.append(c)
    step = float(scales[1] - scales[0]) / 2.0
    return [_explore(ev, space, objective, c, step) for c in chosen], trace


def _explore(ev: Evaluator, space: ParamSpace, objective: Objective, cand: Candidate,
             step: float) -> Candidate:
    """Refine with the guard as a penalty first (crossing slightly infeasible ground
    finds better corners of the feasible set), then as a hard constraint."""
    soft = refine(ev, space, objective.with_penalty(EXPLORE_PENALTY), cand, step=step,
                  min_step=0.01, diagonals=False)
    return refine(ev, space, objective, soft, step=0.04, min_step=0.01, diagonals=False)


def search_generic(ev: Evaluator, problem: Problem, objective: Objective, sample: Sample,
                   rng: np.random.Generator) -> tuple[list[Candidate], dict[str, Any]]:
    """Stage A for the other generators: coordinate scans from the config and random
    starts, then a coarse refinement of the best few. Also returns the trace entry
    ``{"scan": {origin: score}}``."""
    space = problem.space
    starts = [("config", space.x0.copy())]
    for i in range(GENERIC_RANDOM_STARTS):
        starts.append((f"random{i}", space.lower + rng.random(space.dim)
                       * (space.upper - space.lower)))
    scanned = [coordinate_scan(ev, space, objective, x, origin=o) for o, x in starts]
    trace = {"scan": {c.origin: rounded_score(c.score) for c in scanned}}
    scanned.sort(key=lambda c: c.score, reverse=True)
    return [_explore(ev, space, objective, c, 0.15) for c in scanned[:COARSE_REFINE]], trace


def polish(ev: Evaluator, space: ParamSpace, objective: Objective, cand: Candidate,
           seed: int = 0, level: int = 1) -> Candidate:
    """Stage B on the full search sample: soft-guard refinement, then hard-guard
    refinement, then (``level >= 1``) a pass of height-only / width-only moves, then
    (``level >= 2``) finer steps and a short seeded (1+1) random search with small steps
    that can leave the pattern search's stalls.

    Level 2 is used where the kernel is cheap and the search boxes are all the boxes;
    level 0 where the boxes are a sample (finer moves would chase sampling noise).
    """
    deep = level >= 2
    soft = refine(ev, space, objective.with_penalty(EXPLORE_PENALTY), cand,
                  step=0.05 if deep else 0.04, min_step=0.005 if deep else 0.01,
                  diagonals=False, offsets=(-1.0, 1.0))
    hard = refine(ev, space, objective, soft, step=0.02 if deep else 0.01, min_step=0.005,
                  diagonals=False, offsets=(-1.0, 1.0))
    if level < 1:
        return hard
    fine = refine(ev, space, objective, hard, step=0.004, min_step=0.004,
                  max_sweeps=3 if deep else 2, offsets=(-1.0, 1.0))
    if not deep:
        return fine
    jumped = mutation_search(ev, space, objective, fine.x, generations=POLISH_MUTATIONS,
                             seed=seed, sigma=0.03)
    return Candidate(jumped.x, jumped.score, fine.origin) if jumped.score > fine.score else fine


@dataclass
class Stage:
    """One search stage on one sample: its evaluator, its objective (guard floors from
    the config's metrics on that sample) and those start metrics."""

    evaluator: Evaluator
    objective: Objective
    start_metrics: dict[str, float]


@dataclass
class SearchOutcome:
    """What :func:`run_search` found.

    Attributes:
        coarse, polish: the two stages (coarse sample, search sample).
        found: stage A candidates, best first; ``polished``: stage B's, best first.
        trace: JSON-ready scores per start (``pool`` or ``scan``), ``coarse``,
            ``start_search_metrics`` and ``refined``.
    """

    coarse: Stage
    polish: Stage
    found: list[Candidate]
    polished: list[Candidate]
    trace: dict[str, Any]


def run_search(problem: Problem, coarse: Sample, sample: Sample,
               make_stage: Callable[[Sample], Stage], rng: np.random.Generator, *,
               clock: Any, say: Callable[[str], None], t0: float) -> SearchOutcome:
    """Stage A on ``coarse``, then stage B on ``sample``."""
    stage_a = make_stage(coarse)
    search = search_grid if problem.kind == "grid_anchor_generator" else search_generic
    found, trace = search(stage_a.evaluator, problem, stage_a.objective, coarse, rng)
    found.sort(key=lambda c: c.score, reverse=True)
    trace["coarse"] = {c.origin: rounded_score(c.score) for c in found}
    say(f"coarse search done in {time.perf_counter() - t0:.1f} s")
    clock.lap("coarse")
    stage_b = make_stage(sample)
    trace["start_search_metrics"] = stage_b.start_metrics
    ev = stage_b.evaluator
    seed = int(rng.integers(0, 2**31))
    level = (2 if ev.geom.policy == "none" else 1) if sample.exact else 0
    cands = [polish(ev, problem.space, stage_b.objective, Candidate(c.x, c.score, c.origin),
                    seed, level)
             for c in found[:POLISH]]
    cands.sort(key=lambda c: c.score, reverse=True)
    trace["refined"] = {c.origin: rounded_score(c.score) for c in cands}
    say(f"search done in {time.perf_counter() - t0:.1f} s; checking on all boxes")
    clock.lap("polish")
    return SearchOutcome(coarse=stage_a, polish=stage_b, found=found, polished=cands,
                         trace=trace)


def rounded_score(score) -> list[float]:
    return [round(float(v), 6) for v in score]


def error_bounds(ev: Evaluator, sample: Sample, x: np.ndarray, matched: float) -> dict:
    best = ev.best(x).astype(np.float64)
    return {
        "mean_iou": half_width(sample, best),
        "recall_matched": half_width(sample, (best >= np.float32(matched)).astype(float)),
        "recall_0.5": half_width(sample, (best >= np.float32(0.5)).astype(float)),
        "recall_0.7": half_width(sample, (best >= np.float32(0.7)).astype(float)),
    }
