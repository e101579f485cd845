"""How the search is run: the coarse search, starts and refinement schedules.

The fit (:mod:`tfod_anchors.fitting.fit`) runs the coarse search for every
parameterisation it considers (each grid split), then the refinement for the ones
worth it.

The coarse search ("coarse", a small stratified sample) finds basins: for the grid
generator a pool ascent from the config, IoU k-means, quantile and random starts;
for the others zoomed 1-D coordinate scans from the config and random starts. The
best few are refined with the guard first as a penalty (crossing slightly
infeasible ground reaches better corners of the feasible set) and then as a hard
constraint. The refinement ("polish", the full search sample) refines the best one the
same way; when the search boxes are all the boxes it finishes with height-only /
width-only moves and, where the kernel is cheap, a short (1+1) random search.

Everything is seeded through the ``rng`` passed in: same seed, same result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tfod_anchors.fitting.background import split_map
from tfod_anchors.fitting.effort import NORMAL, Budget
from tfod_anchors.fitting.evaluator import Evaluator
from tfod_anchors.fitting.objective import Objective
from tfod_anchors.fitting.params import ParamSpace
from tfod_anchors.fitting.problem import Problem
from tfod_anchors.fitting.sample import Sample, half_width
from tfod_anchors.fitting.search import (
    Candidate,
    Pattern,
    coordinate_scan,
    mutation_search,
    pool_ascent,
    pool_columns,
    refine,
)

POOL_SCALES = 24
POOL_RATIOS = 15
POLISH = 1
EXPLORE_PENALTY = 2.0
#: Whether the polish walks the edges of the guard in a coupled space with height-only /
#: width-only pairs (a multiscale ``anchor_scale`` and its ratios; :func:`walks_edges`):
#: its soft and hard stages also move along those pairs. There the guarded optimum
#: often lies on a recall@0.7 floor (of the draws or of the static boxes) whose edge is
#: jagged at the scale of single boxes and runs diagonally: shrinking ``anchor_scale``
#: while keeping one anchor's width, or moving it with all the ratios. One field at a
#: time the polish stopped on a tooth of that edge 0.005-0.006 of recall below where
#: the seeds that crossed it ended (FPNLite x COCO: 2 of 10 seeds; the sampled search
#: there: 0.0108). The moves cost about nothing (fewer sweeps to the same place).
WALK_EDGES = True
#: Above ``normal`` effort (:attr:`.effort.Budget.edge_ladder`) a second soft stage runs
#: at these penalties beside the penalty-2 one, and the better goes on: at penalty 1 a
#: step may trade a unit of a floor for a unit of recall, so it crosses teeth that
#: penalty 2 does not (EfficientDet-D0 x COCO: median 0.6526 -> 0.6558 over seeds 0-9),
#: for about +30 % of an exact fit's CPU and twice a sampled one's. Alone, it can
#: drift and come back lower (FPNLite x COCO static seed 6: 0.0038).
EDGE_PENALTIES = (1.0, EXPLORE_PENALTY)
#: On a sampled search (polish level 0: no fine stage after the hard one) the soft stage
#: of a space that walks edges runs at :data:`EDGE_PENALTIES` in turn instead of at
#: penalty 2 alone (:func:`soft_ladders`). Without the fine stage's short steps the
#: penalty-1 stage is what crosses the edge's teeth there: FPNLite x COCO every 2nd
#: image (71,630 draws), spread of recall@0.5 over seeds 0-6 on the static boxes 0.0066
#: -> 0.0033, for about +25 % of a sampled fit's CPU (running both ladders, as ``high``
#: does, doubled it).
SAMPLED_LADDER = True


def soft_ladders(edges: bool, ladder: bool, sampled: bool) -> list[tuple[float, ...]]:
    """The penalty sequences of the polish's soft stages (each one is refined, then
    the hard stage; the best result goes on).

    Args:
        edges: the space walks the guard's edges (:func:`walks_edges`).
        ladder: :attr:`.effort.Budget.edge_ladder` (above ``normal`` effort).
        sampled: the search boxes are a sample (polish level 0).

    Returns:
        ``[(2,)]`` by default; ``[(2,), (1, 2)]`` with ``edges`` and ``ladder``;
        ``[(1, 2)]`` with ``edges`` on a sampled search (:data:`SAMPLED_LADDER`).
    """
    if edges and ladder:
        return [(EXPLORE_PENALTY,), EDGE_PENALTIES]
    if edges and sampled and SAMPLED_LADDER:
        return [EDGE_PENALTIES]
    return [(EXPLORE_PENALTY,)]


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
                 ratios: np.ndarray, base: float, rng: np.random.Generator,
                 random_starts: int = NORMAL.pool_random_starts):
    ns, nr = len(space.groups["scales"]), len(space.groups["aspect_ratios"])

    x0 = space.x0
    starts = [("config", _snap(scales, x0[:ns]), _snap(ratios, x0[ns:]))]
    qs_s = (np.arange(ns) + 0.5) / ns
    qs_r = (np.arange(nr) + 0.5) / nr
    size = np.log(np.sqrt(hw[:, 0] * hw[:, 1]) / base)
    aspect = np.log(hw[:, 1] / hw[:, 0])
    starts.append(("quantiles", _snap(scales, weighted_quantiles(size, weight, qs_s)),
                   _snap(ratios, weighted_quantiles(aspect, weight, qs_r))))
    for i in range(random_starts):
        starts.append((f"random{i}", sorted(rng.choice(len(scales), ns, replace=False)),
                       sorted(rng.choice(len(ratios), nr, replace=False))))
    return starts


def kmeans_start(problem: Problem, ev: Evaluator, seed: int,
                 memo: dict | None = None) -> np.ndarray | None:
    """Log parameter vector of the grid generator from IoU k-means centroids of the
    search boxes (k = anchors per location), factorised into the space's scales x
    ratios by :mod:`tfod_anchors.cluster.centroids`; None when not applicable (other
    generators, too few distinct shapes). ``memo`` keeps the clustering, which does not
    depend on the split, between the splits of one fit.

    Used as a pool-ascent start. For the other generators it was measured
    (bench_fit_quality) to win the coarse sample's ranking by noise and then lose on
    all boxes, so their scans start from the config and random points only.
    """
    from tfod_anchors.cluster import centroids as cmap
    from tfod_anchors.cluster.kmeans import iou_kmeans
    from tfod_anchors.errors import TfodAnchorsError

    space, gen = problem.space, problem.generator
    if space.split_counts is None:  # a one-map scales x ratios grid only
        return None
    ns, nr = len(space.groups["scales"]), len(space.groups["aspect_ratios"])
    memo = {} if memo is None else memo
    try:
        if (ns * nr, seed) not in memo:
            b = ev.geom.boxes
            wh = np.stack([b[:, 3] - b[:, 1], b[:, 2] - b[:, 0]], axis=1)
            keep = (wh > 0).all(axis=1)
            res = iou_kmeans(wh[keep], ns * nr, seed=seed, n_init=3, weights=ev.weight[keep])
            memo[(ns * nr, seed)] = (res.centroids, np.bincount(
                res.labels, weights=ev.weight[keep], minlength=ns * nr))
        cents, sizes = memo[(ns * nr, seed)]
        fields = cmap.generator_fields(gen, cents, num_scales=ns, num_ratios=nr,
                                       weights=sizes)
        x = np.log(np.concatenate([fields["scales"], fields["aspect_ratios"]]))
    except (TfodAnchorsError, ValueError, KeyError):  # e.g. fewer distinct values than slots
        return None
    ok = x.shape == (space.dim,) and np.all(np.isfinite(x))
    return space.clip(x) if ok else None


def grid_pool(problem: Problem, ev: Evaluator, weight: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    """Log pool values ``(scales [POOL_SCALES], ratios [POOL_RATIOS])`` for the grid
    generator: scales from half the 0.2 % size quantile to 1.5 x the 99.8 % one (and
    the config's), ratios symmetric in log over the boxes' aspect range (and the
    config's). Computed once per fit from the config's own space, so every split
    searches the same pool (and shares its columns)."""
    space = problem.space
    g = problem.generator.grid_anchor_generator
    base = math.sqrt(float(g.height) * float(g.width))
    boxes = ev.geom.boxes
    hw = np.maximum(np.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]], 1), 1e-3)
    side = np.sqrt(hw[:, 0] * hw[:, 1])
    lo = max(2.0, 0.5 * float(weighted_quantiles(side, weight, np.array([0.002]))[0]))
    hi = 1.5 * float(weighted_quantiles(side, weight, np.array([0.998]))[0])
    ns = len(space.groups["scales"])
    lo_s = min(math.log(lo / base), float(space.x0[:ns].min()))
    hi_s = max(math.log(hi / base), float(space.x0[:ns].max()))
    span = float(np.abs(weighted_quantiles(np.log(hw[:, 1] / hw[:, 0]), weight,
                                            np.array([0.005, 0.995]))).max())
    span = max(math.log(3.0), min(math.log(12.0), 1.2 * span),
               float(np.abs(space.x0[ns:]).max()) + 0.05)
    return np.linspace(lo_s, hi_s, POOL_SCALES), np.linspace(-span, span, POOL_RATIOS)


@dataclass
class GridPool:
    """The shared pool of one fit: log values and their best-IoU columns
    ``[B, Pr, Ps]`` on the coarse sample (None until computed)."""

    scales: np.ndarray
    ratios: np.ndarray
    columns: np.ndarray | None = None
    kmeans: dict = field(default_factory=dict)


def grid_ascent(ev: Evaluator, problem: Problem, objective: Objective, sample: Sample,
                rng: np.random.Generator, pool: GridPool, budget: Budget = NORMAL
                ) -> tuple[list[Candidate], dict[str, Any]]:
    """The coarse search, first half, for the grid generator: pool ascent from the config, IoU
    k-means, quantile and random starts (cheap: the pool's columns are shared).
    Returns the candidates best first and the trace entry
    ``{"pool": {"scales", "ratios", "starts": {origin: score}}}``."""
    space = problem.space
    g = problem.generator.grid_anchor_generator
    base = math.sqrt(float(g.height) * float(g.width))
    boxes = ev.geom.boxes
    hw = np.maximum(np.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]], 1), 1e-3)
    scales, ratios = pool.scales, pool.ratios
    if pool.columns is None:
        pool.columns = pool_columns(ev, scales, ratios)
    starts = _pool_starts(space, hw, sample.weight, scales, ratios, base, rng,
                          budget.pool_random_starts)
    if "seed" not in pool.kmeans:  # one clustering per fit, whatever the split
        pool.kmeans["seed"] = int(rng.integers(0, 2**31))
    warm = kmeans_start(problem, ev, pool.kmeans["seed"], pool.kmeans)
    if warm is not None:
        ns = len(space.groups["scales"])
        starts.insert(1, ("kmeans", _snap(scales, warm[:ns]), _snap(ratios, warm[ns:])))
    pooled = pool_ascent(ev, objective, scales, ratios, starts, pool=pool.columns)
    trace = {"pool": {"scales": len(scales), "ratios": len(ratios),
                      "starts": {c.origin: rounded_score(c.score) for c in pooled}}}
    pooled.sort(key=lambda c: c.score, reverse=True)
    return pooled, trace


def grid_explore(ev: Evaluator, problem: Problem, objective: Objective,
                 pooled: list[Candidate], pool: GridPool, most: int = NORMAL.coarse_refine
                 ) -> list[Candidate]:
    """The coarse search, second half: the config's values and the best distinct
    pool-ascent results (``most`` in all) refined on the coarse sample."""
    space = problem.space
    chosen = [Candidate(space.x0.copy(), ev.score(space.rounded(space.x0), objective)[0],
                        "config")]
    seen = set()
    for c in pooled:
        key = tuple(np.round(c.x, 6))
        if key not in seen and len(chosen) < most:
            seen.add(key)
            chosen.append(c)
    step = float(pool.scales[1] - pool.scales[0]) / 2.0
    return split_map(lambda c: _explore(ev, space, objective, c, step), chosen)


def unguarded_grid(ev: Evaluator, problem: Problem, objective: Objective, pool: GridPool,
                   found: list[Candidate]) -> Candidate:
    """The grid's best candidate for the primary alone (no floors; rules still hold):
    pool ascent from the guarded solutions and the config, then a short refinement.
    Only used to say what the guard gave up."""
    space = problem.space
    ns = len(space.groups["scales"])
    free = objective.unguarded()
    starts = [(c.origin, _snap(pool.scales, c.x[:ns]), _snap(pool.ratios, c.x[ns:]))
              for c in found[:2]]
    pooled = pool_ascent(ev, free, pool.scales, pool.ratios, starts, pool=pool.columns)
    best = max(pooled, key=lambda c: c.score)
    return refine(ev, space, free, best, Pattern(step=0.04, min_step=0.01, diagonals=False))


def unguarded_generic(ev: Evaluator, problem: Problem, objective: Objective,
                      found: list[Candidate]) -> Candidate:
    """The other generators' best candidate for the primary alone: one coordinate scan
    from the guarded solution (see :func:`unguarded_grid`)."""
    return coordinate_scan(ev, problem.space, objective.unguarded(), found[0].x,
                           max_sweeps=2, origin="unguarded")


def _never_worse(ev: Evaluator, space: ParamSpace, objective: Objective, cand: Candidate,
                 found: Candidate, pattern: Pattern) -> Candidate:
    """``found`` (what a soft-guard then hard-guard refinement of ``cand`` reached), or,
    when that ended below ``cand`` itself (the soft stage can wander into infeasible
    ground and come back lower), the better of it and a hard-guard refinement of
    ``cand`` with ``pattern``: a refinement never loses its start."""
    start = space.rounded(cand.x)
    start_score, _ = ev.score(start, objective)
    if not found.score < start_score:
        return found
    direct = refine(ev, space, objective, Candidate(start, start_score, cand.origin), pattern)
    return direct if direct.score > found.score else found


def _explore(ev: Evaluator, space: ParamSpace, objective: Objective, cand: Candidate,
             step: float) -> Candidate:
    """Refine with the guard as a penalty first (crossing slightly infeasible ground
    finds better corners of the feasible set), then as a hard constraint; never below
    ``cand`` (:func:`_never_worse`)."""
    soft = refine(ev, space, objective.with_penalty(EXPLORE_PENALTY), cand,
                  Pattern(step=step, min_step=0.01, diagonals=False))
    hard_pattern = Pattern(step=0.04, min_step=0.01, diagonals=False)
    return _never_worse(ev, space, objective, cand,
                        refine(ev, space, objective, soft, hard_pattern), hard_pattern)


def search_generic(ev: Evaluator, problem: Problem, objective: Objective, sample: Sample,
                   rng: np.random.Generator,
                   extra: list[tuple[str, np.ndarray]] | None = None, budget: Budget = NORMAL
                   ) -> tuple[list[Candidate], dict[str, Any]]:
    """The coarse search for the other generators: coordinate scans from the config, random
    starts and ``extra`` ones (e.g. the IoU k-means set of a flexible grid), then a
    coarse refinement of the best few. Also returns the trace entry
    ``{"scan": {origin: score}}``."""
    space = problem.space
    starts = [("config", space.x0.copy()), *(extra or [])]
    for i in range(budget.random_starts):
        starts.append((f"random{i}", space.lower + rng.random(space.dim)
                       * (space.upper - space.lower)))
    scanned = split_map(lambda ox: coordinate_scan(ev, space, objective, ox[1], origin=ox[0]),
                        starts)
    trace = {"scan": {c.origin: rounded_score(c.score) for c in scanned}}
    scanned.sort(key=lambda c: c.score, reverse=True)
    return split_map(lambda c: _explore(ev, space, objective, c, 0.15),
                     scanned[:budget.coarse_refine]), trace


def _soft_then_hard(ev: Evaluator, space: ParamSpace, objective: Objective, cand: Candidate,
                    penalties: tuple[float, ...], soft: Pattern, hard: Pattern) -> Candidate:
    """``cand`` refined with the guard as a penalty (each of ``penalties`` in turn, with
    ``soft``), then as a hard constraint (``hard``); never below ``cand``."""
    x = cand
    for penalty in penalties:
        x = refine(ev, space, objective.with_penalty(penalty), x, soft)
    return _never_worse(ev, space, objective, cand, refine(ev, space, objective, x, hard), hard)


def walks_edges(space: ParamSpace) -> bool:
    """Whether :func:`polish` walks the guard's edges in ``space`` (:data:`WALK_EDGES`): a
    coupled space with height-only / width-only pairs (multiscale, the Model Garden's
    RetinaNet). Not SSD's ``min_scale``/``max_scale`` space, which has no such pairs."""
    return WALK_EDGES and space.coupled and bool(space.diagonals)


def polish(ev: Evaluator, space: ParamSpace, objective: Objective, cand: Candidate,
           seed: int = 0, level: int = 1, mutations: int = NORMAL.mutations,
           ladder: bool = False) -> Candidate:
    """The refinement on the full search sample: soft-guard refinement, then hard-guard
    refinement (never below ``cand``: :func:`_never_worse`), then (``level >= 1``) a
    pass of height-only / width-only moves, then (``level >= 2``) finer steps and a
    short seeded (1+1) random search with small steps that can leave the pattern
    search's stalls.

    Level 2 is used where the kernel is cheap and the search boxes are all the boxes;
    level 0 where the boxes are a sample (finer moves would chase sampling noise).

    Where :func:`walks_edges`, the soft and hard stages also take the height-only /
    width-only moves (:data:`WALK_EDGES`) and, with ``ladder``, a second soft stage at
    :data:`EDGE_PENALTIES` is tried beside the first; the better of the two goes on. On a
    sampled search (level 0) that soft stage runs at :data:`EDGE_PENALTIES` alone
    (:func:`soft_ladders`).
    """
    deep = level >= 2
    ridge = space.split_counts is None  # fields coupled across levels: follow the ridges
    edges = walks_edges(space)
    soft_pattern = Pattern(step=0.05 if deep else 0.04, min_step=0.005 if deep else 0.01,
                           diagonals=edges, offsets=(-1.0, 1.0), ridges=ridge)
    hard_pattern = Pattern(step=0.02 if deep else 0.01, min_step=0.005, diagonals=edges,
                           offsets=(-1.0, 1.0), ridges=ridge)
    hard = max((_soft_then_hard(ev, space, objective, cand, penalties, soft_pattern,
                                hard_pattern)
                for penalties in soft_ladders(edges, ladder, level < 1)),
               key=lambda c: c.score)  # the first of equals: penalty 2 alone
    if level < 1:
        return hard
    fine = refine(ev, space, objective, hard,
                  Pattern(step=0.004, min_step=0.004, max_sweeps=3 if deep else 2,
                          offsets=(-1.0, 1.0), ridges=ridge))
    if not deep:
        return fine
    jumped = mutation_search(ev, space, objective, fine.x, generations=mutations,
                             seed=seed, sigma=0.03)
    return Candidate(jumped.x, jumped.score, fine.origin) if jumped.score > fine.score else fine


@dataclass
class Scorer:
    """How candidates are scored on one sample: its evaluator, its objective (guard floors from
    the config's metrics on that sample) and those start metrics."""

    evaluator: Evaluator
    objective: Objective
    start_metrics: dict[str, float]


def coarse_search(problem: Problem, scorer: Scorer, coarse: Sample, rng: np.random.Generator,
                  pooled: list[Candidate] | None = None, pool: GridPool | None = None,
                  extra: list[tuple[str, np.ndarray]] | None = None, budget: Budget = NORMAL
                  ) -> tuple[list[Candidate], dict[str, Any]]:
    """The coarse search on the coarse sample: candidates best first, and the trace (``scan``
    scores per start for the generic search; ``coarse`` scores per refined candidate).
    For the grid generator, ``pooled`` are :func:`grid_ascent`'s candidates; for the
    others ``extra`` adds starts."""
    if pooled is not None and pool is not None:
        found = grid_explore(scorer.evaluator, problem, scorer.objective, pooled, pool,
                             budget.coarse_refine)
        trace: dict[str, Any] = {}
    else:
        found, trace = search_generic(scorer.evaluator, problem, scorer.objective, coarse, rng,
                                      extra, budget)
    found.sort(key=lambda c: c.score, reverse=True)
    trace["coarse"] = {c.origin: rounded_score(c.score) for c in found}
    return found, trace


def polish_search(problem: Problem, scorer: Scorer, found: list[Candidate], sample: Sample,
                  seed: int, budget: Budget = NORMAL) -> list[Candidate]:
    """The refinement on the search sample: the best ``POLISH`` coarse candidates refined,
    best first (``seed`` for the random moves of the finest level)."""
    ev = scorer.evaluator
    level = (2 if ev.geom.policy == "none" else 1) if sample.exact else 0
    cands = [polish(ev, problem.space, scorer.objective, Candidate(c.x, c.score, c.origin),
                    seed, level, budget.mutations, budget.edge_ladder)
             for c in found[:POLISH]]
    cands.sort(key=lambda c: c.score, reverse=True)
    return cands


def rounded_score(score) -> list[float]:
    return [round(float(v), 6) for v in score]


def error_bounds(ev: Evaluator, sample: Sample, x: np.ndarray, matched: float) -> dict:
    """95 % bounds of the headline metrics of ``x`` on a sampled search (``matched``: the
    matched threshold; the evaluator's shape rule decides ``recall_matched`` if it has one)."""
    best = ev.best(x).astype(np.float64)
    return {
        "mean_iou": half_width(sample, best),
        "recall_matched": half_width(sample, ev.hit(x).astype(float)),
        "recall_0.5": half_width(sample, (best >= np.float32(0.5)).astype(float)),
        "recall_0.7": half_width(sample, (best >= np.float32(0.7)).astype(float)),
    }
