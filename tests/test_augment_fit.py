"""``fit`` on the augmented distribution, with its guard on the static boxes too.

Hand-built data and configs as in ``test_augment_integration`` (its module docstring
works out the coverage of ``CONCAT``), plus ``SCALE_CONFIG`` below.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers.augment_csv import (
    CONCAT,
    IOU_A_HALF,
    IOU_B_HALF,
    SSD_CROP,
    write_config,
    write_csv,
)
from helpers.cli import run_json

from tfod_anchors import api, pipeline
from tfod_anchors.cli import main


@pytest.fixture()
def data(tmp_path: Path) -> Path:
    rows = [(f"img{i}.jpg", "a", box) for i in range(4)
            for box in ((16, 16, 32, 32), (28, 28, 52, 52))]
    return write_csv(tmp_path / "boxes.csv", rows)


#: A single 16 px anchor per cell (offset 0: centres at 16 i) and the image as decoded;
#: the augmentation doubles every image (64 -> 128 px), so the 16 px boxes centred on
#: cells become 32 px boxes centred on cells: statically every box has IoU 1, augmented
#: 256 / 1024 = 0.25. The best anchor for the augmented boxes (32 px) gives the static
#: ones 0.25: it keeps the guard on the augmented boxes and breaks it on the static ones.
SCALE_CONFIG = """\
model {
  faster_rcnn {
    num_classes: 1
    image_resizer { identity_resizer { } }
    feature_extractor { type: 'faster_rcnn_resnet50_keras' first_stage_features_stride: 16 }
    first_stage_anchor_generator {
      grid_anchor_generator {
        height: 16 width: 16 scales: [1.0] aspect_ratios: [1.0]
        height_stride: 16 width_stride: 16 height_offset: 0 width_offset: 0
      }
    }
    second_stage_box_predictor { mask_rcnn_box_predictor { } }
  }
}
train_config {
  batch_size: 1
  data_augmentation_options { random_image_scale { min_scale_ratio: 2.0 max_scale_ratio: 2.0 } }
}
train_input_reader { tf_record_input_reader { input_path: "PATH_TO_BE_CONFIGURED" } }
"""


@pytest.fixture()
def scaled(tmp_path: Path) -> tuple[Path, Path]:
    config = tmp_path / "scale.config"
    config.write_text(SCALE_CONFIG)
    rows = [(f"img{i}.jpg", "a", box) for i in range(4)
            for box in ((8, 8, 24, 24), (24, 24, 40, 40))]
    return config, write_csv(tmp_path / "cells.csv", rows)


def test_fit_json_reports_both_distributions(capsys, tmp_path, data):
    config = write_config(tmp_path / "concat.config", CONCAT)
    code, doc, _ = run_json(capsys, "fit", config, "--input", data)
    assert code == 0 and doc["distribution"] == "augmented"
    assert doc["num_images"] == 4 and doc["num_boxes"] == 4 * pipeline.DEFAULT_DRAWS * 4
    assert doc["before"]["mean_iou"] == pytest.approx((IOU_A_HALF + IOU_B_HALF) / 2)
    assert doc["before"]["recall_matched"] == 0.0
    assert doc["static_before"]["num_boxes"] == 8
    assert doc["static_before"]["mean_iou"] == pytest.approx((1 + 256 / 576) / 2)
    assert doc["static_before"]["recall_matched"] == pytest.approx(0.5)
    aug = doc["augmentation"]
    assert aug["draws"] == pipeline.DEFAULT_DRAWS and aug["seed"] == 0
    assert aug["added"] == {"0:random_self_concat_image": 32}
    assert [s["op"] for s in aug["steps"]] == ["random_self_concat_image"]
    # the guard holds on the static boxes too, exactly
    after = doc["static_after"]
    assert doc["static_guard"] and after["num_boxes"] == 8
    for key, floor in doc["static_guard"].items():
        value = after[key] if not key.startswith("band:") else \
            after["by_size"][key[5:]]["recall_matched"]
        assert value >= floor - 1e-9, key


def test_fit_static_guard_blocks_what_the_augmented_fit_wants(capsys, scaled):
    config, data = scaled
    code, doc, _ = run_json(capsys, "fit", config, "--input", data, "--output",
                         config.parent / "out.config")
    assert code == 0 and doc["improved"] is False and doc["written"] is None
    # the search itself guards the static boxes too, so the 32 px anchor is never a
    # candidate: nothing better is found (before, it was found and then refused)
    assert doc["verdict"] == "no better anchors found for objective 'recall': nothing written"
    assert not any(t.get("static_guard_broken") for t in doc["diagnostics"]["verified"]
                   if t["search_score"][0] == 0.0)  # none the search took as feasible
    assert doc["before"]["mean_iou"] == pytest.approx(0.25)
    assert doc["static_before"]["mean_iou"] == pytest.approx(1.0)
    assert doc["static_after"] == doc["static_before"] and doc["after"] == doc["before"]
    assert not (config.parent / "out.config").exists()
    # without the guard the fit takes the 32 px anchor, whatever it does to static boxes
    code, doc, _ = run_json(capsys, "fit", config, "--input", data, "--guard", "off")
    assert doc["improved"] is True and doc["after"]["recall_matched"] == pytest.approx(1.0)
    assert doc["static_after"]["mean_iou"] == pytest.approx(0.25, abs=0.01)
    # the static fit: nothing to gain, and no static_* keys
    code, doc, _ = run_json(capsys, "fit", config, "--input", data, "--no-augment")
    assert doc["distribution"] == "static" and doc["augmentation"] is None
    assert doc["static_before"] is None and doc["static_after"] is None
    assert doc["before"]["mean_iou"] == pytest.approx(1.0) and doc["improved"] is False


def test_fit_text_says_which_boxes_the_tables_show(capsys, scaled):
    config, data = scaled
    main(["fit", str(config), "--input", str(data), "--augment", "2"])
    out, _ = capsys.readouterr()
    assert out.startswith("16 augmented boxes (2 draw(s) of 4 images through "
                          "0:random_image_scale; augment seed 0; 8 static boxes)")
    assert "on the augmented boxes (the distribution fitted" in out
    assert "on the static boxes (the guard holds here too)" in out
    assert "guard (all static boxes): mean IoU >= 0.990" in out


def test_fit_augmented_is_deterministic(capsys, tmp_path, data):
    config = write_config(tmp_path / "ssd.config", SSD_CROP)
    flags = ["--seed", "3", "--augment-seed", "4", "--json"]
    first = main(["fit", str(config), "--input", str(data), *flags])
    out1 = capsys.readouterr()[0]
    second = main(["fit", str(config), "--input", str(data), *flags])
    out2 = capsys.readouterr()[0]
    assert first == second == 0 and out1 == out2
    assert json.loads(out1)["augmentation"]["seed"] == 4


def test_search_seed_and_draw_seed_are_separate(capsys, tmp_path, data):
    # --seed moves only the search: every search seed is measured on the same draws
    # (augment seed 0), so their "before" (the config on those draws) is identical;
    # --augment-seed draws other boxes.
    config = write_config(tmp_path / "ssd.config", SSD_CROP)
    docs = {}
    for flags in (["--seed", "1"], ["--seed", "2"], ["--augment-seed", "9"]):
        code, docs[flags[-1]], _ = run_json(capsys, "fit", config, "--input", data, *flags)
        assert code == 0
    assert docs["1"]["augmentation"]["seed"] == docs["2"]["augmentation"]["seed"] == 0
    assert docs["1"]["before"] == docs["2"]["before"]
    assert docs["1"]["num_boxes"] == docs["2"]["num_boxes"]
    assert docs["9"]["augmentation"]["seed"] == 9
    assert docs["9"]["before"] != docs["1"]["before"]


def test_api_fit_augment_options(scaled):
    config, data = scaled
    outcome = api.fit(str(config), str(data))
    assert outcome.augmentation is not None and outcome.static_boxes is not None
    assert outcome.boxes.num_boxes == 32 and outcome.static_boxes.num_boxes == 8
    # the search keeps the static guard itself: no candidate gains (see above)
    assert outcome.fit.reason == "no_gain" and not outcome.fit.improved
    static = api.fit(str(config), str(data), augment=False)
    assert static.augmentation is None and static.static_boxes is None
    assert static.fit.static_before is None and static.boxes.num_boxes == 8


def test_fit_augmented_does_not_depend_on_image_order(capsys, tmp_path):
    rng = np.random.default_rng(5)
    by_image = {f"img{i}.jpg": [(f"img{i}.jpg", "a", (int(x), int(y), int(x + w), int(y + h)))
                                for x, y, w, h in zip(*rng.integers(0, 30, (2, 1 + i % 3)),
                                                      *rng.integers(10, 30, (2, 1 + i % 3)))]
                for i in range(30)}
    config = write_config(tmp_path / "ssd.config", SSD_CROP)
    docs = []
    for name, names in (("forward", list(by_image)), ("reversed", list(by_image)[::-1])):
        csv = write_csv(tmp_path / f"{name}.csv", [r for n in names for r in by_image[n]])
        code, doc, _ = run_json(capsys, "fit", config, "--input", csv)
        assert code == 0
        docs.append(doc)
    for key in ("before", "after", "static_before", "static_after", "anchor_generator",
                "augmentation", "improved"):
        assert docs[0][key] == docs[1][key], key


def test_the_search_finds_anchors_that_keep_the_static_guard(capsys, tmp_path):
    # Static boxes: 16 px and 40 px, on cells; the config's anchors are 16, 40 and 96 px,
    # so they fit the static boxes exactly. The augmentation doubles the images: 32 px
    # and 80 px boxes. Anchors for the augmented boxes alone (16/32/80 or 32/80/x) break
    # the static guard; 16/40/80 gains half the augmented boxes and keeps every static
    # box. A search blind to the static boxes only found the former, so nothing was
    # written; guarding both in the search finds the latter.
    config = tmp_path / "three.config"
    config.write_text(SCALE_CONFIG.replace("scales: [1.0]", "scales: [1.0, 2.5, 6.0]"))
    rows = [(f"img{i}.jpg", "a", box) for i in range(4)
            for box in ((8, 8, 24, 24), (12, 12, 52, 52))]
    data = write_csv(tmp_path / "two.csv", rows)
    code, doc, _ = run_json(capsys, "fit", str(config), "--input", str(data))
    assert code == 0 and doc["improved"] is True, doc["verdict"]
    assert doc["before"]["recall_matched"] == 0.0
    assert doc["after"]["recall_matched"] == pytest.approx(0.5)
    assert doc["static_after"]["recall_matched"] == 1.0
    assert doc["static_after"]["mean_iou"] >= doc["static_guard"]["mean_iou"]


# ---------------------------------------------------------------- fit --effort (see
# test_fitting_effort.py) and boxes under 2 px (test_degenerate.py), through the CLI


@pytest.fixture
def boxes(tmp_path):
    rng = np.random.default_rng(11)
    rows = []
    for i in range(40):
        for _ in range(3):
            x, y = (int(v) for v in rng.integers(0, 40, 2))
            w, h = (int(v) for v in rng.integers(6, 40, 2))
            rows.append((f"img{i}.jpg", "a", (x, y, min(64, x + w), min(64, y + h))))
    return write_csv(tmp_path / "boxes.csv", rows)


def test_effort_in_json_and_text(capsys, tmp_path, boxes):
    config = write_config(tmp_path / "ssd.config", SSD_CROP)
    docs = {}
    for level in ("low", "normal", "high"):
        code, docs[level], _ = run_json(capsys, "fit", config, "--input", boxes, "--effort", level)
        assert code == 0
    starts = {k: d["search"]["starts"] for k, d in docs.items()}
    # the grid's pool ascent starts from the config, IoU k-means, the quantiles and the
    # random points (6, 12, 36 of them)
    assert starts == {"low": 9, "normal": 15, "high": 39}
    for level, doc in docs.items():
        search = doc["search"]
        assert search["effort"] == level
        assert search["polished"] >= 1 and search["measured_exactly"] >= 0
        assert "/" in search["best_start"]["origin"]  # split/start
        assert len(search["best_start"]["coarse_score"]) == 3
        assert doc["diagnostics"]["effort"] == search
    # the same boxes for every effort: one box set, one "before"
    assert docs["low"]["before"] == docs["high"]["before"]
    main(["fit", str(config), "--input", str(boxes), "--effort", "low"])
    out = capsys.readouterr()[0]
    assert "search (--effort low): 9 starts," in out


def test_bad_effort_is_one_line_exit_2(capsys, tmp_path, boxes):
    config = write_config(tmp_path / "ssd.config", SSD_CROP)
    code = main(["fit", str(config), "--input", str(boxes), "--effort", "lots"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.strip().count("\n") == 0 and "--effort must be low, normal, high" in err


def test_stats_check_and_fit_count_them(capsys, tmp_path):
    # 64 x 64 images; 2 of the 10 boxes are 1 px wide slivers (20 %)
    rows = [(f"img{i}.jpg", "a", (8 + i, 8, 40 + i, 40)) for i in range(8)]
    rows += [("img0.jpg", "a", (30, 2, 31, 50)), ("img1.jpg", "a", (50, 10, 51, 60))]
    data = write_csv(tmp_path / "boxes.csv", rows)
    code, doc, _ = run_json(capsys, "stats", "--input", data)
    assert code == 0 and doc["degenerate"] == {"under_px": 2.0, "count": 2, "share": 0.2}
    config = write_config(tmp_path / "plain.config")
    code, doc, _ = run_json(capsys, "check", config, "--input", data)
    deg = doc["coverage"]["degenerate"]
    assert (deg["count"], deg["share"]) == (2, 0.2)  # the resizer keeps 64 x 64 here
    assert "degenerate_boxes" in [f["code"] for f in doc["findings"]]
    code, doc, _ = run_json(capsys, "fit", config, "--input", data)
    assert code == 0 and doc["before"]["degenerate"]["count"] == 2
    assert doc["before"]["num_boxes"] == 10  # still in the recall denominator
