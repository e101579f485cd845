"""The YAML outputs of :mod:`tfod_anchors.frameworks.modelgarden.yaml_patch`, resolved by
the Model Garden's own machinery (``exp_factory`` + ``override_params_dict``, strict, then
``validate()``, as ``official/vision/train.py`` does): the anchors it ends with are the
ones written. Needs tf-models-official (extra 'models'); skipped without it."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("ruamel.yaml", reason="YAML experiment files need ruamel.yaml (extra 'yaml')")
pytest.importorskip("official.core.exp_factory",
                    reason="needs tf-models-official (extra 'models')")

from tfod_anchors.frameworks.modelgarden import yaml_patch as yp  # noqa: E402

FIXTURES = Path(__file__).parent / "mg_experiments"
RETINA = {"task.model.anchor.anchor_size": 3.0,
          "task.model.anchor.aspect_ratios": [0.25, 1.0, 4.0, 9.0],
          "task.model.anchor.num_scales": 2}
BOXES = [[9, 12], [15, 31], [33, 22], [30, 64], [61, 44], [58, 120], [117, 88], [150, 200],
         [380, 320]]


@pytest.fixture(scope="module")
def resolve():
    import official.projects.yolo.common.registry_imports  # noqa: F401
    import official.vision.registry_imports  # noqa: F401
    from official.core import exp_factory
    from official.modeling import hyperparams

    def run(name, config_files=(), override=None):
        params = exp_factory.get_exp_config(name)
        for path in config_files:
            params = hyperparams.override_params_dict(params, str(path), is_strict=True)
        params = hyperparams.override_params_dict(params, override, is_strict=True)
        params.validate()
        return params.as_dict()["task"]["model"]
    return run


def anchor_block(model):
    return {k: model["anchor"][k] for k in ("anchor_size", "aspect_ratios", "num_scales")}


EXPECTED = {"anchor_size": 3.0, "aspect_ratios": [0.25, 1.0, 4.0, 9.0], "num_scales": 2}


@pytest.mark.parametrize("name", ["retinanet_resnetfpn_coco", "maskrcnn_resnetfpn_coco"])
def test_override_file_and_string_set_the_anchors(resolve, tmp_path, name):
    path = tmp_path / "anchors.yaml"
    yp.write_override(str(path), RETINA, name)
    assert anchor_block(resolve(name, [path])) == EXPECTED
    assert anchor_block(resolve(name, override=yp.params_override(RETINA))) == EXPECTED
    untouched = resolve(name)
    del untouched["anchor"]
    written = resolve(name, [path])
    del written["anchor"]
    assert written == untouched


def test_patched_params_yaml_resolves_to_the_new_anchors(resolve, tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text((FIXTURES / "retinanet_resnetfpn_coco.yaml").read_text())
    yp.write_patched(str(path), RETINA)
    assert anchor_block(resolve("retinanet_resnetfpn_coco", [path])) == EXPECTED


def test_partial_upstream_yaml_with_inserted_anchors(resolve, tmp_path):
    path = tmp_path / "r50fpn_640.yaml"
    path.write_text("# Mask R-CNN at 640, levels 3-7 (like the upstream scratch experiment)\n"
                    "task:\n  model:\n    input_size: [640, 640, 3]\n    min_level: 3\n"
                    "    max_level: 7\n")
    yp.write_patched(str(path), RETINA)
    model = resolve("maskrcnn_resnetfpn_coco", [path])
    assert anchor_block(model) == EXPECTED
    assert (model["min_level"], model["max_level"], model["input_size"]) == (3, 7, [640, 640, 3])


@pytest.mark.parametrize("name", ["coco_yolov7tiny", "scaled_yolo"])
def test_yolo_boxes_by_file_string_and_patch(resolve, tmp_path, name):
    change = {"task.model.anchor_boxes.boxes": BOXES}
    path = tmp_path / "anchors.yaml"
    yp.write_override(str(path), change, name)
    by_file = resolve(name, [path])["anchor_boxes"]["boxes"]
    by_string = resolve(name, override=yp.params_override(change))["anchor_boxes"]["boxes"]
    assert [b["box"] for b in by_file] == BOXES
    assert [b["box"] for b in by_string] == BOXES
    params = tmp_path / "params.yaml"
    params.write_text((FIXTURES / f"{name}.yaml").read_text())
    yp.write_patched(str(params), change)
    assert [b["box"] for b in resolve(name, [params])["anchor_boxes"]["boxes"]] == BOXES


def test_fixtures_are_what_the_wheel_resolves(resolve):
    """The saved fixtures (used where the Model Garden is absent) match the wheel."""
    for path in sorted(FIXTURES.glob("*.yaml")):
        saved = yp.load(path.read_text())["task"]["model"]
        assert saved == resolve(path.stem), path.name


def test_cluster_override_file_and_string_resolve_to_the_mapping(resolve, tmp_path, capsys):
    import json

    from tfod_anchors.cli import main

    csv = tmp_path / "boxes.csv"
    rows = [(14.142, 28.284), (142.5, 71.26), (508.0, 508.0)] * 2  # three shapes, twice
    csv.write_text("image_id,image_width,image_height,xmin,ymin,xmax,ymax,label\n" + "".join(
        f"i{n},640,640,10,10,{10 + w},{10 + h},a\n" for n, (w, h) in enumerate(rows)))
    target = tmp_path / "clustered.yaml"
    name = "retinanet_resnetfpn_coco"
    code = main(["cluster", "--experiment", name, "--input", str(csv), "--k", "3",
                 "--output", str(target), "--json", "--no-augment"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["written"] == str(target)
    gen = doc["generator"]
    want = {"anchor_size": gen["task.model.anchor.anchor_size"],
            "aspect_ratios": gen["task.model.anchor.aspect_ratios"], "num_scales": 3}
    assert want["anchor_size"] == pytest.approx(2.5, abs=2e-4)
    assert anchor_block(resolve(name, [target])) == want
    assert anchor_block(resolve(name, override=doc["params_override"])) == want
