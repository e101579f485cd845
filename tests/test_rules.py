"""Config rules for ``check``: one small config per finding code."""

from __future__ import annotations

import pytest

from tfod_anchors.config.schema import parse_pipeline_text
from tfod_anchors.rules import SEVERITY, check_rules, has_errors

SSD = """model { ssd {
  num_classes: 1
  image_resizer { %(resizer)s }
  feature_extractor { type: "%(type)s" %(fe)s }
  box_predictor { %(predictor)s { } }
  anchor_generator { %(gen)s }
  matcher { argmax_matcher { matched_threshold: 0.5 unmatched_threshold: 0.5 } }
} }"""

SSD_GEN = ("ssd_anchor_generator { num_layers: 6 min_scale: 0.2 max_scale: 0.95 "
           "aspect_ratios: [1.0, 2.0, 0.5, 3.0, 0.3333] }")
RETINA_GEN = ("multiscale_anchor_generator { min_level: 3 max_level: 7 anchor_scale: 4.0 "
              "aspect_ratios: [1.0, 2.0, 0.5] scales_per_octave: 2 %s }")

FRCNN = """model { faster_rcnn {
  num_classes: 1
  image_resizer { %(resizer)s }
  feature_extractor { type: "%(type)s" first_stage_features_stride: %(stride)d %(fe)s }
  %(gen)s
  %(extra)s
} }"""

GRID_GEN = ("first_stage_anchor_generator { grid_anchor_generator { scales: %(scales)s "
            "aspect_ratios: %(ratios)s height_stride: %(gs)d width_stride: %(gs)d } }")


def ssd(**kw) -> str:
    values = dict(resizer="fixed_shape_resizer { height: 300 width: 300 }",
                  type="ssd_mobilenet_v2_keras", fe="",
                  predictor="convolutional_box_predictor", gen=SSD_GEN)
    values.update(kw)
    return SSD % values


def frcnn(**kw) -> str:
    grid = dict(scales="[0.25, 0.5, 1.0]", ratios="[0.5, 1.0, 2.0]", gs=16)
    grid.update({k: kw.pop(k) for k in list(kw) if k in grid})
    values = dict(resizer="keep_aspect_ratio_resizer { min_dimension: 600 max_dimension: 1024 }",
                  type="faster_rcnn_resnet101", stride=16, fe="", gen=GRID_GEN % grid, extra="")
    values.update(kw)
    return FRCNN % values


def run(text: str):
    return check_rules(parse_pipeline_text(text, "test.config"))


def codes(text: str) -> list[str]:
    return [f.code for f in run(text)]


def test_clean_configs_have_no_findings():
    assert run(ssd()) == []
    assert run(frcnn()) == []
    assert run(ssd(type="ssd_resnet50_v1_fpn_keras",
                   resizer="fixed_shape_resizer { height: 640 width: 640 }",
                   predictor="weight_shared_convolutional_box_predictor",
                   gen=RETINA_GEN % "")) == []


def test_findings_are_well_formed():
    findings = run(frcnn(stride=8))
    assert findings and has_errors(findings)
    for f in findings:
        assert f.severity == SEVERITY[f.code] and f.message
        assert set(f.to_dict()) == {"code", "severity", "message"}


def test_no_anchor_generator_and_anchor_free_model():
    assert codes(ssd(gen="")) == ["no_anchor_generator"]
    [f] = run("model { center_net { num_classes: 1 } }")
    assert (f.code, f.severity) == ("anchor_free_model", "info")


def test_invalid_generator_and_resizer():
    assert "invalid_anchor_generator" in codes(
        ssd(gen="ssd_anchor_generator { num_layers: 1 aspect_ratios: 1.0 }"))
    assert "invalid_image_resizer" in codes(
        ssd(resizer="keep_aspect_ratio_resizer { min_dimension: 800 max_dimension: 600 }"))
    assert codes(ssd(resizer="keep_aspect_ratio_resizer { min_dimension: 800 max_dimension: 600 }",
                     type="ssd_resnet50_v1_fpn_keras", gen=RETINA_GEN % "")) == [
        "invalid_image_resizer"]


