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
            while len(self._by_objective) >= MEMO_OBJECTIVES:
                del self._by_objective[next(iter(self._by_objective))]
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
    known: dict[bytes, Entry] = {}
    for key in first:
        entry = entries.get(key)
        if entry is not None:
            known[key] = entry
    fresh = [key for key in first if key not in known]
    exact = not reads_second(ev, objective) and ev.constraint is None
    main: tuple[dict, dict[bytes, int]] = ({}, {})  # fresh rows' metrics, bounds only
    if fresh:
        m = ev.row_metrics(x, [xs[first[key]] for key in fresh], full=False)
        for key, score in zip(fresh, _scores(objective, m)):
            known[key] = entries[key] = (score, exact)
        main = (m, {key: c for c, key in enumerate(fresh)})
    if not exact:
        _settle(ev, x, xs, first, known, entries, main, objective, k)
    ranked = sorted(((known[key][0], -j) for j, key in enumerate(keys) if known[key][1]),
                    reverse=True)[:k]
    return [(-neg, score) for score, neg in ranked]


def _scores(objective: Objective, m: dict) -> list[Score]:
    ka, kb, kc = objective.keys(m)
    return [(float(a), float(b), float(c)) for a, b, c in zip(ka, kb, kc)]


def _settle(ev: Evaluator, x: np.ndarray, xs: list[np.ndarray], first: dict[bytes, int],
            known: dict[bytes, Entry], entries: dict[bytes, Entry],
            main: tuple[dict, dict[bytes, int]], objective: Objective, k: int) -> None:
    """Score exactly every row whose upper bound can still reach the ``k`` best exact
    scores, best bound first, in rounds of ``k``, ``2k``, ``4k`` ... rows: the second
    sample's metrics joined to the ``main`` ones (``(metrics [C], {key: column})``) where
    this line computed them, both samples again for bounds remembered from an earlier
    line."""
    m_main, column = main
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
        joined = [key for key in batch if key in column]
        again = [key for key in batch if key not in column]
        scores = dict(zip(again, ev.score_rows(x, [xs[first[key]] for key in again],
                                               objective))) if again else {}
        if joined:
            cols = [column[key] for key in joined]
            m = {name: np.asarray(v)[cols] for name, v in m_main.items()}
            m.update(deferred(ev, objective, x, [xs[first[key]] for key in joined]))
            scores.update(zip(joined, _scores(objective, m)))
        for key in batch:
            known[key] = entries[key] = (scores[key], True)
