"""fit --effort: how much search, and what the JSON and text say about it."""

from __future__ import annotations

import numpy as np
import pytest
from test_augment_integration import SSD_CROP, run_json, write_config, write_csv

from tfod_anchors.cli import main
from tfod_anchors.errors import UsageError
from tfod_anchors.fitting.effort import NORMAL, budget, effort_name, parse_effort


def test_levels_and_numbers():
    assert parse_effort("low") == 0.5 and parse_effort("NORMAL") == 1.0
    assert parse_effort("high") == 3.0 and parse_effort("2.5") == 2.5 and parse_effort(4) == 4.0
    assert parse_effort(None) == 1.0
    for bad in ("fast", "0", "-1", "nan", "inf", "21", True, [1]):
        with pytest.raises(UsageError):
            parse_effort(bad)
    assert effort_name(3.0) == "high" and effort_name(2.5) == "2.5"


def test_budget_scales_with_effort():
    # normal is the search's historical budget; high triples the restarts and polishes
    # (and measures exactly) every candidate it polishes; low halves the restarts.
    assert (NORMAL.pool_random_starts, NORMAL.random_starts, NORMAL.coarse_refine,
            NORMAL.polished, NORMAL.mutations) == (12, 2, 3, 3, 100)
    assert not NORMAL.polish_all and not NORMAL.verify_polished
    high = budget(3.0)
    assert (high.pool_random_starts, high.random_starts, high.coarse_refine, high.polished,
            high.mutations) == (36, 6, 9, 9, 300)
    assert high.polish_all and high.verify_polished
    low = budget(0.5)
    assert (low.pool_random_starts, low.random_starts, low.coarse_refine, low.polished,
            low.mutations) == (6, 1, 2, 3, 50)


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
        code, docs[level] = run_json(capsys, "fit", config, "--input", boxes, "--effort", level)
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
