"""Saying when the search could do better (fitting/dominance.py)."""

from __future__ import annotations

import numpy as np

from tfod_anchors.fitting.dominance import dominates, dominating_point
from tfod_anchors.fitting.search import Candidate


def _m(r, iou, r5, r7):
    return {"recall_matched": r, "mean_iou": iou, "recall_0.5": r5, "recall_0.7": r7,
            "matched_threshold": 0.5}


def test_dominates_needs_no_loss_and_one_gain_of_the_minimum():
    base = _m(0.60, 0.55, 0.60, 0.30)
    assert dominates(_m(0.60, 0.56, 0.60, 0.30), base, 0.005)
    assert not dominates(_m(0.60, 0.553, 0.60, 0.30), base, 0.005)  # gain under the minimum
    assert not dominates(_m(0.70, 0.60, 0.70, 0.299), base, 0.005)  # loses recall@0.7
    assert dominates(base, base, 0.0) and not dominates(base, base, 1e-9)


def test_first_point_dominating_on_the_sample_and_exactly_is_reported():
    # three points, their metrics on the search sample and on all boxes by hand: the
    # first loses mean IoU on the sample, the second dominates on the sample but not
    # exactly (sampling noise), the third dominates on both.
    sample = {0.0: _m(0.70, 0.50, 0.70, 0.30), 1.0: _m(0.62, 0.56, 0.62, 0.31),
              2.0: _m(0.61, 0.57, 0.61, 0.32)}
    exact = {1.0: _m(0.60, 0.56, 0.59, 0.31), 2.0: _m(0.61, 0.58, 0.61, 0.33)}
    points = [(f"--objective w:{k:g} --guard off", Candidate(np.array([k]), (0, 0, 0), "x"))
              for k in (0.0, 1.0, 2.0)]
    got = dominating_point(points, lambda x: sample[float(x[0])], _m(0.60, 0.55, 0.60, 0.30),
                           _m(0.60, 0.55, 0.60, 0.30), 0.005, lambda x: exact[float(x[0])])
    assert got["flags"] == "--objective w:2 --guard off"
    assert got["metrics"] == {"recall_matched": 0.61, "mean_iou": 0.58, "recall_0.5": 0.61,
                              "recall_0.7": 0.33}
    assert got["message"].startswith("the search could do better: `--objective w:2 --guard "
                                     "off` reaches a point at least as good on every guarded "
                                     "metric (recall@0.5 0.600 -> 0.610, mean IoU 0.550 -> "
                                     "0.580")
    assert dominating_point(points[:2], lambda x: sample[float(x[0])],
                            _m(0.60, 0.55, 0.60, 0.30), _m(0.60, 0.55, 0.60, 0.30), 0.005,
                            lambda x: exact[float(x[0])]) is None
