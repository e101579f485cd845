"""Locating resizer, anchors, extractor, matcher and inputs in pipeline configs."""

from __future__ import annotations

import collections
import functools

import pytest
from conftest import SHARED_CONFIGS

from tfod_anchors.config import query as q
from tfod_anchors.config import schema as schema_mod
from tfod_anchors.config.schema import get_schema, parse_pipeline_text
from tfod_anchors.errors import ConfigError, UsageError
from tfod_anchors.matcher import FASTER_RCNN_FIRST_STAGE

FRCNN_FPN = """
model {
  faster_rcnn {
    num_classes: 2
    image_resizer { keep_aspect_ratio_resizer { min_dimension: 640 max_dimension: 640
                                                pad_to_max_dimension: true } }
    feature_extractor {
      type: 'faster_rcnn_resnet50_fpn_keras'
      first_stage_features_stride: 8
      fpn { min_level: 2 max_level: 6 }
    }
    first_stage_anchor_generator {
      multiscale_anchor_generator { min_level: 2 max_level: 6 aspect_ratios: [1.0, 2.0, 0.5] }
    }
    clip_anchors_to_image: true
  }
}
train_config { fine_tune_checkpoint: "gs://bucket/ckpt-0" max_number_of_boxes: 50 }
train_input_reader {
  label_map_path: "/data/label_map.pbtxt"
  max_number_of_boxes: 70
  tf_record_input_reader { input_path: "/data/a-*.record" input_path: "gs://b/c.record" }
}
eval_input_reader { tf_record_input_reader { input_path: "/data/val.record" } }
"""

SSD = """
model {
  ssd {
    num_classes: 1
    image_resizer { fixed_shape_resizer { height: 320 width: 320 } }
    feature_extractor {
      type: 'ssd_efficientnet-b0_bifpn_keras'
      bifpn { max_level: 6 }
      num_layers: 5
    }
    anchor_generator { ssd_anchor_generator { num_layers: 5 } }
    matcher { argmax_matcher { matched_threshold: 0.6 } }
  }
}
"""


def _parse(text):
    return parse_pipeline_text(text, "test.config", get_schema("bundled"))


def test_faster_rcnn_fpn_fields():
    cfg = _parse(FRCNN_FPN)
    assert q.model_kind(cfg) == "faster_rcnn"
    assert q.image_resizer_kind(cfg) == "keep_aspect_ratio_resizer"
    assert q.image_resizer(cfg).keep_aspect_ratio_resizer.pad_to_max_dimension is True
    assert q.anchor_generator_path(cfg) == ["model", "faster_rcnn", "first_stage_anchor_generator"]
    assert q.anchor_generator_kind(cfg) == "multiscale_anchor_generator"
    multiscale = q.anchor_generator(cfg).multiscale_anchor_generator
    assert (multiscale.min_level, multiscale.anchor_scale, multiscale.scales_per_octave) == (
        2,
        4.0,
        2,
    )
    assert q.feature_extractor(cfg) == q.FeatureExtractorInfo(
        model_kind="faster_rcnn",
        type="faster_rcnn_resnet50_fpn_keras",
        first_stage_features_stride=8,
        pyramid="fpn",
        min_level=2,
        max_level=6,
        pad_to_multiple=32,
    )
    assert q.matcher_kind(cfg) == "faster_rcnn_first_stage"
    assert q.matcher_spec(cfg) is FASTER_RCNN_FIRST_STAGE
    assert q.clip_anchors_to_image(cfg) is True
    assert q.train_input_paths(cfg) == q.TrainInput(
        paths=["/data/a-*.record", "gs://b/c.record"],
        reader="tf_record_input_reader",
        input_type="TF_EXAMPLE",
        compression="",
        sample_weights=[],
    )
    assert q.label_map_path(cfg) == "/data/label_map.pbtxt"
    assert q.max_number_of_boxes(cfg) == 70
    assert q.ignored_train_config_max_boxes(cfg) == 50
    assert q.fine_tune_checkpoint(cfg) == "gs://bucket/ckpt-0"


