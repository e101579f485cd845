"""``cluster --config`` with a Model Garden experiment (issue 18): k-means centroids mapped to
``task.model.anchor`` (RetinaNet / R-CNN) or ``task.model.anchor_boxes.boxes`` (YOLO), on the
resolved experiments saved in tests/mg_experiments; values worked out by hand from the
``Anchor`` formula (side ``anchor_size * 2**l * 2**(s / num_scales)``, width ``side * sqrt(r)``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ruamel.yaml", reason="YAML experiment files need ruamel.yaml (extra 'yaml')")

from _mg_boxes import ON_LADDER, ladder_shape, write_csv  # noqa: E402
from helpers.cli import run_cli as run  # noqa: E402
from helpers.cli import run_json  # noqa: E402

from tfod_anchors.errors import UsageError  # noqa: E402
from tfod_anchors.frameworks.modelgarden import centroids as mgc  # noqa: E402
from tfod_anchors.frameworks.modelgarden import geometry  # noqa: E402
from tfod_anchors.frameworks.modelgarden.load import load_spec  # noqa: E402
from tfod_anchors.frameworks.modelgarden.yaml_patch import load  # noqa: E402

FIXTURES = Path(__file__).parent / "mg_experiments"
ANCHOR = "task.model.anchor."
BOXES = "task.model.anchor_boxes.boxes"


def test_multilevel_mapping_recovers_a_ladder():
    spec = load_spec(str(FIXTURES / "retinanet_resnetfpn_coco.yaml"))  # 4.0, [.5, 1, 2], 3
    mapping = spec.centroid_anchors(ON_LADDER, (640, 640))
    assert mapping.anchors == {ANCHOR + "anchor_size": 2.5,
                               ANCHOR + "aspect_ratios": [0.5, 1.0, 2.0],
                               ANCHOR + "num_scales": 3}
    assert mapping.doc == {"kind": "multilevel", **mapping.anchors}
    # every centroid is one of the anchor shapes the mapped experiment lays out
    layout = spec.with_anchors(mapping.anchors).layout_for((640, 640))
    shapes = np.concatenate([lv.sizes for lv in layout.levels])[:, ::-1]
    for w, h in ON_LADDER:
        assert np.abs(shapes - [w, h]).max(axis=1).min() < 1e-9


def test_multilevel_mapping_keeps_num_scales_and_the_ratio_count():
    spec = load_spec(str(FIXTURES / "maskrcnn_resnetfpn_coco.yaml"))  # levels 2-6, 1 scale
    anchors = spec._anchor_block()
    assert (anchors.num_scales, len(anchors.aspect_ratios)) == (1, 3)
    # five centroids of ratios 0.5, 1, 2, 0.5, 2 at sides 32 and 512: rungs of size 8 on P2
    # and P6, the ends of the ladder (sides 32 and 64 would fit size 4 on P3, P4 as well:
    # one octave apart, the tie goes to the size nearest 4)
    wh = np.array([ladder_shape(8.0, 2, 0, 1, r) for r in (0.5, 1.0, 2.0)]
                  + [ladder_shape(8.0, 6, 0, 1, r) for r in (0.5, 2.0)])
    change = mgc.multilevel_from_centroids(anchors, wh)
    assert change[ANCHOR + "num_scales"] == 1 and change[ANCHOR + "anchor_size"] == 8.0
    ambiguous = np.array([ladder_shape(8.0, 2, 0, 1, 1.0), ladder_shape(8.0, 3, 0, 1, 1.0)])
    assert mgc.multilevel_from_centroids(anchors, ambiguous)[ANCHOR + "anchor_size"] == 4.0
    assert change[ANCHOR + "aspect_ratios"] == [0.5, 1.0, 2.0]
    # fewer centroids than ratios: each centroid's own ratio (the count falls with K)
    two = mgc.multilevel_from_centroids(anchors, wh[[0, 2]])
    assert two[ANCHOR + "aspect_ratios"] == [0.5, 2.0]


def test_yolo_boxes_are_the_centroids_by_area():
    spec = load_spec(str(FIXTURES / "coco_yolov7tiny.yaml"))
    block = spec._anchor_block()
    assert isinstance(block, geometry.YoloAnchors) and len(block.boxes) == 9
    rng = np.random.default_rng(0)
    wh = np.array([[12, 16], [19, 36], [40, 28], [36, 75], [76, 55], [72, 146], [142, 110],
                   [192, 243], [459, 401.123456]], dtype=float)
    mapping = spec.centroid_anchors(wh[rng.permutation(9)], (416, 416))
    expected = [[12, 16], [19, 36], [40, 28], [36, 75], [76, 55], [72, 146], [142, 110],
                [192, 243], [459, 401.1]]
    assert mapping.anchors == {BOXES: expected}
    # equal areas: the narrower first
    assert mgc.yolo_from_centroids(block, np.concatenate([[[20, 10], [10, 20]], wh[2:]
                                                          ]))[BOXES][:2] == [[10, 20], [20, 10]]
    with pytest.raises(UsageError, match="9 YOLO boxes .* cluster with --k 9"):
        mgc.yolo_from_centroids(block, wh[:6])
    six = spec.centroid_anchors(wh[:6], (416, 416))
    assert six.anchors is None and "cluster with --k 9" in six.doc["note"]


def test_cluster_a_yaml_prints_writes_and_rechecks(capsys, tmp_path):
    config = tmp_path / "retina.yaml"
    shutil.copy(FIXTURES / "retinanet_resnetfpn_coco.yaml", config)
    before = config.read_text()
    csv = write_csv(tmp_path / "boxes.csv", ON_LADDER)
    code, doc, _ = run_json(capsys, "cluster", "--config", config, "--input", csv, "--k", "3",
                            "--no-augment")
    assert code == 0 and doc["model"]["framework"] == "model_garden"
    assert doc["model"]["family"] == "retinanet" and doc["num_boxes"] == 6
    gen = doc["generator"]
    assert gen["kind"] == "multilevel" and gen[ANCHOR + "num_scales"] == 3
    assert gen[ANCHOR + "anchor_size"] == pytest.approx(2.5, abs=1e-4)
    assert gen[ANCHOR + "aspect_ratios"] == pytest.approx([0.5, 1.0, 2.0], abs=1e-4)
    pasted = load(doc["config_block"])["task"]["model"]["anchor"]
    assert pasted == {"anchor_size": gen[ANCHOR + "anchor_size"],
                      "aspect_ratios": gen[ANCHOR + "aspect_ratios"], "num_scales": 3}
    assert doc["params_override"] == (
        f"{ANCHOR}anchor_size={gen[ANCHOR + 'anchor_size']!r},{ANCHOR}aspect_ratios="
        f"[{','.join(repr(r) for r in gen[ANCHOR + 'aspect_ratios'])}],{ANCHOR}num_scales=3")
    assert doc["mean_iou"] == pytest.approx(1.0)
    assert doc["mapped_mean_iou"] == pytest.approx(1.0, abs=1e-5)  # 4-decimal values
    assert doc["findings"] == [] and doc["written"] is None
    code, out, _ = run(capsys, "cluster", "--config", config, "--input", csv, "--k", "3",
                         "--no-augment")
    assert code == 0 and out.startswith("model: model_garden retinanet (multilevel)")
    assert "--params_override='task.model.anchor.anchor_size=" in out
    assert "1.0000 with the centroids, 1.0000 with the anchor shapes" in out
    target = tmp_path / "clustered.yaml"
    code, doc, _ = run_json(capsys, "cluster", "--config", config, "--input", csv, "--k", "3",
                            "--output", target, "--no-augment")
    assert code == 0 and doc["written"] == str(target) and config.read_text() == before
    after = target.read_text()
    changed = [a for a, b in zip(before.splitlines(), after.splitlines()) if a != b]
    assert len(after.splitlines()) == len(before.splitlines())
    # the ratios were [0.5, 1, 2] already: only anchor_size is rewritten
    assert [line.split(":")[0].strip() for line in changed] == ["anchor_size"]
    assert load(after)["task"]["model"]["anchor"] == pasted
    # the positioned coverage cluster shows is check's, on the config and on the written file
    for side, path in (("before", config), ("after", target)):
        code, checked, _ = run_json(capsys, "check", path, "--input", csv, "--no-advice",
                                     "--no-augment")
        assert {k: checked["coverage"][k] for k in doc["coverage"][side]} == \
            doc["coverage"][side]
    assert doc["coverage"]["matched_threshold"] == 0.5
    code, doc, _ = run_json(capsys, "cluster", "--config", config, "--input", csv, "--k", "3",
                            "--in-place", "--no-augment")
    assert code == 0 and config.read_text() == after
    assert (tmp_path / "retina.yaml.bak").read_text() == before


def test_cluster_refuses_a_head_change_the_checkpoint_cannot_take(capsys, tmp_path):
    # two centroids give two ratios: 3 -> 2 anchors per location; with
    # init_checkpoint_modules: all the whole model is restored, so nothing is written
    config = tmp_path / "spine.yaml"
    text = (FIXTURES / "retinanet_spinenet_coco.yaml").read_text()
    assert "init_checkpoint_modules: all" in text and "init_checkpoint: null" in text
    config.write_text(text.replace("init_checkpoint: null", "init_checkpoint: gs://b/ckpt-1"))
    csv = write_csv(tmp_path / "boxes.csv", ON_LADDER[:2])
    target = tmp_path / "out.yaml"
    code, doc, _ = run_json(capsys, "cluster", "--config", config, "--input", csv, "--k", "2",
                            "--output", target, "--no-augment")
    assert code == 1 and doc["written"] is None and not target.exists()
    assert [f["code"] for f in doc["findings"]] == ["mg_checkpoint_head_shape"]
    assert "9 -> 6" in doc["findings"][0]["message"]
    assert any("nothing written" in w for w in doc["warnings"])


def test_cluster_output_needs_a_config_and_in_place_a_file(capsys, tmp_path):
    csv = write_csv(tmp_path / "boxes.csv", ON_LADDER)
    code, doc, _ = run_json(capsys, "cluster", "--experiment", "retinanet_resnetfpn_coco",
                            "--input", csv, "--k", "3", "--in-place", "--no-augment")
    assert code == 2 and "--output F.yaml" in doc["error"]["message"]


def test_cluster_yolo_writes_the_boxes_and_the_rule_share_check_reports(capsys, tmp_path):
    config = tmp_path / "v7.yaml"
    shutil.copy(FIXTURES / "coco_yolov7tiny.yaml", config)
    wh = np.array([[w, h] for w in (6.0, 40.0, 300.0) for h in (8.0, 60.0, 280.0)])
    csv = write_csv(tmp_path / "boxes.csv", wh)
    target = tmp_path / "clustered.yaml"
    code, doc, _ = run_json(capsys, "cluster", "--config", config, "--input", csv, "--k", "9",
                            "--output", target, "--no-augment")
    assert code == 0 and doc["model"]["family"] == "yolov7"
    boxes = doc["generator"][BOXES]
    areas = [w * h for w, h in boxes]
    assert len(boxes) == 9 and areas == sorted(areas)
    # 640x640 images letterboxed to 416: every box scaled by 0.65, and each is its own centroid
    np.testing.assert_allclose(sorted(map(tuple, boxes)), sorted(map(tuple, wh * 0.65)),
                               rtol=1e-3)
    assert [b["box"] for b in load(target.read_text())["task"]["model"]["anchor_boxes"][
        "boxes"]] == boxes
    code, checked, _ = run_json(capsys, "check", target, "--input", csv, "--no-advice")
    assert doc["coverage"]["after"]["no_target_share"] == \
        checked["coverage"]["rule"]["no_target_share"] == 0.0
