"""``check`` rules for Model Garden experiments (issue 18), on real registered experiments
resolved by tf-models-official 2.20 and saved in tests/mg_experiments (so these run
without the Model Garden); the values are worked out by hand from the wheel's formulas.
The wheel itself is compared in test_mg_rules_wheel.py."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ruamel.yaml", reason="YAML experiment files need ruamel.yaml (extra 'yaml')")

from conftest import ROOT  # noqa: E402

from tfod_anchors.frameworks.modelgarden import rules  # noqa: E402
from tfod_anchors.frameworks.modelgarden.yaml_patch import load  # noqa: E402

FIXTURES = Path(__file__).parent / "mg_experiments"


def experiment(name: str) -> dict:
    return load((FIXTURES / f"{name}.yaml").read_text())


def codes(found) -> list[str]:
    return [f.code for f in found]


@pytest.mark.parametrize("name", sorted(p.stem for p in FIXTURES.glob("*.yaml")))
def test_registered_experiments_raise_no_config_finding(name):
    found = rules.experiment_findings(experiment(name))
    expected = ["mg_anchor_never_matched"] if name == "retinanet_mobile_coco" else []
    assert codes(found) == expected
    assert all(f.severity == rules.SEVERITY[f.code] for f in found)


def test_reading_the_resolved_dict():
    retina, mask = experiment("retinanet_resnetfpn_coco"), experiment("maskrcnn_resnetfpn_coco")
    yolo, v7 = experiment("yolo_darknet"), experiment("coco_yolov7tiny")
    assert [rules.family(e) for e in (retina, mask, yolo, v7)] == \
        ["retinanet", "rcnn", "yolo", "yolov7"]
    assert rules.levels(mask) == (2, 6) and rules.levels(yolo) == (3, 5)
    assert rules.match_rule(retina) == ("iou", 0.5, True)
    assert rules.match_rule(mask) == ("iou", 0.7, True)
    assert rules.match_rule(yolo) == ("wh_iou", 0.4, True)
    assert rules.match_rule(experiment("scaled_yolo")) == ("ratio", 4.0, False)
    assert rules.match_rule(v7) == ("ratio", 4.0, False)
    assert rules.anchors_per_location(retina) == 9 and rules.anchors_per_location(mask) == 3
    shapes = rules.anchor_shapes(retina)
    assert len(shapes) == 5 * 9
    # P3, scale 0, ratio 0.5: side 4 * 8 = 32, w = 32 * sqrt(.5), h = 32 / sqrt(.5)
    assert shapes[0] == pytest.approx((3, 22.627417, 45.254834))
    # P7, scale 2, ratio 1: 4 * 128 * 2**(2/3) = 812.75 px
    assert shapes[-2] == pytest.approx((7, 812.749, 812.749), rel=1e-5)
    assert rules.anchor_shapes(v7)[3:6] == [(4, 30.0, 61.0), (4, 62.0, 45.0), (4, 59.0, 119.0)]


def test_fractional_strides_without_padding():
    exp = experiment("retinanet_resnetfpn_coco")
    exp["task"]["model"]["input_size"] = [500, 375, 3]
    exp["task"]["train_data"]["parser"]["pad"] = False
    found = rules.size_findings(exp)
    assert codes(found) == ["mg_fractional_strides"]
    # P3: 500 / ceil(500 / 8) = 500 / 63 = 7.937, 375 / 47 = 7.979
    assert "P3: 7.937x7.979 px" in found[0].message
    assert "P7: 125x125 px" in found[0].message  # 500 / 4, 375 / 3
    exp["task"]["train_data"]["parser"]["pad"] = True
    found = rules.size_findings(exp)
    assert codes(found) == ["mg_input_padded"] and "512x384" in found[0].message
    assert rules.padded_hw(exp) == (512, 384)


def test_rcnn_always_pads_and_yolo_cells():
    mask = experiment("maskrcnn_resnetfpn_coco")
    mask["task"]["model"]["input_size"] = [1000, 1000, 3]
    mask["task"]["train_data"]["parser"]["pad"] = False  # not read: the R-CNN parser pads
    assert rules.padded_hw(mask) == (1024, 1024)
    assert codes(rules.size_findings(mask)) == ["mg_input_padded"]
    yolo = experiment("coco_yolov7tiny")
    yolo["task"]["model"]["input_size"] = [400, 416, 3]
    found = rules.size_findings(yolo)
    assert codes(found) == ["mg_yolo_partial_cells"]
    assert "P5: 12x13 cells for 12.5x13" in found[0].message


def test_levels_the_backbone_cannot_produce():
    exp = experiment("retinanet_resnetfpn_coco")
    exp["task"]["model"]["min_level"] = 1  # ResNet outputs levels 2-5; FPN needs one <= 1
    found = rules.level_findings(exp)
    assert codes(found) == ["mg_level_not_produced"] and "need P1," in found[0].message
    exp["task"]["model"]["min_level"], exp["task"]["model"]["decoder"] = 3, {"type": "identity"}
    found = rules.level_findings(exp)  # no decoder: 6 and 7 are missing
    assert codes(found) == ["mg_level_not_produced"] and "need P6, P7," in found[0].message
    spine = experiment("retinanet_spinenet_coco")
    spine["task"]["model"]["min_level"] = 2  # spinenet outputs its configured 3-7
    assert "need P2," in rules.level_findings(spine)[0].message
    v7 = experiment("coco_yolov7tiny")
    v7["task"]["model"]["max_level"] = 6
    assert codes(rules.level_findings(v7)) == ["mg_levels_disagree"]


def test_levels_of_the_one_level_aspp_decoder():
    exp = experiment("retinanet_resnetfpn_coco")  # levels 3-7 on ResNet (2-5)
    exp["task"]["model"]["decoder"] = {"type": "aspp", "aspp": {"level": 4}}
    found = rules.level_findings(exp)
    assert codes(found) == ["mg_level_not_produced"]
    assert "need P3, P5, P6, P7, but the aspp decoder outputs one level, P4" in \
        found[0].message
    exp["task"]["model"].update(min_level=4, max_level=4)
    assert rules.level_findings(exp) == []
    exp["task"]["model"]["decoder"]["aspp"] = {}  # the config's default level is 4
    assert rules.level_findings(exp) == []
    exp["task"]["model"]["decoder"]["aspp"]["level"] = 6  # ResNet has no P6 to read
    found = rules.level_findings(exp)
    assert codes(found) == ["mg_level_not_produced"] and "reads level P6" in found[0].message


def test_duplicates_and_invalid_values():
    exp = experiment("retinanet_resnetfpn_coco")
    exp["task"]["model"]["anchor"]["aspect_ratios"] = [0.5, 1.0, 1, 2.0, 0.5]
    found = rules.experiment_findings(exp)
    assert codes(found) == ["mg_duplicate_aspect_ratios"] and "[1, 0.5]" in found[0].message
    exp["task"]["model"]["anchor"]["aspect_ratios"] = [0.5, -1.0]
    assert codes(rules.experiment_findings(exp)) == ["mg_invalid_anchor"]
    exp["task"]["model"]["anchor"].update(aspect_ratios=[1.0], anchor_size=float("nan"))
    assert codes(rules.experiment_findings(exp)) == ["mg_invalid_anchor"]
    yolo = experiment("yolo_darknet")
    yolo["task"]["model"]["anchor_boxes"]["boxes"][4] = {"box": [19, 36]}
    assert "mg_duplicate_yolo_boxes" in codes(rules.experiment_findings(yolo))


def test_yolo_box_count_and_order():
    yolo = experiment("scaled_yolo")
    boxes = yolo["task"]["model"]["anchor_boxes"]["boxes"]
    boxes[2], boxes[3] = boxes[3], boxes[2]  # 36x75 = 2700 px² at P3, 40x28 = 1120 at P4
    found = rules.yolo_box_findings(yolo)
    assert codes(found) == ["mg_yolo_boxes_not_increasing"]
    assert "level 4 has a box of area 1120" in found[0].message and "2700" in found[0].message
    del boxes[8]
    found = rules.experiment_findings(yolo)
    assert codes(found) == ["mg_yolo_box_count"] and "8 anchor boxes" in found[0].message
    base = experiment("scaled_yolo")
    base["task"]["model"]["anchor_boxes"]["boxes"] = None  # the bare `yolo` template
    assert codes(rules.experiment_findings(base)) == ["mg_yolo_box_count"]


def test_anchor_shapes_no_box_can_match():
    exp = experiment("retinanet_resnetfpn_coco")
    exp["task"]["model"]["input_size"] = [256, 256, 3]
    found = rules.match_findings(exp)
    # at 256 the bound is the anchor's share inside the image: P6 scale 2 (side 406):
    # 256²/406² = 0.397 square, 256/575 = 0.445 at ratio 2 or 0.5 (3 shapes); every P7
    # shape (side >= 512: 0.25 at most) fails too (9); P6 scale 1 (322.5): 0.63 passes
    assert codes(found) == ["mg_anchor_never_matched"]
    assert found[0].message.startswith("12 anchor shape(s)")
    assert "P6 406x406" in found[0].message and "except as a forced best match" in \
        found[0].message
    yolo = experiment("coco_yolov7tiny")
    yolo["task"]["model"]["anchor_boxes"]["boxes"][8] = {"box": [1700, 326]}
    found = rules.match_findings(yolo)  # 1700 / 416 = 4.09 >= 4: no box is wide enough
    assert codes(found) == ["mg_anchor_never_matched"] and "P5 1700x326" in found[0].message


def test_boxes_without_target_under_the_ratio_rule():
    v7 = experiment("coco_yolov7tiny")
    # smallest anchor 10x13, largest 373x326: a box matches when some anchor is within 4x
    wh = np.array([[2.4, 3.0],     # 10/2.4 = 4.17, 13/3 = 4.33 against 10x13: no target
                   [2.6, 3.3],     # 3.85, 3.94: kept by 10x13
                   [400, 400],     # 373x326: 1.23 -> kept
                   [1500, 1400],   # 1500/373 = 4.02: no target
                   [100, 3]])      # 100 wide, 3 high: no anchor within 4x in both axes
    found = rules.match_findings(v7, wh)
    assert codes(found) == ["mg_boxes_without_target"]
    assert found[0].message.startswith("3 of 5 boxes (60.0%)")
    darknet = experiment("yolo_darknet")  # IoU rule with the best anchor forced
    assert rules.match_findings(darknet, wh) == []
    darknet["task"]["train_data"]["parser"]["best_match_only"] = True
    found = rules.match_findings(darknet, wh)
    assert codes(found) == ["mg_boxes_without_target"] and "width-height IoU >= 0.4" in \
        found[0].message


def test_anchors_per_location_and_checkpoints():
    before = experiment("retinanet_spinenet_coco")  # init_checkpoint_modules: all
    after = copy.deepcopy(before)
    after["task"]["model"]["anchor"]["aspect_ratios"] = [0.5, 1.0, 2.0, 4.0]
    assert rules.checkpoint_findings(before, after) == []  # no init_checkpoint
    for exp in (before, after):
        exp["task"]["init_checkpoint"] = "gs://bucket/ckpt-1"
    found = rules.experiment_findings(after, before=before)
    assert codes(found) == ["mg_checkpoint_head_shape"] and "9 -> 12" in found[0].message
    after["task"]["init_checkpoint_modules"] = "backbone"
    assert rules.checkpoint_findings(before, after) == []
    same = copy.deepcopy(before)
    same["task"]["model"]["anchor"].update(aspect_ratios=[0.25, 1.0, 4.0], anchor_size=3.5)
    assert rules.checkpoint_findings(before, same) == []


def test_readme_documents_every_model_garden_rule():
    section = (ROOT / "README.md").read_text()
    section = section[section.index("## Check rules"):]
    section = section[:section.index("\n## ", 1)]
    documented = set(re.findall(r"`([a-z_]+)`", section))
    assert set(rules.SEVERITY) <= documented, sorted(set(rules.SEVERITY) - documented)


def test_a_partial_dict_is_refused_in_one_line():
    from tfod_anchors.errors import ConfigError

    exp = experiment("retinanet_resnetfpn_coco")
    del exp["task"]["model"]["anchor"]["num_scales"]
    with pytest.raises(ConfigError, match="not a resolved Model Garden experiment: KeyError"):
        rules.experiment_findings(exp)
