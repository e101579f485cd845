"""The grid generator's scales x aspect-ratios split (same anchors per location)."""

from __future__ import annotations

import pytest
from helpers.fitting import FRCNN, boxes_from_anchors, parse_config

from tfod_anchors.fitting import fit_generator
from tfod_anchors.fitting.fit import splits


@pytest.mark.parametrize(("counts", "expected"), [
    ((4, 3), [(4, 3), (2, 6), (3, 4), (6, 2)]),  # 12 anchors: the config's split first
    ((2, 4), [(2, 4), (4, 2)]),
    ((2, 2), []),  # no other split with at least two of each
    ((1, 3), []),
    ((5, 1), []),
])
def test_splits_keep_the_count(counts, expected):
    assert splits(*counts) == expected


def test_fit_moves_to_the_split_the_data_has():
    # Boxes are exactly the 3 scales x 2 ratios of a grid; the config has 2 scales x 3
    # ratios (6 anchors too). Only the 3 x 2 split can cover every box.
    truth = parse_config((FRCNN % "true").replace(
        "scales: [0.25, 1.0] aspect_ratios: [1.0, 3.0]",
        "scales: [0.2, 0.4, 0.8] aspect_ratios: [0.5, 2.0]"))
    cfg = parse_config((FRCNN % "true").replace(
        "scales: [0.25, 1.0] aspect_ratios: [1.0, 3.0]",
        "scales: [0.25, 1.0] aspect_ratios: [0.5, 1.0, 2.0]"))
    resized = boxes_from_anchors(truth, (320, 320), 600, seed=2)
    fit = fit_generator(resized, cfg, seed=0)
    grid = fit.generator.grid_anchor_generator
    assert (len(grid.scales), len(grid.aspect_ratios)) == (3, 2)
    assert fit.anchors_per_location == ([6], [6])
    assert fit.after["recall_matched"] == pytest.approx(1.0)
    assert set(fit.diagnostics["splits"]) == {"2x3", "3x2"}
    # explicit counts switch the split search off
    fixed = fit_generator(resized, cfg, seed=0, num_scales=2, num_aspect_ratios=3)
    assert "splits" not in fixed.diagnostics
