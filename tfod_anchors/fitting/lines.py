"""The best candidates of a line, exactly, with as little scoring as that takes.

A *line* is a base vector ``x`` with one or more coordinates set to each row of a
table: every coordinate scan and pattern-search move asks for the best one (or the
``k`` best) of a line. Two savings, neither of which changes a score or a choice:

* **Remembered scores** (:class:`ScoreMemo`): a vector already scored for the same
  objective is not scored again (a coordinate scan's zoom line holds its grid line; a
  pattern search's last sweep at a step repeats the points around an unmoved ``x``).
  A candidate's metrics do not depend on the batch they are computed in
  (:func:`~.objective.weighted_sum`), so a remembered score is the one a new batch
  would give.
* **What can only lower a score, on demand**: an augmented fit also scores candidates
  on its static boxes (the evaluator's ``second``), and the ``check`` rules give each a
  ``"constraint"`` violation (small numpy sums per level, about a tenth of an SSD fit).
  Only the objective's ``"static:"`` floors read the static metrics, and both can only
  lower a score: a violation is a sum of non-negative parts, and rounding keeps that
  order. A candidate's score without them is therefore an upper bound of its score; they
  are computed only for the candidates whose bound can still reach the ``k`` best, best
  bound first. Objectives without static floors (the unguarded searches) never score
  the static boxes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from tfod_anchors.fitting.objective import STATIC_PREFIX, Objective

if TYPE_CHECKING:
    from tfod_anchors.fitting.evaluator import Evaluator

Score = tuple[float, float, float]
#: A remembered score and whether it is exact (else: an upper bound, the second
#: sample not scored).
Entry = tuple[Score, bool]
#: Scores remembered per objective (the oldest half is dropped past this) ...
SCORE_MEMO = 4096
#: ... for this many objectives (a refinement with the guard as a penalty has its own).
MEMO_OBJECTIVES = 8


class ScoreMemo:
    """Remembered scores of one evaluator: per objective, ``{vector bytes: Entry}``."""

    def __init__(self) -> None:
        # id(objective) -> (objective, entries); the objective is kept so that its id
        # cannot be reused while its scores are remembered
        self._by_objective: dict[int, tuple[Objective, dict[bytes, Entry]]] = {}

    def of(self, objective: Objective) -> dict[bytes, Entry]:
        """The entries of ``objective`` (at most :data:`SCORE_MEMO`; those of the last
        :data:`MEMO_OBJECTIVES` objectives are kept)."""
        found = self._by_objective.get(id(objective))
        if found is None or found[0] is not objective:
            while len(self._by_objective) >= MEMO_OBJECTIVES:  # (safe beside another thread)
                self._by_objective.pop(next(iter(self._by_objective)), None)
            found = self._by_objective[id(objective)] = (objective, {})
        entries = found[1]
        if len(entries) > SCORE_MEMO:
            for key in list(entries)[:len(entries) // 2]:
                entries.pop(key, None)
        return entries


def reads_second(ev: Evaluator, objective: Objective) -> bool:
    """Whether ``objective`` reads the evaluator's second-sample metrics (its
    ``"static:"`` floors)."""
    return ev.second is not None and any(k.startswith(STATIC_PREFIX) for k in objective.floors)


def deferred(ev: Evaluator, objective: Objective, x: np.ndarray, xs: list[np.ndarray]
             ) -> dict:
    """The parts of the metrics of ``xs`` (variations of ``x``) that can only lower a
    score, as :meth:`~.Evaluator.metrics` adds them: the second sample's (when
    ``objective`` reads them) and the rule ``"constraint"`` (a violation >= 0, added to
    the others)."""
    out = ev.second_row_metrics(x, xs) if reads_second(ev, objective) else {}
    found = ev.violations(xs)
    if found is not None:
        out["constraint"] = found
    return out


def variations(x: np.ndarray, coord: int | list[int], values: np.ndarray) -> list[np.ndarray]:
    """``x`` with coordinate(s) ``coord`` set to each row of ``values`` (``[C]`` for one
    coordinate or ``[C, len(coord)]``)."""
    coords = [coord] if isinstance(coord, int) else list(coord)
    values = np.asarray(values, dtype=np.float64).reshape(len(values), len(coords))
    out = []
    for row in values:
        xc = x.copy()
        xc[coords] = row
        out.append(xc)
    return out


@dataclass
class _Line:
    """A line being ranked: base ``x``, its rows ``xs``, each distinct vector's first
    row, the scores known so far and the objective's remembered ones (``entries``), and
    the metrics without the deferred parts (float64 ``[C]`` each, ``main``) of the rows
    this call scored (``column``: vector -> column of ``main``)."""

    x: np.ndarray
    xs: list[np.ndarray]
    first: dict[bytes, int]
    known: dict[bytes, Entry]
    entries: dict[bytes, Entry]
    main: dict = field(default_factory=dict)
    column: dict[bytes, int] = field(default_factory=dict)

    def rows(self, keys: list[bytes]) -> list[np.ndarray]:
        return [self.xs[self.first[key]] for key in keys]

    def set(self, key: bytes, entry: Entry) -> None:
        self.known[key] = self.entries[key] = entry


def line_top(ev: Evaluator, x: np.ndarray, coord: int | list[int], values: np.ndarray,
             objective: Objective, k: int = 1) -> list[tuple[int, Score]]:
    """The ``k`` best rows of the line (:func:`variations`) as ``(row, score)``, best
    first, ties to the lower row: what sorting every row's exact score would give."""
    xs = variations(x, coord, values)
    keys = [xc.tobytes() for xc in xs]
    first: dict[bytes, int] = {}
    for j, key in enumerate(keys):
        first.setdefault(key, j)
    entries = ev.memo.of(objective)
    line = _Line(x, xs, first, {}, entries)
    for key in first:
        entry = entries.get(key)
        if entry is not None:
            line.known[key] = entry
    fresh = [key for key in first if key not in line.known]
    exact = not reads_second(ev, objective) and ev.constraint is None
    if fresh:
        line.main = ev.row_metrics(x, line.rows(fresh), full=False)
        line.column = {key: c for c, key in enumerate(fresh)}
        for key, score in zip(fresh, _scores(objective, line.main)):
            line.set(key, (score, exact))
    if not exact:
        _settle(ev, line, objective, k)
    known = line.known
    ranked = sorted(((known[key][0], -j) for j, key in enumerate(keys) if known[key][1]),
                    reverse=True)[:k]
    return [(-neg, score) for score, neg in ranked]


