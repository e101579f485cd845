"""Scoring candidate parameter vectors on the search boxes, with column reuse.

A candidate's anchors are a list of shapes per level; each (level, shape) pair
gives one column of best IoUs over the search boxes (:func:`level_columns`). A
box's best IoU for the candidate is the maximum over its columns. Columns live in
a :class:`ColumnStore` (least recently used first out, bounded memory) shared by
every :class:`Evaluator` on the same boxes, so a coordinate move that changes a few
shapes only computes those, and the grid splits (4 x 3, 6 x 2, ...) share the
columns of every shape they have in common. The best of a line of candidates is found
by :mod:`.lines` (remembered scores; the parts that can only lower a score on demand).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from tfod_anchors.fitting.kernel import BoxGeometry, level_rows, store_inputs
from tfod_anchors.fitting.lines import Score, ScoreMemo, line_top
from tfod_anchors.fitting.objective import (
    BAND_PREFIX,
    STATIC_PREFIX,
    BandWeights,
    Objective,
    metrics_of,
)
from tfod_anchors.fitting.params import ParamSpace
from tfod_anchors.fitting.rule_columns import RuleColumns, rule_metrics
from tfod_anchors.matcher import ShapeRule

ColumnKey = tuple[int, float, float]
Constraint = Callable[[np.ndarray], float]

# Box-shape pairs that cannot reach this IoU skip the exact clipped search (see
# ``level_columns``); below every recall threshold, so recalls are unaffected.
APPROX_BELOW = 0.3
#: Memory bound of one column store's cache. A fit has up to four stores (the coarse and
#: search samples, and their static twins in an augmented fit); a cache hit saves one
#: column (one best-IoU pass over the sample), and the search's moves reuse only the
#: columns of the last few candidates, so a small cache loses little time
#: (``benchmarks/bench_fit_memory.py``).
CACHE_BYTES = 32 << 20


class ColumnStore:
    """Best-IoU columns of fixed boxes, by ``(level, height, width)`` in shape units.

    Args:
        geom: the boxes (in the order the sample fixed).
        cache_bytes: memory bound of the column cache.
    """

    def __init__(self, geom: BoxGeometry, cache_bytes: int = CACHE_BYTES):
        self.geom = geom
        self._cache: OrderedDict[ColumnKey, np.ndarray] = OrderedDict()
        self._limit = max(8, cache_bytes // max(1, 4 * geom.num_boxes))
        self._prepared = [store_inputs(geom, i) for i in range(len(geom.levels))]
        self._lock = threading.Lock()
        self._rules: dict[ShapeRule, RuleColumns] = {}
        self.columns_computed = 0

    def rule_columns(self, rule: ShapeRule) -> RuleColumns:
        """The shape rule's pass columns of these boxes (one per rule, shared)."""
        with self._lock:
            if rule not in self._rules:
                self._rules[rule] = RuleColumns(self.geom, rule)
            return self._rules[rule]

    def release(self) -> None:
        """Forget every cached column (they are computed again if asked for): for a
        store whose search is over, so that its memory serves the steps after it."""
        with self._lock:
            self._cache.clear()

    def column_list(self, keys: list[ColumnKey]) -> list[np.ndarray]:
        """The columns ``keys`` as contiguous float32 ``[B]`` arrays (computed if missing).

        Safe to call from the search's two threads; what one call returns never depends
        on what the cache evicts meanwhile (a call may ask for more columns than fit)."""
        got: dict[ColumnKey, np.ndarray] = {}
        missing: dict[int, dict[ColumnKey, None]] = {}
        with self._lock:
            for key in keys:
                if key in got:
                    continue
                col = self._cache.get(key)
                if col is None:
                    missing.setdefault(key[0], {})[key] = None
                else:
                    self._cache.move_to_end(key)
                    got[key] = col
        fresh: dict[ColumnKey, np.ndarray] = {}
        for level, ks in missing.items():
            rows = level_rows(self._prepared[level], np.array([[k[1], k[2]] for k in ks]),
                              approx_below=APPROX_BELOW)
            fresh.update(zip(ks, rows))
        if fresh:
            with self._lock:
                self.columns_computed += len(fresh)
                self._cache.update(fresh)
                while len(self._cache) > self._limit:
                    self._cache.popitem(last=False)
            got.update(fresh)
        return [got[key] for key in keys]


