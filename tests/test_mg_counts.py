"""Anchors per location for Model Garden experiments (issue 18): ``fit --anchors-per-location
N`` / ``--num-scales`` on RetinaNet / R-CNN (``num_scales x len(aspect_ratios)``) and YOLO
(``anchors_per_scale``), and ``init_checkpoint_modules`` (``all`` restores the heads, whose
shapes follow the count). On the resolved experiments saved in tests/mg_experiments."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ruamel.yaml", reason="YAML experiment files need ruamel.yaml (extra 'yaml')")

from _mg_boxes import ON_LADDER, write_csv  # noqa: E402
from helpers.cli import run_json  # noqa: E402

from tfod_anchors.errors import UsageError  # noqa: E402
from tfod_anchors.frameworks.modelgarden import counts, rules  # noqa: E402
from tfod_anchors.frameworks.modelgarden.load import load_spec  # noqa: E402
from tfod_anchors.frameworks.modelgarden.spec import model_garden_spec  # noqa: E402
from tfod_anchors.frameworks.modelgarden.yaml_patch import load  # noqa: E402

FIXTURES = Path(__file__).parent / "mg_experiments"


def spec_of(name: str, **task):
    exp = load((FIXTURES / f"{name}.yaml").read_text())
    exp["task"].update(task)
    return model_garden_spec(exp)


def test_counts_for_each_family():
    retina = spec_of("retinanet_resnetfpn_coco")  # 3 scales x 3 ratios
    assert [retina.anchor_counts(n) for n in (9, 6, 3, 4, 12, 1)] == \
        [(3, 3), (2, 3), (1, 3), (2, 2), (4, 3), (1, 1)]  # 4: divisors 2 and 4 tie, 2 kept
    yolo = spec_of("coco_yolov7tiny")
    assert yolo.anchor_counts(2) == (2, None)
    with pytest.raises(UsageError, match="at least 1"):
        retina.anchor_counts(0)


def test_yolo_boxes_resampled_to_a_new_count_per_level():
    block = spec_of("coco_yolov7tiny")._anchor_block()
    assert counts.with_per_level(block, 3) == block  # already in area order
    two = counts.with_per_level(block, 2)
    wh = np.array(two.boxes)
    assert two.anchors_per_scale == 2 and wh.shape == (6, 2)
    # the ends are the smallest and largest boxes; between them log w, log h interpolated:
    # six points along nine boxes step 8/5, so the second lies 0.6 of the way from box 1 to 2
    np.testing.assert_allclose(wh[[0, -1]], [block.boxes[0], block.boxes[-1]])
    want = np.exp(np.log(block.boxes[1]) * 0.4 + np.log(block.boxes[2]) * 0.6)
    np.testing.assert_allclose(wh[1], want)
    with pytest.raises(UsageError, match="at least one box"):
        counts.with_per_level(block, 0)


def test_yolo_space_writes_the_count_with_the_boxes():
    spec = spec_of("coco_yolov7tiny")
    space = spec.param_space(num_scales=2)
    change = space.write(None, np.exp(space.x0))
    assert change[counts.ANCHORS_PER_SCALE] == 2
    assert len(change["task.model.anchor_boxes.boxes"]) == 6
    fitted = spec.with_anchors(change)
    assert [lv.sizes.shape[0] for lv in fitted.layout_for((416, 416)).levels] == [2, 2, 2]
    assert rules.anchors_per_location(fitted.experiment) == 2
    kept = spec.param_space()  # the count kept: only the boxes are written
    assert list(kept.write(None, np.exp(kept.x0))) == ["task.model.anchor_boxes.boxes"]
    with pytest.raises(UsageError, match="no aspect ratios"):
        spec.param_space(num_aspect_ratios=2)


def test_a_count_the_checkpoint_cannot_restore_is_refused():
    ckpt = {"init_checkpoint": "gs://b/ckpt-1", "init_checkpoint_modules": "all"}
    retina = spec_of("retinanet_spinenet_coco", **ckpt)
    retina.param_space()  # the count kept: fine
    with pytest.raises(UsageError, match="9 -> 6 .* init_checkpoint_modules: all restores "
                                         "them from gs://b/ckpt-1"):
        retina.param_space(num_scales=2)
    with pytest.raises(UsageError, match="3 -> 2"):
        spec_of("coco_yolov7tiny", **ckpt).param_space(num_scales=2)
    free = spec_of("retinanet_spinenet_coco", init_checkpoint="gs://b/ckpt-1",
                   init_checkpoint_modules="backbone")
    space = free.param_space(num_scales=2)
    assert len(space.shapes_of(space.x0)[0]) == 6


def test_checkpoint_notes():
    before, after = [9] * 5, [6] * 5
    backbone = spec_of("retinanet_resnetfpn_coco")  # backbone from a real path
    assert backbone.anchor_count_note(before, before) is None
    note = backbone.anchor_count_note(before, after)
    assert note.level == "info" and "free to change" in note.message
    assert "init_checkpoint_modules: 'backbone' restores only backbone" in note.message
    none = spec_of("retinanet_spinenet_coco")  # all, but init_checkpoint null
    assert "no init_checkpoint is restored" in none.anchor_count_note(before, after).message
    full = spec_of("retinanet_spinenet_coco", init_checkpoint="gs://b/ckpt-1")
    note = full.anchor_count_note(before, after)
    assert note.level == "warning" and "the restore will fail" in note.message


def test_fit_a_yaml_with_another_count(capsys, tmp_path):
    config = tmp_path / "retina.yaml"
    shutil.copy(FIXTURES / "retinanet_resnetfpn_coco.yaml", config)
    csv = write_csv(tmp_path / "boxes.csv", ON_LADDER, copies=20)
    target = tmp_path / "six.yaml"
    code, doc, _ = run_json(capsys, "fit", config, "--input", csv, "--anchors-per-location", "6",
                            "--force", "--output", target)
    assert code == 0 and doc["written"] == str(target)
    assert doc["anchors_per_location"] == {"before": [9] * 5, "after": [6] * 5}
    assert any("free to change" in n for n in doc["notes"])
    written = load(target.read_text())["task"]["model"]["anchor"]
    assert written["num_scales"] == 2 and len(written["aspect_ratios"]) == 3
    assert rules.anchors_per_location(load_spec(str(target)).experiment) == 6
    spine = tmp_path / "spine.yaml"
    spine.write_text((FIXTURES / "retinanet_spinenet_coco.yaml").read_text().replace(
        "init_checkpoint: null", "init_checkpoint: gs://b/ckpt-1"))
    code, doc, _ = run_json(capsys, "fit", spine, "--input", csv, "--anchors-per-location", "6")
    assert code == 2 and "init_checkpoint_modules: all" in doc["error"]["message"]


def test_fit_yolo_with_another_count_per_level(capsys, tmp_path):
    # the fit's k-means starts are points of the searched space (6 boxes), not the config's 9
    config = tmp_path / "v7.yaml"
    shutil.copy(FIXTURES / "coco_yolov7tiny.yaml", config)
    csv = write_csv(tmp_path / "boxes.csv", ON_LADDER * 0.5, copies=10)
    target = tmp_path / "two.yaml"
    code, doc, _ = run_json(capsys, "fit", config, "--input", csv, "--anchors-per-location", "2",
                            "--force", "--output", target)
    assert code == 0 and doc["anchors_per_location"] == {"before": [3] * 3, "after": [2] * 3}
    block = load(target.read_text())["task"]["model"]["anchor_boxes"]
    assert block["anchors_per_scale"] == 2 and len(block["boxes"]) == 6

