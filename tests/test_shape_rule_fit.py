"""YOLO's shape-only rules as coverage and the fit measure them (``coverage/shape_rule.py``,
``fitting/rule_columns.py``): hand-worked counts, agreement with the Model Garden
adapter's own labeler reproduction, and a fit that gives boxes a target."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tfod_anchors.anchors.layout import AnchorLayout, AnchorLevel
from tfod_anchors.boxes import ResizedBoxes
from tfod_anchors.coverage.metrics import evaluate
from tfod_anchors.fitting import fit_generator
from tfod_anchors.fitting.problem import build_problem
from tfod_anchors.fitting.rule_columns import RuleColumns
from tfod_anchors.fitting.shape_seeds import shape_seeds
from tfod_anchors.frameworks.modelgarden import experiment as mgx
from tfod_anchors.frameworks.modelgarden import geometry, matching
from tfod_anchors.frameworks.modelgarden.spec import model_garden_spec
from tfod_anchors.matcher import RATIO, WH_IOU, MatcherSpec, ShapeRule

FIXTURES = Path(__file__).parent / "mg_experiments"


def resized(boxes, shape=(416, 416)) -> ResizedBoxes:
    """Boxes ``[N, 4]`` (ymin, xmin, ymax, xmax) pixels of one-image-each inputs."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    n = b.shape[0]
    shapes = np.tile(np.array(shape, dtype=np.int32), (n, 1))
    return ResizedBoxes(shapes, shapes.copy(), np.arange(n, dtype=np.int32), b,
                        np.ones(n, np.int32))


def square(side_w: float, side_h: float, cy: float = 100.0, cx: float = 100.0) -> list:
    return [cy - side_h / 2, cx - side_w / 2, cy + side_h / 2, cx + side_w / 2]


#: one level, stride 8 on 512 x 512, one 10 x 10 anchor: grid units 1.25 x 1.25 (and every
#: half pixel / 512 exact in float32, so the labeler's float32 sizes are the hand values)
ONE_LEVEL = AnchorLayout((512, 512), (AnchorLevel((64, 64), (8.0, 8.0), (4.0, 4.0),
                                                  np.array([[10.0, 10.0]]), 3),), "none")


def test_ratio_rule_counts_by_hand():
    # (w, h) pixels -> max(w/10, 10/w, h/10, 10/h): 1, 5 (2 px wide), 3.33, 4.0 (not < 4),
    # 3.9: two of five boxes get no target
    boxes = [square(10, 10), square(2, 10), square(3, 3), square(40, 40), square(39, 39)]
    rule = ShapeRule(RATIO, 4.0)
    report = evaluate(resized(boxes, (512, 512)), lambda hw: ONE_LEVEL,
                      MatcherSpec(1 / 16, 1 / 16, shape_rule=rule))
    assert report.matched.tolist() == [True, False, True, False, True]
    assert report.metrics["recall_matched"] == pytest.approx(3 / 5)
    assert report.positives.tolist() == [1, 0, 1, 0, 1]
    assert report.metrics["num_unreachable"] == 0
    # the IoU metrics stay positioned IoU: the 10 x 10 box centred on a cell centre
    assert report.best_iou[0] == pytest.approx(1.0)
    # on 416 x 416, 40 px is 40 / 416 * 52 = 5 cells in exact arithmetic, but the labeler's
    # float32 makes it just under 5: the 40 x 40 box there gets its target
    other = AnchorLayout((416, 416), (AnchorLevel((52, 52), (8.0, 8.0), (4.0, 4.0),
                                                  np.array([[10.0, 10.0]]), 3),), "none")
    report = evaluate(resized([square(40, 40)]), lambda hw: other,
                      MatcherSpec(1 / 16, 1 / 16, shape_rule=rule))
    assert report.matched.tolist() == [True]


def test_wh_iou_rule_counts_by_hand():
    # centred IoU with the 10 x 10 anchor: 1, 20/100 = 0.2, 9/100, 100/1600, 1
    boxes = [square(10, 10), square(2, 10), square(3, 3), square(40, 40), square(10, 10, 7, 9)]
    report = evaluate(resized(boxes, (512, 512)), lambda hw: ONE_LEVEL,
                      MatcherSpec(0.2, 0.2, True, shape_rule=ShapeRule(WH_IOU, 0.2)))
    assert report.matched.tolist() == [True, True, False, False, True]
    assert report.metrics["recall_matched"] == pytest.approx(3 / 5)


def spec_of(name: str, boxes=None):
    exp = mgx.read_params_yaml(str(FIXTURES / f"{name}.yaml"))
    if boxes is not None:
        exp = mgx.with_change(exp, {"task.model.anchor_boxes.boxes": boxes})
    return model_garden_spec(exp)


sizes = st.floats(0.5, 400.0, allow_nan=False)


