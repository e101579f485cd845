"""The command line with Model Garden experiments: a resolved YAML as CONFIG (no Model
Garden needed), and ``--experiment`` (against the wheel in ``test_modelgarden_wheel.py``)."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

pytest.importorskip("tfod_anchors.frameworks.base", reason="the ModelSpec protocol (main)")

from conftest import SHARED_DATASETS  # noqa: E402

from tfod_anchors.cli import main  # noqa: E402
from tfod_anchors.frameworks.modelgarden import experiment as mgx  # noqa: E402
from tfod_anchors.frameworks.modelgarden import geometry  # noqa: E402

FIXTURES = Path(__file__).parent / "mg_experiments"
CARDS = SHARED_DATASETS / "cards" / "cards.csv"
HAVE_MG = importlib.util.find_spec("official") is not None


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys, *argv):
    code, out, err = run(capsys, *argv, "--json")
    return code, json.loads(out), err


def need_cards():
    if not CARDS.exists():
        pytest.skip(f"{CARDS} not present (../shared)")


def test_anchors_of_a_yaml_in_the_model_garden_order(capsys, tmp_path):
    config = FIXTURES / "retinanet_resnetfpn_coco.yaml"
    target = tmp_path / "a.npy"
    code, doc, _ = run_json(capsys, "anchors", config, "--export", target)
    assert code == 0 and len(doc) == 1
    entry = doc[0]
    assert (entry["framework"], entry["family"]) == ("model_garden", "retinanet")
    assert entry["num_anchors"] == 76725 and entry["padded_shape"] == [640, 640]
    exp = mgx.read_params_yaml(str(config))
    want = geometry.multilevel_anchors(exp).layout((640, 640)).boxes().astype(np.float32)
    got = np.load(target)
    assert got.dtype == np.float32 and np.array_equal(got, want)
    code, out, _ = run(capsys, "anchors", config)
    assert code == 0 and "retinanet / resnet/fpn / anchor" in out.splitlines()[0]


def test_check_names_the_family_and_the_yolo_rule(capsys):
    need_cards()
    code, doc, _ = run_json(capsys, "check", FIXTURES / "coco_yolov7tiny.yaml",
                            "--input", CARDS)
    assert code == 0
    assert doc["model"]["framework"] == "model_garden" and doc["model"]["family"] == "yolov7"
    assert doc["model"]["matcher_rule"]["kind"] == "yolo_ratio"
    rule = doc["coverage"]["rule"]
    assert rule["rule"] == "yolo_ratio" and rule["threshold"] == 4.0
    assert 0.0 <= rule["no_target_share"] <= 1.0
    code, out, _ = run(capsys, "check", FIXTURES / "coco_yolov7tiny.yaml", "--input", CARDS)
    assert "boxes with no target at all" in out and "model: model_garden yolov7" in out


def test_fit_a_yaml_changes_only_the_anchor_values(capsys, tmp_path):
    need_cards()
    config = tmp_path / "r.yaml"
    shutil.copy(FIXTURES / "retinanet_resnetfpn_coco.yaml", config)
    before = config.read_text()
    out_path = tmp_path / "fitted.yaml"
    code, doc, _ = run_json(capsys, "fit", config, "--input", CARDS, "--objective",
                            "w:1,1,1", "--output", out_path)
    assert code == 0 and doc["written"] == str(out_path)
    assert doc["model"]["family"] == "retinanet"
    after = out_path.read_text()
    changed = [(a, b) for a, b in zip(before.splitlines(), after.splitlines()) if a != b]
    assert len(before.splitlines()) == len(after.splitlines())
    assert changed and all("anchor_size" in a or "aspect_ratios" in a for a, _ in changed)
    new = yaml.safe_load(after)["task"]["model"]["anchor"]
    assert new["anchor_size"] == doc["anchor_generator"]["task.model.anchor.anchor_size"]
    assert config.read_text() == before


def test_partial_yaml_and_missing_model_garden_are_one_line_errors(capsys, tmp_path):
    partial = tmp_path / "partial.yaml"
    partial.write_text("task:\n  model:\n    anchor: {anchor_size: 3}\n")
    code, out, err = run(capsys, "check", partial)
    assert code == 2 and out == "" and err.count("\n") == 1 and "--experiment NAME" in err
    if not HAVE_MG:
        code, doc, _ = run_json(capsys, "anchors", "--experiment", "retinanet_resnetfpn_coco")
        assert code == 2 and "tfod-anchors[models]" in doc["error"]["message"]
