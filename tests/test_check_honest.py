"""``check`` tells the whole truth (#20): what it did not measure (``data_dropped``), the
label map against ``num_classes``, and coverage per class.

Data: the ``helpers.check_data`` config (64x64 fixed resizer, stride-16 grid, 16 and 48 px
anchors, matched threshold 0.7), so box ``A`` (16x16 on an anchor) has IoU 1 and box
``B`` (24x24 centred on (40, 40)) IoU 256 / 576 = 0.4444.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, SHARED
from helpers.check_data import CELLS_CONFIG, cells_config, example, write_records
from helpers.cli import run_cli, run_json

from tfod_anchors import api
from tfod_anchors.coverage.by_class import class_metrics
from tfod_anchors.rules import SEVERITY
from tfod_anchors.rules.checkpoint import anchor_count_note, checkpoint_type
from tfod_anchors.rules.classes import class_low_recall_findings, num_classes_findings
from tfod_anchors.rules.dropped import data_dropped_findings, dropped_summary

tf = pytest.importorskip("tensorflow", reason="the tests write TFRecords with TF")

A = [0.25, 0.25, 0.5, 0.5]
B = [0.4375, 0.4375, 0.8125, 0.8125]


def label_map(path: Path, items: dict[str, int]) -> Path:
    path.write_text("".join(f"item {{ id: {i} name: '{n}' }}\n" for n, i in items.items()))
    return path


@pytest.fixture()
def cells(tmp_path: Path) -> dict[str, Path]:
    """Four images, each: a 'cell' box A, a 'cell' box B and a 'platelet' box A (the
    platelet listed last)."""
    records = write_records(tf, tmp_path / "train.tfrecord", [
        example(tf, [A, B, A], [1, 1, 1], ["cell", "cell", "platelet"]) for _ in range(4)])
    return {"dir": tmp_path, "records": records}


def codes(doc) -> dict[str, str]:
    return {f["code"]: f["severity"] for f in doc["findings"]}


# ------------------------------------------------------------------ data_dropped


def test_label_map_missing_a_class_is_data_dropped_with_its_name(capsys, cells):
    lm = label_map(cells["dir"] / "lm.pbtxt", {"cell": 1})
    config = cells_config(cells["dir"], cells["records"],
                          reader=f'  label_map_path: "{lm}"\n')
    code, out, _ = run_cli(capsys, "check", config)
    line = next(x for x in out.splitlines() if x.startswith("WARNING data_dropped"))
    # 4 platelet boxes of 12 read: 33.3 %
    assert "4 of 12 boxes read (33.3%) were dropped" in line
    assert "'platelet' 4" in line and str(lm) in line
    assert code == 0
    code, _, _ = run_cli(capsys, "check", config, "--strict")
    assert code == 1
    code, doc, _ = run_json(capsys, "check", config)
    block = doc["data_dropped"]
    assert block["boxes_read"] == 12 and block["boxes_dropped"] == 4
    assert block["unknown_classes"] == {"platelet": 4}
    assert doc["coverage"]["num_boxes"] == 8


def test_skip_bad_on_a_truncated_file_is_data_dropped_with_the_file(capsys, cells):
    data = cells["records"].read_bytes()
    cells["records"].write_bytes(data[: len(data) - 40])  # cut into the last record
    config = cells_config(cells["dir"], cells["records"])
    code, out, _ = run_cli(capsys, "check", config, "--skip-bad")
    line = next(x for x in out.splitlines() if x.startswith("WARNING data_dropped"))
    assert "1 file(s) corrupt or truncated" in line and str(cells["records"]) in line
    assert "(3 images kept)" in line
    assert run_cli(capsys, "check", config, "--skip-bad", "--strict")[0] == 1
    _, doc, _ = run_json(capsys, "check", config, "--skip-bad")
    assert doc["data_dropped"]["files"] == [str(cells["records"])]
    assert doc["coverage"]["num_images"] == 3


def test_max_number_of_boxes_truncation_is_data_dropped(capsys, cells):
    config = cells_config(cells["dir"], cells["records"],
                          reader="  max_number_of_boxes: 2\n")
    code, out, _ = run_cli(capsys, "check", config)
    line = next(x for x in out.splitlines() if x.startswith("WARNING data_dropped"))
    assert "4 of 12 boxes read (33.3%) were dropped" in line
    assert "beyond max_number_of_boxes" in line
    assert run_cli(capsys, "check", config, "--strict")[0] == 1


def test_stats_and_fit_report_the_same_drop(capsys, cells):
    config = cells_config(cells["dir"], cells["records"],
                          reader="  max_number_of_boxes: 2\n")
    _, doc, err = run_json(capsys, "stats", "--config", config, "--input", cells["records"])
    assert doc["data_dropped"]["boxes_dropped"] == 4 and "data_dropped" in err
    _, doc, err = run_json(capsys, "fit", config)
    assert doc["data_dropped"]["boxes_dropped"] == 4
    assert any(w.startswith("data_dropped: 4 of 12") for w in doc["warnings"])


def test_nothing_dropped_means_no_finding(capsys, cells):
    code, doc, _ = run_json(capsys, "check", cells_config(cells["dir"], cells["records"]))
    assert doc["data_dropped"] is None and "data_dropped" not in codes(doc)


def test_dropped_summary_shares_and_requested_drops():
    summary = dropped_summary({"nan_boxes": 1, "difficult_boxes": 2}, {}, boxes_kept=7,
                              images_kept=3)
    assert summary["boxes_read"] == 10 and summary["boxes_dropped"] == 1
    assert summary["box_share"] == pytest.approx(0.1) and summary["requested"] == {
        "difficult_boxes": 2}
    assert dropped_summary({"difficult_boxes": 2, "images_without_boxes": 5}, {},
                           boxes_kept=7, images_kept=3) is None
    assert SEVERITY["data_dropped"] == "warning"
    assert data_dropped_findings(None) == []


def test_placeholder_label_map_turns_filtering_off_with_an_info(capsys, cells):
    config = cells_config(cells["dir"], cells["records"],
                          reader='  label_map_path: "PATH_TO_BE_CONFIGURED/lm.pbtxt"\n')
    _, doc, _ = run_json(capsys, "check", config)
    assert codes(doc).get("class_filter_off") == "info"
    assert doc["coverage"]["num_boxes"] == 12
    _, doc, _ = run_json(capsys, "stats", "--config", config, "--input", cells["records"])
    assert [n.split(":")[0] for n in doc["notes"]] == ["class_filter_off"]
    _, doc, _ = run_json(capsys, "fit", config)
    assert any(n.startswith("class_filter_off") for n in doc["notes"])


# ------------------------------------------------------------------ num_classes


def test_num_classes_against_the_label_map_unit():
    assert [f.code for f in num_classes_findings(90, [1, 2, 3], "lm")] == [
        "num_classes_too_large"]
    assert [f.code for f in num_classes_findings(90, [1, 95], "lm")] == [
        "num_classes_too_small"]
    assert num_classes_findings(3, [1, 2, 3], "lm") == []
    assert num_classes_findings(3, [0, 1, 2, 3], "lm") == []  # 0: background


def test_sample_config_with_90_classes_and_a_3_class_map_warns(capsys, cells):
    config = SHARED / "tfod-configs/tf2/faster_rcnn_resnet50_v1_640x640_coco17_tpu-8.config"
    if not config.exists():
        pytest.skip("needs ../shared/tfod-configs")
    three = label_map(cells["dir"] / "three.pbtxt", {"cell": 1, "platelet": 2, "rbc": 3})
    _, doc, _ = run_json(capsys, "check", config, "--label-map", three,
                         "--input", cells["records"])
    assert codes(doc)["num_classes_too_large"] == "warning"
    assert "set num_classes: 3" in next(f["message"] for f in doc["findings"]
                                         if f["code"] == "num_classes_too_large")


def test_label_map_id_above_num_classes_is_an_error(capsys, cells):
    lm = label_map(cells["dir"] / "lm.pbtxt", {"cell": 1, "platelet": 95})
    config = cells_config(cells["dir"], cells["records"], num_classes=90,
                          reader=f'  label_map_path: "{lm}"\n')
    code, doc, _ = run_json(capsys, "check", config)
    assert codes(doc)["num_classes_too_small"] == "error" and code == 1


# ------------------------------------------------------------------ per class


def test_class_metrics_by_hand():
    best = np.array([1.0, 0.4444, 1.0, 0.0])
    got = class_metrics(best, np.array([1, 1, 2, 2]), 0.7, {1: "cell"})
    assert got["1"] == {"name": "cell", "count": 2, "share": 0.5,
                        "mean_iou": pytest.approx(0.7222), "recall_matched": 0.5}
    assert got["2"]["recall_matched"] == 0.5 and got["2"]["name"] is None


def test_check_by_class_in_text_and_json(capsys, cells):
    lm = label_map(cells["dir"] / "lm.pbtxt", {"cell": 1, "platelet": 2})
    config = cells_config(cells["dir"], cells["records"], num_classes=2,
                          reader=f'  label_map_path: "{lm}"\n')
    _, doc, _ = run_json(capsys, "check", config)
    cell, platelet = doc["by_class"]["1"], doc["by_class"]["2"]
    assert (cell["name"], cell["count"], cell["recall_matched"]) == ("cell", 8, 0.5)
    assert cell["mean_iou"] == pytest.approx((1 + 256 / 576) / 2, abs=1e-6)
    assert (platelet["count"], platelet["recall_matched"]) == (4, 1.0)
    _, out, _ = run_cli(capsys, "check", config, "--by-class")
    assert any(x.split()[:3] == ["1", "cell", "8"] and x.endswith("0.5000")
               for x in out.splitlines())
    _, out, _ = run_cli(capsys, "check", config)
    assert not any(x.startswith("1 cell") for x in out.splitlines())


def test_class_low_recall_rule():
    by_class = {"1": {"name": "a", "count": 90, "share": 0.9, "recall_matched": 0.8},
                "2": {"name": "b", "count": 9, "share": 0.09, "recall_matched": 0.3},
                "3": {"name": "c", "count": 1, "share": 0.009, "recall_matched": 0.0}}
    found = class_low_recall_findings(by_class, 0.75, 0.5)
    assert [f.code for f in found] == ["class_low_recall"]
    assert "b (id 2" in found[0].message and "c (id 3" not in found[0].message  # < 1 %
    assert class_low_recall_findings(by_class, 0.5, 0.5) == []  # 0.3 >= 0.25


DEMO = ROOT / "configs" / "faster_rcnn_resnet50_640x640_coco_subset.config"


def test_per_class_recall_equals_one_class_label_maps_on_the_demo(tmp_path):
    outcome = api.check(DEMO, augment=False)
    by_class = outcome.by_class
    picked = [cid for cid, e in by_class.items() if e["name"] in ("person", "bottle", "tie")]
    assert len(picked) == 3
    for cid in picked:
        name = by_class[cid]["name"]
        one = label_map(tmp_path / f"{cid}.pbtxt", {name: 1})
        alone = api.coverage(DEMO, augment=False, label_map=str(one))
        assert alone["num_boxes"] == by_class[cid]["count"]
        assert round(alone["recall_matched"], 4) == round(by_class[cid]["recall_matched"], 4)
        assert round(alone["mean_iou"], 4) == round(by_class[cid]["mean_iou"], 4)


# ------------------------------------------------------------------ checkpoints


def _with_train(config_text: str, train: str) -> object:
    from tfod_anchors.config.files import parse_config_text

    return parse_config_text(config_text.replace(
        'fine_tune_checkpoint: "ckpt/model.ckpt-0"', train))


@pytest.mark.parametrize(("train", "level", "words"), [
    ('fine_tune_checkpoint: "c/ckpt-0" fine_tune_checkpoint_type: "detection" '
     "fine_tune_checkpoint_version: V2", "info", "never the box predictor"),
    ('fine_tune_checkpoint: "c/ckpt-0" fine_tune_checkpoint_type: "classification" '
     "fine_tune_checkpoint_version: V2", "info", "classification backbone"),
    ('fine_tune_checkpoint: "c/ckpt-0" fine_tune_checkpoint_type: "full" '
     "fine_tune_checkpoint_version: V2", "warning", "will fail"),
    ('fine_tune_checkpoint: "c/model.ckpt" from_detection_checkpoint: true', "info",
     "TF1 trainer skips"),
    ('fine_tune_checkpoint: "PATH_TO_BE_CONFIGURED/ckpt-0" fine_tune_checkpoint_type: "full" '
     "fine_tune_checkpoint_version: V2", "warning", "template placeholder"),
])
def test_checkpoint_note_follows_tfod_restore(train, level, words):
    text = CELLS_CONFIG % {"num_classes": 1, "scales": "[1.0, 3.0]", "reader": "",
                    "records": "x"}
    if "V2" not in train:  # a TF1 config: a slim feature extractor, a V1 checkpoint
        text = text.replace("faster_rcnn_resnet50_keras", "faster_rcnn_resnet50")
    cfg = _with_train(text, train)
    note = anchor_count_note(cfg, [2], [3])
    assert note is not None and note.level == level and words in note.message
    assert anchor_count_note(cfg, [2], [2]) is None


def test_empty_checkpoint_type_follows_from_detection_checkpoint():
    cfg = _with_train(CELLS_CONFIG % {"num_classes": 1, "scales": "[1.0, 3.0]", "reader": "",
                    "records": "x"},
                      'fine_tune_checkpoint: "c" from_detection_checkpoint: true')
    assert checkpoint_type(cfg.train_config) == "detection"
    cfg = _with_train(CELLS_CONFIG % {"num_classes": 1, "scales": "[1.0, 3.0]", "reader": "",
                    "records": "x"}, 'fine_tune_checkpoint: "c"')
    assert checkpoint_type(cfg.train_config) == "classification"


# ------------------------------------------------------------------ --guard classes


def test_guard_classes_keeps_a_rare_class(tmp_path):
    """One 16 px anchor per cell. Class 1: three 24x24 boxes per image (IoU 0.444 now);
    class 2: one 16x16 box on an anchor (IoU 1). The recall fit moves the anchor to 24 px
    (class 1: 0 -> 1, class 2: 1 -> 0); ``--guard classes`` refuses that."""
    from tfod_anchors.fitting.objective import Guard

    records = write_records(tf, tmp_path / "t.tfrecord",
                            [example(tf, [B, B, B, A], [1, 1, 1, 2]) for _ in range(40)])
    config = cells_config(tmp_path, records, num_classes=2, scales="[1.0]")
    free = api.fit(config, augment=False)
    assert free.fit.improved
    by = class_metrics(free.fit.report_after.best_iou, free.boxes.label, 0.7)
    assert by["1"]["recall_matched"] == 1.0 and by["2"]["recall_matched"] == 0.0
    kept = api.fit(config, augment=False, guard="classes")
    assert not kept.fit.improved
    assert Guard.parse("classes").classes == 0.05 and Guard.parse("classes=0.1").classes == 0.1
    assert Guard().classes is None  # off by default


# ------------------------------------------------------------------ names from other sources


def test_coco_and_csv_name_their_classes(capsys, cells):
    """A COCO json whose label map lacks 'platelet' names it in data_dropped; a CSV read
    without a label map (ids numbered by sorted name) names its classes per class."""
    import json

    coco = cells["dir"] / "instances.json"
    coco.write_text(json.dumps({
        "images": [{"id": 1, "width": 64, "height": 64, "file_name": "a.jpg"}],
        "categories": [{"id": 1, "name": "cell"}, {"id": 2, "name": "platelet"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [16, 16, 16, 16]},
                        {"id": 2, "image_id": 1, "category_id": 2, "bbox": [0, 0, 16, 16]},
                        {"id": 3, "image_id": 1, "category_id": 2, "bbox": [32, 0, 16, 16]}]}))
    lm = label_map(cells["dir"] / "lm.pbtxt", {"cell": 1})
    config = cells_config(cells["dir"], cells["records"])
    _, doc, _ = run_json(capsys, "check", config, "--input", coco, "--label-map", lm)
    assert doc["data_dropped"]["unknown_classes"] == {"platelet": 2}
    table = cells["dir"] / "boxes.csv"
    table.write_text("filename,width,height,class,xmin,ymin,xmax,ymax\n"
                     "a.jpg,64,64,zebra,16,16,32,32\n"
                     "a.jpg,64,64,ant,28,28,52,52\n")
    _, doc, _ = run_json(capsys, "check", config, "--input", table)
    assert {e["name"]: e["recall_matched"] for e in doc["by_class"].values()} == {
        "ant": 0.0, "zebra": 1.0}


# ------------------------------------------------------------------ --anchors-per-location


def test_anchors_per_location_what_if(capsys, cells):
    """2 anchors per location (scales 1, 3; one ratio) -> 3: three scales, the same ratio;
    on the 4x4 map of the 64x64 input, 32 -> 48 anchors."""
    from tfod_anchors.config.files import parse_config_text
    from tfod_anchors.whatif.counts import counts_for

    config = cells_config(cells["dir"], cells["records"])
    cfg = parse_config_text(config.read_text())
    assert counts_for(cfg, 3) == (3, 1) and counts_for(cfg, 6) == (6, 1)
    code, doc, _ = run_json(capsys, "fit", config, "--anchors-per-location", "3", "--force")
    assert code == 0 and doc["anchors_per_location"] == {"before": [2], "after": [3]}
    assert any("32 -> 48 (+16)" in n for n in doc["notes"])
    assert doc["written"] is None  # a what-if: nothing written without --output
    code, _, err = run_cli(capsys, "fit", config, "--anchors-per-location", "3",
                           "--num-scales", "3")
    assert code == 2 and "--anchors-per-location" in err