@pytest.mark.parametrize("name", ["coco_yolov7tiny", "scaled_yolo", "yolo_darknet"])
@settings(max_examples=25, deadline=None)
@given(wh=st.lists(st.tuples(sizes, sizes, st.floats(0.0, 1.0), st.floats(0.0, 1.0)),
                   min_size=1, max_size=40))
def test_coverage_and_search_columns_equal_the_labeler_reproduction(name, wh):
    spec = spec_of(name)
    hw = geometry.input_hw(spec.experiment)
    boxes = []
    for w, h, fy, fx in wh:
        w, h = min(w, hw[1] - 1.0), min(h, hw[0] - 1.0)
        y0, x0 = fy * (hw[0] - h), fx * (hw[1] - w)
        boxes.append([y0, x0, y0 + h, x0 + w])
    r = resized(boxes, hw)
    want = matching.yolo_match(r.boxes, hw, geometry.yolo_anchors(spec.experiment), spec.rule())
    report = evaluate(r, spec.layout_function(), spec.matcher())
    assert report.matched.tolist() == want.matched.tolist()
    problem = build_problem(r, spec)
    columns = RuleColumns(problem.geometry(np.arange(r.num_boxes)), problem.rule)
    keys = [(lv, float(h), float(w)) for lv, shapes in
            enumerate(problem.space.shapes_of(problem.space.x0)) for h, w in shapes]
    hit, count = columns.passes(keys)
    assert hit.tolist() == want.matched.tolist()
    assert count.tolist() == report.positives.tolist()


def unreachable_dataset() -> ResizedBoxes:
    """Boxes the default coco_yolov7tiny anchors cover, and 30 % 1-px-wide slivers (ratio
    >= 10 to the narrowest default anchor) that no default anchor gives a target."""
    rng = np.random.default_rng(3)
    boxes = []
    for i in range(140):
        w, h = (float(rng.uniform(20, 120)), float(rng.uniform(20, 120))) if i % 10 >= 3 \
            else (1.0, float(rng.uniform(12, 30)))
        cy, cx = float(rng.uniform(70, 340)), float(rng.uniform(70, 340))
        boxes.append(square(w, h, cy, cx))
    return resized(boxes)


def test_the_fit_gives_the_slivers_a_target_and_is_deterministic():
    spec = spec_of("coco_yolov7tiny")
    r = unreachable_dataset()
    sliver = r.widths < 2
    before = evaluate(r, spec.layout_function(), spec.matcher())
    assert not before.matched[sliver].any() and before.matched[~sliver].all()
    result = fit_generator(r, spec, seed=0)
    again = fit_generator(r, spec, seed=0)
    assert result.improved and result.generator == again.generator
    after = evaluate(r, spec.with_anchors(result.generator).layout_function(), spec.matcher())
    assert result.after["recall_matched"] == pytest.approx(after.metrics["recall_matched"])
    assert after.matched[sliver].mean() >= 0.9 and after.matched[~sliver].all()
    # the rule's own count agrees: the slivers are no longer without a target
    rule = spec.with_anchors(result.generator).rule_metrics(r)
    assert rule["no_target_share"] == pytest.approx(1.0 - after.metrics["recall_matched"])


def test_kmeans_starts_are_points_of_the_yolo_space():
    spec = spec_of("scaled_yolo")
    r = unreachable_dataset()
    problem = build_problem(r, spec)
    from tfod_anchors.fitting.sample import coarse_and_search

    drawn = coarse_and_search(r.boxes, problem.shapes.astype(np.float64)[problem.group],
                              problem.group, 0, 40_000, 4_000)
    seeds = shape_seeds(problem, drawn.search, 0)
    assert [origin for origin, _ in seeds] == ["kmeans_wh", "kmeans_wh_median"]
    for _, x in seeds:
        levels = problem.space.shapes_of(x)
        areas = np.concatenate([s[:, 0] * s[:, 1] for s in levels])
        assert len(levels) == 3 and np.all(np.diff(areas) >= 0)  # smallest area first
    # an IoU space has none
    tfod_like = build_problem(r, spec_of("retinanet_resnetfpn_coco"))
    assert shape_seeds(tfod_like, drawn.search, 0) == []


def test_other_objectives_guard_the_rules_headline():
    spec = spec_of("coco_yolov7tiny")
    r = unreachable_dataset()
    before = evaluate(r, spec.layout_function(), spec.matcher()).metrics
    result = fit_generator(r, spec, seed=1, objective="mean_iou")
    # the headline guarded is the rule's share of boxes with a target, 0.01 below the config's
    assert result.guard["recall_matched"] == pytest.approx(before["recall_matched"] - 0.01)
    after = evaluate(r, spec.with_anchors(result.generator).layout_function(),
                     spec.matcher()).metrics
    assert after["recall_matched"] >= result.guard["recall_matched"] - 1e-12
    assert after["mean_iou"] >= before["mean_iou"]