def test_generator_meta_mismatch():
    grid = "grid_anchor_generator { scales: 1.0 aspect_ratios: 1.0 }"
    assert codes(ssd(gen=grid))[:1] == ["generator_meta_mismatch"]
    text = frcnn(gen=f"first_stage_anchor_generator {{ {SSD_GEN} }}")
    assert "generator_meta_mismatch" in codes(text)


def test_frcnn_normalized_anchors():
    text = frcnn(type="faster_rcnn_resnet50_fpn_keras",
                 resizer="fixed_shape_resizer { height: 640 width: 640 }",
                 fe="fpn { min_level: 3 max_level: 7 }",
                 gen=f"first_stage_anchor_generator {{ {RETINA_GEN % ''} }}")
    assert codes(text) == ["frcnn_normalized_anchors"]
    ok = text.replace("scales_per_octave: 2 ", "scales_per_octave: 2 normalize_coordinates: false")
    assert "frcnn_normalized_anchors" not in codes(ok)


def test_ssd_unnormalized_anchors():
    text = ssd(type="ssd_resnet50_v1_fpn_keras",
               resizer="fixed_shape_resizer { height: 640 width: 640 }",
               gen=RETINA_GEN % "normalize_coordinates: false")
    assert codes(text) == ["ssd_unnormalized_anchors"]


def test_zero_anchors():
    assert "zero_anchors" in codes(frcnn(scales="[]"))
    assert "zero_anchors" in codes(ssd(gen=RETINA_GEN.replace("aspect_ratios: [1.0, 2.0, 0.5]",
                                                              "") % ""))


def test_duplicate_aspect_ratios_and_scales():
    assert "duplicate_aspect_ratios" in codes(frcnn(ratios="[0.5, 1.0, 2.0, 1.0]"))
    assert "duplicate_scales" in codes(frcnn(scales="[0.5, 1.0, 0.5]"))
    [f] = [f for f in run(frcnn(ratios="[0.5, 1.0, 2.0, 1.0]"))
           if f.code == "duplicate_aspect_ratios"]
    assert f.severity == "warning" and "1" in f.message


def test_weight_shared_anchors_differ():
    text = ssd(predictor="weight_shared_convolutional_box_predictor")
    [f] = run(text)
    assert f.code == "weight_shared_anchors_differ" and "[3, 6, 6, 6, 6, 6]" in f.message
    assert "reduce_boxes_in_lowest_layer: false" in f.message
    fixed = SSD_GEN.replace("}", "reduce_boxes_in_lowest_layer: false }")
    assert run(ssd(predictor="weight_shared_convolutional_box_predictor", gen=fixed)) == []


def test_unknown_and_wrong_extractor():
    findings = run(ssd(type="my_backbone"))
    assert [(f.code, f.severity) for f in findings] == [("unknown_extractor", "warning")]
    assert codes(frcnn(type="ssd_mobilenet_v2")) == ["extractor_wrong_meta_architecture"]


def test_stride_not_allowed():
    assert codes(frcnn(type="faster_rcnn_resnet50_keras", stride=8, gs=8)) == [
        "stride_not_allowed"]


def test_stride_ignored():
    # Inception v2 accepts 8 but its Mixed_4e map stays at stride 16
    findings = run(frcnn(type="faster_rcnn_inception_v2", stride=8, gs=8))
    assert [f.code for f in findings] == ["stride_ignored", "grid_stride_mismatch"]
    assert "height_stride: 16 width_stride: 16" in findings[1].message
    assert codes(frcnn(type="faster_rcnn_inception_v2", stride=8)) == ["stride_ignored"]


def test_grid_stride_mismatch():
    [f] = run(frcnn(stride=8))
    assert f.code == "grid_stride_mismatch"
    assert "height_stride: 8 width_stride: 8" in f.message
    assert run(frcnn(stride=8, gs=8)) == []


