"""A candidate's score is one number, whatever it is scored with (issue 19, speed).

* :func:`weighted_sum` gives every candidate of a column-major block the bits it gets
  alone, so the metrics of a candidate do not depend on its batch;
* :meth:`Evaluator.line_scores` remembers scores: a vector scored again (a coordinate
  scan's zoom line holds its grid line) is not recomputed, and what it returns is what
  an evaluator that never saw it computes, bit for bit;
* :meth:`Evaluator.line_top` scores the second (static) sample only for rows whose
  bound can still win, and returns what sorting every row's exact score gives.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers.fitting import SSD, SSD_GEN, boxes_from_anchors, parse_config
from hypothesis import given, settings
from hypothesis import strategies as st

from tfod_anchors.fitting import lines
from tfod_anchors.fitting.objective import make_objective, metrics_of, weighted_sum
from tfod_anchors.fitting.problem import build_problem
from tfod_anchors.fitting.sample import coarse_and_search
from tfod_anchors.fitting.scoring import SampleScoring
from tfod_anchors.fitting.search import coordinate_scan


def test_metrics_hand_values_alone_and_in_a_block():
    # weights 1, 1, 2 -> shares 1/4, 1/4, 1/2; best IoUs 0.8, 0.4, 0.6
    best = np.array([0.8, 0.4, 0.6], dtype=np.float32)
    weight = np.array([1.0, 1.0, 2.0])
    one = metrics_of(best, weight, 0.5)
    assert one["mean_iou"] == pytest.approx(0.25 * 0.8 + 0.25 * 0.4 + 0.5 * 0.6)
    assert one["recall_matched"] == pytest.approx(0.75)
    assert one["recall_0.7"] == pytest.approx(0.25)
    # the same candidate beside two others, candidates in columns (either layout)
    rows = np.stack([best[::-1], best, np.zeros(3, np.float32)])
    for block in (rows.T, np.ascontiguousarray(rows.T)):
        m = metrics_of(block, weight, 0.5)
        for key in ("mean_iou", "recall_matched", "recall_0.7"):
            assert m[key][1] == pytest.approx(one[key])
        assert m["recall_matched"][2] == 0.0


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 20_000), c=st.integers(1, 30), seed=st.integers(0, 2**16))
def test_weighted_sum_of_a_candidate_does_not_depend_on_its_batch(n, c, seed):
    rng = np.random.default_rng(seed)
    w = rng.random(n)
    rows = rng.random((c, n)).astype(np.float32)  # [C, B]: .T is column-major [B, C]
    alone = [weighted_sum(w, row) for row in rows]
    hits_alone = [weighted_sum(w, row >= 0.5) for row in rows]
    for lo, hi in ((0, c), (c // 2, c), (0, max(1, c // 3))):
        block = weighted_sum(w, rows[lo:hi].T)
        assert block.tobytes() == np.array(alone[lo:hi]).tobytes()
        hits = weighted_sum(w, rows[lo:hi].T >= 0.5)
        assert hits.tobytes() == np.array(hits_alone[lo:hi]).tobytes()
    assert alone[0] == pytest.approx(float(w @ rows[0].astype(np.float64)), rel=1e-12)


def _scoring(n: int = 300, seed: int = 1):
    cfg = parse_config(SSD % SSD_GEN)
    problem = build_problem(boxes_from_anchors(cfg, (300, 300), n, seed, jitter=3.0), cfg)
    boxes = problem.resized.boxes
    window = problem.shapes.astype(np.float64)[problem.group]
    sample = coarse_and_search(boxes, window, problem.group, 0, 10_000, 10_000).search
    return problem, SampleScoring(problem, sample, "recall", None, ())


def test_line_scores_remembers_and_returns_what_a_fresh_evaluator_computes():
    problem, scoring = _scoring()
    space = problem.space
    objective = make_objective("recall", problem.matched, scoring.start, None)
    ev = scoring.scorer(problem).evaluator
    x = space.rounded(space.x0)
    grid = space.rounded_coord(np.linspace(space.lower[0], space.upper[0], 9), 0)
    first = ev.line_scores(x, 0, grid, objective)
    assert ev.candidates_scored == len(np.unique(grid))
    # the zoom line: the grid again with new values between; only the new are scored
    zoom = np.unique(np.concatenate([grid, space.rounded_coord(grid[:-1] + 0.013, 0)]))
    before = ev.candidates_scored
    again = ev.line_scores(x, 0, zoom, objective)
    assert ev.candidates_scored - before == len(zoom) - len(np.unique(grid))
    fresh = scoring.scorer(problem).evaluator  # same columns, nothing remembered
    assert again == fresh.line_scores(x, 0, zoom, objective)
    for value, score in zip(grid, first):
        assert fresh.line_scores(x, 0, np.array([value]), objective) == [score]
    # another objective has scores of its own
    other = make_objective("mean_iou", problem.matched, scoring.start, None)
    before = ev.candidates_scored
    assert ev.line_scores(x, 0, grid, other) == fresh.line_scores(x, 0, grid, other)
    assert ev.candidates_scored - before == len(np.unique(grid))


def test_coordinate_scan_is_the_same_with_a_tiny_memo(monkeypatch):
    # a memo that forgets almost everything changes how much is scored, never the scan
    problem, scoring = _scoring(n=200, seed=4)
    space = problem.space
    objective = make_objective("recall", problem.matched, scoring.start, None)
    x0 = space.lower + 0.3 * (space.upper - space.lower)
    full_ev = scoring.scorer(problem).evaluator
    full = coordinate_scan(full_ev, space, objective, x0, points=10, max_sweeps=2)
    monkeypatch.setattr(lines, "SCORE_MEMO", 2)
    tiny_ev = scoring.scorer(problem).evaluator
    tiny = coordinate_scan(tiny_ev, space, objective, x0, points=10, max_sweeps=2)
    assert full.score == tiny.score and np.array_equal(full.x, tiny.x)
    assert full_ev.candidates_scored < tiny_ev.candidates_scored


def _two_samples(seed: int = 2):
    """An evaluator with a second (static-like) sample and the check rules' constraint,
    and an objective whose static floors bind for part of the space, as an augmented fit
    scores candidates."""
    from dataclasses import replace

    from tfod_anchors.fitting.evaluator import ColumnStore, Evaluator
    from tfod_anchors.fitting.problem import other_geometry

    cfg = parse_config(SSD % SSD_GEN)
    problem = build_problem(boxes_from_anchors(cfg, (300, 300), 240, seed, jitter=4.0), cfg)
    other = boxes_from_anchors(cfg, (300, 300), 160, seed + 7, jitter=1.0)
    index = np.arange(other.num_boxes)
    second = Evaluator(ColumnStore(other_geometry(problem, other, index)),
                       np.ones(other.num_boxes), problem.space, problem.matched)
    n = problem.resized.num_boxes
    ev = Evaluator(ColumnStore(problem.geometry(np.arange(n))), np.ones(n), problem.space,
                   problem.matched, constraint=problem.constraint, second=second)
    start = ev.metrics_at(problem.space.x0)
    s0 = second.metrics_at(problem.space.x0)
    base = make_objective("recall", problem.matched, start, 0.1)
    objective = replace(base, floors={**base.floors, "static:mean_iou": s0["mean_iou"] - 0.04,
                                      "static:recall_matched": s0["recall_matched"] - 0.04})
    return problem, ev, objective


@pytest.mark.parametrize("penalty", [None, 2.0])
def test_line_top_is_sorting_every_exact_score(penalty):
    # the k best of a line with the second sample scored on demand are those of scoring
    # every row on both samples and sorting (ties to the lower row), for every k
    problem, ev, objective = _two_samples()
    objective = objective.with_penalty(penalty)
    space, rng = problem.space, np.random.default_rng(11)
    brute_ev = _two_samples()[1]  # same boxes, nothing remembered
    best_only = _two_samples()[1]  # asked for the best row only
    lowered = 0
    for _ in range(6):
        # near the config, where the static floors lower some scores and not others
        x = space.rounded(space.x0 + rng.normal(0.0, 0.1, space.dim))
        i = int(rng.integers(space.dim))
        values = space.rounded_coord(np.linspace(x[i] - 0.6, x[i] + 0.6, 15), i)
        values = np.concatenate([values, values[:3]])  # repeated rows tie to the first
        xs = []
        for v in values:
            xc = x.copy()
            xc[i] = v
            xs.append(xc)
        exact = brute_ev.score_rows(x, xs, objective)
        bounds = brute_ev.score_rows(x, xs, objective, full=False)
        lowered += sum(e != b for e, b in zip(exact, bounds))
        assert all(e <= b for e, b in zip(exact, bounds))  # the bound is one
        want = sorted(range(len(values)), key=lambda j: (exact[j], -j), reverse=True)
        for k in (1, 3, len(values)):
            got = ev.line_top(x, i, values, objective, k)
            assert [j for j, _ in got] == want[:k]
            assert [s for _, s in got] == [exact[j] for j in want[:k]]
        assert ev.line(x, i, values, objective) == (want[0], exact[want[0]])
        assert best_only.line(x, i, values, objective) == (want[0], exact[want[0]])
    assert 0 < lowered < 6 * 18  # the static floors lowered some of the scores
    # the best alone needed the second sample for fewer rows than all of them
    assert best_only.second.store.columns_computed < brute_ev.second.store.columns_computed


def test_objectives_without_static_floors_never_score_the_second_sample():
    problem, ev, objective = _two_samples()
    free = objective.unguarded()
    x = problem.space.rounded(problem.space.x0)
    values = problem.space.rounded_coord(np.linspace(problem.space.lower[0],
                                                     problem.space.upper[0], 9), 0)
    before = ev.second.store.columns_computed
    assert len(ev.line_top(x, 0, values, free, len(values))) == len(values)
    assert ev.second.store.columns_computed == before


def test_a_released_store_computes_the_same_columns_again():
    problem, ev, objective = _two_samples()
    x = problem.space.rounded(problem.space.x0)
    keys = ev.keys_of(x)
    before = [c.copy() for c in ev.store.column_list(keys)]
    computed = ev.store.columns_computed
    ev.store.column_list(keys)
    assert ev.store.columns_computed == computed  # cached
    ev.store.release()
    again = ev.store.column_list(keys)
    assert ev.store.columns_computed == computed + len(set(keys))
    assert all(a.tobytes() == b.tobytes() for a, b in zip(before, again))


def test_two_threads_scanning_with_one_evaluator_find_what_each_finds_alone():
    # split_map falls back to a thread beside the search when the process has other
    # threads: both then share one evaluator (its columns and remembered scores)
    from concurrent.futures import ThreadPoolExecutor

    problem, ev, objective = _two_samples(seed=3)
    space = problem.space
    starts = [space.lower + f * (space.upper - space.lower) for f in (0.2, 0.5, 0.8, 0.35)]
    alone = [coordinate_scan(_two_samples(seed=3)[1], space, objective, x, points=10,
                             max_sweeps=2) for x in starts]
    with ThreadPoolExecutor(max_workers=2) as pool:
        shared = list(pool.map(lambda x: coordinate_scan(ev, space, objective, x, points=10,
                                                         max_sweeps=2), starts))
    for a, b in zip(alone, shared):
        assert a.score == b.score and np.array_equal(a.x, b.x)
