"""Size bands a fit gives away are reported (fitting/giveaways.py)."""

from __future__ import annotations

from tfod_anchors.fitting.giveaways import band_giveaways
from tfod_anchors.fitting.objective import Guard


def _metrics(**bands):
    return {"by_size": {name: {"count": n, "recall_matched": r}
                        for name, (n, r) in bands.items()}}


def test_a_small_band_losing_more_than_a_tenth_is_named_with_its_guard():
    # 980 medium boxes, 20 large ones (2 % of the boxes: under the guard's 5 % share)
    before = _metrics(small=(0, None), medium=(980, 0.50), large=(20, 0.95))
    after = _metrics(small=(0, None), medium=(980, 0.60), large=(20, 0.40))
    found = band_giveaways(before, after, 0.5, Guard().to_dict(), "boxes")
    assert len(found) == 1
    g = found[0]
    assert (g["band"], g["boxes"], g["share"], g["before"], g["after"]) == \
        ("large", 20, 0.02, 0.95, 0.4)
    assert g["keep"] == "--guard band_share=0.02"
    assert g["message"] == ("large boxes (20 of the boxes, 2.0%) lose recall@0.5 0.950 -> "
                            "0.400 (more than 0.1); --guard band_share=0.02 keeps that band")
    # the flag it names does put the band under the guard
    assert Guard.parse(g["keep"].split()[1]).band_share <= 0.02


def test_losses_up_to_a_tenth_and_gains_are_not_reported():
    before = _metrics(medium=(90, 0.50), large=(10, 0.95))
    assert band_giveaways(before, _metrics(medium=(90, 0.7), large=(10, 0.85)), 0.5,
                          Guard().to_dict(), "boxes") == []


def test_with_the_band_guard_off_the_flag_turns_it_back_on():
    before = _metrics(medium=(50, 0.5), large=(50, 0.9))
    after = _metrics(medium=(50, 0.9), large=(50, 0.5))
    off = Guard.parse("bands=off").to_dict()
    [g] = band_giveaways(before, after, 0.7, off, "static boxes")
    assert g["keep"] == "--guard bands=0.05" and g["share"] == 0.5
    assert "(50 of the static boxes, 50.0%)" in g["message"]
    assert "recall@0.7 0.900 -> 0.500" in g["message"]


def test_thin_ratio_slot_is_named():
    # One 64 x 64 image, one level with three shapes: square, wide (ratio 4) and tall
    # (ratio 0.25). 200 boxes: 199 squares and tall ones, one wide sliver; the exact
    # coverage gives each box its best shape, so the wide slot is best for 1 box (0.5 %).
    import numpy as np

    from tfod_anchors.anchors.layout import AnchorLayout, AnchorLevel
    from tfod_anchors.boxes import ResizedBoxes
    from tfod_anchors.coverage.metrics import evaluate
    from tfod_anchors.fitting.giveaways import ratio_slot_shares, thin_ratio_slots
    from tfod_anchors.matcher import MatcherSpec

    level = AnchorLevel((4, 4), (16.0, 16.0), (8.0, 8.0),
                        np.array([[16.0, 16.0], [8.0, 32.0], [32.0, 8.0]]))
    layout = AnchorLayout((64, 64), (level,))
    boxes = [[0, 0, 16, 16]] * 120 + [[8, 4, 40, 12]] * 79 + [[4, 8, 12, 40]]
    n = len(boxes)
    resized = ResizedBoxes(np.array([[64, 64]], np.int32), np.array([[64, 64]], np.int32),
                           np.zeros(n, np.int32), np.array(boxes, np.float64),
                           np.ones(n, np.int32))
    matcher = MatcherSpec(matched_threshold=0.5, unmatched_threshold=0.5)
    report = evaluate(resized, lambda _shape: layout, matcher)
    shares = ratio_slot_shares(report.best_shape, resized, lambda _s: layout, [1.0, 4.0, 0.25])
    np.testing.assert_allclose(shares, [0.6, 0.005, 0.395])
    assert thin_ratio_slots(report.best_shape, resized, lambda _s: layout,
                            [1.0, 4.0, 0.25]) == [
        {"aspect_ratio": 4.0, "boxes": 1, "share": 0.005}]
