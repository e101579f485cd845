"""Coverage findings of ``check`` (``low_recall``, ``band_recall_collapse``), ``--min-recall``
and ``--strict``: the thresholds at their boundaries, then end to end on hand-made records.

End-to-end data (the ``test_cli`` config: 64x64 fixed resizer, stride-16 grid, 16 and
48 px square anchors centred at ``8 + 16 i``, matched threshold 0.7):

* box ``A``: 16x16 exactly on a 16 px anchor, IoU 1 (small band);
* box ``B``: 24x24 centred on (40, 40); best anchor the 16 px one inside it, IoU
  256 / 576 = 0.444 (small band);
* box ``M``: 40x40 centred on (40, 40); best anchor the 48 px one around it, IoU
  1600 / 2304 = 0.694 < 0.7 (medium band, 32² <= 1600 < 96²).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import ROOT
from helpers.cli import run_cli, run_json
from helpers.grid64 import CONFIG, example, write_records

from tfod_anchors.rules import (
    BAND_MIN_SHARE,
    BAND_RECALL_ERROR,
    ERROR,
    LOW_RECALL_ERROR,
    LOW_RECALL_WARNING,
    SEVERITY,
    WARNING,
    coverage_findings,
)

A = [0.25, 0.25, 0.5, 0.5]
A2 = [0.0, 0.0, 0.25, 0.25]
A3 = [0.5, 0.5, 0.75, 0.75]
B = [0.4375, 0.4375, 0.8125, 0.8125]
M = [0.3125, 0.3125, 0.9375, 0.9375]


def metrics(recall: float, bands: dict[str, tuple[int, float | None]] | None = None,
            num_boxes: int = 1000) -> dict:
    """A coverage metrics dict as ``evaluate`` gives it (only what the rules read)."""
    bands = bands or {"small": (0, None), "medium": (num_boxes, recall), "large": (0, None)}
    return {"num_boxes": num_boxes, "matched_threshold": 0.5, "recall_matched": recall,
            "by_size": {k: {"count": n, "recall_matched": r} for k, (n, r) in bands.items()}}


def codes(found) -> list[tuple[str, str]]:
    return [(f.code, f.severity) for f in found]


# ------------------------------------------------------------------ thresholds


def test_documented_thresholds():
    assert (LOW_RECALL_WARNING, LOW_RECALL_ERROR) == (0.5, 0.1)
    assert (BAND_MIN_SHARE, BAND_RECALL_ERROR) == (0.05, 0.05)
    assert SEVERITY["low_recall"] == WARNING and SEVERITY["band_recall_collapse"] == ERROR


@pytest.mark.parametrize(("recall", "expected"), [
    (1.0, []),
    (0.5, []),  # "below 0.5" warns: 0.5 itself passes
    (0.4999, [("low_recall", WARNING)]),
    (0.1, [("low_recall", WARNING)]),
    (0.0999, [("low_recall", ERROR)]),
    (0.0, [("low_recall", ERROR)]),
])
def test_low_recall_levels(recall, expected):
    bands = {"small": (0, None), "medium": (1000, 0.9), "large": (0, None)}  # no band finding
    assert codes(coverage_findings(metrics(recall, bands))) == expected


@pytest.mark.parametrize(("recall", "min_recall", "expected"), [
    (0.55, 0.6, [("low_recall", ERROR)]),  # --min-recall above the warning bar
    (0.6, 0.6, []),
    (0.3, 0.2, [("low_recall", WARNING)]),  # passes --min-recall, still below 0.5
    (0.07, 0.05, [("low_recall", WARNING)]),  # --min-recall moves the error bar down ...
    (0.04, 0.05, [("low_recall", ERROR)]),
    (0.0, 0.0, [("low_recall", WARNING)]),  # ... even to nothing
])
def test_min_recall_sets_the_error_bar(recall, min_recall, expected):
    bands = {"small": (0, None), "medium": (1000, 0.9), "large": (0, None)}
    found = coverage_findings(metrics(recall, bands), min_recall=min_recall)
    assert codes(found) == expected
    if expected and expected[0][1] == ERROR:
        assert f"< --min-recall {min_recall:g}" in found[0].message


@pytest.mark.parametrize(("count", "band_recall", "fires"), [
    (50, 0.0, True),  # exactly 5% of the boxes
    (49, 0.0, False),  # 4.9%: too few to matter
    (50, 0.0499, True),
    (50, 0.05, False),  # "below 0.05"
    (0, None, False),  # empty band
])
def test_band_recall_collapse(count, band_recall, fires):
    bands = {"small": (count, band_recall), "medium": (1000 - count, 0.9), "large": (0, None)}
    found = coverage_findings(metrics(0.9, bands))
    assert codes(found) == ([("band_recall_collapse", ERROR)] if fires else [])
    if fires:
        assert found[0].message.startswith(f"small boxes (area < 32² px², {count} of 1000, 5%)")


def test_no_boxes_no_findings():
    assert coverage_findings({"num_boxes": 0, "matched_threshold": 0.5, "recall_matched": None,
                              "by_size": {"small": {"count": 0, "recall_matched": None}}}) == []


def test_readme_documents_every_rule_and_threshold():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Check rules"):]
    section = section[:section.index("\n## ", 1)]
    documented = set(re.findall(r"`([a-z_]+)`", section))
    assert set(SEVERITY) <= documented, sorted(set(SEVERITY) - documented)
    for value in ("0.5", "0.1", "5%", "0.05"):
        assert value in section


# ------------------------------------------------------------------ end to end


def _dataset(tmp_path: Path, boxes: list[list[float]], images: int = 4) -> Path:
    records = write_records(tmp_path / "train.tfrecord", [example(boxes)] * images)
    config = tmp_path / "pipeline.config"
    config.write_text(CONFIG % {"fe_stride": 16, "records": records})
    return config


def test_quarter_recall_warns_and_strict_fails(capsys, tmp_path):
    config = _dataset(tmp_path, [A, B, B, B])  # recall 1/4
    code, doc, _ = run_json(capsys, "check", config)
    assert code == 0 and doc["ok"] is True and doc["strict"] is False
    assert doc["coverage"]["recall_matched"] == pytest.approx(0.25)
    assert [(f["code"], f["severity"]) for f in doc["findings"]] == [("low_recall", "warning")]
    assert doc["findings"][0]["message"].startswith(
        "recall at the matched threshold 0.7 is 0.2500 < 0.5")
    code, doc, _ = run_json(capsys, "check", config, "--strict")
    assert code == 1 and doc["ok"] is False and doc["exit_code"] == 1 and doc["strict"] is True
    code, out, err = run_cli(capsys, "check", config, "--strict")
    assert code == 1 and err == ""
    assert out.splitlines()[0].startswith("WARNING low_recall: ")
    assert out.splitlines()[-1] == (f"{config}: FAILED (0 error(s), 1 warning(s)) "
                                    "(--strict: warnings fail)")


def test_zero_recall_is_an_error(capsys, tmp_path):
    config = _dataset(tmp_path, [B, B])  # nothing reaches 0.7; every box is small
    code, doc, _ = run_json(capsys, "check", config)
    assert code == 1 and doc["ok"] is False
    assert doc["coverage"]["recall_matched"] == 0.0
    assert [(f["code"], f["severity"]) for f in doc["findings"]] == [
        ("low_recall", "error"), ("band_recall_collapse", "error")]
    assert "small boxes (area < 32² px², 8 of 8, 100%)" in doc["findings"][1]["message"]
    # --min-recall 0 lowers the error bar of low_recall, not the band rule
    code, doc, _ = run_json(capsys, "check", config, "--min-recall", "0")
    assert code == 1
    assert [(f["code"], f["severity"]) for f in doc["findings"]] == [
        ("low_recall", "warning"), ("band_recall_collapse", "error")]


def test_one_band_collapsing_fails_a_good_overall_recall(capsys, tmp_path):
    config = _dataset(tmp_path, [A, A2, A3, M])  # recall 3/4; the medium quarter has 0
    code, doc, _ = run_json(capsys, "check", config)
    cov = doc["coverage"]
    assert cov["recall_matched"] == pytest.approx(0.75)
    assert cov["mean_iou"] == pytest.approx((3 + 1600 / 2304) / 4)
    assert cov["by_size"]["medium"] == {"count": 4, "mean_iou": pytest.approx(1600 / 2304),
                                        "recall_matched": 0.0}
    assert code == 1
    assert [(f["code"], f["severity"]) for f in doc["findings"]] == [
        ("band_recall_collapse", "error")]
    assert doc["findings"][0]["message"].startswith(
        "medium boxes (32² <= area < 96² px², 4 of 16, 25%) have recall 0.0000 < 0.05 at the "
        "matched threshold 0.7")


def test_no_coverage_no_coverage_findings(capsys, tmp_path):
    config = tmp_path / "pipeline.config"
    config.write_text(CONFIG % {"fe_stride": 16, "records": tmp_path / "absent.tfrecord"})
    code, doc, _ = run_json(capsys, "check", config, "--strict")
    assert code == 0 and doc["coverage"] is None
    assert [f["code"] for f in doc["findings"]] == ["coverage_skipped"]  # info never fails
