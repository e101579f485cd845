"""``fit_generator``: the config's own anchor generator, refitted to the boxes.

Flow: pick the search boxes (all, or a stratified sample above
``max_boxes_exact``), score the config as it is, search (pool ascent for the
grid generator, coordinate scans for the others, then refinement on rounded
values), verify the best candidates on *all* boxes with the exact kernel, keep
the best one that beats the config under the guard (else the config itself),
and report before/after with :func:`tfod_anchors.coverage.evaluate`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tfod_anchors import config_query
from tfod_anchors.boxes import ResizedBoxes
from tfod_anchors.errors import ConfigError, InputError, UsageError
from tfod_anchors.fitting.evaluator import Evaluator
from tfod_anchors.fitting.kernel import BoxGeometry
from tfod_anchors.fitting.objective import METRICS, Objective, make_objective
from tfod_anchors.fitting.params import ParamSpace, param_space, shape_unit
from tfod_anchors.fitting.problem import build_geometry, layout_function, padded_groups
from tfod_anchors.fitting.sample import Sample, choose_keys, draw, half_width
from tfod_anchors.fitting.search import (
    Candidate,
    coordinate_scan,
    pool_ascent,
    refine,
)

DEFAULT_MAX_BOXES_EXACT = 20_000
COARSE_BOXES = 4_000
POOL_SCALES = 24
POOL_RATIOS = 15
COARSE_REFINE = 2
POLISH = 1
RANDOM_STARTS = 12
EXPLORE_PENALTY = 2.0
VERIFY = 4
SAMPLED_MARGIN = 0.002


@dataclass
class FitResult:
    """What :func:`fit_generator` found.

    Attributes:
        generator: the new ``AnchorGenerator`` message (same oneof as the config's);
            equal to the config's when nothing better was found.
        kind: the oneof name.
        changed: ``{field: new value}`` of the generator fields that differ
            (lists for repeated fields, dotted paths inside ``anchor_grid``).
        previous: ``{field: old value}`` for the same fields.
        before, after: coverage metrics on all boxes (``coverage.evaluate``).
        moved: ``{metric: after - before}`` for mean IoU and the recalls.
        improved: the generator changed and beats the config on the objective.
        objective: objective name; ``guard``: ``{metric: floor}`` it respected
            (exact, all boxes).
        anchors_per_location: ``(before, after)`` per level.
        diagnostics: search details (sample size and error bounds, starts, scores,
            columns computed, seconds, kernel/coverage agreement).
    """

    generator: Any
    kind: str
    changed: dict[str, Any]
    previous: dict[str, Any]
    before: dict
    after: dict
    moved: dict[str, float]
    improved: bool
    objective: str
    matched_threshold: float
    guard: dict[str, float]
    anchors_per_location: tuple[list[int], list[int]]
    diagnostics: dict = field(default_factory=dict)


def _repeated(fd: Any) -> bool:
    """Whether a field descriptor is repeated (protobuf 3 to 7)."""
    flag = getattr(fd, "is_repeated", None)
    if flag is not None:
        return bool(flag() if callable(flag) else flag)
    return fd.label == fd.LABEL_REPEATED


def _plain(fd: Any, value: Any) -> Any:
    """Proto scalar as Python; float32 fields as their shortest decimal (0.35, not
    0.3499999940395355)."""
    if fd.type == fd.TYPE_FLOAT:
        return float(str(np.float32(value)))
    return value


def _field_values(msg: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for fd, value in msg.ListFields():
        name = prefix + fd.name
        if fd.message_type is not None:
            items = value if _repeated(fd) else [value]
            for i, item in enumerate(items):
                out.update(_field_values(item, f"{name}[{i}]."))
        elif _repeated(fd):
            out[name] = [_plain(fd, v) for v in value]
        else:
            out[name] = _plain(fd, value)
    return out


def generator_diff(old: Any, new: Any, kind: str) -> tuple[dict, dict]:
    """``(changed, previous)`` field values between two ``AnchorGenerator`` messages."""
    a, b = _field_values(getattr(old, kind)), _field_values(getattr(new, kind))
    keys = [k for k in dict.fromkeys(list(a) + list(b)) if a.get(k) != b.get(k)]
    return {k: b.get(k) for k in keys}, {k: a.get(k) for k in keys}


def apply_fit(cfg: Any, fit: FitResult) -> Any:
    """A new ``TrainEvalPipelineConfig``: ``cfg`` with only its anchor generator replaced."""
    pipeline = config_query.as_pipeline(cfg)
    out = type(pipeline)()
    out.CopyFrom(pipeline)
    path = config_query.anchor_generator_path(out)
    if path is None:
        raise ConfigError("this model has no anchor generator to replace")
    getattr(getattr(out.model, path[1]), path[2]).CopyFrom(fit.generator)
    return out


def _with_generator(cfg: Any, generator: Any) -> Any:
    pipeline = config_query.as_pipeline(cfg)
    out = type(pipeline)()
    out.CopyFrom(pipeline)
    path = config_query.anchor_generator_path(out)
    getattr(getattr(out.model, path[1]), path[2]).CopyFrom(generator)
    return out


@dataclass
class _Problem:
    """Everything the search and the verification share."""

    resized: ResizedBoxes
    shapes: np.ndarray
    group: np.ndarray
    generator: Any
    space: ParamSpace
    matched: float
    layouts: list
    units: list

    def geometry(self, index: np.ndarray) -> BoxGeometry:
        return build_geometry(self.resized.boxes[index], self.group[index], self.shapes,
                              self.layouts, self.units)


def _weighted_quantiles(values: np.ndarray, weight: np.ndarray, qs: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(weight[order])
    return np.interp(qs * cum[-1], cum, values[order])


def _pool_starts(space: ParamSpace, hw: np.ndarray, weight: np.ndarray, scales: np.ndarray,
                 ratios: np.ndarray, base: float, rng: np.random.Generator):
    ns, nr = len(space.groups["scales"]), len(space.groups["aspect_ratios"])

    def snap(pool: np.ndarray, values: np.ndarray) -> list[int]:
        taken: list[int] = []
        for v in values:
            order = np.argsort(np.abs(pool - v), kind="stable")
            taken.append(int(next(i for i in order if i not in taken)))
        return taken

    x0 = space.x0
    starts = [("config", snap(scales, x0[:ns]), snap(ratios, x0[ns:]))]
    qs_s = (np.arange(ns) + 0.5) / ns
    qs_r = (np.arange(nr) + 0.5) / nr
    size = np.log(np.sqrt(hw[:, 0] * hw[:, 1]) / base)
    aspect = np.log(hw[:, 1] / hw[:, 0])
    starts.append(("quantiles", snap(scales, _weighted_quantiles(size, weight, qs_s)),
                   snap(ratios, _weighted_quantiles(aspect, weight, qs_r))))
    for i in range(RANDOM_STARTS):
        starts.append((f"random{i}", sorted(rng.choice(len(scales), ns, replace=False)),
                       sorted(rng.choice(len(ratios), nr, replace=False))))
    return starts


def _search_grid(ev: Evaluator, problem: _Problem, objective: Objective, sample: Sample,
                 rng: np.random.Generator, diag: dict) -> list[Candidate]:
    """Stage A for the grid generator: pool ascent from several starts, then a coarse
    refinement of the best few (on the coarse sample)."""
    space = problem.space
    g = problem.generator.grid_anchor_generator
    base = math.sqrt(float(g.height) * float(g.width))
    boxes = ev.geom.boxes
    hw = np.maximum(np.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]], 1), 1e-3)
    side = np.sqrt(hw[:, 0] * hw[:, 1])
    lo = max(2.0, 0.5 * float(_weighted_quantiles(side, sample.weight, np.array([0.002]))[0]))
    hi = 1.5 * float(_weighted_quantiles(side, sample.weight, np.array([0.998]))[0])
    ns = len(space.groups["scales"])
    lo_s = min(math.log(lo / base), float(space.x0[:ns].min()))
    hi_s = max(math.log(hi / base), float(space.x0[:ns].max()))
    scales = np.linspace(lo_s, hi_s, POOL_SCALES)
    span = float(np.abs(_weighted_quantiles(np.log(hw[:, 1] / hw[:, 0]), sample.weight,
                                            np.array([0.005, 0.995]))).max())
    span = max(math.log(3.0), min(math.log(12.0), 1.2 * span),
               float(np.abs(space.x0[ns:]).max()) + 0.05)
    ratios = np.linspace(-span, span, POOL_RATIOS)
    starts = _pool_starts(space, hw, sample.weight, scales, ratios, base, rng)
    pooled = pool_ascent(ev, objective, scales, ratios, starts)
    diag["pool"] = {"scales": len(scales), "ratios": len(ratios),
                    "starts": {c.origin: _rounded_score(c.score) for c in pooled}}
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
    return [_explore(ev, space, objective, c, step) for c in chosen]


def _explore(ev: Evaluator, space: ParamSpace, objective: Objective, cand: Candidate,
             step: float) -> Candidate:
    """Refine with the guard as a penalty first (crossing slightly infeasible ground
    finds better corners of the feasible set), then as a hard constraint."""
    soft = refine(ev, space, objective.with_penalty(EXPLORE_PENALTY), cand, step=step,
                  min_step=0.01, diagonals=False)
    return refine(ev, space, objective, soft, step=0.04, min_step=0.01, diagonals=False)


def _search_generic(ev: Evaluator, problem: _Problem, objective: Objective, sample: Sample,
                    rng: np.random.Generator, diag: dict) -> list[Candidate]:
    """Stage A for the other generators: coordinate scans from the config and random
    starts, then a coarse refinement of the best few."""
    space = problem.space
    starts = [("config", space.x0.copy())]
    for i in range(3):
        starts.append((f"random{i}", space.lower + rng.random(space.dim)
                       * (space.upper - space.lower)))
    scanned = [coordinate_scan(ev, space, objective, x, origin=o) for o, x in starts]
    diag["scan"] = {c.origin: _rounded_score(c.score) for c in scanned}
    scanned.sort(key=lambda c: c.score, reverse=True)
    return [_explore(ev, space, objective, c, 0.15) for c in scanned[:COARSE_REFINE - 1]]


def _rounded_score(score) -> list[float]:
    return [round(float(v), 6) for v in score]


def fit_generator(
    resized: ResizedBoxes,
    cfg: Any,
    *,
    objective: str = "recall",
    seed: int = 0,
    num_scales: int | None = None,
    num_aspect_ratios: int | None = None,
    max_boxes_exact: int = DEFAULT_MAX_BOXES_EXACT,
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
        max_boxes_exact: above this many boxes the search uses a stratified sample.
        guard_tolerance: how far guarded metrics may fall (None: no guard).
        progress: called with one-line status messages.
    Raises:
        UsageError: no boxes, bad options; ConfigError: no fittable generator.
    """
    t0 = time.perf_counter()
    clock = _Clock()
    say = progress or (lambda _msg: None)
    if resized.num_boxes == 0:
        raise InputError("no boxes to fit anchors to")
    if max_boxes_exact < 100:
        raise UsageError(f"max_boxes_exact must be at least 100, got {max_boxes_exact}")
    pipeline = config_query.as_pipeline(cfg)
    generator = config_query.anchor_generator(pipeline)
    if generator is None:
        raise ConfigError("the config has no anchor generator to fit")
    kind = generator.WhichOneof("anchor_generator_oneof")
    matcher = config_query.matcher_spec(pipeline)
    shapes, group = padded_groups(resized)
    layout_for = layout_function(pipeline)
    layouts = [layout_for((int(h), int(w))) for h, w in shapes]
    units = [shape_unit(generator, (int(h), int(w))) for h, w in shapes]
    hw = np.stack([resized.heights, resized.widths], axis=1)
    side = np.sqrt(np.maximum(hw[:, 0] * hw[:, 1], 1e-6))
    size_range = (max(2.0, float(side.min()) / 2.0), 2.0 * float(shapes.max()))
    space = param_space(generator, num_scales=num_scales, num_aspect_ratios=num_aspect_ratios,
                        size_range=size_range)
    problem = _Problem(resized, shapes, group, generator, space, matcher.matched_threshold,
                       layouts, units)
    window = shapes.astype(np.float64)[group]
    sample = draw(choose_keys(resized.boxes, window, group, max_boxes_exact),
                  max_boxes_exact, seed)
    n_coarse = min(COARSE_BOXES, max_boxes_exact)
    coarse = draw(choose_keys(resized.boxes, window, group, n_coarse), n_coarse, seed)
    say(f"searching on {coarse.size} then {sample.size} of {resized.num_boxes} boxes")
    tol = guard_tolerance
    rng = np.random.default_rng(seed)
    diag: dict[str, Any] = {"num_boxes": resized.num_boxes, "search_boxes": sample.size,
                            "coarse_boxes": coarse.size, "sampled": not sample.exact}

    def stage(smp: Sample) -> tuple[Evaluator, Objective, dict]:
        ev = Evaluator(problem.geometry(smp.index), smp.weight, space, problem.matched)
        start_m = {k: float(v) for k, v in ev.metrics(ev.best(space.x0)).items()}
        margin = 0.0 if smp.exact else SAMPLED_MARGIN
        stol = None if tol is None else max(0.0, tol - margin)
        return ev, make_objective(objective, problem.matched, start_m, stol), start_m

    from tfod_anchors.coverage import evaluate

    before_layouts = layout_function(pipeline)
    # The config's own coverage runs beside the search (numpy releases the GIL).
    with ThreadPoolExecutor(max_workers=1) as pool:
        before_job = pool.submit(evaluate, resized, before_layouts, matcher)
        clock.lap("setup")
        ev_a, obj_a, ev, obj, found, cands = _search(stage, coarse, sample, kind, problem,
                                                     rng, diag, clock, say, t0)
        before = before_job.result().metrics
    clock.lap("coverage_before")
    start_exact = {k: float(before[k]) for k in METRICS}
    exact_obj = make_objective(objective, problem.matched, start_exact, tol)
    after, chosen_x, tried = None, None, []
    seen = set()
    # Polished candidates first (scored on the larger sample), then the coarse ones.
    for c in cands + found:
        key = tuple(np.round(space.rounded(c.x), 9))
        if key in seen or len(tried) >= VERIFY:
            continue
        seen.add(key)
        gen_c = _written(space, generator, c.x)
        if not generator_diff(generator, gen_c, kind)[0]:
            continue
        m = evaluate(resized, layout_function(_with_generator(pipeline, gen_c)), matcher).metrics
        tried.append({"origin": c.origin, "search_score": _rounded_score(c.score),
                      "exact": {k: round(float(m[k]), 6) for k in METRICS}})
        if exact_obj.score(m) > exact_obj.score(start_exact):
            chosen_x, after = c.x, m
            break
    diag["verified"] = tried
    clock.lap("verify")
    if not sample.exact:
        diag["error_bound_95"] = _error_bounds(ev, sample, chosen_x if chosen_x is not None
                                               else space.x0, problem.matched)
    new_generator = _written(space, generator, chosen_x) if chosen_x is not None else \
        _copy(generator)
    changed, previous = generator_diff(generator, new_generator, kind)
    improved = chosen_x is not None and bool(changed)
    if not improved:
        after = before
    diag["columns_computed"] = ev_a.columns_computed + ev.columns_computed
    diag["candidates_scored"] = ev_a.candidates_scored + ev.candidates_scored
    diag["stage_seconds"] = clock.laps
    diag["seconds"] = round(time.perf_counter() - t0, 3)
    moved = {k: float(after[k]) - float(before[k]) for k in METRICS}
    guard = {k: float(before[k]) - tol for k in exact_obj.floors} if tol is not None else {}
    apl_before = _apl(before_layouts, shapes)
    apl_after = [len(s) for s in space.shapes_of(chosen_x)] if improved else apl_before
    say(f"done in {diag['seconds']:.1f} s")
    return FitResult(new_generator, kind, changed, previous, before, after, moved, improved,
                     objective, float(matcher.matched_threshold), guard,
                     (apl_before, apl_after), diag)


def _copy(msg: Any) -> Any:
    out = type(msg)()
    out.CopyFrom(msg)
    return out


def _written(space: ParamSpace, generator: Any, x: np.ndarray) -> Any:
    """The generator message with ``x``'s values, rounded to 4 significant decimals."""
    values = np.exp(space.rounded(x))
    return space.write(generator, np.array([float(f"{v:.4g}") for v in values]))


def _polish(ev: Evaluator, space: ParamSpace, objective: Objective,
            cand: Candidate) -> Candidate:
    """On the full search sample: soft-guard refinement, then hard-guard refinement
    with the height-only / width-only moves."""
    soft = refine(ev, space, objective.with_penalty(EXPLORE_PENALTY), cand, step=0.05,
                  min_step=0.005, diagonals=False, offsets=(-1.0, 1.0))
    return refine(ev, space, objective, soft, step=0.02, min_step=0.004, offsets=(-1.0, 1.0))


def _search(stage, coarse, sample, kind, problem, rng, diag, clock, say, t0):
    """Coarse search on ``coarse``, then polish on ``sample``."""
    ev_a, obj_a, _ = stage(coarse)
    if kind == "grid_anchor_generator":
        found = _search_grid(ev_a, problem, obj_a, coarse, rng, diag)
    else:
        found = _search_generic(ev_a, problem, obj_a, coarse, rng, diag)
    found.sort(key=lambda c: c.score, reverse=True)
    diag["coarse"] = {c.origin: _rounded_score(c.score) for c in found}
    say(f"coarse search done in {time.perf_counter() - t0:.1f} s")
    clock.lap("coarse")
    ev, obj, start_m = stage(sample)
    diag["start_search_metrics"] = start_m
    polish = found[:POLISH]
    cands = [_polish(ev, problem.space, obj, Candidate(c.x, c.score, c.origin))
             for c in polish]
    cands.sort(key=lambda c: c.score, reverse=True)
    diag["refined"] = {c.origin: _rounded_score(c.score) for c in cands}
    say(f"search done in {time.perf_counter() - t0:.1f} s; checking on all boxes")
    clock.lap("polish")
    return ev_a, obj_a, ev, obj, found, cands


class _Clock:
    """Wall and CPU seconds per named stage."""

    def __init__(self) -> None:
        self.laps: dict[str, list[float]] = {}
        self._wall, self._cpu = time.perf_counter(), time.process_time()

    def lap(self, name: str) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        self.laps[name] = [round(wall - self._wall, 3), round(cpu - self._cpu, 3)]
        self._wall, self._cpu = wall, cpu


def _apl(layout_for, shapes: np.ndarray) -> list[int]:
    lay = layout_for((int(shapes[0, 0]), int(shapes[0, 1])))
    return [int(level.sizes.shape[0]) for level in lay.levels]


def _error_bounds(ev: Evaluator, sample: Sample, x: np.ndarray, matched: float) -> dict:
    best = ev.best(x).astype(np.float64)
    return {
        "mean_iou": half_width(sample, best),
        "recall_matched": half_width(sample, (best >= np.float32(matched)).astype(float)),
        "recall_0.5": half_width(sample, (best >= np.float32(0.5)).astype(float)),
        "recall_0.7": half_width(sample, (best >= np.float32(0.7)).astype(float)),
    }
