"""The model spec (``frameworks/``): TFOD's implementation answers what the pipeline asks,
and a fit's options are validated once, at the edge."""

from __future__ import annotations

import pytest

from tfod_anchors.config.schema import parse_pipeline_text
from tfod_anchors.errors import UsageError
from tfod_anchors.fitting import FitOptions, Guard
from tfod_anchors.fitting.guard import as_guard
from tfod_anchors.frameworks import IOU, YOLO_RATIO, MatcherRule, ModelSpec, as_spec

FRCNN = """
model { faster_rcnn {
  num_classes: 1
  image_resizer { fixed_shape_resizer { height: 64 width: 64 } }
  feature_extractor { type: 'faster_rcnn_resnet50_keras' }
  first_stage_anchor_generator { grid_anchor_generator {
    scales: [0.25, 0.5] aspect_ratios: [1.0] height_stride: 16 width_stride: 16 } }
} }
train_config { data_augmentation_options { random_horizontal_flip {} } }
train_input_reader { label_map_path: "lm.pbtxt" max_number_of_boxes: 7
  tf_record_input_reader { input_path: ["a.record", "b.record"] } }
"""


def spec():
    return as_spec(parse_pipeline_text(FRCNN, "t.config"), "t.config")


def test_tfod_spec_answers_the_protocol():
    s = spec()
    assert isinstance(s, ModelSpec) and as_spec(s) is s
    assert (s.framework, s.family, s.kind, s.path) == (
        "tfod", "faster_rcnn", "grid_anchor_generator", "t.config")
    assert s.inputs.paths == ("a.record", "b.record") and s.inputs.label_map == "lm.pbtxt"
    assert s.inputs.max_boxes == 7 and s.inputs.reader == "tf_record_input_reader"
    assert s.augmenter is not None and s.augmenter.changes_boxes
    # the RPN's matcher is fixed in TFOD: IoU >= 0.7 with a forced best match
    assert s.matcher_rule() == MatcherRule(IOU, 0.7, True, s.matcher().source)
    # 64x64 input, stride 16: a 4x4 map, 2 scales x 1 ratio per cell
    layout = s.layout_for((64, 64))
    assert layout.levels[0].grid_shape == (4, 4) and layout.levels[0].sizes.shape == (2, 2)
    assert s.layout_for((64, 64)) is layout  # memoised
    assert s.param_space().split_counts == (2, 1)


def test_with_anchors_is_a_new_spec_and_leaves_the_config_alone():
    s = spec()
    space = s.param_space()
    new = space.write(s.anchors, [0.5, 1.0, 2.0])
    candidate = s.with_anchors(new)
    assert list(candidate.anchors.grid_anchor_generator.scales) == [0.5, 1.0]
    assert list(s.anchors.grid_anchor_generator.scales) == [0.25, 0.5]
    assert s.anchors_changes(s.anchors, new) == (
        {"scales": [0.5, 1.0], "aspect_ratios": [2.0]},
        {"scales": [0.25, 0.5], "aspect_ratios": [1.0]})
    assert s.anchors_key(s.copy_anchors(new)) == s.anchors_key(new) != s.anchors_key(s.anchors)
    # 128 px (0.5 x 256) square anchors at ratio 2: h = 128 / sqrt 2, w = 128 * sqrt 2
    h, w = candidate.layout_for((64, 64)).levels[0].sizes[0]
    assert h == pytest.approx(128 / 2 ** 0.5) and w == pytest.approx(128 * 2 ** 0.5)


def test_matcher_rules_express_the_three_frameworks_rules():
    assert MatcherRule.iou(0.5, force_match=False).force_match is False
    yolo = MatcherRule.yolo_ratio(4.0)
    assert (yolo.kind, yolo.threshold, yolo.force_match) == (YOLO_RATIO, 4.0, False)


def test_fit_options_are_validated_once():
    assert FitOptions.build().guard == Guard()
    assert FitOptions.build(guard="mean_iou=0.02").guard.mean_iou == 0.02
    assert as_guard(0.03) == Guard(0.03, 0.03, 0.03, 0.03)
    for bad in ({"max_boxes_exact": 50}, {"guard": "nonsense=1"}, {"guard": -1.0},
                {"objective": "w:1,2"}, {"objective": "most"}):
        with pytest.raises(UsageError):
            FitOptions.build(**bad)
