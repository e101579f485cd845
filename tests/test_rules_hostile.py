"""Anchors TFOD cannot build or use are errors (issue 12, item 5); an invalid config with
readable data still gets its findings and exit 1 (item 7); small CLI messages (item 13)."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest

from tfod_anchors.config.schema import parse_pipeline_text
from tfod_anchors.errors import ConfigError
from tfod_anchors.rules import SEVERITY, check_rules

FRCNN = """model { faster_rcnn {
  num_classes: 1
  image_resizer { fixed_shape_resizer { height: 64 width: 64 } }
  feature_extractor { type: "faster_rcnn_resnet50_keras" first_stage_features_stride: 16 }
  first_stage_anchor_generator { grid_anchor_generator {
    scales: %(scales)s aspect_ratios: %(ratios)s height: %(base)d
    height_stride: 16 width_stride: 16 } }
} }"""
SSD = """model { ssd {
  num_classes: 1
  image_resizer { fixed_shape_resizer { height: 300 width: 300 } }
  feature_extractor { type: "ssd_mobilenet_v2_keras" }
  box_predictor { convolutional_box_predictor { } }
  anchor_generator { %s }
  matcher { argmax_matcher { matched_threshold: 0.5 unmatched_threshold: 0.5 } }
} }"""


def grid(scales="[1.0, 2.0]", ratios="[1.0, 2.0]", base=256) -> str:
    return FRCNN % {"scales": scales, "ratios": ratios, "base": base}


def findings(text: str):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy RuntimeWarning may escape
        return check_rules(parse_pipeline_text(text, "test.config"))


@pytest.mark.parametrize(("text", "code", "shown"), [
    (grid(ratios="[0.0, 1.0]"), "invalid_aspect_ratio", "aspect_ratios 0"),
    (grid(ratios="[-1.0]"), "invalid_aspect_ratio", "aspect_ratios -1"),
    (grid(ratios="[nan, 1.0]"), "invalid_aspect_ratio", "aspect_ratios nan"),
    (grid(scales="[nan, 1.0]"), "invalid_anchor_scale", "scales nan"),
    (grid(scales="[-1.0, 1.0]"), "invalid_anchor_scale", "scales -1"),
    (grid(scales="[inf, 1.0]"), "invalid_anchor_scale", "scales inf"),
    (grid(base=0), "invalid_anchor_scale", "height 0"),
    (SSD % "ssd_anchor_generator { num_layers: 6 min_scale: nan max_scale: 0.95 "
           "aspect_ratios: [1.0] }", "invalid_anchor_scale", "min_scale nan"),
    (SSD % "ssd_anchor_generator { num_layers: 6 scales: [0.1, 0.2, 0.3, 0.4, 0.5, -0.6, 0.7] "
           "aspect_ratios: [1.0] }", "invalid_anchor_scale", "scales -0.6"),
    (SSD % "ssd_anchor_generator { num_layers: 6 aspect_ratios: [1.0, 0.0] "
           "interpolated_scale_aspect_ratio: inf }", "invalid_aspect_ratio",
     "aspect_ratios 0; interpolated_scale_aspect_ratio inf"),
    (SSD % "multiscale_anchor_generator { anchor_scale: 0.0 aspect_ratios: [1.0] }",
     "invalid_anchor_scale", "anchor_scale 0"),
    (SSD % "flexible_grid_anchor_generator { anchor_grid { base_sizes: [nan] "
           "aspect_ratios: [-2.0] } }", "invalid_aspect_ratio", "aspect_ratios -2"),
])
def test_anchor_values_tfod_cannot_use_are_errors(text, code, shown):
    found = findings(text)
    assert code in [f.code for f in found]
    f = next(f for f in found if f.code == code)
    assert f.severity == "error" and SEVERITY[code] == "error"
    assert shown in f.message


def test_infinite_scale_is_not_a_false_duplicate():
    found = findings(grid(scales="[inf, 1.0]"))
    assert "duplicate_scales" not in [f.code for f in found]
    assert "duplicate_scales" in [f.code for f in findings(grid(scales="[1.0, 1.0]"))]


def test_valid_values_give_no_value_findings():
    codes = [f.code for f in findings(grid())]
    assert "invalid_aspect_ratio" not in codes and "invalid_anchor_scale" not in codes


def test_no_runtime_warning_reaches_the_cli(tmp_path):
    """The whole ``check`` run in a subprocess: stderr holds findings, no numpy warning."""
    import subprocess
    import sys

    from conftest import ROOT

    config = tmp_path / "bad.config"
    config.write_text(grid(scales="[inf, -1.0]", ratios="[0.0, -1.0]"))
    run = subprocess.run([sys.executable, "-m", "tfod_anchors", "check", str(config)],
                         capture_output=True, text=True, cwd=str(ROOT), timeout=300,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert run.returncode == 1, run.stderr
    assert "RuntimeWarning" not in run.stderr and "Warning" not in run.stderr, run.stderr
    assert "invalid_aspect_ratio" in run.stdout and "invalid_anchor_scale" in run.stdout


# ---------------------------------------------------------------- item 7: check with data


@pytest.mark.parametrize(("edit", "codes"), [
    (("height_stride: 16", "height_stride: 0"), {"grid_stride_mismatch"}),
    (("fixed_shape_resizer { height: 64 width: 64 }",
      "keep_aspect_ratio_resizer { min_dimension: 800 max_dimension: 600 }"),
     {"invalid_image_resizer"}),
    (("fixed_shape_resizer { height: 64 width: 64 }",
      "fixed_shape_resizer { height: 0 width: 64 }"), {"invalid_image_resizer"}),
    (("scales: [1.0, 3.0]", "scales: [nan, 3.0]"), {"invalid_anchor_scale"}),
])
def test_invalid_config_with_readable_data_gives_findings_and_exit_1(capsys, tmp_path, edit,
                                                                     codes):
    pytest.importorskip("tensorflow")
    from helpers.hostile import good_records, make_config, run_cli

    config = make_config(tmp_path, good_records(tmp_path / "train.tfrecord"))
    config.write_text(config.read_text().replace(*edit))
    for data in ([], ["--input", str(tmp_path / "train.tfrecord")]):
        code, out, _ = run_cli(capsys, "check", config, "--json", *data)
        doc = json.loads(out)
        assert code == 1 and doc["ok"] is False, doc
        assert codes <= {f["code"] for f in doc["findings"] if f["severity"] == "error"}
        skipped = [f for f in doc["findings"] if f["code"] == "coverage_skipped"]
        assert len(skipped) == 1 and skipped[0]["severity"] == "info"
        assert doc["coverage"] is None


def test_ssd_num_layers_0_with_data(capsys, tmp_path):
    pytest.importorskip("tensorflow")
    from helpers.hostile import good_records, run_cli

    records = good_records(tmp_path / "train.tfrecord")
    config = tmp_path / "ssd.config"
    config.write_text(SSD % "ssd_anchor_generator { num_layers: 0 aspect_ratios: [1.0] }"
                      + f"\ntrain_input_reader {{ tf_record_input_reader {{ input_path: "
                        f"'{records}' }} }}\n")
    code, out, _ = run_cli(capsys, "check", config, "--json")
    doc = json.loads(out)
    assert code == 1
    assert "num_layers_mismatch" in {f["code"] for f in doc["findings"]}
    assert "coverage_skipped" in {f["code"] for f in doc["findings"]}


def test_fit_refuses_anchor_values_tfod_cannot_use(capsys, tmp_path):
    pytest.importorskip("tensorflow")
    from helpers.hostile import good_records, make_config, run_cli

    config = make_config(tmp_path, good_records(tmp_path / "train.tfrecord"))
    config.write_text(config.read_text().replace("scales: [1.0, 3.0]", "scales: [nan, 0.95]"))
    code, _, err = run_cli(capsys, "fit", config)
    assert code == 2 and err.count("\n") == 1
    assert "invalid_anchor_scale" in err and "scales nan" in err and "0.9499" not in err


def test_anchors_command_refuses_them_too(capsys, tmp_path):
    from helpers.hostile import run_cli

    config = tmp_path / "bad.config"
    config.write_text(grid(ratios="[-1.0]"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        code, out, err = run_cli(capsys, "anchors", config)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "invalid_aspect_ratio" in err and str(config) in err


# ---------------------------------------------------------------- item 13: small messages


def test_fit_value_message_shows_values_as_written():
    from tfod_anchors.fitting import params

    with pytest.raises(ConfigError) as err:
        params._log([math.nan, float(np.float32(0.95))], "scales")
    assert "got [nan, 0.95]" in str(err.value)


def test_reversed_k_range_says_so(capsys):
    from helpers.hostile import run_cli

    code, _, err = run_cli(capsys, "cluster", "--normalized", "--input", "x.csv", "--k", "5:2")
    assert code == 2 and "KMIN <= KMAX" in err and "did you mean 2:5" in err
    assert "k must be >= 1" not in err
    code, _, err = run_cli(capsys, "cluster", "--normalized", "--input", "x.csv", "--k", "0")
    assert code == 2 and "k must be >= 1" in err


def test_fit_warns_when_few_boxes_are_fitted(capsys, tmp_path):
    pytest.importorskip("tensorflow")
    from helpers.hostile import example, make_config, run_cli, write_records

    records = write_records(tmp_path / "one.tfrecord", [example([[0.2, 0.2, 0.6, 0.5]])])
    config = make_config(tmp_path, records)
    code, out, _ = run_cli(capsys, "fit", config, "--json")
    doc = json.loads(out)
    assert code == 0 and doc["num_boxes"] == 1
    assert any("only 1 box(es) were fitted" in w for w in doc["warnings"])


def test_a_finite_but_huge_anchor_gives_no_numpy_warning_in_fit(tmp_path):
    """A scale of 1e30 is legal for TFOD (the anchor just covers nothing); the fit's float32
    kernel overflows on it, which must not surface as a RuntimeWarning."""
    import subprocess
    import sys

    from conftest import ROOT

    demo = ROOT / "configs"
    config = tmp_path / "huge.config"
    text = (demo / "faster_rcnn_resnet50_640x640_coco_subset.config").read_text()
    config.write_text(text.replace("scales: [0.25, 0.5, 1.0, 2.0]",
                                   "scales: [0.25, 0.5, 1.0, 1e30]"))
    run = subprocess.run(
        [sys.executable, "-W", "error::RuntimeWarning", "-m", "tfod_anchors", "fit", str(config),
         "--input", str(demo / "demo" / "coco_val2017_subset.csv"),
         "--label-map", str(demo / "demo" / "coco_val2017_subset_label_map.pbtxt"), "--json"],
        capture_output=True, text=True, cwd=str(ROOT), timeout=600,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stderr
    assert "Warning" not in run.stderr, run.stderr
