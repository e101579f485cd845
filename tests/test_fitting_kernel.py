"""Building blocks of tfod_anchors.fitting: exact kernel, sample, objective, params."""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers.reference import brute_force_columns

from tfod_anchors.config.schema import get_schema
from tfod_anchors.coverage.best_iou import level_best_iou
from tfod_anchors.errors import UsageError
from tfod_anchors.fitting.kernel import (
    SMALL_ROWS,
    BoxGeometry,
    LevelGrid,
    Prepared,
    RowInputs,
    level_columns,
    level_rows,
    prepare,
    store_inputs,
)
from tfod_anchors.fitting.objective import guarded_metrics, make_objective, metrics_of
from tfod_anchors.fitting.params import param_space, round_sig, ssd_layer_scales
from tfod_anchors.fitting.sample import draw, half_width, strata_keys


def _geometry(boxes, window, stride, offset, cells, policy):
    b = len(boxes)
    level = LevelGrid(np.tile(cells, (b, 1)), np.tile(np.asarray(stride, float), (b, 1)),
                      np.tile(np.asarray(offset, float), (b, 1)))
    return BoxGeometry(np.asarray(boxes, float), np.tile(np.asarray(window, float), (b, 1)),
                       np.ones((b, 2)), (level,), policy)


@pytest.mark.parametrize("policy", ["none", "prune", "clip"])
def test_kernel_equals_every_position(policy):
    rng = np.random.default_rng(3)
    for _ in range(12):
        hh, ww = (float(v) for v in rng.integers(40, 160, 2))
        n = 40
        y0, x0 = rng.uniform(0, hh - 2, n), rng.uniform(0, ww - 2, n)
        y1 = np.minimum(hh, y0 + rng.uniform(1, hh, n) * rng.uniform(0.05, 1, n))
        x1 = np.minimum(ww, x0 + rng.uniform(1, ww, n) * rng.uniform(0.05, 1, n))
        y0[:8], x1[8:16] = 0.0, ww  # boxes on the window edges, where clipping acts
        stride = rng.uniform(4, 32, 2)
        cells = np.maximum(1, np.ceil(np.array([hh, ww]) / stride).astype(int))
        geom = _geometry(np.stack([y0, x0, y1, x1], 1), (hh, ww), stride,
                         rng.uniform(0, 1, 2) * stride, cells, policy)
        shapes = np.exp(rng.uniform(math.log(3), math.log(2.5 * max(hh, ww)), (6, 2)))
        np.testing.assert_allclose(level_columns(geom, 0, shapes),
                                   brute_force_columns(geom, 0, shapes), atol=1e-5)


@pytest.mark.parametrize("policy", ["none", "prune", "clip"])
@pytest.mark.parametrize("seed", range(4))
def test_search_kernel_agrees_with_coverage_kernel(policy, seed):
    # The float32 search kernel and the float64 coverage kernel are two implementations of
    # the same maximum; on random layouts they must agree to float32 precision.
    rng = np.random.default_rng(100 + seed)
    for _ in range(6):
        hh, ww = (float(v) for v in rng.integers(64, 900, 2))
        n = 300
        y0, x0 = rng.uniform(-4, hh, n), rng.uniform(-4, ww, n)
        y1 = np.minimum(hh, y0 + np.exp(rng.uniform(0, math.log(hh), n)))
        x1 = np.minimum(ww, x0 + np.exp(rng.uniform(0, math.log(ww), n)))
        y0, x0 = np.maximum(y0, 0.0), np.maximum(x0, 0.0)
        y0[:20], x1[20:40] = 0.0, ww
        boxes = np.stack([y0, x0, np.maximum(y1, y0 + 0.5), np.maximum(x1, x0 + 0.5)], 1)
        stride = rng.choice([4.0, 8.0, 16.0, 32.0, 12.5], 2)
        cells = np.maximum(1, np.ceil(np.array([hh, ww]) / stride).astype(int))
        offset = rng.choice([0.0, 0.5], 2) * stride
        shapes = np.exp(rng.uniform(math.log(2), math.log(1.5 * max(hh, ww)), (8, 2)))
        fast = level_columns(_geometry(boxes, (hh, ww), stride, offset, cells, policy), 0, shapes)
        exact = level_best_iou(boxes, (int(hh), int(ww)), tuple(int(c) for c in cells),
                               tuple(stride), tuple(offset), shapes, policy)
        np.testing.assert_allclose(fast, exact, atol=2e-5)


