"""Seeded global search plus local refinement over a generator's parameters.

* :func:`pool_ascent` (grid generator): best-IoU columns are computed once for a
  pool of candidate shapes (log-spaced scales x ratios); discrete coordinate
  ascent then picks which pool scales and ratios to take, respecting the
  Cartesian product, from several starts.
* :func:`coordinate_scan` (every generator): per coordinate, the best of a
  log-spaced grid over its whole range, sweeping until nothing moves.
* :func:`refine`: pattern search with shrinking steps on values rounded to 4
  significant decimals, so the result is exactly what gets written.
* :func:`mutation_search`: YOLOv5 AutoAnchor's (1+1) mutation hill-climb, as a
  baseline for benchmarks.

All moves are accepted only when the objective's lexicographic key improves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tfod_anchors.fitting.evaluator import Evaluator
from tfod_anchors.fitting.objective import Objective
from tfod_anchors.fitting.params import ParamSpace

Score = tuple[float, float, float]


@dataclass
class Candidate:
    """A parameter vector (log values) and its score on the search boxes."""

    x: np.ndarray
    score: Score
    origin: str


def _better(a: Score, b: Score) -> bool:
    return a > b


def pool_columns(ev: Evaluator, scales: np.ndarray, ratios: np.ndarray) -> np.ndarray:
    """float32 ``[B, Pr, Ps]`` best IoU of every pool shape (ratio ``r``, scale ``s``)."""
    ns = len(ev.space.groups["scales"])
    nr = len(ev.space.groups["aspect_ratios"])
    keys = []
    for r in ratios:
        for s in scales:
            keys.append(ev.keys_of(np.array([s] * ns + [r] * nr))[0])
    return ev.columns(keys).reshape(ev.geom.num_boxes, len(ratios), len(scales))


def _pool_x(scales: np.ndarray, ratios: np.ndarray, s_idx: list[int], r_idx: list[int]
            ) -> np.ndarray:
    return np.concatenate([np.sort(scales[s_idx]), np.sort(ratios[r_idx])])


def pool_ascent(ev: Evaluator, objective: Objective, scales: np.ndarray, ratios: np.ndarray,
                starts: list[tuple[str, Any, Any]], max_sweeps: int = 20,
                pool: np.ndarray | None = None) -> list[Candidate]:
    """Discrete coordinate ascent for ``grid_anchor_generator`` over pool indices.

    Args:
        scales, ratios: log pool values ``[Ps]``, ``[Pr]``.
        starts: ``(origin, scale indices, ratio indices)``; the numbers of indices fix
            how many scales and ratios the solution has.
        pool: :func:`pool_columns` of ``scales`` x ``ratios`` when already computed.
    Returns:
        One candidate per start (log vector ``[scales..., ratios...]``).
    """
    ps, pr = len(scales), len(ratios)
    if pool is None:
        pool = pool_columns(ev, scales, ratios)
    rule = ev.constraint
    out = []
    for origin, s_idx, r_idx in starts:
        s_idx, r_idx = list(map(int, s_idx)), list(map(int, r_idx))
        cur = objective.score(ev.metrics(pool[:, r_idx][:, :, s_idx].max(axis=(1, 2)),
                                         _pool_x(scales, ratios, s_idx, r_idx)))
        for _ in range(max_sweeps):
            moved = False
            for axis in ("scale", "ratio"):
                slots = s_idx if axis == "scale" else r_idx
                # best IoU of every pool value of this axis with the other axis's current
                # values: [B, Ps] or [B, Pr]; fixed while this axis's slots move
                line = pool[:, r_idx, :].max(axis=1) if axis == "scale" else \
                    pool[:, :, s_idx].max(axis=2)
                for j in range(len(slots)):
                    others = slots[:j] + slots[j + 1:]
                    cand = np.maximum(line, line[:, others].max(axis=1)[:, None]) \
                        if others else line
                    m = ev.metrics(cand)
                    a, b, c = objective.keys(m)
                    a = a.copy()
                    a[others] = -np.inf  # a value already taken by another slot
                    i = int(np.lexsort((-np.arange(a.size), c, b, a))[-1])
                    if rule is not None and rule(_pool_x(scales, ratios, *(
                            (others + [i], r_idx) if axis == "scale"
                            else (s_idx, others + [i])))) > 0:
                        # the rules (>= 0) can only lower the others: score them all
                        xs = [_pool_x(scales, ratios, others + [v], r_idx) if axis == "scale"
                              else _pool_x(scales, ratios, s_idx, others + [v])
                              for v in range(ps if axis == "scale" else pr)]
                        m["constraint"] = np.array([rule(v) for v in xs])
                        a, b, c = objective.keys(m)
                        a = a.copy()
                        a[others] = -np.inf
                        i = int(np.lexsort((-np.arange(a.size), c, b, a))[-1])
                    score = (float(a[i]), float(b[i]), float(c[i]))
                    if i not in others and _better(score, cur):
                        slots[j], cur, moved = i, score, True
            if not moved:
                break
        out.append(Candidate(_pool_x(scales, ratios, s_idx, r_idx), cur, origin))
    return out


def coordinate_scan(ev: Evaluator, space: ParamSpace, objective: Objective, x: np.ndarray,
                    points: int = 24, zoom: int = 3, max_sweeps: int = 4,
                    origin: str = "") -> Candidate:
    """Per coordinate, a 1-D global search: ``points`` log-spaced values over its whole
    range, then 8 values around each of the ``zoom`` best grid values (objectives such
    as a multiscale ``anchor_scale`` repeat every octave step, finer than the grid);
    sweeps until nothing moves."""
    x = space.rounded(x)
    cur, _ = ev.score(x, objective)
    for _ in range(max_sweeps):
        moved = False
        for i in range(space.dim):
            grid = np.linspace(space.lower[i], space.upper[i], points)
            width = grid[1] - grid[0]
            values = np.unique(np.concatenate([[x[i]], space.rounded_coord(grid, i)]))
            best = ev.line_top(x, i, values, objective, zoom)  # ties to the first
            near = np.concatenate([values[j] + width * np.linspace(-0.9, 0.9, 8)
                                   for j, _ in best])
            values = np.unique(np.concatenate([values, space.rounded_coord(near, i)]))
            j, score = ev.line(x, i, values, objective)
            if _better(score, cur):
                x = x.copy()
                x[i] = values[j]
                cur, moved = score, True
        if not moved:
            break
    return Candidate(x, cur, origin)


def directions(space: ParamSpace, diagonals: bool = True
               ) -> list[tuple[list[int], np.ndarray]]:
    """Search directions: every coordinate; per list field with several values a
    common shift and a spread (log-linear about the middle) of all of them; and per
    size/ratio pair the moves that change only the anchor height or only its width."""
    out = [([i], np.ones(1)) for i in range(space.dim)]
    for idx in space.groups.values():
        if len(idx) > 1:
            out.append((list(idx), np.ones(len(idx))))
            spread = np.linspace(-1.0, 1.0, len(idx))
            out.append((list(idx), spread))
    for i, j in (space.diagonals if diagonals else []):
        out.append(([i, j], np.array([1.0, -2.0])))
        out.append(([i, j], np.array([1.0, 2.0])))
    return out


PATTERN_STRETCH = (1.0, 2.0, 4.0)


def pattern_move(ev: Evaluator, space: ParamSpace, objective: Objective, x: np.ndarray,
                 cur: Score, start: np.ndarray) -> tuple[np.ndarray, Score]:
    """Hooke and Jeeves' pattern move: from ``x``, go on along the sweep's whole
    displacement ``x - start`` (1, 2 and 4 times it) while that improves. A ridge that
    no coordinate or group direction follows (e.g. a multiscale ``anchor_scale``
    against its aspect ratios) is climbed along this combined direction instead of in
    ever smaller zigzags."""
    coords = list(range(space.dim))
    for _ in range(8):
        d = x - start
        rows = [space.rounded(x + k * d) for k in PATTERN_STRETCH]
        rows = [r for i, r in enumerate(rows) if np.any(r != x)
                and not any(np.array_equal(r, q) for q in rows[:i])]
        if not rows:
            break
        j, score = ev.line(x, coords, np.array(rows), objective)
        if not _better(score, cur):
            break
        start, x, cur = x, rows[j], score
    return x, cur


@dataclass(frozen=True)
class Pattern:
    """A pattern search's schedule (log units): the first ``step``, halved down to
    ``min_step`` when no direction improves, at most ``max_sweeps`` sweeps; moves of
    ``offsets`` x step along every coordinate (and the height-only / width-only
    ``diagonals`` when set); with ``ridges``, Hooke and Jeeves' pattern moves."""

    step: float = 0.1
    min_step: float = 0.004
    max_sweeps: int = 30
    diagonals: bool = True
    offsets: tuple[float, ...] = (-1.0, -0.5, 0.5, 1.0)
    #: follow every sweep that moved with :func:`pattern_move` along its displacement
    ridges: bool = False


