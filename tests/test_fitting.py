"""fit_generator / apply_fit on small synthetic data with every generator type."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.fitting import FRCNN, SSD, SSD_GEN, boxes_from_anchors, parse_config

from tfod_anchors.anchors.model import model_anchor_layout
from tfod_anchors.config import query as config_query
from tfod_anchors.fitting import apply_fit, fit_generator
from tfod_anchors.fitting.objective import band_shares, flat_metrics

FPN = """
model { ssd {
  num_classes: 1
  image_resizer { fixed_shape_resizer { height: 256 width: 256 } }
  feature_extractor { type: 'ssd_mobilenet_v2_fpn_keras' fpn { min_level: 3 max_level: 4 } }
  anchor_generator { %s }
  matcher { argmax_matcher { matched_threshold: 0.5 unmatched_threshold: 0.5 } }
  similarity_calculator { iou_similarity {} }
} }
"""

MULTI_GEN = ("multiscale_anchor_generator { min_level: 3 max_level: 4 anchor_scale: 4.0 "
             "aspect_ratios: [1.0, 2.0] scales_per_octave: 1 }")
FLEX_GEN = ("flexible_grid_anchor_generator { "
            "anchor_grid { base_sizes: [20.0, 40.0] aspect_ratios: [1.0, 1.0] "
            "height_stride: 8 width_stride: 8 height_offset: 4 width_offset: 4 } "
            "anchor_grid { base_sizes: [60.0, 90.0] aspect_ratios: [1.0, 1.0] "
            "height_stride: 16 width_stride: 16 height_offset: 8 width_offset: 8 } }")


def test_grid_fit_recovers_known_anchors_and_keeps_the_rest():
    truth = parse_config((FRCNN % "true").replace("scales: [0.25, 1.0] aspect_ratios: [1.0, 3.0]",
                                          "scales: [0.35, 0.7] aspect_ratios: [0.5, 2.0]"))
    cfg = parse_config(FRCNN % "true")
    resized = boxes_from_anchors(truth, (320, 320), 300, seed=1)
    fit = fit_generator(resized, cfg, seed=0)
    assert fit.kind == "grid_anchor_generator"
    assert fit.improved
    assert fit.after["recall_matched"] == pytest.approx(1.0)
    assert fit.before["recall_matched"] < 0.6
    grid = fit.generator.grid_anchor_generator
    np.testing.assert_allclose(sorted(grid.scales), [0.35, 0.7], rtol=0.03)
    np.testing.assert_allclose(sorted(grid.aspect_ratios), [0.5, 2.0], rtol=0.03)
    # Strides and base size stay; anchors per location stay 2 x 2.
    assert (grid.height_stride, grid.width_stride, grid.height, grid.width) == (16, 16, 256, 256)
    assert fit.anchors_per_location == ([4], [4])
    assert set(fit.changed) <= {"scales", "aspect_ratios"}
    assert all(v == float(f"{v:.4g}") for v in fit.changed["scales"])
    # apply_fit changes only the generator.
    new = apply_fit(cfg, fit)
    assert config_query.anchor_generator(new) == fit.generator
    config_query.anchor_generator(new).CopyFrom(config_query.anchor_generator(cfg))
    assert new == cfg


@pytest.mark.parametrize("clip", ["true", "false"])
def test_grid_fit_respects_guard_and_is_deterministic(clip):
    cfg = parse_config(FRCNN % clip)
    other = parse_config((FRCNN % clip).replace("scales: [0.25, 1.0] aspect_ratios: [1.0, 3.0]",
                                        "scales: [0.2, 0.45] aspect_ratios: [0.7, 1.6]"))
    resized = boxes_from_anchors(other, (320, 320), 250, seed=2, jitter=6.0)
    first = fit_generator(resized, cfg, seed=3)
    second = fit_generator(resized, cfg, seed=3)
    assert first.changed == second.changed and first.after == second.after
    b, a = first.before, first.after
    assert a["recall_matched"] >= b["recall_matched"]
    flat = flat_metrics(a)
    for key, floor in first.guard.items():
        assert flat[key] >= floor - 1e-12
    # whole-set metrics at 0.01, every size band with >= 5 % of the boxes at 0.05 (a band
    # whose recall is below 0.05 has no floor that could bind)
    bands = {k for k, share in band_shares(resized.boxes).items()
             if share >= 0.05 and flat_metrics(b)[f"band:{k}"] > 0.05}
    assert set(first.guard) == {"mean_iou", "recall_0.5"} | {f"band:{k}" for k in bands}
    for k in bands:
        assert first.guard[f"band:{k}"] == pytest.approx(flat_metrics(b)[f"band:{k}"] - 0.05)
    assert first.moved["recall_matched"] == pytest.approx(a["recall_matched"]
                                                          - b["recall_matched"])
    strict = fit_generator(resized, cfg, seed=3, guard=0.0)
    assert strict.after["mean_iou"] >= strict.before["mean_iou"] - 1e-12
    assert strict.after["recall_0.5"] >= strict.before["recall_0.5"] - 1e-12


def test_ssd_fit_keeps_layers_and_counts():
    cfg = parse_config(SSD % SSD_GEN)
    truth = parse_config(SSD % SSD_GEN.replace("min_scale: 0.2 max_scale: 0.95",
                                       "min_scale: 0.3 max_scale: 0.8"))
    resized = boxes_from_anchors(truth, (300, 300), 250, seed=4, jitter=4.0)
    fit = fit_generator(resized, cfg, seed=0)
    g = fit.generator.ssd_anchor_generator
    assert g.num_layers == 6 and len(g.aspect_ratios) == 3
    assert fit.after["recall_matched"] >= fit.before["recall_matched"]
    assert fit.after["mean_iou"] >= fit.before["mean_iou"] - 0.01 - 1e-12
    assert fit.anchors_per_location[0] == fit.anchors_per_location[1] == [3, 4, 4, 4, 4, 4]
    assert set(fit.changed) <= {"min_scale", "max_scale", "aspect_ratios",
                                "interpolated_scale_aspect_ratio"}


def test_multiscale_and_flexible_fit():
    for gen, expect in ((MULTI_GEN, {"anchor_scale", "aspect_ratios"}),
                        (FLEX_GEN, None)):
        cfg = parse_config(FPN % gen)
        truth_gen = gen.replace("anchor_scale: 4.0", "anchor_scale: 7.0").replace(
            "aspect_ratios: [1.0, 2.0]", "aspect_ratios: [0.35, 2.8]").replace(
            "aspect_ratios: [1.0, 1.0]", "aspect_ratios: [0.4, 2.5]")
        resized = boxes_from_anchors(parse_config(FPN % truth_gen), (256, 256), 200, seed=5)
        fit = fit_generator(resized, cfg, seed=0)
        assert fit.improved
        assert fit.after["recall_matched"] > fit.before["recall_matched"]
        assert fit.after["recall_matched"] == pytest.approx(1.0)
        assert fit.anchors_per_location[0] == fit.anchors_per_location[1]
        if expect:
            assert set(fit.changed) <= expect
            assert fit.generator.multiscale_anchor_generator.min_level == 3
        else:
            grids = fit.generator.flexible_grid_anchor_generator.anchor_grid
            assert [(g.height_stride, g.height_offset) for g in grids] == [(8, 4), (16, 8)]


def test_count_options_and_sampling():
    cfg = parse_config(FRCNN % "false")
    truth = parse_config((FRCNN % "false").replace("scales: [0.25, 1.0]",
                                                   "scales: [0.2, 0.4, 0.8]"))
    resized = boxes_from_anchors(truth, (320, 320), 400, seed=6, jitter=2.0)
    fit = fit_generator(resized, cfg, seed=1, num_scales=3, max_boxes_exact=150)
    assert fit.improved
    assert len(fit.generator.grid_anchor_generator.scales) == 3
    assert fit.anchors_per_location == ([4], [6])
    assert fit.diagnostics["sampled"]
    assert set(fit.diagnostics["error_bound_95"]) >= {"recall_matched", "mean_iou"}


@pytest.mark.parametrize("text", [
    FRCNN % "true",
    SSD % SSD_GEN,
    SSD % SSD_GEN.replace("aspect_ratios: [1.0, 2.0, 0.5]",
                          "aspect_ratios: [1.0, 3.0] reduce_boxes_in_lowest_layer: false "
                          "interpolated_scale_aspect_ratio: 0.5"),
    FPN % MULTI_GEN,
    FPN % FLEX_GEN,
])
def test_param_shapes_match_the_generator_builder(text):
    """The search's parameter -> shape mapping equals the anchors TFOD would build."""
    from tfod_anchors.fitting.params import param_space, shape_unit

    cfg = parse_config(text)
    shape = (320, 320) if "faster_rcnn" in text else (300, 300) if "300" in text else (256, 256)
    generator = config_query.anchor_generator(cfg)
    space = param_space(generator)
    unit = np.array(shape_unit(generator, shape))
    layout = model_anchor_layout(cfg, shape)
    mine = space.shapes_of(space.x0)
    assert len(mine) == len(layout.levels)
    for level, shapes in zip(layout.levels, mine):
        np.testing.assert_allclose(shapes * unit, level.sizes, rtol=1e-5)


def test_background_job_never_hangs_on_a_stuck_child():
    import os
    import time

    from tfod_anchors.fitting.background import Background

    parent = os.getpid()

    def job():
        while os.getpid() != parent:  # a forked child that never answers
            time.sleep(0.05)
        return "computed here"

    with Background(job, timeout=0.5) as bg:
        assert bg.result() == "computed here"
