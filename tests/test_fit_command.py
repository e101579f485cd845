"""``fit`` as a user sees it (issue 10): what it says and writes, on hand-built
TFRecords (see ``test_cli`` for the dataset: 64x64 images, a 16 px and a 24 px box
each, anchors of 16 and 48 px on a stride-16 grid)."""

from __future__ import annotations

import pytest
from helpers.cli import run_cli, run_json
from helpers.grid64 import CONFIG, example, write_records

from tfod_anchors.commands.fit import BPR_NOTE, UNREACHABLE_NOTE
from tfod_anchors.sources.raw import SKIP_KEYS

pytest.importorskip("tensorflow", reason="the end-to-end tests write TFRecords with TF")

SSD_WEIGHT_SHARED = """\
model {
  ssd {
    num_classes: 1
    image_resizer { fixed_shape_resizer { height: 300 width: 300 } }
    feature_extractor { type: 'ssd_mobilenet_v2_keras' depth_multiplier: 1.0 min_depth: 16
      conv_hyperparams { regularizer { l2_regularizer {} }
                         initializer { truncated_normal_initializer {} } } }
    box_coder { faster_rcnn_box_coder {} }
    matcher { argmax_matcher { matched_threshold: 0.5 unmatched_threshold: 0.5 } }
    similarity_calculator { iou_similarity {} }
    anchor_generator { ssd_anchor_generator {
      num_layers: 6 min_scale: 0.2 max_scale: 0.95 aspect_ratios: [1.0, 2.0]
      reduce_boxes_in_lowest_layer: true } }
    box_predictor { weight_shared_convolutional_box_predictor {
      conv_hyperparams { regularizer { l2_regularizer {} }
                         initializer { truncated_normal_initializer {} } }
      depth: 32 num_layers_before_predictor: 1 kernel_size: 3 } }
  }
}
train_input_reader {
  tf_record_input_reader { input_path: "%(records)s" }
}
"""


@pytest.fixture()
def fitted(tmp_path):
    """Every box is exactly on a 16 px anchor: nothing can be improved."""
    records = write_records(tmp_path / "train.tfrecord", [
        example([[0.25, 0.25, 0.5, 0.5], [0.0, 0.0, 0.25, 0.25]]) for _ in range(4)])
    config = tmp_path / "pipeline.config"
    config.write_text(CONFIG % {"fe_stride": 16, "records": records})
    return {"dir": tmp_path, "records": records, "config": config}


@pytest.fixture()
def improvable(tmp_path):
    records = write_records(tmp_path / "train.tfrecord", [
        example([[0.25, 0.25, 0.5, 0.5], [0.4375, 0.4375, 0.8125, 0.8125]])
        for _ in range(4)])
    config = tmp_path / "pipeline.config"
    config.write_text(CONFIG % {"fe_stride": 16, "records": records})
    return {"dir": tmp_path, "records": records, "config": config}


def test_force_with_output_always_writes(capsys, fitted):
    target = fitted["dir"] / "out.config"
    code, doc, err = run_json(capsys, "fit", fitted["config"], "--output", target)
    assert code == 0 and doc["improved"] is False
    assert doc["written"] is None and not target.exists()
    assert "nothing written" in doc["verdict"] and "writing" not in doc["verdict"]
    code, out, err = run_cli(capsys, "fit", fitted["config"], "--output", target)
    assert "nothing written" in out and "writing" not in out + err and not target.exists()
    code, doc, err = run_json(capsys, "fit", fitted["config"], "--output", target, "--force")
    assert code == 0 and doc["forced"] is True and doc["written"] == str(target)
    assert target.read_text() == fitted["config"].read_text()  # nothing better: same values
    assert "--force: writing" in doc["verdict"]


def test_force_without_output_writes_nothing_and_says_so(capsys, fitted):
    files = sorted(p.name for p in fitted["dir"].iterdir())
    code, out, err = run_cli(capsys, "fit", fitted["config"], "--force")
    assert code == 0 and "nothing written" in out and "writing" not in out + err
    assert sorted(p.name for p in fitted["dir"].iterdir()) == files


def test_table_shows_size_bands_bpr_and_positives(capsys, improvable):
    code, out, err = run_cli(capsys, "fit", improvable["config"], "--output",
                             improvable["dir"] / "o.config")
    assert code == 0
    assert "  small (8 boxes)" in out          # 16 and 24 px boxes: all small
    # both boxes are within 4x of the 16 px anchor, before and after: YOLOv5's BPR is 1;
    # before, only the 16 px box has an anchor at IoU >= 0.7 (itself): 1 positive of 2
    # boxes; after (16.05 and 24.05 px anchors) each box has exactly one
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line}
    assert rows["bpr_yolov5"] == ["1.000", "1.000", "+0.000"]
    assert rows["mean_positives"] == ["0.500", "1.000", "+0.500"]
    assert BPR_NOTE in out
    # num_unreachable only helps a decision about strides: shown with --verbose only
    assert "num_unreachable" not in out and UNREACHABLE_NOTE not in out
    assert "minimum gain" in out and "better on objective 'recall'" in out


