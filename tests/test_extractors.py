"""Feature-extractor registry: map sizes, levels, strides and the problems TFOD would hit.

Sizes are derived by hand from each network's padding (SAME: ``ceil(H / s)``;
Inception v3 and NASNet stems: VALID arithmetic) and agree with TFOD's own
extractors built in TensorFlow (checked outside the suite).
"""

from __future__ import annotations

import pytest

from tfod_anchors.anchors.extractors import (
    REGISTRY,
    extractor_geometry,
    inception_v3_size,
    known_types,
    nas_stem_size,
)
from tfod_anchors.config.schema import parse_text, pipeline_pb2


def ssd_fe(text: str):
    return parse_text(text, pipeline_pb2().SsdFeatureExtractor())


def frcnn_fe(text: str):
    return parse_text(text, pipeline_pb2().FasterRcnnFeatureExtractor())


def ssd_geo(text: str, shape):
    return extractor_geometry("ssd", ssd_fe(text), shape)


def frcnn_geo(text: str, shape):
    return extractor_geometry("faster_rcnn", frcnn_fe(text), shape)


def codes(geo) -> list[str]:
    return [p.code for p in geo.problems]


def test_registry_has_every_type_of_tfods_builder_maps():
    ssd_tf1 = {
        "ssd_inception_v2", "ssd_inception_v3", "ssd_mobilenet_v1", "ssd_mobilenet_v1_fpn",
        "ssd_mobilenet_v1_ppn", "ssd_mobilenet_v2", "ssd_mobilenet_v2_fpn",
        "ssd_mobilenet_v2_mnasfpn", "ssd_mobilenet_v3_large", "ssd_mobilenet_v3_small",
        "ssd_mobilenet_v3_small_pruned", "ssd_mobilenet_edgetpu", "ssd_resnet50_v1_fpn",
        "ssd_resnet101_v1_fpn", "ssd_resnet152_v1_fpn", "ssd_resnet50_v1_ppn",
        "ssd_resnet101_v1_ppn", "ssd_resnet152_v1_ppn", "embedded_ssd_mobilenet_v1",
        "ssd_pnasnet", "ssd_mobiledet_cpu", "ssd_mobiledet_dsp", "ssd_mobiledet_edgetpu",
        "ssd_mobiledet_gpu", "ssd_spaghettinet"}
    ssd_tf2 = {"ssd_mobilenet_v1_keras", "ssd_mobilenet_v1_fpn_keras", "ssd_mobilenet_v2_keras",
               "ssd_mobilenet_v2_fpn_keras", "ssd_resnet50_v1_fpn_keras",
               "ssd_resnet101_v1_fpn_keras", "ssd_resnet152_v1_fpn_keras",
               *{f"ssd_efficientnet-b{i}_bifpn_keras" for i in range(8)}}
    frcnn = {"faster_rcnn_nas", "faster_rcnn_pnas", "faster_rcnn_inception_resnet_v2",
             "faster_rcnn_inception_v2", "faster_rcnn_resnet50", "faster_rcnn_resnet101",
             "faster_rcnn_resnet152", "faster_rcnn_resnet50_keras", "faster_rcnn_resnet101_keras",
             "faster_rcnn_resnet152_keras", "faster_rcnn_inception_resnet_v2_keras",
             "faster_rcnn_resnet50_fpn_keras", "faster_rcnn_resnet101_fpn_keras",
             "faster_rcnn_resnet152_fpn_keras"}
    assert set(known_types("ssd")) == ssd_tf1 | ssd_tf2
    assert set(known_types("faster_rcnn")) == frcnn
    assert {REGISTRY[t].tf_version for t in ssd_tf2} == {2}


def test_ssd_mobilenet_same_padding_sizes():
    geo = ssd_geo('type: "ssd_mobilenet_v2_keras"', (300, 321))
    assert geo.feature_map_shapes == [(19, 21), (10, 11), (5, 6), (3, 3), (2, 2), (1, 1)]
    assert geo.strides == [16, 32, 64, 128, 256, 512] and geo.problems == []
    assert ssd_geo('type: "ssd_mobilenet_v1"', (33, 47)).feature_map_shapes[0] == (3, 3)