@pytest.mark.parametrize("policy", ["none", "prune", "clip"])
@pytest.mark.parametrize("n", [50, SMALL_ROWS + 37])
@pytest.mark.parametrize("same_unit", [True, False])
def test_rows_are_the_columns_bit_for_bit(policy, n, same_unit):
    # The store's row kernel repeats the column kernel's float32 operations in order (a
    # chunk of boxes for every shape at once, or one row at a time for one or two shapes
    # of many boxes): the very same bits, so a fit writes the same anchors either way.
    rng = np.random.default_rng(7 + n)
    hh, ww = 300.0, 300.0
    y0, x0 = rng.uniform(-2, hh, n), rng.uniform(-2, ww, n)
    boxes = np.stack([y0, x0, y0 + np.exp(rng.uniform(-1, 5.5, n)),
                      x0 + np.exp(rng.uniform(-1, 5.5, n))], 1)
    geom = _geometry(boxes, (hh, ww), (15.8, 16.0), (7.9, 8.0), (19, 19), policy)
    unit = np.full((n, 2), 300.0) if same_unit else rng.choice([300.0, 212.5], (n, 2))
    geom = BoxGeometry(geom.boxes, geom.window, unit, geom.levels, policy)
    seven = np.exp(rng.uniform(np.log(0.02), np.log(1.2), (7, 2)))
    for approx, shapes in ((0.0, seven), (0.3, seven), (0.0, seven[:2])):  # block, rows
        cols = level_columns(geom, 0, shapes, approx_below=approx)
        # a column store's inputs (the row kernel's nine arrays under "none") likewise
        for inputs in (prepare(geom, 0), store_inputs(geom, 0)):
            rows = level_rows(inputs, shapes, approx_below=approx)
            assert len(rows) == len(shapes)
            assert all(r.flags.c_contiguous and r.dtype == np.float32 for r in rows)
            assert np.stack(rows).tobytes() == np.ascontiguousarray(cols.T).tobytes()
    kept = store_inputs(geom, 0)
    assert isinstance(kept, RowInputs if policy == "none" else Prepared)
    if policy == "none":
        assert kept.same_unit == same_unit and kept.rows["uy"].size == (1 if same_unit else n)



@pytest.mark.parametrize("n", [5, SMALL_ROWS + 3])
def test_rows_keep_the_union_floor_for_vanishing_anchors_and_inverted_boxes(n):
    # the row kernel skips the union's 1e-30 floor only where it cannot bind: with a
    # vanishing anchor (area 1e-32 px^2) or an inverted box (area < 0) it still applies,
    # and the rows stay the columns' bits (no NaN from 0 / 0, no negative IoU)
    rng = np.random.default_rng(n)
    y0, x0 = rng.uniform(0, 200, n), rng.uniform(0, 200, n)
    boxes = np.stack([y0, x0, y0 + rng.uniform(0, 50, n), x0 + rng.uniform(0, 50, n)], 1)
    boxes[0] = [10.0, 10.0, 10.0, 10.0]  # zero area
    for inverted in (False, True):
        if inverted:
            boxes[1] = [50.0, 50.0, 40.0, 60.0]  # ymax < ymin: area -100
        geom = _geometry(boxes, (300.0, 300.0), (16.0, 16.0), (8.0, 8.0), (19, 19), "none")
        shapes = np.array([[1e-16, 1e-16], [12.0, 30.0], [0.5, 1e-20]])
        cols = level_columns(geom, 0, shapes)
        rows = level_rows(prepare(geom, 0), shapes)
        assert np.stack(rows).tobytes() == np.ascontiguousarray(cols.T).tobytes()
        assert np.isfinite(cols).all() and (cols >= 0).all()
        assert prepare(geom, 0).min_area == (-100.0 if inverted else 0.0)

def test_kernel_hand_values():
    # Box 32x32 centred at (40, 40); grid stride 16 from 0: a cell centre sits at (48, 48)
    # or (32, 32), 8 px away on each axis. A 32x32 anchor there overlaps 24x24:
    # IoU = 576 / (1024 + 1024 - 576) = 0.391...
    geom = _geometry([[24.0, 24.0, 56.0, 56.0]], (160, 160), (16, 16), (0, 0), (10, 10), "none")
    assert level_columns(geom, 0, [[32.0, 32.0]])[0, 0] == pytest.approx(576 / 1472, abs=1e-6)
    # Box [0, 0, 20, 20] and a 100 px anchor on a 100 px window: clipped, the anchor at
    # centre 0 becomes [0, 0, 50, 50] (IoU 400/2500); pruned, only centre 50 remains,
    # the anchor is the whole window (IoU 400/10000).
    box = [[0.0, 0.0, 20.0, 20.0]]
    clip = _geometry(box, (100, 100), (50, 50), (0, 0), (3, 3), "clip")
    prune = _geometry(box, (100, 100), (50, 50), (0, 0), (3, 3), "prune")
    assert level_columns(clip, 0, [[100.0, 100.0]])[0, 0] == pytest.approx(0.16, abs=1e-6)
    assert level_columns(prune, 0, [[100.0, 100.0]])[0, 0] == pytest.approx(0.04, abs=1e-6)
    # An anchor larger than the window is pruned everywhere.
    assert level_columns(prune, 0, [[101.0, 50.0]])[0, 0] == 0.0