def test_ssd_fields_and_argmax_defaults():
    cfg = _parse(SSD)
    assert q.model_kind(cfg) == "ssd"
    assert q.anchor_generator_path(cfg) == ["model", "ssd", "anchor_generator"]
    assert q.anchor_generator(cfg).ssd_anchor_generator.min_scale == pytest.approx(0.2)
    info = q.feature_extractor(cfg)
    assert (info.pyramid, info.min_level, info.max_level) == ("bifpn", 3, 6)
    assert (info.first_stage_features_stride, info.pad_to_multiple, info.num_layers) == (None, 1, 5)
    assert info.use_explicit_padding is False
    spec = q.matcher_spec(cfg)
    assert spec.matched_threshold == pytest.approx(0.6)
    assert spec.unmatched_threshold == 0.5  # proto default
    assert spec.force_match is False  # proto default (sample configs set it true)
    assert spec.negatives_lower_than_unmatched is True
    assert spec.ignore_thresholds is False
    assert spec.source == "ssd.matcher.argmax_matcher"
    assert q.clip_anchors_to_image(cfg) is False
    assert q.train_input_paths(cfg).paths == [] and q.train_input_paths(cfg).reader is None
    assert q.label_map_path(cfg) is None and q.fine_tune_checkpoint(cfg) is None
    assert q.max_number_of_boxes(cfg) == 100
    assert q.ignored_train_config_max_boxes(cfg) is None


def test_bipartite_and_missing_matchers():
    cfg = _parse(SSD.replace("argmax_matcher { matched_threshold: 0.6 }", "bipartite_matcher {}"))
    assert q.matcher_kind(cfg) == "bipartite_matcher"
    spec = q.matcher_spec(cfg)
    assert spec.force_match and spec.matched_threshold == 1.0
    assert "bipartite" in spec.source
    cfg = _parse(SSD.replace("matcher { argmax_matcher { matched_threshold: 0.6 } }", ""))
    with pytest.raises(ConfigError, match="ssd.matcher is not set"):
        q.matcher_spec(cfg)


def test_models_without_anchors():
    cfg = _parse("model { center_net { num_classes: 1 } }")
    assert q.model_kind(cfg) == "center_net"
    assert q.anchor_generator_path(cfg) is None
    assert q.anchor_generator(cfg) is None and q.anchor_generator_kind(cfg) is None
    assert q.image_resizer(cfg) is None
    with pytest.raises(ConfigError, match="center_net has no anchor matcher"):
        q.matcher_spec(cfg)
    empty = get_schema("bundled").new_pipeline()
    assert q.model_kind(empty) is None and q.feature_extractor(empty) is None
    ssd_without = _parse("model { ssd { num_classes: 1 } }")
    assert q.anchor_generator_path(ssd_without) == ["model", "ssd", "anchor_generator"]
    assert q.anchor_generator(ssd_without) is None


def _configs_dict(cfg):
    """The dict TFOD's config_util.get_configs_from_pipeline_file builds."""
    configs = {
        "model": cfg.model,
        "train_config": cfg.train_config,
        "train_input_config": cfg.train_input_reader,
        "eval_config": cfg.eval_config,
        "eval_input_configs": cfg.eval_input_reader,
    }
    if cfg.eval_input_reader:
        configs["eval_input_config"] = cfg.eval_input_reader[0]
    return configs


def test_as_pipeline_accepts_tfod_configs_dict():
    cfg = _parse(FRCNN_FPN)
    rebuilt = q.as_pipeline(_configs_dict(cfg))
    assert rebuilt == cfg and rebuilt is not cfg
    assert q.as_pipeline(cfg) is cfg
    assert q.model_kind(_configs_dict(cfg)) == "faster_rcnn"
    assert q.train_input_paths(_configs_dict(cfg)).paths[1] == "gs://b/c.record"


def test_as_pipeline_across_descriptor_pools():
    """Messages from another pool (like TFOD's installed classes) are converted by value."""
    other = schema_mod._load_bundled()
    assert other.pool is not get_schema("bundled").pool
    theirs = parse_pipeline_text(FRCNN_FPN, "x", other)
    configs = _configs_dict(theirs)
    rebuilt = q.as_pipeline(configs)
    assert type(rebuilt) is type(theirs)
    assert rebuilt.SerializeToString() == theirs.SerializeToString()
    mixed = dict(configs, model=_parse(FRCNN_FPN).model)
    assert q.as_pipeline(mixed).SerializeToString() == theirs.SerializeToString()


