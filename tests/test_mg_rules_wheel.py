"""The Model Garden facts the ``check`` rules rest on, against the installed wheel: the
levels each backbone outputs, FPN refusing levels below the backbone's, and the boxes
the YOLO ratio rule leaves without a target counted by the real ``get_best_anchor``.
Needs tf-models-official (extra 'models'); skipped without it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ruamel.yaml", reason="YAML experiment files need ruamel.yaml (extra 'yaml')")
pytest.importorskip("official.vision.modeling.backbones",
                    reason="needs tf-models-official (extra 'models')")
tf = pytest.importorskip("tensorflow")

from tfod_anchors.frameworks.modelgarden import rules  # noqa: E402
from tfod_anchors.frameworks.modelgarden.yaml_patch import load  # noqa: E402

FIXTURES = Path(__file__).parent / "mg_experiments"


def experiment(name: str) -> dict:
    return load((FIXTURES / f"{name}.yaml").read_text())


def backbone_levels(backbone_config, norm=None) -> tuple[int, int]:
    import tf_keras
    from official.vision.configs import common
    from official.vision.modeling.backbones import factory

    model = factory.build_backbone(
        input_specs=tf_keras.layers.InputSpec(shape=[None, 256, 256, 3]),
        backbone_config=backbone_config, norm_activation_config=norm or common.NormActivation())
    found = sorted(int(k) for k in model.output_specs)
    assert found == list(range(found[0], found[-1] + 1))
    return found[0], found[-1]


@pytest.mark.parametrize("kind", sorted(rules.BACKBONE_LEVELS))
def test_fixed_backbone_levels(kind):
    from official.vision.configs import backbones

    assert backbone_levels(backbones.Backbone(type=kind)) == rules.BACKBONE_LEVELS[kind]


def test_configured_backbone_levels():
    import official.projects.yolo.common.registry_imports  # noqa: F401
    from official.core import exp_factory

    for name in ("retinanet_mobile_coco", "coco_yolov7tiny"):  # the small ones: quick to build
        model = exp_factory.get_exp_config(name).task.model
        kind = model.backbone.type
        assert kind in rules.CONFIGURED_LEVELS
        own = model.backbone.get()
        assert backbone_levels(model.backbone, model.norm_activation) == \
            (own.min_level, own.max_level)


def test_fpn_refuses_a_level_below_the_backbone():
    import tf_keras
    from official.vision.modeling.decoders import fpn

    specs = {str(lv): tf.TensorShape([None, 256 // 2**lv, 256 // 2**lv, 8]) for lv in (2, 3, 4, 5)}
    with pytest.raises(ValueError, match="min level"):
        fpn.FPN(input_specs=specs, min_level=1, max_level=7)
    outputs = fpn.FPN(input_specs=specs, min_level=2, max_level=7).output_specs
    assert sorted(int(k) for k in outputs) == [2, 3, 4, 5, 6, 7]
    del tf_keras


@pytest.mark.parametrize("level", [3, 4, 5])
def test_aspp_outputs_its_one_level(level):
    import tf_keras
    from official.vision.configs import backbones, decoders
    from official.vision.configs import retinanet as retinanet_cfg
    from official.vision.modeling.backbones import factory as backbone_factory
    from official.vision.modeling.decoders import factory

    model_config = retinanet_cfg.RetinaNet(
        backbone=backbones.Backbone(type="resnet"),
        decoder=decoders.Decoder(type="aspp", aspp=decoders.ASPP(level=level,
                                                                  dilation_rates=[6])))
    backbone = backbone_factory.build_backbone(
        input_specs=tf_keras.layers.InputSpec(shape=[None, 128, 128, 3]),
        backbone_config=model_config.backbone, norm_activation_config=model_config.norm_activation)
    decoder = factory.build_decoder(input_specs=backbone.output_specs,
                                    model_config=model_config)
    outputs = decoder(backbone(tf.zeros([1, 128, 128, 3])))
    assert sorted(int(k) for k in outputs) == [level]
    exp = experiment("retinanet_resnetfpn_coco")
    exp["task"]["model"].update(min_level=level, max_level=level,
                                decoder={"type": "aspp", "aspp": {"level": level}})
    assert rules.level_findings(exp) == []
    exp["task"]["model"]["max_level"] = level + 1
    assert f"need P{level + 1}, but the aspp decoder outputs one level, P{level}" in \
        rules.level_findings(exp)[0].message


@pytest.mark.parametrize("name", ["coco_yolov7tiny", "scaled_yolo"])
def test_boxes_without_target_equal_the_real_labeler(name):
    from official.projects.yolo.ops.anchor import get_best_anchor

    exp = experiment(name)
    size = exp["task"]["model"]["input_size"][0]
    rng = np.random.default_rng(0)
    wh = np.exp(rng.uniform(np.log(0.5), np.log(size), (3000, 2)))
    kind, thresh, forced = rules.match_rule(exp)
    assert (kind, forced) == ("ratio", False)
    boxes = np.concatenate([np.full_like(wh, 0.5), wh / size], axis=1).astype(np.float32)
    taken = np.zeros(len(wh), bool)
    shapes = rules.anchor_shapes(exp)
    for level in range(3, 6):
        stride = 2**level
        anchors = [[w, h] for lv, w, h in shapes if lv == level]
        index, _ = get_best_anchor(tf.constant(boxes), anchors, stride, width=size // stride,
                                   height=size // stride, iou_thresh=thresh,
                                   best_match_only=True)
        taken |= (index.numpy() >= 0).any(axis=1)
    lost = int((~taken).sum())
    assert 100 < lost < 2900  # both kinds of box are in the sample
    found = rules.match_findings(exp, wh.astype(np.float32))
    assert found[-1].code == "mg_boxes_without_target"
    assert found[-1].message.startswith(f"{lost} of 3000 boxes")