def test_round_sig():
    assert round_sig(0.123456) == 0.1235
    assert round_sig(1.41421356) == 1.414
    assert round_sig(256.04) == 256.0
    assert round_sig(0.0003333333) == 0.0003333


def test_metrics_and_guard():
    best = np.array([0.9, 0.6, 0.3, 0.7], dtype=np.float32)
    m = metrics_of(best, np.ones(4), 0.7)
    assert m["mean_iou"] == pytest.approx(0.625)
    assert m["recall_matched"] == pytest.approx(0.5)
    assert m["recall_0.5"] == pytest.approx(0.75)
    # FRCNN (matched 0.7): recall guards mean IoU and recall@0.5; SSD (0.5): mean IoU and
    # recall@0.7 (below the matched threshold recall@0.7 is guarded too).
    assert guarded_metrics("recall", 0.7) == ("mean_iou", "recall_0.5")
    assert guarded_metrics("recall", 0.5) == ("mean_iou", "recall_0.7")
    assert guarded_metrics("mean_iou", 0.7) == ("recall_0.5", "recall_matched")
    assert guarded_metrics("balanced", 0.5) == ("mean_iou", "recall_0.5", "recall_0.7")
    assert guarded_metrics("w:1,1,1", 0.7) == ("mean_iou", "recall_0.5", "recall_matched")
    obj = make_objective("recall", 0.7, {k: float(v) for k, v in m.items()}, 0.01)
    worse = dict(m, **{"recall_0.5": m["recall_0.5"] - 0.05, "recall_matched": 1.0})
    assert obj.score(worse) < obj.score(m)  # a guard violation never wins
    with pytest.raises(UsageError):
        make_objective("precision", 0.7, m, 0.01)


def test_sample_is_stratified_weighted_and_seeded():
    rng = np.random.default_rng(0)
    n = 5000
    y0, x0 = rng.uniform(0, 500, n), rng.uniform(0, 500, n)
    boxes = np.stack([y0, x0, y0 + rng.uniform(2, 100, n), x0 + rng.uniform(2, 100, n)], 1)
    keys = strata_keys(boxes, np.full((n, 2), 640.0), np.zeros(n, np.int64))
    full = draw(keys, 10_000, seed=1)
    assert full.exact and full.size == n and half_width(full, np.ones(n)) == 0.0
    small = draw(keys, 1000, seed=1)
    again = draw(keys, 1000, seed=1)
    assert not small.exact
    np.testing.assert_array_equal(small.index, again.index)
    assert small.weight.sum() == pytest.approx(n)
    # Every stratum is represented, so weighted means are unbiased per stratum.
    assert set(np.unique(small.stratum)) == set(range(small.stratum_size.size))
    values = (boxes[small.index, 2] - boxes[small.index, 0] > 50).astype(float)
    est = np.average(values, weights=small.weight)
    truth = np.mean(boxes[:, 2] - boxes[:, 0] > 50)
    assert abs(est - truth) <= max(half_width(small, values), 1e-9) + 1e-9


def _generator(text: str):
    from google.protobuf import text_format

    msg = get_schema().message_class("object_detection.protos.AnchorGenerator")()
    return text_format.Parse(text, msg)


