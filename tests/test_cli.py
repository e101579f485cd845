"""End-to-end tests of the five commands on small real TFRecords and configs.

The dataset is built so coverage can be worked out by hand: a 64x64
``fixed_shape_resizer``, a ResNet-50 Faster R-CNN (stride 16 -> 4x4 feature map)
and two square grid anchors per cell (scales 1 and 3 of a 16 px base: 16 and 48 px)
centred at ``8 + 16 i``. Every image holds a 16x16 box exactly on an anchor
(IoU 1) and a 24x24 box centred on the cell centre (40, 40), whose best anchor is
the 16x16 one inside it (IoU 256 / 576 = 0.4444; the 48 px one gives 576 / 2304).
So before fitting: mean IoU 0.7222, recall@0.7 = recall@0.5 = 0.5; one anchor
near 24 px would cover both.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, SHARED
from helpers.cli import run_cli, run_json
from helpers.grid64 import CONFIG, example, make_dataset, write_records

from tfod_anchors import api
from tfod_anchors.errors import WriteError

tf = pytest.importorskip("tensorflow", reason="the end-to-end tests write TFRecords with TF")


@pytest.fixture()
def dataset(tmp_path: Path) -> dict[str, Path]:
    return make_dataset(tmp_path)


# ---------------------------------------------------------------- anchors


def test_anchors_json_counts_and_sizes(capsys, dataset):
    code, doc, _ = run_json(capsys, "anchors", dataset["config"], "--image-size", "64x64,32x48")
    assert code == 0
    assert [d["image_size"] for d in doc] == [[64, 64], [32, 48]]
    first = doc[0]
    assert first["resized_shape"] == [64, 64] and first["padded_shape"] == [64, 64]
    assert first["feature_map_shapes"] == [[4, 4]]
    assert first["anchors_per_location"] == [2]
    assert first["num_anchors"] == 32
    assert [a["height"] for a in first["per_location"]] == [16.0, 48.0]
    # fixed_shape_resizer: every original size gives the same network input
    assert doc[1]["padded_shape"] == [64, 64]


def test_anchors_export_npy_is_tfod_order(capsys, dataset):
    target = dataset["dir"] / "a.npy"
    code, _, _ = run_cli(capsys, "anchors", dataset["config"], "--export", target)
    assert code == 0
    arr = np.load(target)
    assert arr.dtype == np.float32 and arr.shape == (32, 4)
    # cell by cell (row-major), both shapes of a cell before the next cell
    np.testing.assert_allclose(arr[:3], [[0, 0, 16, 16], [-16, -16, 32, 32], [0, 16, 16, 32]])


def test_anchors_refuses_centernet(capsys):
    config = SHARED / "tfod-configs/tf2/centernet_hourglass104_512x512_coco17_tpu-8.config"
    if not config.exists():
        pytest.skip("needs ../shared/tfod-configs")
    code, out, err = run_cli(capsys, "anchors", config)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "center_net" in err


# ---------------------------------------------------------------- check


def test_check_good_config_with_hand_computed_coverage(capsys, dataset):
    code, doc, _ = run_json(capsys, "check", dataset["config"])
    assert code == 0 and doc["ok"] is True
    cov = doc["coverage"]
    assert cov["num_boxes"] == 8 and cov["matched_threshold"] == 0.7
    assert cov["mean_iou"] == pytest.approx((1 + 256 / 576) / 2)
    assert cov["recall_matched"] == pytest.approx(0.5)
    assert cov["recall_0.5"] == pytest.approx(0.5)


def test_check_min_recall_fails_with_exit_1(capsys, dataset):
    code, doc, _ = run_json(capsys, "check", dataset["config"], "--min-recall", "0.6")
    assert code == 1 and doc["ok"] is False
    assert [f["code"] for f in doc["findings"] if f["severity"] == "error"] == ["low_recall"]


def test_check_stride_mismatch_is_exit_1(capsys, dataset):
    bad = dataset["dir"] / "stride8.config"
    bad.write_text(CONFIG % {"fe_stride": 8, "records": dataset["records"]})
    code, doc, _ = run_json(capsys, "check", bad)
    assert code == 1
    codes = {f["code"] for f in doc["findings"] if f["severity"] == "error"}
    assert "grid_stride_mismatch" in codes or "stride_not_allowed" in codes


@pytest.mark.parametrize(("text", "expect"), [
    ("model {\n  faster_rcnn { num_classes: }\n}\n", "line 2, column"),  # syntax error
    ("model { faster_rcnn { num_clases: 3 } }", "num_clases"),  # unknown field
    ("model { faster_rcnn { num_classes: 'three' } }", "num_classes"),  # wrong type
    ("", "empty"),
    ("\x00\xff\x10garbage", "binary"),
])
@pytest.mark.parametrize("command", ["check", "fit", "anchors"])
def test_broken_config_is_exit_2_one_line(capsys, tmp_path, text, expect, command):
    bad = tmp_path / "broken.config"
    bad.write_bytes(text.encode("latin-1"))
    before = bad.read_bytes()
    code, out, err = run_cli(capsys, command, bad, *(["--in-place"] if command == "fit" else []))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and str(bad) in err and expect in err.lower()
    assert bad.read_bytes() == before
    assert os.listdir(tmp_path) == ["broken.config"]


def test_check_sample_config_with_placeholder_inputs(capsys):
    config = SHARED / "tfod-configs/tf2/faster_rcnn_resnet50_v1_640x640_coco17_tpu-8.config"
    if not config.exists():
        pytest.skip("needs ../shared/tfod-configs")
    code, doc, _ = run_json(capsys, "check", config)
    assert code == 0 and doc["coverage"] is None
    assert "coverage_skipped" in {f["code"] for f in doc["findings"]}


# ---------------------------------------------------------------- fit


def _changed_lines(old: str, new: str) -> list[int]:
    a, b = old.splitlines(), new.splitlines()
    assert len(a) == len(b)
    return [i for i, (x, y) in enumerate(zip(a, b)) if x != y]


def test_fit_dry_run_prints_diff_and_writes_nothing(capsys, dataset):
    before = dataset["config"].read_bytes()
    files = sorted(os.listdir(dataset["dir"]))
    code, out, err = run_cli(capsys, "fit", dataset["config"], "--seed", "3")
    assert code == 0
    assert dataset["config"].read_bytes() == before
    assert sorted(os.listdir(dataset["dir"])) == files
    # stdout is the answer: the before/after table, then the diff; stderr the commentary
    assert "recall_matched" in out and "\n--- " in out and "+        scales:" in out
    assert "recall_matched" not in err and "dry run" in err


def test_fit_output_changes_only_the_anchor_block(capsys, dataset):
    target = dataset["dir"] / "fitted.config"
    code, doc, _ = run_json(capsys, "fit", dataset["config"], "--output", target)
    assert code == 0 and doc["written"] == str(target)
    assert doc["num_boxes"] == 8 and doc["matched_threshold"] == 0.7
    assert doc["before"]["mean_iou"] == pytest.approx((1 + 256 / 576) / 2)
    assert doc["before"]["recall_matched"] == pytest.approx(0.5)
    assert doc["after"]["recall_matched"] == pytest.approx(1.0)
    assert doc["improved"] is True
    assert list(doc["before"])[:4] == ["mean_iou", "recall_matched", "recall_0.5", "recall_0.7"]
    old, new = dataset["config"].read_text(), target.read_text()
    lines = old.splitlines()
    block = (lines.index("    first_stage_anchor_generator {"),
             lines.index("    second_stage_box_predictor { mask_rcnn_box_predictor { } }"))
    assert all(block[0] < i < block[1] for i in _changed_lines(old, new))
    # the new config reparses and measures what fit reported
    code, check, _ = run_json(capsys, "check", target)
    assert check["coverage"]["recall_matched"] == pytest.approx(doc["after"]["recall_matched"])


def test_fit_is_deterministic(capsys, dataset):
    runs = [run_cli(capsys, "fit", dataset["config"], "--json", "--seed", "7")[1]
            for _ in range(2)]
    assert runs[0] == runs[1]


def test_fit_in_place_keeps_backup_and_mode(capsys, dataset):
    config = dataset["config"]
    original = config.read_bytes()
    config.chmod(0o640)
    code, doc, err = run_json(capsys, "fit", config, "--in-place")
    assert code == 0 and doc["written"] == str(config)
    assert (dataset["dir"] / "pipeline.config.bak").read_bytes() == original
    assert config.read_bytes() != original
    assert stat.S_IMODE(config.stat().st_mode) == 0o640
    assert doc["anchors_per_location"] == {"before": [2], "after": [2]}
    assert [w for w in doc["warnings"] if "box(es) were fitted" not in w] == []


def test_fit_anchor_count_change_against_the_checkpoint_type(capsys, dataset):
    # TF2 (Keras extractor), no checkpoint type: 'classification', which restores only the
    # backbone, so the new count is free: a note, not a warning
    code, doc, _ = run_json(capsys, "fit", dataset["config"], "--num-scales", "3", "--force")
    assert code == 0
    assert doc["anchors_per_location"]["after"] == [3]
    assert not any("fine_tune_checkpoint" in w for w in doc["warnings"])
    assert any("classification backbone" in n for n in doc["notes"])
    # 'full' restores the box predictor too: the restore would fail, a warning
    config = dataset["config"]
    config.write_text(config.read_text().replace(
        'fine_tune_checkpoint: "ckpt/model.ckpt-0"',
        'fine_tune_checkpoint: "ckpt/model.ckpt-0" fine_tune_checkpoint_type: "full"'))
    code, doc, _ = run_json(capsys, "fit", config, "--num-scales", "3", "--force")
    assert any("fine_tune_checkpoint" in w and "will fail" in w for w in doc["warnings"])


def test_fit_in_place_on_read_only_file_exits_2_untouched(capsys, dataset):
    config = dataset["config"]
    original = config.read_bytes()
    config.chmod(0o444)
    files = sorted(os.listdir(dataset["dir"]))
    code, out, err = run_cli(capsys, "fit", config, "--in-place", "--force")
    assert code == 2 and "read-only" in err and err.count("\n") == 1
    assert config.read_bytes() == original
    assert sorted(os.listdir(dataset["dir"])) == files


def test_fit_in_place_on_vanished_file_is_refused(dataset):
    outcome = api.fit(str(dataset["config"]))
    dataset["config"].unlink()
    with pytest.raises(WriteError, match="vanished"):
        api.write_fitted(outcome, in_place=True)
    assert sorted(os.listdir(dataset["dir"])) == ["train.tfrecord"]


def test_fit_missing_config_and_centernet_exit_2(capsys, tmp_path):
    code, _, err = run_cli(capsys, "fit", tmp_path / "nope.config")
    assert code == 2 and "nope.config" in err
    config = SHARED / "tfod-configs/tf2/centernet_hourglass104_512x512_coco17_tpu-8.config"
    if config.exists():
        code, _, err = run_cli(capsys, "fit", config, "--input", tmp_path / "x.tfrecord")
        assert code == 2 and "anchor" in err and err.count("\n") == 1


def test_fit_from_python_api_with_tfod_configs_dict(dataset):
    from tfod_anchors.config.files import load_config

    cfg = load_config(str(dataset["config"])).config
    configs = {"model": cfg.model, "train_config": cfg.train_config,
               "train_input_config": cfg.train_input_reader}
    outcome = api.fit(configs, [str(dataset["records"])])
    assert outcome.text is None
    generator = outcome.config.model.faster_rcnn.first_stage_anchor_generator
    assert list(generator.grid_anchor_generator.scales) != [1.0, 3.0]
    assert outcome.fit.after["recall_matched"] == pytest.approx(1.0)


# ---------------------------------------------------------------- stats / cluster


def test_stats_reports_skips_and_sizes(capsys, dataset):
    bad = write_records(dataset["dir"] / "bad.tfrecord", [
        example([[0.5, 0.5, 0.25, 0.75]]),  # ymax < ymin: TFOD fails on it
        example([[0.0, 0.0, 0.5, 0.25]], height=100, width=200),
    ])
    code, _, err = run_cli(capsys, "stats", "--input", bad)
    assert code == 2 and "bad.tfrecord" in err and "record 0" in err
    code, doc, _ = run_json(capsys, "stats", "--input", bad, "--skip-bad")
    assert code == 0
    assert doc["num_boxes"] == 1 and doc["skipped"]["inverted_boxes"] == 1
    assert doc["width"]["max"] == pytest.approx(50.0)  # original pixels: 0.25 * 200
    assert doc["height"]["max"] == pytest.approx(50.0)


def test_stats_in_resized_pixels(capsys, dataset):
    code, doc, _ = run_json(capsys, "stats", "--config", dataset["config"],
                            "--input", dataset["records"])
    assert code == 0 and doc["num_images"] == 4 and doc["num_boxes"] == 8
    assert doc["width"]["min"] == pytest.approx(16.0)
    assert doc["width"]["max"] == pytest.approx(24.0)
    assert doc["size_bands"] == {"small": 8, "medium": 0, "large": 0}


def test_cluster_recovers_exact_shapes(capsys, dataset):
    code, doc, _ = run_json(capsys, "cluster", "--config", dataset["config"], "--k", "2")
    assert code == 0
    np.testing.assert_allclose(doc["centroids"], [[16, 16], [24, 24]])
    assert doc["mean_iou"] == pytest.approx(1.0)
    code, doc, _ = run_json(capsys, "cluster", "--config", dataset["config"], "--k", "1:2")
    assert [e["k"] for e in doc["elbow"]] == [1, 2]


CLUSTER_BLOCK = """\
first_stage_anchor_generator {
  grid_anchor_generator {
    height: 16
    width: 16
    height_stride: 16
    width_stride: 16
    height_offset: 8
    width_offset: 8
    scales: [1, 1.5]
    aspect_ratios: [1]
  }
}"""


def test_cluster_prints_a_config_block_and_writes_it_as_fit_does(capsys, dataset):
    # centroids 16 and 24 px on a 16 px base: scales 1 and 1.5, one ratio (the config's count)
    code, out, _ = run_cli(capsys, "cluster", "--config", dataset["config"], "--k", "2")
    assert code == 0 and CLUSTER_BLOCK in out and "{'kind'" not in out
    target = dataset["dir"] / "clustered.config"
    code, doc, _ = run_json(capsys, "cluster", "--config", dataset["config"], "--k", "2",
                            "--output", target)
    assert code == 0 and doc["written"] == str(target) and doc["config_block"] == CLUSTER_BLOCK
    assert doc["findings"] == [] and doc["distribution"] == "static"
    old, new = dataset["config"].read_text(), target.read_text()
    assert _changed_lines(old, new) == [old.splitlines().index("        scales: [1.0, 3.0]")]
    assert api.coverage(str(target), augment=False)["mean_iou"] == pytest.approx(1.0)
    code, doc, _ = run_json(capsys, "cluster", "--config", dataset["config"], "--k", "2",
                            "--in-place")
    assert code == 0 and dataset["config"].read_text() == new
    assert (dataset["dir"] / "pipeline.config.bak").read_text() == old


def test_cluster_reports_checks_rules_and_refuses_flags_it_cannot_honour(capsys, dataset):
    # 8 and 24 px boxes: an 8 px anchor (scale 0.5) on the stride-16 map is check's
    # anchor_below_stride, a warning: reported, and the config is still written
    small = write_records(dataset["dir"] / "small.tfrecord", [
        example([[0.25, 0.25, 0.375, 0.375], [0.4375, 0.4375, 0.8125, 0.8125]])] * 4)
    config = dataset["dir"] / "small.config"
    config.write_text(CONFIG % {"fe_stride": 16, "records": small})
    code, doc, _ = run_json(capsys, "cluster", "--config", config, "--k", "2", "--output",
                            dataset["dir"] / "small_fitted.config")
    assert code == 0 and "scales: [0.5, 1.5]" in doc["config_block"]
    assert [f["code"] for f in doc["findings"]] == ["anchor_below_stride"]
    assert doc["written"] == str(dataset["dir"] / "small_fitted.config")
    for extra in (["--k", "1:2", "--output", "x.config"],
                  ["--k", "2", "--normalized", "--input", dataset["records"], "--in-place"]):
        argv = ["cluster", *extra] if "--normalized" in extra else \
            ["cluster", "--config", config, *extra]
        code, _, err = run_cli(capsys, *argv)
        assert code == 2 and err.count("\n") == 1
    assert not (dataset["dir"] / "x.config").exists()


def test_cluster_draws_the_augmentation_as_fit_does(capsys, dataset):
    config = dataset["dir"] / "flip.config"
    config.write_text(dataset["config"].read_text().replace(
        "batch_size: 1",
        "batch_size: 1\n  data_augmentation_options { random_horizontal_flip {} }"))
    code, doc, _ = run_json(capsys, "cluster", "--config", config, "--k", "2")
    # four draws per image by default, as fit: 4 images x 2 boxes x 4 draws; flips keep sizes
    assert doc["distribution"] == "augmented" and doc["num_boxes"] == 32
    np.testing.assert_allclose(doc["centroids"], [[16, 16], [24, 24]])
    code, doc, _ = run_json(capsys, "cluster", "--config", config, "--k", "2", "--no-augment")
    assert doc["distribution"] == "static" and doc["num_boxes"] == 8
    code, fitted, _ = run_json(capsys, "fit", config)
    assert fitted["distribution"] == "augmented" and fitted["num_boxes"] == 32


def _subparsers():
    from tfod_anchors.cli import COMMANDS, build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return {name: sub.choices[name] for name in COMMANDS}


def test_every_flag_of_every_command_has_help_true_to_its_default():
    import re

    for name, parser in _subparsers().items():
        for action in parser._actions:
            if not action.option_strings or action.dest == "help":
                continue
            assert action.help and len(action.help) > 10, (name, action.option_strings)
            claim = re.search(r"\(default:? (-?[0-9.]+)\)", action.help)
            if claim and isinstance(action.default, (int, float)) and \
                    not isinstance(action.default, bool):
                assert float(claim.group(1)) == action.default, (name, action.option_strings)


def test_commands_with_a_config_read_its_inputs_when_there_is_no_input(capsys, dataset):
    helps = {name: parser.format_help() for name, parser in _subparsers().items()}
    # --input's help promises the config's train_input_reader paths: every command that
    # takes a config and --input keeps that promise (extract: tested with the caches)
    for name in ("fit", "check", "stats", "cluster"):
        assert "Default: the config's train_input_reader" in " ".join(helps[name].split())
    cfg = dataset["config"]
    for argv in (["fit", cfg, "--no-augment"], ["check", cfg, "--no-augment"],
                 ["stats", "--config", cfg], ["cluster", "--config", cfg, "--k", "2"]):
        code, doc, err = run_json(capsys, *argv)
        assert code == 0, (argv, err)
        assert (doc["coverage"] if argv[0] == "check" else doc)["num_boxes"] == 8, argv
    code, _, err = run_cli(capsys, "stats")
    assert code == 2 and "--input SRC, or --config CONFIG" in err


def test_module_entry_point_and_usage_errors(capsys):
    proc = subprocess.run([sys.executable, "-m", "tfod_anchors", "--version"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0 and proc.stdout.startswith("tfod-anchors ")
    code, out, err = run_cli(capsys, "anchors")
    assert code == 2 and out == "" and err.count("\n") == 1


def test_fit_output_creates_missing_directories(capsys, dataset):
    target = dataset["dir"] / "new" / "deeper" / "fitted.config"
    code, doc, _ = run_json(capsys, "fit", dataset["config"], "--output", target)
    assert code == 0 and target.exists() and doc["written"] == str(target)


def test_stats_lists_every_skip_reason(capsys, dataset):
    from tfod_anchors.sources.raw import SKIP_KEYS

    code, doc, _ = run_json(capsys, "stats", "--input", dataset["records"])
    assert code == 0
    assert list(doc["skipped"]) == list(SKIP_KEYS)
    assert set(doc["skipped"].values()) == {0}


#: Coverage findings of the shipped demos on their own data. The Faster R-CNN demo keeps
#: TFOD's stock anchors (64 px and up, stride 16) under the RPN's fixed IoU 0.7: none of
#: the 1098 small COCO boxes (< 32² px) reaches it, an error by default (README, check rules).
DEMO_COVERAGE_FINDINGS = {
    "faster_rcnn_resnet50_640x640_coco_subset.config": [("low_recall", "warning"),
                                                        ("band_recall_collapse", "error"),
                                                        ("class_low_recall", "warning")],
    # ties (1.4% of the boxes, thin and tall) reach 0.33 against the dataset's 0.76
    "retinanet_resnet50_fpn_640x640_coco_subset.config": [("class_low_recall", "warning")],
    # books, bottles and ties (3.1%, 3.3%, 1.4%) reach 0.11-0.21 against the dataset's 0.48
    "ssd_mobilenet_v2_300x300_coco_subset.config": [("low_recall", "warning"),
                                                    ("class_low_recall", "warning")],
    "ssd_mobilenet_v2_300x300_raccoon.config": [],
}


@pytest.mark.parametrize("config", sorted((ROOT / "configs").glob("*.config")),
                         ids=lambda p: p.name)
def test_shipped_demo_configs_check_with_coverage(capsys, config):
    expected = DEMO_COVERAGE_FINDINGS[config.name]
    code, doc, _ = run_json(capsys, "check", config, "--no-advice")  # advice: test_check_advice
    assert code == (1 if any(s == "error" for _, s in expected) else 0)
    assert doc["ok"] is (code == 0)
    assert [(f["code"], f["severity"]) for f in doc["findings"]] == expected
    # every demo flips horizontally, so check draws 4 augmented samples per image
    assert doc["coverage"]["distribution"] == "augmented"
    assert doc["augmentation"]["draws"] == 4
    assert doc["coverage"]["num_boxes"] in (4 * 217, 4 * 3591)  # raccoon, COCO subset


# ---------------------------------------------------------------- the public API as a user meets it

# calls every API function in a fresh interpreter (so every lazy import is a first one),
# then reports which public names changed
_CALL_EVERY_FUNCTION = textwrap.dedent("""
    import json, sys
    import tfod_anchors
    before = {name: getattr(tfod_anchors, name) for name in tfod_anchors.__all__}
    cfg, rec, out = sys.argv[1:4]
    results = {}
    results["check"] = tfod_anchors.check(cfg, rec).ok
    results["coverage"] = round(tfod_anchors.coverage(cfg, rec)["mean_iou"], 4)
    results["resized_boxes"] = tfod_anchors.resized_boxes(cfg, rec).num_boxes
    results["anchors"] = tfod_anchors.anchors(cfg, (64, 64))["num_anchors"]
    outcome = tfod_anchors.fit(cfg, rec, augment=False)
    results["fit"] = outcome.fit.improved
    results["write_fitted"] = tfod_anchors.write_fitted(outcome, output=out) == out
    changed = [name for name in tfod_anchors.__all__
               if getattr(tfod_anchors, name) is not before[name]]
    print(json.dumps({"results": results, "changed": changed}))
