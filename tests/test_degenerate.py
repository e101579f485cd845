"""Boxes with a side under 2 px: counted in stats, check and fit, never dropped."""

from __future__ import annotations

import numpy as np

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