def refine(ev: Evaluator, space: ParamSpace, objective: Objective, cand: Candidate,
           pattern: Pattern = Pattern()) -> Candidate:
    """Pattern search on rounded values along :func:`directions`; the step halves
    when no direction improves (``pattern``: the schedule)."""
    x = space.rounded(cand.x)
    cur, _ = ev.score(x, objective)
    moves = np.asarray(pattern.offsets, dtype=np.float64)
    dirs = directions(space, pattern.diagonals)
    step, min_step, max_sweeps = pattern.step, pattern.min_step, pattern.max_sweeps
    sweeps = 0
    while step >= min_step and sweeps < max_sweeps:
        sweeps += 1
        moved = False
        start = x
        for coords, d in dirs:
            rows: list[np.ndarray] = []
            for t in moves * step:
                row = np.array([space.rounded_coord(x[i] + t * di, i)[0]
                                for i, di in zip(coords, d)])
                if np.any(row != x[coords]) and not any(np.array_equal(row, r) for r in rows):
                    rows.append(row)
            if not rows:
                continue
            j, score = ev.line(x, coords, np.array(rows), objective)
            if _better(score, cur):
                x = x.copy()
                x[coords] = rows[j]
                cur, moved = score, True
        if moved and pattern.ridges:
            x, cur = pattern_move(ev, space, objective, x, cur, start)
        if not moved:
            step /= 2.0
    return Candidate(x, cur, cand.origin)


def mutation_search(ev: Evaluator, space: ParamSpace, objective: Objective, x: np.ndarray,
                    generations: int = 1000, seed: int = 0, prob: float = 0.9,
                    sigma: float = 0.1) -> Candidate:
    """YOLOv5 AutoAnchor's evolution on the generator's parameters (baseline).

    Each generation multiplies every value by ``clip(1 + [U < prob] * U' * N(0,1) * sigma,
    0.3, 3.0)`` (redrawn while all factors are 1) and keeps the child only if it scores
    better (seeded, deterministic).
    """
    rng = np.random.default_rng(seed)
    x = space.rounded(x)
    cur, _ = ev.score(x, objective)
    for _ in range(generations):
        v = np.ones(space.dim)
        while np.all(v == 1.0):
            v = np.clip((rng.random(space.dim) < prob) * rng.random(space.dim)
                        * rng.standard_normal(space.dim) * sigma + 1.0, 0.3, 3.0)
        child = space.rounded(x + np.log(v))
        score, _ = ev.score(child, objective)
        if _better(score, cur):
            x, cur = child, score
    return Candidate(x, cur, "mutation")