""")


def test_public_names_survive_every_api_call(tmp_path):
    data = make_dataset(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run(
        [sys.executable, "-c", _CALL_EVERY_FUNCTION, str(data["config"]), str(data["records"]),
         str(tmp_path / "fitted.config")], capture_output=True, text=True, env=env, cwd=ROOT,
        check=False)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["changed"] == []
    assert doc["results"] == {"check": True, "coverage": 0.7222, "resized_boxes": 8,
                              "anchors": 32, "fit": True, "write_fitted": True}


def test_fit_to_json_is_the_cli_document_and_keeps_the_diff(capsys, tmp_path):
    data = make_dataset(tmp_path)
    target = tmp_path / "fitted.config"
    code, doc, _ = run_json(capsys, "fit", data["config"], "--output", target)
    assert code == 0 and doc["written"] == str(target)
    # the file was written and the config changed: the diff says how (item 4)
    assert doc["diff"].startswith(f"--- {data['config']}")
    assert "-        scales: [1.0, 3.0]" in doc["diff"]
    outcome = api.fit(str(data["config"]))
    mine = outcome.to_json(written=str(target))
    assert mine == doc
    assert json.loads(json.dumps(mine)) == mine      # plain JSON types
    assert mine["after"]["recall_0.7"] == 1.0 and mine["before"]["recall_0.7"] == 0.5


def test_check_to_json_is_the_cli_document(capsys, tmp_path):
    data = make_dataset(tmp_path)
    code, doc, _ = run_json(capsys, "check", data["config"], "--strict")
    outcome = api.check(str(data["config"]), strict=True)
    assert outcome.to_json() == doc
    assert doc["config"] == str(data["config"]) and doc["strict"] is True
    assert doc["coverage"]["mean_iou"] == pytest.approx((1 + 256 / 576) / 2, abs=1e-6)


def test_api_docstring_examples_run_on_the_shipped_demos(monkeypatch):
    import doctest

    monkeypatch.chdir(ROOT)   # the demo configs name their data relative to the repository
    result = doctest.testmod(api, optionflags=doctest.ELLIPSIS, report=True)
    assert result.failed == 0 and result.attempted >= 20


def test_ssd_demo_fit_improves(monkeypatch):
    # the SSD demo users meet first must show an SSD fit that writes something: on the
    # COCO subset recall@0.5 of the upstream SSD anchors is 0.481 (1726 of 3591 boxes)
    monkeypatch.chdir(ROOT)
    result = api.fit("configs/ssd_mobilenet_v2_300x300_coco_subset.config", augment=False)
    assert result.fit.improved and result.diff
    assert result.fit.before["recall_matched"] == pytest.approx(1726 / 3591)
    assert result.fit.after["recall_matched"] > result.fit.before["recall_matched"] + 0.02
    assert set(result.fit.changed) >= {"min_scale", "max_scale", "aspect_ratios"}