def test_ssd_num_layers_cuts_the_layout_only_where_accepted():
    geo = ssd_geo('type: "ssd_mobilenet_v1" num_layers: 4', (300, 300))
    assert geo.feature_map_shapes == [(19, 19), (10, 10), (5, 5), (3, 3)]
    fixed = ssd_geo('type: "ssd_mobilenet_v3_large" num_layers: 4', (320, 320))
    assert len(fixed.feature_map_shapes) == 6


def test_ssd_inception_v3_and_pnasnet_valid_stems():
    # 300: conv s2 149, conv 147, pool 73, conv 71, pool 35 | 6a: 17 | 7a: 8
    assert inception_v3_size(300, 8) == 35 and inception_v3_size(300, 16) == 17
    assert inception_v3_size(300, 32) == 8
    geo = ssd_geo('type: "ssd_inception_v3"', (300, 321))
    assert geo.feature_map_shapes == [(35, 37), (17, 18), (8, 8), (4, 4), (2, 2), (1, 1)]
    # PNASNet: stem (H - 3) // 2 + 1, then SAME halvings: 33 -> 16 -> ceil(16 / 8) = 2
    assert nas_stem_size(33, 16) == 2 and nas_stem_size(47, 16) == 3
    assert ssd_geo('type: "ssd_pnasnet"', (33, 47)).feature_map_shapes[:2] == [(2, 3), (1, 2)]


def test_embedded_mobilenet_needs_256():
    geo = ssd_geo('type: "embedded_ssd_mobilenet_v1"', (256, 256))
    assert geo.feature_map_shapes == [(16, 16), (8, 8), (4, 4), (2, 2), (1, 1)]
    assert codes(ssd_geo('type: "embedded_ssd_mobilenet_v1"', (300, 300))) == [
        "input_size_not_accepted"]


def test_fpn_levels_from_config_or_class_default():
    geo = ssd_geo('type: "ssd_resnet50_v1_fpn_keras"', (640, 640))
    assert geo.pyramid_levels == (3, 7) and geo.levels == [3, 4, 5, 6, 7]
    assert geo.feature_map_shapes == [(80, 80), (40, 40), (20, 20), (10, 10), (5, 5)]
    geo = ssd_geo('type: "ssd_resnet50_v1_fpn_keras" fpn { min_level: 2 max_level: 6 }',
                  (640, 640))
    assert geo.feature_map_shapes[0] == (160, 160) and geo.levels == [2, 3, 4, 5, 6]


def test_fpn_needs_even_maps_unless_padded_or_cropped():
    geo = ssd_geo('type: "ssd_resnet50_v1_fpn_keras"', (300, 300))
    assert codes(geo) == ["pyramid_input_not_divisible"]
    padded = ssd_geo('type: "ssd_resnet50_v1_fpn_keras" pad_to_multiple: 32', (300, 300))
    assert padded.network_shape == (320, 320) and padded.problems == []
    assert padded.feature_map_shapes == [(40, 40), (20, 20), (10, 10), (5, 5), (3, 3)]
    cropped = ssd_geo('type: "ssd_mobilenet_v1_fpn" use_explicit_padding: true', (300, 300))
    assert cropped.problems == []
    assert cropped.feature_map_shapes == [(38, 38), (19, 19), (10, 10), (5, 5), (3, 3)]
    assert "explicit_padding_not_accepted" in codes(
        ssd_geo('type: "ssd_resnet50_v1_fpn" use_explicit_padding: true', (320, 320)))


def test_bifpn_mnasfpn_ppn_spaghettinet():
    d0 = ssd_geo('type: "ssd_efficientnet-b0_bifpn_keras" bifpn { min_level: 3 max_level: 7 }',
                 (512, 512))
    assert d0.feature_map_shapes == [(64, 64), (32, 32), (16, 16), (8, 8), (4, 4)]
    assert d0.problems == []
    mnas = ssd_geo('type: "ssd_mobilenet_v2_mnasfpn" fpn { min_level: 3 max_level: 6 }',
                   (320, 320))
    assert mnas.feature_map_shapes == [(40, 40), (20, 20), (10, 10), (5, 5)]
    assert codes(ssd_geo('type: "ssd_mobilenet_v2_mnasfpn" fpn { min_level: 3 max_level: 7 }',
                         (320, 320))) == ["pyramid_levels_not_accepted"]
    ppn = ssd_geo('type: "ssd_mobilenet_v1_ppn"', (300, 300))
    assert ppn.feature_map_shapes == [(19, 19), (10, 10), (5, 5), (3, 3), (2, 2), (1, 1)]
    spaghetti = ssd_geo('type: "ssd_spaghettinet"', (290, 299))
    assert spaghetti.feature_map_shapes == [(19, 19), (10, 10), (5, 5), (3, 3), (3, 3)]
    assert codes(ssd_geo('type: "ssd_mobilenet_v2" fpn { }', (300, 300))) == [
        "pyramid_not_supported"]