def test_param_spaces_reproduce_tfod_shapes():
    grid = param_space(_generator(
        "grid_anchor_generator { scales: [0.5, 1.0] aspect_ratios: [0.5, 2.0] }"))
    shapes = grid.shapes_of(grid.x0)[0]
    # tfod-facts 3.1: (s.5,a.5) 181.02x90.51; (s1,a.5) 362.04x181.02; (s.5,a2) 90.51x181.02
    np.testing.assert_allclose(shapes, [[181.02, 90.51], [362.04, 181.02], [90.51, 181.02],
                                        [181.02, 362.04]], atol=0.01)
    ssd = param_space(_generator(
        "ssd_anchor_generator { num_layers: 6 min_scale: 0.2 max_scale: 0.95 "
        "aspect_ratios: [1.0, 2.0, 0.5, 3.0, 0.3333] }"))
    per_layer = [len(s) for s in ssd.shapes_of(ssd.x0)]
    assert per_layer == [3, 6, 6, 6, 6, 6]
    assert ssd_layer_scales(0.2, 0.95, 6, None)[1] == pytest.approx(0.35)
    # interpolated anchor of layer 1: sqrt(0.35 * 0.5) = 0.4183
    assert ssd.shapes_of(ssd.x0)[1][-1, 0] == pytest.approx(math.sqrt(0.35 * 0.5), abs=1e-4)
    multi = param_space(_generator(
        "multiscale_anchor_generator { min_level: 3 max_level: 7 anchor_scale: 4.0 "
        "aspect_ratios: [1.0, 2.0, 0.5] scales_per_octave: 2 }"))
    level3 = multi.shapes_of(multi.x0)[0]
    assert level3[0] == pytest.approx([32.0, 32.0])
    assert level3[1] == pytest.approx([32.0 * 2 ** 0.5, 32.0 * 2 ** 0.5])
    more = param_space(_generator(
        "multiscale_anchor_generator { aspect_ratios: [1.0, 2.0, 0.5] }"), num_scales=3)
    assert len(more.shapes_of(more.x0)[0]) == 9
    with pytest.raises(UsageError):
        param_space(_generator("ssd_anchor_generator { aspect_ratios: 1.0 }"), num_scales=2)


def test_unordered_lists_keep_the_config_rank_order():
    space = param_space(_generator(
        "multiscale_anchor_generator { aspect_ratios: [1.0, 2.0, 0.5] }"))
    x = np.log([4.0, 0.3, 0.9, 2.5])  # anchor_scale, then ratios in any order
    assert np.exp(space.in_config_order(x)).round(4).tolist() == [4.0, 0.9, 2.5, 0.3]
    ssd = param_space(_generator(
        "ssd_anchor_generator { min_scale: 0.2 max_scale: 0.9 aspect_ratios: [2.0, 1.0] }"))
    y = np.log([0.9, 0.2, 1.0, 3.0])  # min/max are not a set: never swapped
    assert np.exp(ssd.in_config_order(y)).round(4).tolist() == [0.9, 0.2, 3.0, 1.0]


def test_kernel_approximation_only_below_its_floor():
    rng = np.random.default_rng(5)
    n = 300
    y0, x0 = rng.uniform(0, 600, n), rng.uniform(0, 600, n)
    boxes = np.stack([y0, x0, np.minimum(640, y0 + rng.uniform(4, 300, n)),
                      np.minimum(640, x0 + rng.uniform(4, 300, n))], 1)
    geom = _geometry(boxes, (640, 640), (16, 16), (0, 0), (40, 40), "clip")
    shapes = np.exp(rng.uniform(math.log(16), math.log(900), (8, 2)))
    exact = level_columns(geom, 0, shapes)
    approx = level_columns(geom, 0, shapes, approx_below=0.3)
    same = exact >= 0.3
    np.testing.assert_array_equal(approx[same], exact[same])
    assert (approx[~same] < 0.3).all()


def test_column_store_serves_more_columns_than_it_keeps():
    # A store whose cache holds 8 columns, asked for 20 at once (and again, in another
    # order): every column is still the exact kernel's, and only missing ones are computed.
    from tfod_anchors.fitting.evaluator import ColumnStore

    rng = np.random.default_rng(5)
    y0, x0 = rng.uniform(0, 80, 30), rng.uniform(0, 80, 30)
    boxes = np.stack([y0, x0, y0 + rng.uniform(4, 60, 30), x0 + rng.uniform(4, 60, 30)], 1)
    geom = _geometry(boxes, (160.0, 160.0), (16.0, 16.0), (8.0, 8.0), (10, 10), "none")
    store = ColumnStore(geom, cache_bytes=1)
    shapes = np.exp(rng.uniform(math.log(4), math.log(120), (20, 2)))
    keys = [(0, float(h), float(w)) for h, w in shapes]
    want = brute_force_columns(geom, 0, shapes)
    for order in (np.arange(20), rng.permutation(20)):
        got = store.column_list([keys[i] for i in order])
        np.testing.assert_allclose(np.stack(got, 1), want[:, order], atol=1e-5)
    assert store.columns_computed <= 40
