"""Boxes with a side under 2 px: counted in stats, check and fit, never dropped."""

from __future__ import annotations

import numpy as np
from test_augment_integration import SSD_CROP, run_json, write_config, write_csv

from tfod_anchors.coverage.metrics import degenerate_mask, degenerate_summary
from tfod_anchors.rules.coverage import coverage_findings


def test_mask_and_summary_by_hand():
    boxes = np.array([[0, 0, 10, 10],      # fine
                      [0, 0, 1.5, 10],     # 1.5 px high
                      [5, 5, 15, 6.9],     # 1.9 px wide
                      [0, 0, 2, 2]],       # exactly 2 px: not degenerate
                     dtype=np.float64)
    mask = degenerate_mask(boxes)
    assert mask.tolist() == [False, True, True, False]
    best = np.array([0.9, 0.6, 0.2, 0.8])
    assert degenerate_summary(mask, best, 0.5) == {
        "under_px": 2.0, "count": 2, "share": 0.5, "recall_matched": 0.5}
    assert degenerate_summary(np.zeros(0, bool)) == {"under_px": 2.0, "count": 0, "share": 0.0}


def test_info_finding_above_five_percent():
    def metrics(count, n):
        return {"num_boxes": n, "recall_matched": 0.9, "matched_threshold": 0.5,
                "degenerate": {"under_px": 2.0, "count": count, "share": count / n,
                               "recall_matched": 0.25}}
    assert [f.code for f in coverage_findings(metrics(5, 100))] == []  # 5 % is not above
    [f] = coverage_findings(metrics(6, 100))
    assert (f.code, f.severity) == ("degenerate_boxes", "info")
    assert f.message.startswith("6 of 100 boxes (6.0%) have a side under 2 px")
    assert "25.0% of them reach the matched threshold" in f.message


def test_stats_check_and_fit_count_them(capsys, tmp_path):
    # 64 x 64 images; 2 of the 10 boxes are 1 px wide slivers (20 %)
    rows = [(f"img{i}.jpg", "a", (8 + i, 8, 40 + i, 40)) for i in range(8)]
    rows += [("img0.jpg", "a", (30, 2, 31, 50)), ("img1.jpg", "a", (50, 10, 51, 60))]
    data = write_csv(tmp_path / "boxes.csv", rows)
    code, doc = run_json(capsys, "stats", "--input", data)
    assert code == 0 and doc["degenerate"] == {"under_px": 2.0, "count": 2, "share": 0.2}
    config = write_config(tmp_path / "plain.config")
    code, doc = run_json(capsys, "check", config, "--input", data)
    deg = doc["coverage"]["degenerate"]
    assert (deg["count"], deg["share"]) == (2, 0.2)  # the resizer keeps 64 x 64 here
    assert "degenerate_boxes" in [f["code"] for f in doc["findings"]]
    code, doc = run_json(capsys, "fit", config, "--input", data)
    assert code == 0 and doc["before"]["degenerate"]["count"] == 2
    assert doc["before"]["num_boxes"] == 10  # still in the recall denominator
