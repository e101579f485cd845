"""The Model Garden's ModelSpec (``frameworks/modelgarden/spec.py``) on the resolved fixtures
of ``tests/mg_experiments`` (no Model Garden needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

pytest.importorskip("tfod_anchors.frameworks.base", reason="the ModelSpec protocol (main)")

from tfod_anchors.errors import ConfigError, UsageError  # noqa: E402
from tfod_anchors.fitting.params import round_values  # noqa: E402
from tfod_anchors.frameworks import ModelSpec  # noqa: E402
from tfod_anchors.frameworks.modelgarden import experiment as mgx  # noqa: E402
from tfod_anchors.frameworks.modelgarden.load import load_spec  # noqa: E402

FIXTURES = Path(__file__).parent / "mg_experiments"
CASES = {"retinanet_resnetfpn_coco": ("retinanet", "multilevel", 76725, "retinanet_box_matcher"),
         "maskrcnn_resnetfpn_coco": ("mask_rcnn", "multilevel", 261888, "rpn_box_matcher"),
         "cascadercnn_spinenet_coco": ("cascade_rcnn", "multilevel", 25575, "rpn_box_matcher"),
         "coco_yolov7tiny": ("yolov7", "yolo_boxes", 10647, "yolo_ratio"),
         "scaled_yolo": ("yolo", "yolo_boxes", 16128, "yolo_ratio"),
         "yolo_darknet": ("yolo", "yolo_boxes", 16128, "yolo_darknet")}


@pytest.mark.parametrize("name", sorted(CASES))
def test_spec_of_each_family(name):
    family, kind, count, rule = CASES[name]
    spec = load_spec(str(FIXTURES / f"{name}.yaml"))
    assert isinstance(spec, ModelSpec)
    assert (spec.framework, spec.family, spec.kind) == ("model_garden", family, kind)
    described = spec.describe((480, 640))
    assert described["num_anchors"] == count and described["match_rule"]["name"] == rule
    layout = spec.layout_for(tuple(described["padded_shape"]))
    assert layout is spec.layout_for(tuple(described["padded_shape"]))  # memoised
    assert layout.boxes().shape == (count, 4)


@pytest.mark.parametrize("name", sorted(CASES))
def test_parameter_space_round_trip(name):
    spec = load_spec(str(FIXTURES / f"{name}.yaml"))
    space = spec.param_space()
    same = space.write(None, round_values(np.exp(space.x0)))  # the fit writes rounded values
    assert same == spec.anchors
    candidate = spec.with_anchors(space.write(None, np.exp(space.x0) * 1.25))
    assert candidate.experiment is not spec.experiment and spec.anchors == same
    padded = spec.resizer().static_shape
    ours = [lv.sizes for lv in candidate.layout_for(padded).levels]
    for got, want in zip(ours, space.shapes_of(space.x0 + np.log(1.25))):
        assert got == pytest.approx(want)


def test_text_patch_changes_only_the_anchor_values():
    path = FIXTURES / "retinanet_resnetfpn_coco.yaml"
    spec = load_spec(str(path))
    change = {"task.model.anchor.anchor_size": 3.0,
              "task.model.anchor.aspect_ratios": [0.25, 1.0, 4.0],
              "task.model.anchor.num_scales": 3}
    text = spec.text_patch(path.read_text(), change, str(path)).text
    assert yaml.safe_load(text) == mgx.with_change(yaml.safe_load(path.read_text()), change)


def test_load_spec_errors(tmp_path):
    with pytest.raises(UsageError, match="--experiment"):
        load_spec(str(FIXTURES / "scaled_yolo.yaml"), params_override="a.b=1")
    partial = tmp_path / "partial.yaml"
    partial.write_text("task:\n  model:\n    anchor: {anchor_size: 3}\n")
    with pytest.raises(ConfigError, match="--experiment NAME"):
        load_spec(str(partial))