def test_messages_name_the_shape_rule_not_an_iou_threshold():
    from tfod_anchors.fitting.objective import describe_metric

    rule = ShapeRule(RATIO, 4.0).describe()
    assert describe_metric("recall_matched", 1 / 16, rule) == "recall (w/h ratio < 4)"
    assert describe_metric("band:small", 1 / 16, rule) == "small-box recall (w/h ratio < 4)"
    assert describe_metric("recall_0.5", 1 / 16, rule) == "recall@0.5"
    assert describe_metric("recall_matched", 0.7) == "recall@0.7"
    from tfod_anchors.commands.fit import search_line
    from tfod_anchors.fitting.objective import describe_objective

    assert describe_objective("recall", 1 / 16, rule) == "recall (w/h ratio < 4)"
    assert describe_objective("mean_iou", 1 / 16, rule) == "mean IoU"
    assert describe_objective("w:1,1,1", 0.5) == "objective w:1,1,1"
    search = {"effort": "normal", "starts": 5, "refined_on_coarse": 3, "polished": 3,
              "measured_exactly": 3, "best_start": {"origin": "config", "coarse_score":
                                                    [0.0, 0.9981, 0.5]}}
    assert search_line(search, describe_objective("recall", 1 / 16, rule)).endswith(
        "best start config recall (w/h ratio < 4) 0.998 on the coarse sample")


def test_a_shape_rule_drops_the_positioned_recall_guards_unless_asked():
    from tfod_anchors.fitting.guard import Guard, as_guard

    # YOLO's labelers never look at positioned IoU: only mean IoU, the rule's recall and
    # the bands stay guarded; what a --guard spec names explicitly is kept
    rule_guard = Guard().for_shape_rule()
    assert (rule_guard.recall_0_5, rule_guard.recall_0_7) == (None, None)
    assert (rule_guard.mean_iou, rule_guard.recall_matched, rule_guard.bands) == (0.01, 0.01, 0.05)
    asked = Guard.parse("recall_0.5=0.02,recall_0.5>=0.6").for_shape_rule()
    assert (asked.recall_0_5, asked.recall_0_7, asked.minimum) == (0.02, None,
                                                                   (("recall_0.5", 0.6),))
    assert as_guard(0.03).for_shape_rule() == Guard(0.03, 0.03, 0.03, 0.03)

    spec = spec_of("coco_yolov7tiny")
    r = unreachable_dataset()
    before = evaluate(r, spec.layout_function(), spec.matcher()).metrics
    result = fit_generator(r, spec, seed=0, objective="mean_iou")
    whole_set = {k for k in result.guard if not k.startswith("band:")}
    assert whole_set == {"recall_matched"}  # mean IoU is the primary here
    result = fit_generator(r, spec, seed=0)
    assert "recall_0.5" not in result.guard and "recall_0.7" not in result.guard
    assert result.guard["mean_iou"] == pytest.approx(before["mean_iou"] - 0.01)
    kept = fit_generator(r, spec, seed=0, guard="recall_0.5=0.01")
    assert kept.guard["recall_0.5"] == pytest.approx(before["recall_0.5"] - 0.01)
    assert "recall_0.7" not in kept.guard


def test_rule_recalls_of_a_candidate_do_not_depend_on_its_batch():
    from tfod_anchors.fitting.objective import BandWeights
    from tfod_anchors.fitting.rule_columns import rule_metrics

    r = unreachable_dataset()
    problem = build_problem(r, spec_of("coco_yolov7tiny"))
    columns = RuleColumns(problem.geometry(np.arange(r.num_boxes)), problem.rule)
    rng = np.random.default_rng(0)
    xs = [problem.space.x0 + rng.normal(0, 0.3, problem.space.x0.shape) for _ in range(7)]
    keys = [[(lv, float(h), float(w)) for lv, shapes in
             enumerate(problem.space.shapes_of(x)) for h, w in shapes] for x in xs]
    weight = rng.uniform(0.5, 2.0, r.num_boxes)
    bands = BandWeights.of(r.boxes, weight, ("small", "medium", "large")).matrix
    together, together_bands = rule_metrics(columns, keys, weight, bands)
    for i, k in enumerate(keys):
        alone, alone_bands = rule_metrics(columns, [k], weight, bands)
        assert alone[0] == together[i]  # bit for bit: a remembered score is exact
        assert alone_bands[:, 0].tolist() == together_bands[:, i].tolist()
    # and the value is the weighted share of boxes the candidate passes
    hit = columns.passes(keys[0])[0]
    assert together[0] == pytest.approx(float(weight[hit].sum() / weight.sum()), abs=1e-12)
