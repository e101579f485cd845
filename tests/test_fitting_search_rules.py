"""The search keeps ``check``'s size rules and never loses its start (issue 19).

* ``too_large_constraint`` is ``anchor_too_large`` as a search constraint: zero exactly
  where ``check`` would not report it, and a hand-worked value where it would;
* the coarse and the polishing refinements never end below the point they started
  from (the soft-guard stage may wander off; the hard-guard stage must come back);
* the SSD and multiscale coarse search maximises a smoothed recall (a ramp instead of
  the step at each threshold), the others the exact one;
* the polish of a multiscale space moves along its width-only pairs: it leaves a
  point where every single-field move is either blocked by a rule or changes nothing;
  SSD's min/max scale space and the grid are polished as before.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers.fitting import SSD, SSD_GEN, boxes_from_anchors, parse_config

from tfod_anchors.boxes import ResizedBoxes
from tfod_anchors.fitting.objective import make_objective, metrics_of
from tfod_anchors.fitting.problem import build_problem, too_large_constraint
from tfod_anchors.fitting.sample import coarse_and_search
from tfod_anchors.fitting.scoring import SampleScoring
from tfod_anchors.fitting.search import Candidate
from tfod_anchors.fitting.strategy import _explore, polish
from tfod_anchors.fitting.verify import new_findings, written_generator
from tfod_anchors.frameworks import as_spec

#: A 640x640 Faster R-CNN whose one anchor is 256 * scale px square; no clipping, so
#: TFOD prunes anchors that leave the image (``check``: anchor_too_large when it
#: never fits).
ONE_ANCHOR_PRUNED = """
model { faster_rcnn {
  num_classes: 1
  image_resizer { fixed_shape_resizer { height: 640 width: 640 } }
  feature_extractor { type: 'faster_rcnn_resnet50_keras' }
  first_stage_anchor_generator { grid_anchor_generator {
    scales: [1.0] aspect_ratios: [1.0] height_stride: 16 width_stride: 16 } }
  clip_anchors_to_image: false
} }
"""


def _problem(cfg, n: int = 200, seed: int = 0):
    shape = (640, 640) if "640" in str(cfg) else (300, 300)
    return build_problem(boxes_from_anchors(cfg, shape, n, seed, jitter=3.0), cfg)


def test_too_large_constraint_hand_value_when_pruned():
    # scale 3 -> a 768 x 768 px anchor on a 640 x 640 input: log(768/640) on each side
    cfg = parse_config(ONE_ANCHOR_PRUNED)
    problem = _problem(cfg)
    rule = too_large_constraint(as_spec(cfg), problem.space, problem.layout_for)
    assert rule is not None
    assert rule(np.log([3.0, 1.0])) == pytest.approx(2 * math.log(1.2))
    assert rule(np.log([2.5, 1.0])) == 0.0  # 640 px: fits exactly
    # ratio 4 at scale 2: 256 x 1024 px, only the width is past the input
    assert rule(np.log([2.0, 4.0])) == pytest.approx(math.log(1024 / 640))


def _agreement(cfg, points: int, seed: int) -> tuple[int, int]:
    """(candidates ``check`` flags anchor_too_large on, disagreements with the rule)."""
    model = as_spec(cfg)
    problem = _problem(cfg)
    space = problem.space
    rule = too_large_constraint(model, space, problem.layout_for)
    assert rule is not None
    rng = np.random.default_rng(seed)
    flagged = disagree = 0
    for _ in range(points):
        x = space.rounded(space.lower + rng.random(space.dim) * (space.upper - space.lower))
        gen = written_generator(space, problem.generator, x)
        found = any(f.code == "anchor_too_large" for f in new_findings(model, gen))
        flagged += found
        disagree += found != (rule(x) > 1e-9)
    return flagged, disagree


def test_too_large_constraint_is_checks_rule_for_ssd_and_pruned_grids():
    # SSD (no clipping: the anchor must reach the matched IoU 0.5 with a box inside the
    # image) and a pruned grid: the rule is positive exactly where check reports it
    for text in (SSD % SSD_GEN, ONE_ANCHOR_PRUNED):
        flagged, disagree = _agreement(parse_config(text), 150, 3)
        assert flagged > 10 and disagree == 0


def test_too_large_constraint_is_none_when_clipped_or_already_broken():
    clipped = parse_config(ONE_ANCHOR_PRUNED.replace("false", "true"))
    problem = _problem(clipped)
    assert too_large_constraint(as_spec(clipped), problem.space, problem.layout_for) is None
    big = parse_config(ONE_ANCHOR_PRUNED.replace("scales: [1.0]", "scales: [3.0]"))
    problem = build_problem(_problem(parse_config(ONE_ANCHOR_PRUNED)).resized, big)
    assert too_large_constraint(as_spec(big), problem.space, problem.layout_for) is None


def test_refinements_never_end_below_their_start():
    cfg = parse_config(SSD % SSD_GEN)
    problem = _problem(cfg, n=300, seed=1)
    boxes = problem.resized.boxes
    window = problem.shapes.astype(np.float64)[problem.group]
    sample = coarse_and_search(boxes, window, problem.group, 0, 10_000, 10_000).search
    scoring = SampleScoring(problem, sample, "recall", None, ())
    scorer = scoring.scorer(problem)
    ev, space = scorer.evaluator, problem.space
    objective = make_objective("recall", problem.matched, scoring.start, None)
    rng = np.random.default_rng(5)
    for _ in range(4):
        x = space.rounded(space.lower + rng.random(space.dim) * (space.upper - space.lower))
        start, _ = ev.score(x, objective)
        cand = Candidate(x, start, "random")
        assert _explore(ev, space, objective, cand, 0.15).score >= start
        assert polish(ev, space, objective, cand, 0, 0).score >= start


def test_smooth_recall_hand_values():
    # ramp 0.1 wide centred on 0.5: 0.45 -> 0, 0.5 -> 1/2, 0.55 and 0.6 -> 1, 0.3 -> 0
    best = np.array([0.45, 0.5, 0.55, 0.6, 0.3], dtype=np.float32)
    weight = np.full(5, 2.0)
    m = metrics_of(best, weight, 0.5, smooth=0.1)
    assert m["recall_matched"] == pytest.approx(2.5 / 5)
    assert m["recall_0.5"] == pytest.approx(2.5 / 5)
    assert m["recall_0.7"] == pytest.approx(0.0)  # 0.6 is at the foot of the 0.7 ramp
    exact = metrics_of(best, weight, 0.5)
    assert exact["recall_matched"] == pytest.approx(3 / 5)
    assert m["mean_iou"] == exact["mean_iou"]
    # candidates in columns: each column as alone
    two = metrics_of(np.stack([best, best[::-1]], axis=1), weight, 0.5, smooth=0.1)
    np.testing.assert_allclose(two["recall_matched"], [0.5, 0.5])


def test_coarse_search_is_smoothed_for_ssd_and_multiscale_only():
    from tfod_anchors.fitting.coarse_refine import COARSE_SMOOTH, coarse_smooth
    from tfod_anchors.fitting.options import FitOptions
    from tfod_anchors.fitting.plan import plan

    ssd = parse_config(SSD % SSD_GEN)
    grid = parse_config(ONE_ANCHOR_PRUNED)
    for cfg, shape, want in ((ssd, (300, 300), COARSE_SMOOTH), (grid, (640, 640), 0.0)):
        boxes = boxes_from_anchors(cfg, shape, 50, 0, jitter=2.0)
        assert coarse_smooth(plan(boxes, as_spec(cfg), FitOptions.build(), None)) == want


#: One pyramid level (stride 16) of a 320x320 FPN SSD: anchor side ``16 * anchor_scale``,
#: a square anchor and a tall one (w/h 0.25).
ONE_LEVEL_FPN = SSD.replace(
    "feature_extractor { type: 'ssd_mobilenet_v2_keras' }",
    "feature_extractor { type: 'ssd_mobilenet_v2_fpn_keras' fpn { min_level: 4 max_level: 4 } }"
) % ("multiscale_anchor_generator { min_level: 4 max_level: 4 anchor_scale: 2.0 "
     "aspect_ratios: [1.0, 0.25] scales_per_octave: 1 }")


def _centred(w: float, h: float, n: int) -> list[list[float]]:
    """``n`` boxes ``w`` x ``h`` px centred on the anchor centre (168, 168)."""
    c = 168.0
    return [[c - h / 2, c - w / 2, c + h / 2, c + w / 2]] * n


def test_polish_of_a_multiscale_space_moves_along_width_only_pairs(monkeypatch):
    # anchor_scale 2: a 32x32 square anchor and a 16x64 tall one, whose width is exactly
    # the stride (the stride rule: no anchor narrower than 16 px). Four 21x21 boxes: IoU
    # with the square anchor 441/1024 = 0.4307, unmatched at 0.5 until its side is at most
    # 21/sqrt(0.5) = 29.70 px (anchor_scale <= 1.856). Four 16x59.4 boxes lie inside
    # the tall anchor: IoU 59.4/64 = 0.928. Shrinking anchor_scale alone makes the tall
    # anchor narrower than 16 px (ruled out); raising its ratio alone keeps its area, so
    # the tall boxes stay inside at the same IoU (no gain). Only the width-only move
    # (anchor_scale down, the tall ratio up by twice as much in log) gets there.
    from tfod_anchors.fitting import strategy
    from tfod_anchors.fitting.params import round_sig

    cfg = parse_config(ONE_LEVEL_FPN)
    boxes = np.array(_centred(21.0, 21.0, 4) + _centred(16.0, 59.4, 4))
    n = len(boxes)
    shape = np.full((n, 2), 320, np.int32)
    resized = ResizedBoxes(shape, shape, np.arange(n, dtype=np.int32), boxes,
                           np.ones(n, np.int32))
    problem = build_problem(resized, cfg)
    window = problem.shapes.astype(np.float64)[problem.group]
    sample = coarse_and_search(boxes, window, problem.group, 0, 100, 100).search
    scoring = SampleScoring(problem, sample, "recall", None, ())
    ev, space = scoring.scorer(problem).evaluator, problem.space
    objective = make_objective("recall", problem.matched, scoring.start, None)
    x0 = space.rounded(space.x0)
    start, _ = ev.score(x0, objective)
    np.testing.assert_allclose(np.sort(ev.best(x0)), [441 / 1024] * 4 + [59.4 / 64] * 4,
                               rtol=1e-5)
    assert start[1] == 0.5 and problem.constraint(x0) == 0.0

    # level 0: the polish of a sampled search (no fine stage; soft stage at penalty 1, then 2)
    monkeypatch.setattr(strategy, "WALK_EDGES", False)
    stuck = polish(ev, space, objective, Candidate(x0, start, "config"), 0, 0)
    assert stuck.score[1] == 0.5
    monkeypatch.setattr(strategy, "WALK_EDGES", True)
    moved = polish(ev, space, objective, Candidate(x0, start, "config"), 0, 0)
    values = space.values(moved.x)
    scale, (_, tall) = values["anchor_scale"][0], values["aspect_ratios"]
    assert moved.score[1] == 1.0 and problem.constraint(moved.x) == 0.0
    assert scale <= round_sig(21.0 / math.sqrt(0.5) / 16.0) + 1e-4
    assert 16.0 * scale * math.sqrt(tall) >= 16.0 - 1e-9  # the tall anchor's width
    assert np.all(ev.best(moved.x) >= 0.5)


def test_edges_are_walked_in_multiscale_spaces_only(monkeypatch):
    # the multiscale space has (anchor_scale, ratio) pairs; SSD's min/max scale space has
    # none (its polish, and its fit time, stay as they were); the grid is not coupled
    from tfod_anchors.fitting import strategy
    from tfod_anchors.fitting.strategy import walks_edges

    multiscale = build_problem(boxes_from_anchors(parse_config(ONE_LEVEL_FPN), (320, 320), 20, 0),
                               parse_config(ONE_LEVEL_FPN)).space
    ssd = _problem(parse_config(SSD % SSD_GEN), n=20).space
    grid = _problem(parse_config(ONE_ANCHOR_PRUNED), n=20).space
    assert multiscale.diagonals == [(0, 1), (0, 2)]
    assert (walks_edges(multiscale), walks_edges(ssd), walks_edges(grid)) == (True, False, False)
    assert strategy.EDGE_PENALTIES == (1.0, strategy.EXPLORE_PENALTY)
    monkeypatch.setattr(strategy, "WALK_EDGES", False)
    assert not walks_edges(multiscale)


def test_soft_ladders_run_penalty_1_first_on_sampled_multiscale_searches(monkeypatch):
    # exact searches at normal effort, and every SSD / grid polish: penalty 2 alone (their
    # written anchors stay as they were); a sampled search in a space that walks edges:
    # penalty 1 then 2; above normal effort both ladders, the better going on
    from tfod_anchors.fitting import strategy
    from tfod_anchors.fitting.strategy import soft_ladders

    assert soft_ladders(edges=True, ladder=False, sampled=False) == [(2.0,)]
    assert soft_ladders(edges=False, ladder=False, sampled=True) == [(2.0,)]
    assert soft_ladders(edges=False, ladder=True, sampled=True) == [(2.0,)]
    assert soft_ladders(edges=True, ladder=False, sampled=True) == [(1.0, 2.0)]
    assert soft_ladders(edges=True, ladder=True, sampled=True) == [(2.0,), (1.0, 2.0)]
    assert soft_ladders(edges=True, ladder=True, sampled=False) == [(2.0,), (1.0, 2.0)]
    monkeypatch.setattr(strategy, "SAMPLED_LADDER", False)
    assert soft_ladders(edges=True, ladder=False, sampled=True) == [(2.0,)]

