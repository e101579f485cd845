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