@dataclass(frozen=True)
class Counting:
    """How a box counts as matched.

    Attributes:
        rule: a shape-only matcher rule (YOLO's): ``recall_matched`` and the band
            recalls are then the share of boxes it matches (:mod:`.rule_columns`), and
            the metrics need the candidates' vectors; None: best IoU at the matched
            threshold.
        smooth: ramp width (IoU units) of the whole-set recalls
            (:func:`~.objective.metrics_of`; 0: exact).
    """

    rule: ShapeRule | None = None
    smooth: float = 0.0


class Evaluator:
    """Best-IoU columns and metrics for one :class:`ParamSpace` on fixed boxes.

    Args:
        store: the boxes' :class:`ColumnStore` (or a :class:`BoxGeometry`, which gets
            a store of its own).
        weight: float64 ``[B]`` the boxes' weights.
        space: the generator's parameter space.
        matched: the matcher's matched threshold.
        bands: size bands whose matcher recall the metrics include.
        constraint: ``x -> violation >= 0`` of rules the written config must keep
            (added to every candidate's metrics as ``"constraint"``).
        second: an evaluator of the same space on other boxes (the static boxes of an
            augmented fit): the metrics of every candidate scored with its vector
            include that evaluator's, keys prefixed with ``"static:"``, so the
            objective can guard both distributions.
        counting: how a box counts as matched (:class:`Counting`: the shape rule, the
            recalls' smoothing).
    """

    def __init__(self, store: ColumnStore | BoxGeometry, weight: np.ndarray, space: ParamSpace,
                 matched: float, bands: tuple[str, ...] = (),
                 constraint: Constraint | None = None, second: Evaluator | None = None,
                 counting: Counting = Counting()):
        self.store = store if isinstance(store, ColumnStore) else ColumnStore(store)
        self.geom = self.store.geom
        self.weight, self.space, self.matched = weight, space, matched
        self.bands = BandWeights.of(self.geom.boxes, weight, bands) if bands else None
        self.constraint = constraint
        self.second = second
        self.rule = None if counting.rule is None else self.store.rule_columns(counting.rule)
        self.smooth = counting.smooth
        self.candidates_scored = 0
        self.memo = ScoreMemo()

    @property
    def columns_computed(self) -> int:
        return self.store.columns_computed

    def keys_of(self, x: np.ndarray) -> list[ColumnKey]:
        """Column keys of candidate ``x`` (one per anchor shape, all levels)."""
        out = []
        for level, shapes in enumerate(self.space.shapes_of(x)):
            out += [(level, h, w) for h, w in shapes.tolist()]
        return out

    def columns(self, keys: list[ColumnKey]) -> np.ndarray:
        """float32 ``[B, len(keys)]``, computing missing columns level by level."""
        out = np.empty((self.geom.num_boxes, len(keys)), dtype=np.float32)
        for j, col in enumerate(self.store.column_list(keys)):
            out[:, j] = col
        return out

    def column_list(self, keys: list[ColumnKey]) -> list[np.ndarray]:
        return self.store.column_list(keys)

    def column_max(self, keys: list[ColumnKey]) -> np.ndarray:
        """float32 ``[B]`` elementwise maximum of the columns ``keys`` (zeros if none)."""
        out = np.zeros(self.geom.num_boxes, dtype=np.float32)
        for col in self.store.column_list(keys):
            np.maximum(out, col, out=out)
        return out

    def best(self, x: np.ndarray) -> np.ndarray:
        """float32 ``[B]`` best IoU of each box for candidate ``x``."""
        return self.column_max(self.keys_of(x))

    def hit(self, x: np.ndarray) -> np.ndarray:
        """bool ``[B]``: the boxes candidate ``x`` matches (best IoU at the matched
        threshold, or the shape rule)."""
        if self.rule is not None:
            return self.rule.passes(self.keys_of(x))[0]
        return self.best(x) >= np.float32(self.matched)

    def _plain_metrics(self, best: np.ndarray, xs: list[np.ndarray] | np.ndarray | None
                       ) -> dict[str, Any]:
        """:func:`metrics_of` of ``best``, with the shape rule's recalls when there is one."""
        m: dict[str, Any] = dict(metrics_of(best, self.weight, self.matched, self.bands,
                                            self.smooth))
        if self.rule is None:
            return m
        if xs is None:
            raise ValueError("metrics under a shape rule need the candidates' vectors")
        many = best.ndim > 1
        keys = [self.keys_of(np.asarray(x)) for x in (xs if many else [xs])]
        recall, bands = rule_metrics(self.rule, keys, self.weight,
                                     self.bands.matrix if self.bands is not None else None)
        m["recall_matched"] = recall if many else recall[0]
        if bands is not None:
            for i, name in enumerate(self.bands.names):  # type: ignore[union-attr]
                m[BAND_PREFIX + name] = bands[i] if many else bands[i, 0]
        return m

    def metrics_at(self, x: np.ndarray) -> dict[str, float]:
        """The plain metrics of one candidate (no rule constraint, no second boxes)."""
        return {k: float(v) for k, v in self._plain_metrics(self.best(x), x).items()}

    def metrics(self, best: np.ndarray, xs: list[np.ndarray] | np.ndarray | None = None,
                second_best: np.ndarray | None = None, full: bool = True) -> dict[str, Any]:
        """Metrics of ``best`` (``[B]`` or ``[B, C]``); with the candidates ``xs`` (one
        vector, or ``C`` of them) a shape rule's recalls (which need them) and, unless
        ``full`` is False, the parts that can only lower a score: the rule
        ``"constraint"`` and the second evaluator's metrics of them (from
        ``second_best``, ``[B2, C]``, when the caller already has it)."""
        self.candidates_scored += 1 if best.ndim == 1 else best.shape[1]
        m = self._plain_metrics(best, xs)
        if self.constraint is not None and xs is not None and full:
            if best.ndim == 1:
                m["constraint"] = np.float64(self.constraint(np.asarray(xs)))
            else:
                m["constraint"] = np.array([self.constraint(x) for x in xs], dtype=np.float64)
        if self.second is not None and xs is not None and full:
            sec = self.second
            if second_best is not None:
                other = second_best
            elif best.ndim == 1:
                other = sec.best(np.asarray(xs))
            else:
                other = np.stack([sec.best(np.asarray(x)) for x in xs]).T  # column-major
            m.update({STATIC_PREFIX + k: v for k, v in
                      sec._plain_metrics(other, xs).items()})
        return m

    def violations(self, xs: list[np.ndarray]) -> np.ndarray | None:
        """float64 ``[C]`` rule violations of candidates ``xs`` (None without rules)."""
        if self.constraint is None:
            return None
        return np.array([self.constraint(x) for x in xs], dtype=np.float64)

    def score(self, x: np.ndarray, objective: Objective) -> tuple[tuple[float, float, float], dict]:
        m = self.metrics(self.best(x), x)
        return objective.score(m), {k: float(v) for k, v in m.items()}

    def line(self, x: np.ndarray, coord: int | list[int], values: np.ndarray,
             objective: Objective) -> tuple[int, Score]:
        """Best of ``x`` with coordinate(s) ``coord`` set to each row of ``values``
        (``[C]`` for one coordinate or ``[C, len(coord)]``), ties to the first
        (:func:`~.lines.line_top`: remembered scores, the second sample on demand).

        Returns:
            ``(index into values, its score)``.
        """
        return line_top(self, x, coord, values, objective, 1)[0]

    def line_top(self, x: np.ndarray, coord: int | list[int], values: np.ndarray,
                 objective: Objective, k: int) -> list[tuple[int, Score]]:
        """The ``k`` best rows of :meth:`line` as ``(index, score)``, best first."""
        return line_top(self, x, coord, values, objective, k)

    def line_scores(self, x: np.ndarray, coord: int | list[int], values: np.ndarray,
                    objective: Objective) -> list[Score]:
        """The exact score of every row of :meth:`line`, in row order."""
        out: list[Score] = [(0.0, 0.0, 0.0)] * len(values)
        for j, score in line_top(self, x, coord, values, objective, len(values)):
            out[j] = score
        return out

    def score_rows(self, x: np.ndarray, xs: list[np.ndarray], objective: Objective,
                   full: bool = True) -> list[Score]:
        """Scores of candidates ``xs``, variations of ``x``, scored together; with
        ``full`` False, an upper bound of each (:meth:`row_metrics`)."""
        ka, kb, kc = objective.keys(self.row_metrics(x, xs, full))
        return [(float(ka[j]), float(kb[j]), float(kc[j])) for j in range(len(xs))]

    def row_metrics(self, x: np.ndarray, xs: list[np.ndarray], full: bool = True
                    ) -> dict[str, Any]:
        """:meth:`metrics` (float64 ``[C]`` each) of candidates ``xs``, variations of
        ``x``; with ``full`` False without the parts that can only lower a score: the
        second evaluator's metrics and the rule ``"constraint"`` (:mod:`.lines`)."""
        best = self.line_best(self.keys_of(x), [self.keys_of(xc) for xc in xs])
        other = self._second_best(x, xs) if full and self.second is not None else None
        return self.metrics(best.T, xs, other, full)

    def second_row_metrics(self, x: np.ndarray, xs: list[np.ndarray]) -> dict[str, Any]:
        """The second evaluator's metrics of candidates ``xs`` (variations of ``x``),
        keys prefixed ``"static:"``, as :meth:`metrics` adds them."""
        sec = self.second
        assert sec is not None
        return {STATIC_PREFIX + k: v for k, v in
                sec._plain_metrics(self._second_best(x, xs), xs).items()}

    def _second_best(self, x: np.ndarray, xs: list[np.ndarray]) -> np.ndarray:
        """float32 ``[B2, C]`` best IoUs of ``xs`` on the second boxes, column-major
        (each candidate's own sums: :func:`~.objective.weighted_sum`)."""
        sec = self.second
        assert sec is not None
        return sec.line_best(sec.keys_of(x), [sec.keys_of(xc) for xc in xs]).T

    def line_best(self, base_keys: list[ColumnKey], cand_keys: list[list[ColumnKey]]
                  ) -> np.ndarray:
        """float32 ``[C, B]`` best IoU of each box for ``C`` candidates (their
        :meth:`keys_of`), variations of a base candidate (its keys ``base_keys``): the
        maximum over the columns every candidate shares is taken once."""
        fixed = set(base_keys)
        for ks in cand_keys:
            fixed &= set(ks)
        rest_keys = [k for k in dict.fromkeys(base_keys) if k in fixed]
        rest = self.column_max(rest_keys)
        moving = [[k for k in dict.fromkeys(ks) if k not in fixed] for ks in cand_keys]
        wanted = list(dict.fromkeys(k for ks in moving for k in ks))
        cols = dict(zip(wanted, self.store.column_list(wanted)))  # one batch
        best = np.empty((len(cand_keys), self.geom.num_boxes), dtype=np.float32)
        for c, ks in enumerate(moving):
            best[c] = rest
            for k in ks:
                np.maximum(best[c], cols[k], out=best[c])
        return best
