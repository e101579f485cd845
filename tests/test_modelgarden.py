"""The Model Garden adapter without the Model Garden: resolved YAML, families, geometry,
resize and matching worked out by hand (the wheel comparisons are in
``test_modelgarden_wheel.py``)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tfod_anchors.boxes import BoxSet
from tfod_anchors.errors import ConfigError, InputError, UsageError
from tfod_anchors.frameworks.modelgarden import experiment as mgx
from tfod_anchors.frameworks.modelgarden import geometry, matching
from tfod_anchors.frameworks.modelgarden.resize import (
    ResizeAndCrop,
    YoloResize,
    letterbox_padding,
    parser_resizer,
    scaled_sizes,
)

HAVE_MG = importlib.util.find_spec("official") is not None


def retinanet(input_size=(640, 640), pad=True, **anchor) -> dict:
    """A resolved RetinaNet experiment, trimmed to what the adapter reads."""
    block = {"num_scales": 3, "aspect_ratios": [0.5, 1.0, 2.0], "anchor_size": 4.0}
    block.update(anchor)
    return {"runtime": {}, "trainer": {}, "task": {
        "model": {"anchor": block, "head": {}, "min_level": 3, "max_level": 7,
                  "input_size": [*input_size, 3], "num_classes": 91, "backbone": {}},
        "train_data": {"parser": {"match_threshold": 0.5, "unmatched_threshold": 0.5,
                                  "pad": pad, "keep_aspect_ratio": True,
                                  "aug_scale_min": 1.0, "aug_scale_max": 1.0}}}}


def yolov7(boxes=((10, 13), (16, 30), (33, 23), (30, 61), (62, 45), (59, 119), (116, 90),
                  (156, 198), (373, 326))) -> dict:
    return {"runtime": {}, "trainer": {}, "task": {
        "model": {"anchor_boxes": {"boxes": [{"box": list(b)} for b in boxes],
                                   "anchors_per_scale": 3, "level_limits": None},
                  "backbone": {"type": "yolov7", "yolov7": {"min_level": 3, "max_level": 5}},
                  "min_level": 3, "max_level": 5, "input_size": [416, 416, 3],
                  "num_classes": 80, "loss": {"anchor_threshold": 4.0},
                  "detection_generator": {"scale_xy": {"3": 2.0, "4": 2.0, "5": 2.0,
                                                       "all": None}}},
        "train_data": {"parser": {"letter_box": True, "anchor_thresh": 4.0,
                                  "best_match_only": True}}}}


def test_families_from_the_dict_alone():
    assert mgx.detect_family(retinanet()) == mgx.RETINANET
    assert mgx.detect_family(yolov7()) == mgx.YOLOV7
    rcnn = retinanet()
    rcnn["task"]["model"].update(rpn_head={}, include_mask=False, roi_sampler={})
    assert mgx.detect_family(rcnn) == mgx.FASTER_RCNN
    rcnn["task"]["model"]["include_mask"] = True
    assert mgx.detect_family(rcnn) == mgx.MASK_RCNN
    rcnn["task"]["model"]["roi_sampler"] = {"cascade_iou_thresholds": [0.6, 0.7]}
    assert mgx.detect_family(rcnn) == mgx.CASCADE_RCNN
    with pytest.raises(ConfigError, match="no anchors"):
        mgx.detect_family({"task": {"model": {"backbone": {}}}})


def test_resolved_yaml_read_and_partial_refused(tmp_path):
    full = tmp_path / "params.yaml"
    full.write_text(yaml.safe_dump(retinanet()))
    assert mgx.read_params_yaml(str(full)) == retinanet()
    partial = tmp_path / "override.yaml"
    partial.write_text("task:\n  model:\n    anchor: {anchor_size: 3}\n")
    with pytest.raises(ConfigError) as err:
        mgx.read_params_yaml(str(partial))
    text = str(err.value)
    assert text.startswith(str(partial)) and "--experiment NAME" in text and "\n" not in text
    broken = tmp_path / "broken.yaml"
    broken.write_text("task: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        mgx.read_params_yaml(str(broken))


@pytest.mark.skipif(HAVE_MG, reason="the Model Garden is installed here")
def test_without_the_model_garden_one_line_names_the_extra():
    with pytest.raises(UsageError) as err:
        mgx.resolve_experiment("retinanet_resnetfpn_coco")
    assert "tfod-anchors[models]" in str(err.value) and "\n" not in str(err.value)


def test_retinanet_640_anchor_counts_and_sizes():
    exp = retinanet()
    ma = geometry.multilevel_anchors(exp)
    layout = ma.layout(parser_resizer(exp, mgx.RETINANET).static_shape)
    assert [lv.num_anchors for lv in layout.levels] == [57600, 14400, 3600, 900, 225]
    assert layout.num_anchors == 76725
    # level 3, scale 0, ratio 0.5 (w/h): side 32, w = 32 * sqrt(.5), h = 32 / sqrt(.5)
    first = layout.boxes()[0]
    assert first == pytest.approx([4 - 16 * 2 ** 0.5, 4 - 8 * 2 ** 0.5,
                                   4 + 16 * 2 ** 0.5, 4 + 8 * 2 ** 0.5])
    # the largest: level 7, scale 2: 4 * 128 * 2**(2/3) = 812.7
    assert ma.sizes(7)[-2] == pytest.approx([812.7, 812.7], abs=0.05)


def test_unpadded_input_gives_fractional_strides():
    exp = retinanet(input_size=(500, 375), pad=False)
    shape = parser_resizer(exp, mgx.RETINANET).static_shape
    assert shape == (500, 375)
    level3 = geometry.multilevel_anchors(exp).layout(shape).levels[0]
    assert level3.grid_shape == (63, 47)
    assert level3.stride == pytest.approx((500 / 63, 375 / 47), abs=1e-5)
    assert parser_resizer(retinanet(input_size=(500, 375)), mgx.RETINANET).static_shape == \
        (512, 384)


def test_bad_anchor_values_are_config_errors():
    with pytest.raises(ConfigError, match="cannot build"):
        geometry.multilevel_anchors(retinanet(aspect_ratios=[]))
    with pytest.raises(ConfigError, match="input_size"):
        geometry.input_hw(retinanet(input_size=()))
    with pytest.raises(ConfigError, match="need 9"):
        geometry.yolo_anchors(yolov7(boxes=((10, 13),)))


@settings(max_examples=60, deadline=None)
@given(lo=st.integers(2, 5), extra=st.integers(0, 3), s=st.integers(1, 4),
       k=st.integers(1, 4), h=st.integers(1, 2000), w=st.integers(1, 2000))
def test_anchor_count_is_cells_times_shapes(lo, extra, s, k, h, w):
    ma = geometry.MultilevelAnchors(lo, lo + extra, s, tuple(np.linspace(0.5, 2, k)), 4.0)
    layout = ma.layout((h, w))
    expect = sum(-(-h // 2 ** lv) * -(-w // 2 ** lv) for lv in range(lo, lo + extra + 1)) * s * k
    assert layout.num_anchors == expect == layout.boxes().shape[0]
    # every level's cells tile the input exactly: fy * stride_y == H (float32 stride)
    for level in layout.levels:
        assert level.grid_shape[0] * level.stride[0] == pytest.approx(h, rel=1e-6)


def test_resize_and_crop_by_hand():
    # 333x500 into 640: k = 1.28, scaled 426.24 -> 426 (y scale 1.279279), 640
    h, w = scaled_sizes(np.array([333, 427]), np.array([500, 640]), (640, 640))
    assert (h.tolist(), w.tolist()) == ([426, 427], [640, 640])
    # round half to even: 5x6 into 3x3 -> k = .5, 2.5 -> 2 (not 3), 3
    assert [v.tolist() for v in scaled_sizes(np.array([5]), np.array([6]), (3, 3))] == [[2], [3]]
    boxset = _one_box(333, 500, [0.1, 0.2, 0.6, 0.9])
    out = ResizeAndCrop((640, 640), (640, 640)).resize_boxes(boxset)
    assert out.boxes[0] == pytest.approx([42.6, 128.0, 255.6, 576.0])
    with pytest.raises(InputError, match="zero pixels"):
        ResizeAndCrop((512, 384), (512, 384)).resize_boxes(_one_box(1, 1000, [0, 0, 1, 1]))


def test_letterbox_by_hand():
    # 333x500 into 512x512: pad (500 - 333) / 2 = 83.5 -> 83 rows each side, Hp = 499
    assert [v.tolist() for v in letterbox_padding(np.array([333]), np.array([500]),
                                                  (512, 512))] == [[83], [0]]
    out = YoloResize((512, 512), True).resize_boxes(_one_box(333, 500, [0.1, 0.2, 0.6, 0.9]))
    assert out.boxes[0] == pytest.approx([119.33, 102.4, 290.17, 460.8], abs=0.01)
    stretch = YoloResize((512, 512), False).resize_boxes(_one_box(333, 500, [0.1, 0.2, 0.6, 0.9]))
    assert stretch.boxes[0] == pytest.approx([51.2, 102.4, 307.2, 460.8])


def test_yolo_ratio_rule_by_hand():
    exp = yolov7()
    anchors = geometry.yolo_anchors(exp)
    rule = matching.matching_rule(exp, mgx.YOLOV7, anchors)
    assert (rule.name, rule.threshold, rule.force_match) == (matching.RATIO_RULE, 4.0, False)
    # a 2x2 px box: every anchor has a side >= 10, ratio >= 5 -> no target at all
    # a 41x41 px box centred at 22.5 px (exact ratios of 4 would be float32 coin flips)
    boxes = np.array([[100, 100, 102, 102], [2, 2, 43, 43]], dtype=np.float64)
    m = matching.yolo_match(boxes, (416, 416), anchors, rule)
    assert m.matched.tolist() == [False, True]
    assert m.targets[0] == 0
    metrics = matching.yolo_metrics(m, rule)
    assert metrics["no_target_share"] == 0.5 and metrics["rule"] == "yolo_ratio"
    # box 2: level 3 anchors 10x13, 16x30, 33x23 -> ratios 4.1, 2.56, 1.78: 2 pass (< 4);
    # centre 22.5 px = 2.81 cells: right/down neighbours (frac .81 > .5), so 3 cells each
    level3 = 2 * 3
    # level 4 (stride 16): 30x61, 62x45, 59x119 -> 1.49, 1.51, 2.90: 3 pass; 22.5/16 = 1.41
    # cells: frac .41 < .5 and 1.41 > 1 -> left/up neighbours: 3 cells
    level4 = 3 * 3
    # level 5 (stride 32): 116x90 2.83, 156x198 4.83, 373x326 9.1 -> 1 passes; 22.5/32 = .70
    # cells: frac .70 > .5 -> right/down: 3 cells
    level5 = 1 * 3
    assert m.targets[1] == level3 + level4 + level5


def _one_box(h: int, w: int, box) -> BoxSet:
    return BoxSet(image_height=np.array([h], np.int32), image_width=np.array([w], np.int32),
                  image_key=np.array(["img"], dtype=object), box_image=np.zeros(1, np.int32),
                  boxes=np.array([box], np.float32), label=np.ones(1, np.int32),
                  difficult=np.zeros(1, bool), group_of=np.zeros(1, bool),
                  is_crowd=np.zeros(1, bool))
