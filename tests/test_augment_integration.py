"""The augmented distribution in ``stats``, ``check`` and the API, on hand-built data.

The boxes are a CSV (no TensorFlow needed): four 64x64 images, each with a 16x16 box
``A`` at pixels (16..32, 16..32) and a 24x24 box ``B`` at (28..52, 28..52), class ``a``.
The config is the one of ``test_cli``: a 64x64 ``fixed_shape_resizer``, a ResNet-50
Faster R-CNN (stride 16, 4x4 feature map), square grid anchors of 16 and 48 px centred
at ``8 + 16 i``, matched threshold 0.7 (first stage). Static coverage (worked out in
``test_cli``): A has IoU 1, B 256/576, so mean IoU 0.7222 and recall@0.7 0.5.

The augmentation steps used are deterministic, so every number is worked out by hand:

* ``random_self_concat_image`` with vertical probability 1 and horizontal 0 stacks the
  image on itself (128x64): every box is halved in y and copied 0.5 lower, so after the
  64x64 resizer A becomes two 8x16 boxes, (8..16, 16..32) and (40..48, 16..32), and B two
  12x24 boxes, (14..26, 28..52) and (46..58, 28..52). A half's best anchor is the 16 px
  one centred at (8, 24): intersection 8x16 = 128, union 128 + 256 - 128 = 256, IoU 0.5
  (the copy: centre (40, 24), the same). B half: the 16 px anchor at (24, 40),
  intersection 10x16 = 160, union 288 + 256 - 160 = 384, IoU 0.41667 (the copy at
  (56, 40) the same). So recall@0.7 is 0 and mean IoU (0.5 + 0.41667) / 2.
* ``drop_label_probabilistically`` with probability 1 drops every box of that label
  (a uniform draw in [0, 1) is always <= 1).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from google.protobuf import text_format
from helpers.augment_csv import (
    CONCAT,
    CONFIG,
    IOU_A_HALF,
    IOU_B_HALF,
    SSD_CROP,
    write_config,
    write_csv,
)
from helpers.cli import run_json

from tfod_anchors import api, pipeline
from tfod_anchors.cli import main
from tfod_anchors.config.schema import get_schema
from tfod_anchors.errors import UsageError
from tfod_anchors.rules import augmentation_findings

PHOTOMETRIC = "data_augmentation_options { random_adjust_brightness { } }"
DROP_A = ("data_augmentation_options { drop_label_probabilistically { label: 1 "
          "drop_probability: 1.0 } }")
A = (16, 16, 32, 32)  # xmin, ymin, xmax, ymax in pixels of a 64x64 image
B = (28, 28, 52, 52)
#: the boxes after the vertical self-concatenation and the 64x64 resizer, in TFOD's
#: order within an image (the originals first, then their copies): [ymin, xmin, ymax, xmax]
CONCAT_ROWS = [[8, 16, 16, 32], [14, 28, 26, 52], [40, 16, 48, 32], [46, 28, 58, 52]]


@pytest.fixture()
def data(tmp_path: Path) -> Path:
    rows = [(f"img{i}.jpg", "a", box) for i in range(4) for box in (A, B)]
    return write_csv(tmp_path / "boxes.csv", rows)


# ---------------------------------------------------------------- stats


def test_stats_augment_counts_and_export(capsys, tmp_path, data):
    config = write_config(tmp_path / "concat.config", CONCAT)
    export = tmp_path / "boxes.npy"
    code, doc, _ = run_json(capsys, "stats", "--config", config, "--input", data,
                         "--augment", "2", "--export", export)
    assert code == 0
    assert doc["num_images"] == 4 and doc["draws"] == 2
    assert doc["num_boxes"] == 4 * 2 * 4  # 4 images x 2 draws x 4 boxes (2 + 2 copies)
    aug = doc["augmentation"]
    assert aug["draws"] == 2 and aug["seed"] == 0
    assert aug["dropped"] == {"0:random_self_concat_image": 0, "invalid_boxes": 0,
                              "max_number_of_boxes": 0}
    assert aug["added"] == {"0:random_self_concat_image": 16}
    assert [(s["op"], s["status"], s["modelled"]) for s in aug["steps"]] == [
        ("random_self_concat_image", "geometric", True)]
    assert doc["height"]["min"] == pytest.approx(8.0) and doc["height"]["max"] == 12.0
    boxes = np.load(export)
    assert boxes.dtype == np.float32 and boxes.shape == (32, 4)
    np.testing.assert_array_equal(boxes, np.array(CONCAT_ROWS * 8, dtype=np.float32))


def test_stats_export_static_boxes_the_same_way(capsys, tmp_path, data):
    config = write_config(tmp_path / "concat.config", CONCAT)
    export = tmp_path / "static.npy"
    code, doc, _ = run_json(capsys, "stats", "--config", config, "--input", data,
                         "--export", export)
    assert code == 0 and doc["num_boxes"] == 8
    assert doc["draws"] is None and doc["augmentation"] is None
    # [ymin, xmin, ymax, xmax] in pixels of the (64x64) resized image
    expected = [[A[1], A[0], A[3], A[2]], [B[1], B[0], B[3], B[2]]] * 4
    np.testing.assert_array_equal(np.load(export), np.array(expected, dtype=np.float32))


def test_stats_truncates_after_augmentation_as_tfod(capsys, tmp_path):
    """With max_number_of_boxes 1, reading first would keep only the ``a`` box, which the
    step then drops; TFOD drops first and keeps the ``b`` box."""
    data = write_csv(tmp_path / "ab.csv", [("img0.jpg", "a", A), ("img0.jpg", "b", B),
                                           ("img1.jpg", "a", A), ("img1.jpg", "b", B)])
    config = write_config(tmp_path / "drop.config", DROP_A, max_boxes=1)
    export = tmp_path / "kept.npy"
    code, doc, _ = run_json(capsys, "stats", "--config", config, "--input", data,
                         "--augment", "3", "--export", export)
    assert code == 0 and doc["num_boxes"] == 2 * 3
    assert doc["augmentation"]["dropped"] == {
        "0:drop_label_probabilistically": 6, "invalid_boxes": 0, "max_number_of_boxes": 0}
    np.testing.assert_array_equal(np.load(export), np.array([[B[1], B[0], B[3], B[2]]] * 6,
                                                            dtype=np.float32))
    # the static view truncates at reading: the first box of each image, A
    code, doc, _ = run_json(capsys, "stats", "--config", config, "--input", data)
    assert doc["num_boxes"] == 2 and doc["skipped"]["boxes_over_max"] == 2
    assert doc["width"]["max"] == 16.0


def test_stats_truncation_count_per_draw(capsys, tmp_path, data):
    config = write_config(tmp_path / "concat3.config", CONCAT, max_boxes=3)
    code, doc, _ = run_json(capsys, "stats", "--config", config, "--input", data, "--augment", "2")
    assert code == 0 and doc["num_boxes"] == 4 * 2 * 3
    assert doc["augmentation"]["dropped"]["max_number_of_boxes"] == 8  # one per draw
    assert doc["skipped"]["boxes_over_max"] == 0  # nothing truncated at reading


def test_stats_augment_needs_config_and_a_known_export_format(capsys, tmp_path, data):
    code = main(["stats", "--input", str(data), "--augment", "2"])
    _, err = capsys.readouterr()
    assert code == 2 and "--augment needs --config" in err
    config = write_config(tmp_path / "c.config", CONCAT)
    code = main(["stats", "--config", str(config), "--input", str(data), "--export",
                 str(tmp_path / "x.txt")])
    _, err = capsys.readouterr()
    assert code == 2 and "x.txt" in err and ".npy or .csv" in err
    assert main(["stats", "--input", str(data), "--augment", "0"]) == 2
    capsys.readouterr()


def test_stats_same_seed_same_bytes_other_seed_other_boxes(capsys, tmp_path, data):
    config = write_config(tmp_path / "ssd.config", SSD_CROP)
    outs = []
    for seed, name in ((7, "a.npy"), (7, "b.npy"), (8, "c.npy")):
        code = main(["stats", "--config", str(config), "--input", str(data), "--augment", "8",
                     "--seed", str(seed), "--export", str(tmp_path / name), "--json"])
        assert code == 0
        outs.append(capsys.readouterr()[0].replace(name, "FILE"))
    assert outs[0] == outs[1] and outs[0] != outs[2]
    first, second, other = ((tmp_path / n).read_bytes() for n in ("a.npy", "b.npy", "c.npy"))
    assert first == second and first != other


def test_stats_augmented_boxes_do_not_depend_on_image_order(capsys, tmp_path):
    rng = np.random.default_rng(3)
    rows = []
    for i in range(12):
        for _ in range(1 + i % 3):
            x0, y0 = rng.integers(0, 40, 2)
            w, h = rng.integers(8, 24, 2)
            rows.append((f"img{i}.jpg", "a", (int(x0), int(y0), int(x0 + w), int(y0 + h))))
    by_image: dict[str, list] = {}
    for row in rows:
        by_image.setdefault(row[0], []).append(row)
    shuffled = [row for name in reversed(list(by_image)) for row in by_image[name]]
    config = write_config(tmp_path / "ssd.config", SSD_CROP)
    exports = []
    for name, table in (("forward", rows), ("reversed", shuffled)):
        csv = write_csv(tmp_path / f"{name}.csv", table)
        out = tmp_path / f"{name}.npy"
        assert main(["stats", "--config", str(config), "--input", str(csv), "--augment", "5",
                     "--export", str(out), "--quiet"]) == 0
        exports.append(np.load(out))
    capsys.readouterr()
    forward, backward = (e[np.lexsort(e.T[::-1])] for e in exports)
    np.testing.assert_array_equal(forward, backward)


# ---------------------------------------------------------------- check


def test_check_measures_the_augmented_boxes_by_default(capsys, tmp_path, data):
    config = write_config(tmp_path / "concat.config", CONCAT)
    code, doc, _ = run_json(capsys, "check", config, "--input", data)
    assert code == 1 and doc["ok"] is False
    cov = doc["coverage"]
    assert cov["distribution"] == "augmented" and cov["num_images"] == 4
    assert cov["num_boxes"] == 4 * pipeline.DEFAULT_DRAWS * 4
    assert cov["mean_iou"] == pytest.approx((IOU_A_HALF + IOU_B_HALF) / 2)
    assert cov["recall_matched"] == 0.0 and cov["recall_0.5"] == pytest.approx(0.5)
    assert doc["augmentation"]["draws"] == pipeline.DEFAULT_DRAWS
    assert doc["augmentation"]["added"] == {"0:random_self_concat_image": 16 * 2}
    assert "low_recall" in [f["code"] for f in doc["findings"] if f["severity"] == "error"]

    code, doc, _ = run_json(capsys, "check", config, "--input", data, "--no-augment")
    assert code == 0 and doc["augmentation"] is None
    cov = doc["coverage"]
    assert cov["distribution"] == "static" and cov["num_boxes"] == 8
    assert cov["mean_iou"] == pytest.approx((1 + 256 / 576) / 2)
    assert cov["recall_matched"] == pytest.approx(0.5)

    code, doc, _ = run_json(capsys, "check", config, "--input", data, "--augment", "3")
    assert doc["coverage"]["num_boxes"] == 4 * 3 * 4 and doc["augmentation"]["draws"] == 3


def test_check_text_says_which_boxes(capsys, tmp_path, data):
    config = write_config(tmp_path / "concat.config", CONCAT)
    main(["check", str(config), "--input", str(data), "--augment", "2"])
    out, _ = capsys.readouterr()
    assert ("coverage of 32 augmented boxes (2 draw(s) of 4 images through "
            "0:random_self_concat_image; seed 0)") in out
    main(["check", str(config), "--input", str(data), "--no-augment"])
    out, _ = capsys.readouterr()
    assert "coverage of 8 static boxes" in out


def test_check_static_when_no_step_changes_boxes(capsys, tmp_path, data):
    config = write_config(tmp_path / "photo.config", PHOTOMETRIC)
    code, doc, _ = run_json(capsys, "check", config, "--input", data, "--augment", "4")
    assert code == 0 and doc["augmentation"] is None
    assert doc["coverage"]["distribution"] == "static" and doc["coverage"]["num_boxes"] == 8


def test_augment_and_no_augment_are_exclusive(capsys, tmp_path, data):
    config = write_config(tmp_path / "concat.config", CONCAT)
    assert main(["check", str(config), "--input", str(data), "--augment", "2",
                 "--no-augment"]) == 2
    capsys.readouterr()


# ---------------------------------------------------------------- rules


def _steps(*texts: str):
    cfg = get_schema("bundled").TrainEvalPipelineConfig()
    text_format.Parse(CONFIG % {"steps": "\n".join(texts), "max_boxes": 100}, cfg)
    return cfg


def test_unknown_augmentation_finding():
    autoaug = "data_augmentation_options { autoaugment_image { } }"
    empty = "data_augmentation_options { }"
    found = augmentation_findings(_steps(CONCAT, autoaug, empty))
    assert [(f.code, f.severity) for f in found] == [("unknown_augmentation", "warning")] * 2
    assert "[1] autoaugment_image is not reproduced" in found[0].message
    assert "[2] (empty step)" in found[1].message
    assert augmentation_findings(_steps(CONCAT, SSD_CROP, PHOTOMETRIC)) == []


def test_invalid_augmentation_is_an_error_and_check_measures_static(capsys, tmp_path, data):
    bad = "data_augmentation_options { resize_image { new_height: 0 new_width: 32 } }"
    config = write_config(tmp_path / "bad.config", bad)
    code, doc, _ = run_json(capsys, "check", config, "--input", data)
    assert code == 1
    assert [f["code"] for f in doc["findings"] if f["severity"] == "error"] == [
        "invalid_augmentation"]
    assert doc["coverage"]["distribution"] == "static" and doc["coverage"]["num_boxes"] == 8


def test_check_with_autoaugment_warns_and_strict_fails(capsys, tmp_path, data):
    config = write_config(tmp_path / "auto.config",
                          "data_augmentation_options { autoaugment_image { } }")
    code, doc, _ = run_json(capsys, "check", config, "--input", data)
    assert code == 0 and [f["code"] for f in doc["findings"]] == ["unknown_augmentation"]
    assert doc["augmentation"] is None  # not reproduced: identity, so the static boxes
    code, doc, _ = run_json(capsys, "check", config, "--input", data, "--strict")
    assert code == 1


# ---------------------------------------------------------------- API


def test_api_augment_options(tmp_path, data):
    config = write_config(tmp_path / "concat.config", CONCAT)
    metrics = api.coverage(str(config), str(data))
    assert metrics["num_boxes"] == 4 * pipeline.DEFAULT_DRAWS * 4
    assert metrics["recall_matched"] == 0.0
    assert api.coverage(str(config), str(data), augment=False)["recall_matched"] == 0.5
    resized = api.resized_boxes(str(config), str(data), augment=2, seed=5)
    assert resized.num_boxes == 32 and resized.true_shape.shape == (8, 2)
    np.testing.assert_array_equal(resized.boxes[:4], np.array(CONCAT_ROWS, dtype=np.float64))
    outcome = api.check(str(config), str(data), augment=1)
    assert outcome.augmentation is not None and outcome.augmentation["draws"] == 1
    assert outcome.coverage is not None and outcome.coverage["num_boxes"] == 16
    for bad in (0, -1, 2.5, "4"):
        with pytest.raises(UsageError):
            api.coverage(str(config), str(data), augment=bad)
    with pytest.raises(UsageError):
        api.coverage(str(config), str(data), seed=1.5)


def test_default_draws_follow_the_box_budget():
    assert pipeline.default_draws(10) == pipeline.DEFAULT_DRAWS
    assert pipeline.default_draws(pipeline.DRAW_BOX_BUDGET // 2) == 2
    assert pipeline.default_draws(pipeline.DRAW_BOX_BUDGET) == 1
    assert pipeline.default_draws(10 * pipeline.DRAW_BOX_BUDGET) == 1


def test_readme_lists_every_step_with_its_status():
    from conftest import ROOT

    from tfod_anchors.augment import OPS

    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Data augmentation"):]
    section = section[:section.index("\n## ", 1)]
    for name, info in OPS.items():
        row = next(line for line in section.splitlines()
                   if line.startswith("| ") and f"`{name}`" in line.split(" | ")[0])
        assert row.split(" | ")[1] == info.status, (name, row)

