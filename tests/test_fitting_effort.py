"""fit --effort: how much search, and what the JSON and text say about it."""

from __future__ import annotations

import pytest

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
    assert not NORMAL.polish_all and not NORMAL.verify_polished and not NORMAL.edge_ladder
    high = budget(3.0)
    assert (high.pool_random_starts, high.random_starts, high.coarse_refine, high.polished,
            high.mutations) == (36, 6, 9, 9, 300)
    assert high.polish_all and high.verify_polished and high.edge_ladder
    low = budget(0.5)
    assert (low.pool_random_starts, low.random_starts, low.coarse_refine, low.polished,
            low.mutations) == (6, 1, 2, 3, 50)