def test_minimum_input_and_unknown_types():
    assert codes(ssd_geo('type: "ssd_mobilenet_v2"', (32, 300))) == [
        "input_below_extractor_minimum"]
    assert codes(ssd_geo('type: "ssd_resnet50_v1_fpn_keras"', (128, 128))) == [
        "input_below_extractor_minimum"]
    unknown = ssd_geo('type: "my_backbone"', (300, 300))
    assert not unknown.known and unknown.feature_map_shapes == []
    assert codes(unknown) == ["unknown_extractor"]
    wrong = frcnn_geo('type: "ssd_mobilenet_v2"', (600, 600))
    assert codes(wrong) == ["extractor_wrong_meta_architecture"]


def test_frcnn_single_map_strides():
    geo = frcnn_geo('type: "faster_rcnn_resnet101" first_stage_features_stride: 16', (600, 800))
    assert geo.feature_map_shapes == [(38, 50)] and geo.strides == [16]
    atrous = frcnn_geo('type: "faster_rcnn_resnet101" first_stage_features_stride: 8', (600, 800))
    assert atrous.feature_map_shapes == [(75, 100)]
    assert codes(frcnn_geo('type: "faster_rcnn_resnet50_keras" first_stage_features_stride: 8',
                           (640, 640))) == ["stride_not_allowed"]
    assert codes(frcnn_geo('type: "faster_rcnn_resnet50" first_stage_features_stride: 32',
                           (640, 640))) == ["stride_not_allowed"]
    inc = frcnn_geo('type: "faster_rcnn_inception_v2" first_stage_features_stride: 8', (18, 290))
    assert inc.feature_map_shapes == [(2, 19)] and codes(inc) == [
        "input_below_extractor_minimum", "stride_ignored"]
    # NASNet: VALID stem (1200 - 3) // 2 + 1 = 599, then ceil(599 / 8) = 75
    assert frcnn_geo('type: "faster_rcnn_nas"', (1200, 1200)).feature_map_shapes == [(75, 75)]


def test_frcnn_fpn_keras_defaults_and_internal_padding():
    geo = frcnn_geo('type: "faster_rcnn_resnet50_fpn_keras"', (640, 640))
    assert geo.pyramid_levels == (2, 6)
    assert geo.feature_map_shapes == [(160, 160), (80, 80), (40, 40), (20, 20), (10, 10)]
    odd = frcnn_geo('type: "faster_rcnn_resnet50_fpn_keras"', (600, 601))
    assert odd.network_shape == (608, 608) and odd.problems == []
    assert odd.feature_map_shapes[0] == (152, 152) and odd.feature_map_shapes[-1] == (10, 10)
    # an empty fpn block means the proto defaults 3..7, not the class defaults
    assert frcnn_geo('type: "faster_rcnn_resnet50_fpn_keras" fpn { }',
                     (640, 640)).pyramid_levels == (3, 7)


@pytest.mark.parametrize("type_", sorted(REGISTRY))
def test_every_registered_type_gives_maps_for_its_usual_input(type_):
    spec = REGISTRY[type_]
    side = spec.exact_input or 640
    if spec.meta_architecture == "ssd":
        extra = " fpn { min_level: 3 max_level: 6 }" if spec.family == "mnasfpn" else ""
        geo = ssd_geo(f'type: "{type_}"{extra}', (side, side))
    else:
        geo = frcnn_geo(f'type: "{type_}" first_stage_features_stride: 16', (side, side))
    assert geo.problems == []
    assert geo.feature_map_shapes and all(min(s) >= 1 for s in geo.feature_map_shapes)
    assert len(geo.strides) == len(geo.feature_map_shapes) == len(geo.levels)