def test_as_pipeline_rejects_other_objects():
    with pytest.raises(UsageError):
        q.as_pipeline("model {}")
    with pytest.raises(UsageError):
        q.as_pipeline(get_schema("bundled").AnchorGenerator())
    with pytest.raises(UsageError, match="train_config"):
        q.as_pipeline({"model": _parse(SSD).model, "train_config": _parse(SSD).model})


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("PATH_TO_BE_CONFIGURED/train.record", True),
        ("PATH_TO_BEE_CONFIGURED/val2017-?????", True),
        ("/PATH_TO_BE_CONFIGURED/model.ckpt", True),
        ("<path to your records>", True),
        ("/data/coco/train-00000-of-00100.record", False),
        ("gs://bucket/path_to/records", False),
        ("", False),
        (None, False),
    ],
)
def test_is_placeholder_path(path, expected):
    assert q.is_placeholder_path(path) is expected


@functools.cache
def _samples():
    if not SHARED_CONFIGS.is_dir():
        pytest.skip(f"sample configs not found under {SHARED_CONFIGS}")
    bundled = get_schema("bundled")
    return {
        f"{p.parent.name}/{p.name}": parse_pipeline_text(p.read_text(), str(p), bundled)
        for p in sorted(SHARED_CONFIGS.glob("*/*.config"))
    }


def test_sample_configs_overview():
    samples = _samples()
    kinds = collections.Counter(
        (q.model_kind(c), q.anchor_generator_kind(c), q.matcher_kind(c)) for c in samples.values()
    )
    assert kinds == {
        ("center_net", None, None): 11,
        ("faster_rcnn", "grid_anchor_generator", "faster_rcnn_first_stage"): 39,
        ("faster_rcnn", "multiscale_anchor_generator", "faster_rcnn_first_stage"): 1,
        ("ssd", "multiscale_anchor_generator", "argmax_matcher"): 22,
        ("ssd", "ssd_anchor_generator", "argmax_matcher"): 31,
    }
    for name, cfg in samples.items():
        inputs = q.train_input_paths(cfg)
        assert inputs.paths and all(q.is_placeholder_path(p) for p in inputs.paths), name
        assert q.is_placeholder_path(q.label_map_path(cfg)), name


def test_known_sample_values():
    samples = _samples()
    frcnn = samples["samples/faster_rcnn_resnet101_coco.config"]
    resizer = q.image_resizer(frcnn).keep_aspect_ratio_resizer
    assert (resizer.min_dimension, resizer.max_dimension) == (600, 1024)
    grid = q.anchor_generator(frcnn).grid_anchor_generator
    assert list(grid.scales) == [0.25, 0.5, 1.0, 2.0] and list(grid.aspect_ratios) == [
        0.5,
        1.0,
        2.0,
    ]
    assert q.feature_extractor(frcnn).first_stage_features_stride == 16
    assert q.clip_anchors_to_image(frcnn) is False

    fpn = samples["tf2/faster_rcnn_resnet50_v1_fpn_640x640_coco17_tpu-8.config"]
    info = q.feature_extractor(fpn)
    assert (info.type, info.pyramid, info.min_level, info.max_level) == (
        "faster_rcnn_resnet50_fpn_keras",
        "fpn",
        2,
        6,
    )
    assert q.anchor_generator(fpn).multiscale_anchor_generator.normalize_coordinates is False
    assert q.clip_anchors_to_image(fpn) is True

    ssd = samples["samples/ssd_mobilenet_v1_coco.config"]
    spec = q.matcher_spec(ssd)
    assert (spec.matched_threshold, spec.unmatched_threshold, spec.force_match) == (0.5, 0.5, True)
    assert q.feature_extractor(ssd).type == "ssd_mobilenet_v1"

    d0 = samples["tf2/ssd_efficientdet_d0_512x512_coco17_tpu-8.config"]
    info = q.feature_extractor(d0)
    assert (info.type, info.pyramid, info.min_level, info.max_level) == (
        "ssd_efficientnet-b0_bifpn_keras",
        "bifpn",
        3,
        7,
    )
    assert q.anchor_generator(d0).multiscale_anchor_generator.scales_per_octave == 3