def test_verbose_table_explains_unreachable(capsys, improvable):
    code, out, err = run_cli(capsys, "fit", improvable["config"], "--verbose")
    assert code == 0 and UNREACHABLE_NOTE in out
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line}
    assert rows["num_unreachable"] == ["0", "0", "+0"]


def test_fit_reports_dropped_boxes_with_the_stats_keys(capsys, improvable):
    code, doc, _ = run_json(capsys, "fit", improvable["config"], "--max-boxes", "1")
    assert list(doc["skipped"]) == list(SKIP_KEYS)
    assert doc["skipped"]["boxes_over_max"] == 4 and doc["num_boxes"] == 4
    code, stats, _ = run_json(capsys, "stats", "--input", improvable["records"],
                              "--max-boxes", "1")
    assert stats["skipped"] == doc["skipped"]
    code, out, err = run_cli(capsys, "fit", improvable["config"], "--max-boxes", "1")
    assert "boxes_over_max: 4" in out


def test_a_new_check_error_blocks_the_write(capsys, tmp_path):
    # Weight-shared predictor: every layer must have the same anchors per location
    # (3 here). Three aspect ratios give the upper layers 4: check's
    # weight_shared_anchors_differ error, so nothing may be written.
    records = write_records(tmp_path / "train.tfrecord", [
        example([[0.2, 0.2, 0.5, 0.6], [0.1, 0.5, 0.9, 0.8]]) for _ in range(8)])
    config = tmp_path / "ssd.config"
    config.write_text(SSD_WEIGHT_SHARED % {"records": records})
    code, doc, _ = run_json(capsys, "check", config)
    assert code == 0 and doc["findings"] == []
    target = tmp_path / "out.config"
    code, doc, err = run_json(capsys, "fit", config, "--num-aspect-ratios", "3",
                              "--output", target, "--force")
    assert code == 1 and doc["written"] is None and not target.exists()
    assert [f["code"] for f in doc["new_findings"]] == ["weight_shared_anchors_differ"]
    assert "weight_shared_anchors_differ" in doc["verdict"]
    code, out, err = run_cli(capsys, "fit", config, "--num-aspect-ratios", "3",
                             "--output", target)
    assert code == 1 and not target.exists()
    assert "would fail check" in out and "weight_shared_anchors_differ" in err


def test_guard_spec_is_validated(capsys, improvable):
    code, out, err = run_cli(capsys, "fit", improvable["config"], "--guard", "bands=maybe")
    assert code == 2 and "bands" in err and err.count("\n") == 1
    code, doc, _ = run_json(capsys, "fit", improvable["config"], "--guard",
                            "mean_iou=0.02,bands=off,stride=off")
    assert doc["guard_spec"]["mean_iou"] == 0.02 and doc["guard_spec"]["bands"] is None
    assert doc["guard_spec"]["stride"] is False
    code, out, err = run_cli(capsys, "fit", improvable["config"], "--objective", "w:1,2")
    assert code == 2 and "w:RECALL,MEAN_IOU,RECALL_0.5" in err


def test_report_draws_the_front_with_peer_sets(capsys, improvable, tmp_path):
    pytest.importorskip("matplotlib")
    peers = tmp_path / "peers.json"
    peers.write_text('{"k-means tool": [[16, 16], [48, 48]], "one shape": [[24, 24]]}')
    out = tmp_path / "report"
    code, doc, _ = run_json(capsys, "fit", improvable["config"], "--report", out,
                            "--peer-sets", peers)
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["front.png", "iou_cdf.png",
                                                     "recall_by_class.png",
                                                     "recall_by_size.png", "shapes.png"]
    assert (out / "recall_by_class.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "front.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2, 3]")
    code, _, err = run_cli(capsys, "fit", improvable["config"], "--report", out,
                           "--peer-sets", bad)
    assert code == 2 and "bad.json" in err


def test_free_sets_are_scored_on_the_configs_grid(improvable):
    from tfod_anchors import api
    from tfod_anchors.fitting.front import free_set_metrics
    from tfod_anchors.plots.front import pareto

    outcome = api.fit(str(improvable["config"]))
    cfg = outcome.loaded.config
    # the 16 px shape sits on every 16 px box (IoU 1); the 24 px boxes get 256/576
    m = free_set_metrics(outcome.boxes, cfg, [[16.0, 16.0]])
    assert m["recall_matched"] == pytest.approx(0.5)
    assert m["mean_iou"] == pytest.approx((1 + 256 / 576) / 2)
    # a 24 px shape centred on the 24 px boxes' cell centre covers them exactly
    assert free_set_metrics(outcome.boxes, cfg, [[16.0, 16.0], [24.0, 24.0]])[
        "recall_matched"] == pytest.approx(1.0)
    pts = [{"recall_matched": 0.5, "mean_iou": 0.6, "recall_0.5": 0.9},
           {"recall_matched": 0.6, "mean_iou": 0.5, "recall_0.5": 0.8},
           {"recall_matched": 0.4, "mean_iou": 0.5, "recall_0.5": 0.7}]  # dominated
    front = pareto([{"recall": p["recall_matched"], "mean_iou": p["mean_iou"],
                     "recall_0.5": p["recall_0.5"]} for p in pts], "mean_iou")
    assert [p["recall"] for p in front] == [0.6, 0.5]