def test_feature_map_count_mismatch():
    text = frcnn(type="faster_rcnn_resnet50_fpn_keras",
                 resizer="fixed_shape_resizer { height: 640 width: 640 }")
    [f] = run(text)
    assert f.code == "feature_map_count_mismatch" and "min_level: 2 max_level: 6" in f.message


def test_num_layers_mismatch():
    text = ssd(gen=SSD_GEN.replace("num_layers: 6", "num_layers: 5"))
    [f] = run(text)
    assert f.code == "num_layers_mismatch" and "num_layers: 6" in f.message


def test_multiscale_levels_mismatch_same_count():
    text = ssd(type="ssd_resnet50_v1_fpn_keras", fe="fpn { min_level: 2 max_level: 6 }",
               resizer="fixed_shape_resizer { height: 640 width: 640 }", gen=RETINA_GEN % "")
    [f] = run(text)
    assert f.code == "multiscale_levels_mismatch"
    assert "min_level: 2 max_level: 6" in f.message
    # class default levels 3..7 apply when there is no fpn block
    default = ssd(type="ssd_resnet50_v1_fpn_keras",
                  resizer="fixed_shape_resizer { height: 640 width: 640 }",
                  gen=(RETINA_GEN % "").replace("max_level: 7", "max_level: 6"))
    assert codes(default) == ["multiscale_levels_mismatch"]


def test_pyramid_problems():
    mnas = ssd(type="ssd_mobilenet_v2_mnasfpn", fe="fpn { min_level: 3 max_level: 7 }",
               resizer="fixed_shape_resizer { height: 320 width: 320 }", gen=RETINA_GEN % "")
    assert codes(mnas)[0] == "pyramid_levels_not_accepted"
    assert "pyramid_not_supported" in codes(ssd(fe="fpn { }"))
    odd = ssd(type="ssd_resnet50_v1_fpn_keras", gen=RETINA_GEN % "")
    assert codes(odd) == ["pyramid_input_not_divisible"]
    assert "pyramid_input_not_divisible" not in codes(
        ssd(type="ssd_resnet50_v1_fpn_keras", fe="pad_to_multiple: 32", gen=RETINA_GEN % ""))


def test_explicit_padding_not_accepted():
    text = ssd(type="ssd_efficientnet-b0_bifpn_keras", fe="use_explicit_padding: true",
               resizer="fixed_shape_resizer { height: 512 width: 512 }",
               gen=RETINA_GEN.replace("scales_per_octave: 2", "scales_per_octave: 3") % "")
    assert "explicit_padding_not_accepted" in codes(text)


def test_input_below_minimum_and_not_accepted():
    small = ssd(resizer="fixed_shape_resizer { height: 32 width: 300 }")
    assert codes(small)[0] == "input_below_extractor_minimum"
    embedded = ssd(type="embedded_ssd_mobilenet_v1",
                   gen=SSD_GEN.replace("num_layers: 6", "num_layers: 5"))
    assert codes(embedded) == ["input_size_not_accepted"]


def test_anchor_too_large():
    [f] = run(frcnn(scales="[0.5, 4.0]"))
    assert f.code == "anchor_too_large" and "prunes it at every position" in f.message
    # clipping keeps oversized anchors usable
    assert run(frcnn(scales="[0.5, 4.0]", extra="clip_anchors_to_image: true")) == []
    huge = ssd(gen=SSD_GEN.replace("max_scale: 0.95", "max_scale: 3.0"))
    assert "anchor_too_large" in codes(huge)


def test_anchor_below_stride():
    [f] = run(frcnn(scales="[0.03, 1.0]"))
    assert f.code == "anchor_below_stride" and f.severity == "warning"
    assert "stride (16x16 px)" in f.message


@pytest.mark.parametrize("code", sorted(SEVERITY))
def test_every_code_has_a_known_severity(code):
    assert SEVERITY[code] in ("error", "warning", "info")
