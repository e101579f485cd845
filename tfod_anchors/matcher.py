"""The matcher settings that decide which anchors become positives.

TFOD's Faster R-CNN first stage hard-codes its RPN matcher (0.7 / 0.3 with
forced matches); SSD reads ``argmax_matcher`` from the config. Coverage and
fitting only need the numbers, so they take a :class:`MatcherSpec`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MatcherSpec:
    """Argmax-matcher thresholds (IoU similarity).

    Attributes:
        matched_threshold: IoU at or above which an anchor is a positive.
        unmatched_threshold: IoU below which an anchor is a negative; between the
            two it is ignored.
        force_match: every ground-truth box also takes its best anchor.
        ignore_thresholds: every anchor is a positive of its best box (TFOD
            ``ignore_thresholds: true``).
        negatives_lower_than_unmatched: TFOD's flag of the same name.
        source: where the numbers come from, for reports (e.g. ``"faster_rcnn
            first stage (fixed in TFOD)"`` or ``"ssd.matcher.argmax_matcher"``).
    """

    matched_threshold: float = 0.5
    unmatched_threshold: float = 0.5
    force_match: bool = False
    ignore_thresholds: bool = False
    negatives_lower_than_unmatched: bool = True
    source: str = "default"


FASTER_RCNN_FIRST_STAGE = MatcherSpec(
    matched_threshold=0.7,
    unmatched_threshold=0.3,
    force_match=True,
    source="faster_rcnn first stage (fixed in TFOD)",
)
