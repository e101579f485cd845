"""Positioned coverage: the exact search against a literal evaluation of every anchor,
hand-computed IoUs (pruned vs clipped border anchors), and the dataset metrics."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tfod_anchors.anchors.layout import AnchorLayout, AnchorLevel
from tfod_anchors.boxes import ResizedBoxes
from tfod_anchors.coverage.best_iou import layout_best_iou, layout_shapes, level_best_iou
from tfod_anchors.coverage.metrics import centred_iou, evaluate, yolov5_ratio
from tfod_anchors.coverage.positives import layout_search, level_positives
from tfod_anchors.errors import UsageError
from tfod_anchors.matcher import FASTER_RCNN_FIRST_STAGE, MatcherSpec

POLICIES = ("none", "prune", "clip")


# ------------------------------------------------------------------ literal reference

def literal_iou(boxes, padded_shape, grid_shape, stride, offset, sizes, policy):
    """IoU of every box with every anchor TFOD keeps: ``[N, cells, K]``, -1 where pruned.

    Anchors come from ``AnchorLevel.boxes()``; pruning and clipping are done literally
    on the full list against ``[0, 0, H, W]``.
    """
    sizes = np.asarray(sizes, dtype=np.float64)
    level = AnchorLevel(tuple(grid_shape), tuple(stride), tuple(offset), sizes)
    a = level.boxes()
    h, w = padded_shape
    keep = np.ones(len(a), dtype=bool)
    if policy == "prune":
        keep = (a[:, 0] >= 0) & (a[:, 1] >= 0) & (a[:, 2] <= h) & (a[:, 3] <= w)
    elif policy == "clip":
        a = np.stack([np.clip(a[:, 0], 0, h), np.clip(a[:, 1], 0, w),
                      np.clip(a[:, 2], 0, h), np.clip(a[:, 3], 0, w)], axis=1)
    b = np.asarray(boxes, dtype=np.float64)[:, None, :]
    oy = np.maximum(0.0, np.minimum(b[..., 2], a[:, 2]) - np.maximum(b[..., 0], a[:, 0]))
    ox = np.maximum(0.0, np.minimum(b[..., 3], a[:, 3]) - np.maximum(b[..., 1], a[:, 1]))
    inter = oy * ox
    union = ((b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
             + (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]) - inter)
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(inter > 0, inter / union, 0.0)
    iou = np.where(keep[None, :], iou, -1.0)
    return iou.reshape(b.shape[0], -1, sizes.shape[0])


def assert_matches_literal(boxes, hw, grid, stride, offset, sizes, policy, thresholds):
    lit = literal_iou(boxes, hw, grid, stride, offset, sizes, policy)
    ref = np.maximum(lit.max(axis=1), 0.0)
    got = level_best_iou(boxes, hw, grid, stride, offset, sizes, policy)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)
    for t in thresholds:
        got_pos = level_positives(boxes, hw, grid, stride, offset, sizes, policy, t)
        np.testing.assert_array_equal(got_pos, (lit >= t).sum(axis=1), err_msg=f"t={t}")


def random_case(rng, integer: bool):
    hw = tuple(float(v) for v in rng.integers(16, 400, 2))
    grid = tuple(int(v) for v in rng.integers(1, 12, 2))
    k = int(rng.integers(1, 5))
    if integer:
        stride = tuple(float(v) for v in rng.integers(4, 64, 2))
        offset = (0.0, 0.0) if rng.random() < 0.5 else (stride[0] / 2, stride[1] / 2)
        sizes = rng.integers(2, 300, (k, 2)).astype(np.float64)
        lo = rng.integers(-20, 420, (40, 2))
        hi = lo + rng.integers(1, 300, (40, 2))
        boxes = np.stack([lo[:, 0], lo[:, 1], hi[:, 0], hi[:, 1]], axis=1).astype(np.float64)
    else:
        stride = tuple(float(v) for v in rng.uniform(4, 64, 2))
        offset = (tuple(float(v) for v in rng.uniform(-10, 40, 2)) if rng.random() < 0.5
                  else (stride[0] / 2, stride[1] / 2))
        sizes = np.exp(rng.uniform(np.log(2), np.log(900), (k, 2)))
        c = rng.uniform(-0.2, 1.2, (40, 2)) * hw
        ext = np.exp(rng.uniform(0, np.log(800), (40, 2)))
        boxes = np.stack([c[:, 0] - ext[:, 0] / 2, c[:, 1] - ext[:, 1] / 2,
                          c[:, 0] + ext[:, 0] / 2, c[:, 1] + ext[:, 1] / 2], axis=1)
    if rng.random() < 0.5:  # boxes inside the image, many touching the border
        boxes = np.clip(boxes, 0.0, [hw[0], hw[1], hw[0], hw[1]])
    return boxes, hw, grid, stride, offset, sizes


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("integer", [False, True])
@pytest.mark.parametrize("seed", range(4))
def test_random_layouts_match_literal(policy, integer, seed):
    rng = np.random.default_rng(1000 * seed + integer)
    for _ in range(25):
        assert_matches_literal(*random_case(rng, integer), policy, (0.3, 0.5, 0.7))


coord = st.integers(-40, 200).map(lambda v: v / 4.0)


@st.composite
def level_cases(draw):
    hw = (float(draw(st.integers(4, 160))), float(draw(st.integers(4, 160))))
    grid = (draw(st.integers(1, 7)), draw(st.integers(1, 7)))
    stride = (draw(st.integers(1, 48)) / 2.0, draw(st.integers(1, 48)) / 2.0)
    offset = (draw(st.integers(-16, 64)) / 2.0, draw(st.integers(-16, 64)) / 2.0)
    size = st.one_of(st.integers(1, 8).map(lambda v: v / 4.0),      # tiny
                     st.integers(2, 400).map(float),                  # ordinary to huge
                     st.floats(0.3, 700.0, allow_nan=False))
    sizes = np.array(draw(st.lists(st.tuples(size, size), min_size=1, max_size=3)))
    corners = draw(st.lists(st.tuples(coord, coord, coord, coord), min_size=1, max_size=5))
    boxes = np.array([[min(a, c), min(b, d), max(a, c), max(b, d)] for a, b, c, d in corners])
    return boxes, hw, grid, stride, offset, sizes


@settings(max_examples=150, deadline=None)
@given(case=level_cases(), policy=st.sampled_from(POLICIES),
       t=st.sampled_from([0.25, 0.5, 0.6, 0.7, 1.0]))
def test_property_matches_literal(case, policy, t):
    assert_matches_literal(*case, policy, (t,))


def test_layout_best_iou_concatenates_levels():
    rng = np.random.default_rng(7)
    boxes = random_case(rng, False)[0]
    levels = (AnchorLevel((8, 8), (16.0, 16.0), (8.0, 8.0), np.array([[32.0, 32.0], [20, 50]])),
              AnchorLevel((4, 4), (32.0, 32.0), (16.0, 16.0), np.array([[64.0, 64.0]])))
    layout = AnchorLayout((128, 128), levels, window_policy="clip")
    got = layout_best_iou(boxes, layout)
    want = np.concatenate([level_best_iou(boxes, (128, 128), lv.grid_shape, lv.stride,
                                          lv.offset, lv.sizes, "clip") for lv in levels], axis=1)
    np.testing.assert_array_equal(got, want)
    lit = np.concatenate([np.maximum(literal_iou(boxes, (128, 128), lv.grid_shape, lv.stride,
                                                 lv.offset, lv.sizes, "clip").max(axis=1), 0)
                          for lv in levels], axis=1)
    np.testing.assert_allclose(got, lit, atol=1e-12)
    np.testing.assert_array_equal(layout_shapes(layout), [[32, 32], [20, 50], [64, 64]])
    best, pos = layout_search(boxes, layout, 0.5)
    np.testing.assert_array_equal(best, got)
    assert pos.shape == (boxes.shape[0], 3) and pos.dtype == np.int64


# ------------------------------------------------------------------ hand-computed cases

def one(boxes, hw, grid, stride, offset, size, policy):
    return level_best_iou(np.array(boxes, dtype=float), hw, grid, stride, offset,
                          np.array([size], dtype=float), policy)[:, 0]


def test_centred_box_in_a_larger_anchor():
    got = one([[14, 14, 114, 114]], (128, 128), (1, 1), (16, 16), (64, 64), (128, 128), "none")
    assert got[0] == 10000 / 16384 == 0.6103515625


def test_box_half_a_stride_off_centre():
    # Anchor centres x = 64 and 96; the box is centred at x = 80, 16 px from both:
    # x-overlap 98 with either ([0, 128] or [32, 160]), y-overlap 100.
    got = one([[14, 30, 114, 130]], (128, 160), (1, 2), (32, 32), (64, 64), (128, 128), "none")
    assert got[0] == pytest.approx(9800 / (10000 + 16384 - 9800), abs=1e-15)


def test_pruned_border_anchor_vs_clipped():
    # 100x100 anchors centred at 0, 32, 64, 96 on a 128x128 image; a 50x50 box in the corner.
    args = ([[0, 0, 50, 50]], (128, 128), (4, 4), (32, 32), (0, 0), (100, 100))
    # none: the anchor at (0, 0) is [-50, 50]^2 and contains the box.
    assert one(*args, "none")[0] == 2500 / 10000
    # prune: only the anchor centred at 64 ([14, 114]^2) fits; overlap 36 x 36.
    assert one(*args, "prune")[0] == pytest.approx(1296 / (2500 + 10000 - 1296), abs=1e-15)
    # clip: the corner anchor becomes [0, 50]^2, the box itself.
    assert one(*args, "clip")[0] == 1.0


def test_clipped_best_sits_cells_away_from_the_box():
    # 60x60 anchors every 5 px on a 100x100 image; a 10x10 box at the centre. Unclipped,
    # every anchor covering it is 60 long; the best is clipped to [0, 55] or [45, 100],
    # from cells 25 or 75, five cells from the box centre.
    args = ([[45, 45, 55, 55]], (100, 100), (21, 21), (5, 5), (0, 0), (60, 60))
    assert one(*args, "none")[0] == pytest.approx(100 / 3600, abs=1e-15)
    assert one(*args, "clip")[0] == pytest.approx(100 / 3025, abs=1e-15)
    lit = literal_iou(np.array(args[0], float), *args[1:5], np.array([args[5]], float), "clip")
    assert lit[0, :, 0].max() == pytest.approx(100 / 3025, abs=1e-15)
    assert lit[0, 10 * 21 + 10, 0] == pytest.approx(100 / 3600, abs=1e-15)  # centre cell


def test_everything_pruned_or_empty_gives_zero():
    boxes = np.array([[0, 0, 10, 10.0]])
    assert one(boxes, (32, 32), (2, 2), (16, 16), (0, 0), (64, 64), "prune")[0] == 0.0
    assert level_best_iou(boxes, (32, 32), (0, 3), (16, 16), (0, 0), np.ones((2, 2)),
                          "none").shape == (1, 2)
    assert level_best_iou(np.zeros((0, 4)), (32, 32), (2, 2), (16, 16), (0, 0),
                          np.ones((2, 2)), "clip").shape == (0, 2)
    zero_area = np.array([[5, 5, 5, 20.0]])
    assert one(zero_area, (32, 32), (2, 2), (16, 16), (8, 8), (16, 16), "clip")[0] == 0.0


def test_positives_counted_by_hand():
    # 16x16 anchors every 8 px; a 16x16 box aligned with a cell: IoU 1 there, and
    # 8 px away (on one axis) 128 / 384 = 1/3 -> 1 positive at 0.5, 5 at 1/3.
    boxes = np.array([[24, 24, 40, 40.0]])
    args = (boxes, (64, 64), (8, 8), (8, 8), (0, 0), np.array([[16.0, 16.0]]), "none")
    assert level_positives(*args, 0.5)[0, 0] == 1
    assert level_positives(*args, 1 / 3)[0, 0] == 5
    assert level_positives(*args, 1.0)[0, 0] == 1


@pytest.mark.parametrize("bad", [dict(window_policy="crop"), dict(sizes=np.ones(3)),
                                 dict(stride=(0, 16)), dict(boxes=np.ones((2, 3)))])
def test_bad_arguments(bad):
    args = dict(boxes=np.ones((1, 4)), padded_shape=(32, 32), grid_shape=(2, 2),
                stride=(16, 16), offset=(0, 0), sizes=np.ones((1, 2)), window_policy="none")
    args.update(bad)
    with pytest.raises(UsageError):
        level_best_iou(**args)
    with pytest.raises(UsageError):
        level_positives(np.ones((1, 4)), (32, 32), (2, 2), (16, 16), (0, 0), np.ones((1, 2)),
                        "none", 0.0)


# ------------------------------------------------------------------ dataset metrics

def tiny_dataset():
    """Four boxes on two padded shapes; every number below is worked out by hand."""
    boxes = np.array([[14, 14, 114, 114],   # 100x100 centred on the 128x128 image
                      [0, 0, 64, 64],       # 64x64 in the corner
                      [60, 60, 68, 68],     # 8x8 at the centre
                      [16, 0, 48, 64]],     # 32x64 on the 64x64 image = its anchor
                     dtype=np.float64)
    shapes = np.array([[128, 128], [128, 128], [64, 64]], dtype=np.int32)
    return ResizedBoxes(true_shape=shapes, padded_shape=shapes.copy(),
                        box_image=np.array([0, 1, 1, 2], dtype=np.int32), boxes=boxes,
                        label=np.ones(4, dtype=np.int32))


LAYOUTS = {
    (128, 128): AnchorLayout((128, 128), (AnchorLevel(
        (1, 1), (128.0, 128.0), (64.0, 64.0), np.array([[128.0, 128.0], [64.0, 64.0]])),)),
    (64, 64): AnchorLayout((64, 64), (AnchorLevel(
        (1, 1), (64.0, 64.0), (32.0, 32.0), np.array([[32.0, 64.0]])),)),
}


def test_metrics_by_hand():
    calls = []

    def layout_for(shape):
        calls.append(shape)
        return LAYOUTS[shape]

    rep = evaluate(tiny_dataset(), layout_for, MatcherSpec(0.5, 0.5, source="test"))
    assert sorted(calls) == [(64, 64), (128, 128)]
    # Best IoUs: 10000/16384; the corner box vs [0, 128]^2: 4096/16384 (vs the 64 anchor
    # [32, 96]^2 only 1024/7168); 64/4096 inside the 64 anchor; 1.
    np.testing.assert_array_equal(rep.best_iou, [0.6103515625, 0.25, 0.015625, 1.0])
    np.testing.assert_array_equal(rep.best_shape, [0, 0, 1, 0])
    np.testing.assert_array_equal(rep.positives, [1, 0, 0, 1])
    np.testing.assert_array_equal(rep.shape_iou, [0.6103515625, 1.0, 0.015625, 1.0])
    np.testing.assert_array_equal(rep.unreachable, [False, True, False, False])
    m = rep.metrics
    assert m["num_boxes"] == 4 and m["matched_threshold"] == 0.5
    assert m["matcher_source"] == "test"
    assert m["mean_iou"] == (0.6103515625 + 0.25 + 0.015625 + 1.0) / 4
    assert (m["recall_matched"], m["recall_0.5"], m["recall_0.7"]) == (0.5, 0.5, 0.25)
    assert m["mean_positives"] == 0.5
    assert m["num_unreachable"] == 1
    assert m["by_size"] == {
        "small": {"count": 1, "mean_iou": 0.015625, "recall_matched": 0.0},
        "medium": {"count": 2, "mean_iou": 0.625, "recall_matched": 0.5},
        "large": {"count": 1, "mean_iou": 0.6103515625, "recall_matched": 1.0},
    }
    # YOLOv5 ratio rule: the 8x8 box is 1/8 of its nearest anchor side -> 3 of 4.
    assert m["bpr_yolov5"] == 0.75
    assert m["shape_only_avg_iou"] == (0.6103515625 + 1.0 + 0.015625 + 1.0) / 4


def test_matched_threshold_follows_the_matcher():
    rep = evaluate(tiny_dataset(), LAYOUTS.__getitem__, FASTER_RCNN_FIRST_STAGE)
    m = rep.metrics
    assert m["matched_threshold"] == 0.7 and m["recall_matched"] == 0.25
    assert m["num_unreachable"] == 1 and m["mean_positives"] == 0.25
    assert m["recall_0.5"] == 0.5


def test_chunking_and_repeats_do_not_change_results():
    rng = np.random.default_rng(3)
    n = 300
    lo = rng.uniform(0, 100, (n, 2))
    boxes = np.concatenate([lo, lo + rng.uniform(2, 60, (n, 2))], axis=1)
    shapes = np.array([[128, 128], [64, 64]], dtype=np.int32)
    resized = ResizedBoxes(shapes, shapes.copy(), (np.arange(n) % 2).astype(np.int32),
                           boxes, np.ones(n, dtype=np.int32))
    matcher = MatcherSpec(0.5, 0.5)
    a = evaluate(resized, LAYOUTS.__getitem__, matcher, workers=1)
    for other in (evaluate(resized, LAYOUTS.__getitem__, matcher, chunk=7, workers=1),
                  evaluate(resized, LAYOUTS.__getitem__, matcher, chunk=16, workers=3)):
        assert other.metrics == a.metrics
        for name in ("best_iou", "best_shape", "positives", "shape_iou", "unreachable"):
            np.testing.assert_array_equal(getattr(other, name), getattr(a, name))


def test_size_band_edges():
    sides = np.array([31.99, 32.0, 95.99, 96.0])
    boxes = np.stack([np.zeros(4), np.zeros(4), sides, sides], axis=1)
    shape = np.array([[128, 128]], dtype=np.int32)
    resized = ResizedBoxes(shape, shape.copy(), np.zeros(4, np.int32), boxes, np.ones(4, np.int32))
    m = evaluate(resized, LAYOUTS.__getitem__, MatcherSpec()).metrics
    assert [m["by_size"][b]["count"] for b in ("small", "medium", "large")] == [1, 2, 1]


def test_bpr_ratio_rule_is_strict():
    anchors = np.array([[64.0, 64.0]])
    hw = np.array([[64.0, 16.0], [64.0, 16.5], [300.0, 64.0], [255.0, 64.0]])
    np.testing.assert_allclose(yolov5_ratio(hw, anchors), [0.25, 16.5 / 64, 64 / 300, 64 / 255])
    shape = np.array([[512, 512]], dtype=np.int32)
    boxes = np.concatenate([np.zeros((4, 2)), hw], axis=1)
    resized = ResizedBoxes(shape, shape.copy(), np.zeros(4, np.int32), boxes, np.ones(4, np.int32))
    layout = AnchorLayout((512, 512), (AnchorLevel((1, 1), (512.0, 512.0), (256.0, 256.0),
                                                   anchors),))
    m = evaluate(resized, lambda s: layout, MatcherSpec()).metrics
    assert m["bpr_yolov5"] == 0.5  # 0.25 and 64/300 fail (> 1/4 is required), the rest pass


def test_centred_iou_values():
    got = centred_iou(np.array([[100.0, 100.0], [0.0, 10.0]]), np.array([[128.0, 128.0]]))
    np.testing.assert_array_equal(got, [[0.6103515625], [0.0]])


def test_empty_dataset_and_bad_inputs():
    empty = ResizedBoxes(np.zeros((0, 2), np.int32), np.zeros((0, 2), np.int32),
                         np.zeros(0, np.int32), np.zeros((0, 4)), np.zeros(0, np.int32))
    m = evaluate(empty, LAYOUTS.__getitem__, MatcherSpec()).metrics
    assert m["num_boxes"] == 0 and m["mean_iou"] is None and m["num_unreachable"] == 0
    with pytest.raises(UsageError):
        evaluate(tiny_dataset(), LAYOUTS.__getitem__, MatcherSpec(matched_threshold=0.0))
    with pytest.raises(UsageError):
        evaluate(tiny_dataset(), lambda s: LAYOUTS[(64, 64)], MatcherSpec())
    with pytest.raises(UsageError):
        evaluate(tiny_dataset(), LAYOUTS.__getitem__, MatcherSpec(), workers=0)