def test_output_in_another_folder_warns_about_relative_paths_left_behind(capsys, tmp_path,
                                                                          monkeypatch):
    import shutil

    from conftest import ROOT

    from tfod_anchors.config.files import load_config
    from tfod_anchors.pipeline import paths_left_behind

    # a config naming demo/... paths, found beside it (src/), not from the working folder
    monkeypatch.chdir(tmp_path)
    source = tmp_path / "src"
    shutil.copytree(ROOT / "configs" / "demo", source / "demo")
    config = source / "frcnn.config"
    text = (ROOT / "configs" / "faster_rcnn_resnet50_640x640_coco_subset.config").read_text()
    config.write_text(text.replace('"configs/demo/', '"demo/'))  # relative to its folder
    cfg = load_config(str(config)).config
    assert paths_left_behind(cfg, str(config), str(tmp_path / "out" / "x.config")) == [
        "input_path: demo/coco_val2017_subset.tfrecord",
        "label_map_path: demo/coco_val2017_subset_label_map.pbtxt"]
    assert paths_left_behind(cfg, str(config), str(source / "x.config")) == []  # beside it
    code, out, err = run_cli(capsys, "fit", str(config), "--no-augment", "--output",
                             str(tmp_path / "out" / "x.config"), "--quiet")
    assert code == 0 and (tmp_path / "out" / "x.config").exists()
    assert "x.config keeps the config's relative paths (input_path: demo/" in err
    code, out, err = run_cli(capsys, "fit", str(config), "--no-augment", "--output",
                             str(source / "y.config"), "--quiet")
    assert code == 0 and "relative paths" not in err


def test_paths_relative_to_a_parent_of_the_config_are_found_from_anywhere(tmp_path,
                                                                          monkeypatch):
    from tfod_anchors.pipeline import _resolve

    project = tmp_path / "project"
    (project / "configs" / "demo").mkdir(parents=True)
    data = project / "configs" / "demo" / "train.record"
    data.write_bytes(b"")
    config = project / "configs" / "model.config"
    config.write_text("")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    # TFOD's rule first (from the working folder), then beside the config, then its parents
    assert _resolve("configs/demo/train.record", str(config)) == str(data)
    assert _resolve("demo/train.record", str(config)) == str(data)
    assert _resolve("demo/missing.record", str(config)) == "demo/missing.record"
    monkeypatch.chdir(project)
    assert _resolve("configs/demo/train.record", str(config)) == "configs/demo/train.record"


def test_report_titles_say_which_boxes_and_the_front_is_opt_in(capsys, improvable, tmp_path):
    pytest.importorskip("matplotlib")
    from tfod_anchors import api
    from tfod_anchors.plots.report import fit_report_title

    assert fit_report_title(api.fit(str(improvable["config"]))) == \
        "8 static boxes (4 images), grid_anchor_generator"
    flip = improvable["dir"] / "flip.config"
    flip.write_text(improvable["config"].read_text().replace(
        "batch_size: 1",
        "batch_size: 1\n  data_augmentation_options { random_horizontal_flip {} }"))
    assert fit_report_title(api.fit(str(flip))) == \
        "32 augmented boxes (4 draw(s) of 4 images, seed 0), grid_anchor_generator"
    plain, front = tmp_path / "plain", tmp_path / "front"
    code, doc, _ = run_json(capsys, "fit", improvable["config"], "--report", plain)
    assert code == 0 and len(doc["report"]) == 5  # shapes, IoU CDF, size, class, front
    code, doc, _ = run_json(capsys, "fit", improvable["config"], "--report", front,
                            "--report-front")
    assert code == 0 and len(doc["report"]) == 5
    # the same marks; only --report-front adds the staircase of unguarded fits
    assert (plain / "front.png").read_bytes() != (front / "front.png").read_bytes()
    assert (plain / "shapes.png").read_bytes() == (front / "shapes.png").read_bytes()


def test_cluster_does_not_write_a_set_that_fails_check(capsys, tmp_path):
    # one centroid gives the SSD one aspect ratio: 2 anchors per location on the upper
    # layers against 3 on the reduced lowest one, which a weight-shared predictor refuses
    records = write_records(tmp_path / "train.tfrecord", [
        example([[0.1, 0.1, 0.5, 0.4], [0.2, 0.3, 0.9, 0.8]]) for _ in range(4)])
    config = tmp_path / "pipeline.config"
    config.write_text(SSD_WEIGHT_SHARED % {"records": records})
    target = tmp_path / "out.config"
    code, doc, err = run_json(capsys, "cluster", "--config", config, "--k", "1",
                              "--output", target)
    assert code == 1 and doc["written"] is None and not target.exists()
    assert "weight_shared_anchors_differ" in [f["code"] for f in doc["findings"]]
    assert "the clustered config would fail check: weight_shared_anchors_differ" in err
    code, doc, _ = run_json(capsys, "cluster", "--config", config, "--k", "2",
                            "--output", target)
    assert code == 0 and doc["written"] == str(target) and doc["findings"] == []
