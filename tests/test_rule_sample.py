"""The coarse sample of a shape-rule fit (``fitting/rule_sample.py``): which boxes are at
risk (hand-worked rule values), and a sample that holds every one of them with weight 1."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tfod_anchors.boxes import ResizedBoxes
from tfod_anchors.fitting.problem import build_problem
from tfod_anchors.fitting.rule_sample import MARGIN, at_risk, risk_sample, rule_coarse
from tfod_anchors.fitting.sample import coarse_and_search
from tfod_anchors.frameworks.modelgarden import experiment as mgx
from tfod_anchors.frameworks.modelgarden.spec import model_garden_spec
from tfod_anchors.matcher import RATIO, WH_IOU, ShapeRule

FIXTURES = Path(__file__).parent / "mg_experiments"


def resized(boxes, shape=(416, 416)) -> ResizedBoxes:
    """Boxes ``[N, 4]`` (ymin, xmin, ymax, xmax) pixels of one-image-each inputs."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    shapes = np.tile(np.array(shape, dtype=np.int32), (b.shape[0], 1))
    return ResizedBoxes(shapes, shapes.copy(), np.arange(b.shape[0], dtype=np.int32), b,
                        np.ones(b.shape[0], np.int32))


def square(w: float, h: float, cy: float = 100.0, cx: float = 100.0) -> list:
    return [cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2]


def spec_of(name: str, boxes=None):
    exp = mgx.read_params_yaml(str(FIXTURES / f"{name}.yaml"))
    if boxes is not None:
        exp = mgx.with_change(exp, {"task.model.anchor_boxes.boxes": boxes})
    return model_garden_spec(exp)


#: nine equal 20 x 20 px YOLO boxes (shape unit 1 px for the Model Garden)
EQUAL = [[20.0, 20.0]] * 9


def test_ratio_risk_by_hand():
    # best max(w/20, 20/w, h/20, 20/h): 1, 2.5, 2.857, 4 (fails), 4 (80 x 20), 2, 1.5
    # at risk from 4 / 1.5 = 2.667 on
    boxes = [square(20, 20), square(8, 8), square(7, 7), square(5, 5), square(80, 20),
             square(40, 40), square(30, 20)]
    problem = build_problem(resized(boxes), spec_of("coco_yolov7tiny", EQUAL))
    rule = ShapeRule(RATIO, 4.0)
    assert MARGIN == 1.5
    assert at_risk(problem, rule, [problem.space.x0]).tolist() == \
        [False, False, True, True, True, False, False]
    # a second point whose shapes are 40 x 40 makes the 8 x 8 box (ratio 5) risky and the
    # 80 x 20 one (ratio 2) still risky under the first point
    other = problem.space.from_shapes(np.array([[40.0, 40.0]] * 9))
    assert at_risk(problem, rule, [problem.space.x0, other]).tolist() == \
        [False, True, True, True, True, False, False]
    # darknet rule, centred IoU with 20 x 20 (at risk below 0.3 * 1.5 = 0.45):
    # 1, 0.16, 0.1225, 0.0625, 0.25, 0.25, 0.667
    assert at_risk(problem, ShapeRule(WH_IOU, 0.3), [problem.space.x0]).tolist() == \
        [False, True, True, True, True, True, False]


def many_boxes(n: int = 3000, seed: int = 5):
    rng = np.random.default_rng(seed)
    w = np.exp(rng.uniform(np.log(2.0), np.log(300.0), n))
    h = w * np.exp(rng.normal(0.0, 0.6, n))
    h = np.clip(h, 1.0, 400.0)
    cy, cx = rng.uniform(210, 230, n), rng.uniform(190, 220, n)
    return [square(float(a), float(b), float(y), float(x)) for a, b, y, x in zip(w, h, cy, cx)]


def test_the_sample_holds_every_risky_box_with_weight_one_and_is_content_keyed():
    spec = spec_of("coco_yolov7tiny")
    boxes = many_boxes()
    problem = build_problem(resized(boxes), spec)
    rule = problem.rule
    risky = at_risk(problem, rule, [problem.space.x0])
    assert 0 < risky.sum() < 1000
    sample = risk_sample(problem, risky, 500, seed=0)
    chosen = np.zeros(len(boxes), dtype=bool)
    chosen[sample.index] = True
    assert chosen[risky].all() and np.unique(sample.index).size == sample.size
    assert np.all(sample.weight[risky[sample.index]] == 1.0)
    assert sample.weight.sum() == pytest.approx(len(boxes))  # stands for every box
    rest = ~risky[sample.index]
    assert 450 <= rest.sum() <= 600
    assert np.all(sample.weight[rest] >= 1.0) and sample.weight[rest].mean() > 2.0
    # the risky stratum is the last one, taken whole
    assert sample.stratum_size[-1] == sample.stratum_taken[-1] == risky.sum()
    # another box order draws the same boxes
    order = np.random.default_rng(1).permutation(len(boxes))
    shuffled = build_problem(resized([boxes[i] for i in order]), spec)
    again = risk_sample(shuffled, at_risk(shuffled, rule, [shuffled.space.x0]), 500, seed=0)
    assert sorted(order[again.index].tolist()) == sorted(sample.index.tolist())


def test_rule_coarse_replaces_only_a_sampled_coarse_sample_of_a_shape_rule():
    boxes = many_boxes()
    r = resized(boxes)
    problem = build_problem(r, spec_of("coco_yolov7tiny"))
    window = problem.shapes.astype(np.float64)[problem.group]
    drawn = coarse_and_search(r.boxes, window, problem.group, 0, 40_000, 400)
    x0 = [problem.space.x0]
    assert rule_coarse(problem, None, drawn.coarse, x0, 0) is drawn.coarse
    assert rule_coarse(problem, problem.rule, drawn.search, x0, 0) is drawn.search  # exact
    out = rule_coarse(problem, problem.rule, drawn.coarse, x0, 0)
    assert abs(out.size - at_risk(problem, problem.rule, x0).sum() - drawn.coarse.size) <= 60