def _scores(objective: Objective, m: dict) -> list[Score]:
    ka, kb, kc = objective.keys(m)
    return [(float(a), float(b), float(c)) for a, b, c in zip(ka, kb, kc)]


def _settle(ev: Evaluator, line: _Line, objective: Objective, k: int) -> None:
    """Score exactly every row whose upper bound can still reach the ``k`` best exact
    scores, best bound first, in rounds of ``k``, ``2k``, ``4k`` ... rows: the deferred
    parts joined to the ``main`` metrics where this call computed them, everything again
    for bounds remembered from an earlier line."""
    first, known = line.first, line.known
    rounds = 0
    while True:
        done = sorted(((s, -first[key]) for key, (s, ok) in known.items() if ok),
                      reverse=True)
        bar = done[k - 1] if len(done) >= k else None
        pending = sorted((((s, -first[key]), key) for key, (s, ok) in known.items()
                          if not ok and (bar is None or (s, -first[key]) > bar)), reverse=True)
        if not pending:
            return
        batch = [key for _, key in pending[:k << rounds]]
        rounds += 1
        joined = [key for key in batch if key in line.column]
        again = [key for key in batch if key not in line.column]
        scores = dict(zip(again, ev.score_rows(line.x, line.rows(again), objective))) \
            if again else {}
        if joined:
            cols = [line.column[key] for key in joined]
            m = {name: np.asarray(v)[cols] for name, v in line.main.items()}
            m.update(deferred(ev, objective, line.x, line.rows(joined)))
            scores.update(zip(joined, _scores(objective, m)))
        for key in batch:
            line.set(key, (scores[key], True))
