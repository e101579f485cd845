"""The matcher settings that decide which anchors become positives.

TFOD's Faster R-CNN first stage hard-codes its RPN matcher (0.7 / 0.3 with
forced matches); SSD reads ``argmax_matcher`` from the config. Coverage and
fitting only need the numbers, so they take a :class:`MatcherSpec`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: :attr:`ShapeRule.kind` values (see :mod:`tfod_anchors.coverage.shape_rule`).
RATIO, WH_IOU = "ratio", "wh_iou"


@dataclass(frozen=True)
class ShapeRule:
    """A shape-only positive rule (YOLO's; computed by :mod:`tfod_anchors.coverage.shape_rule`).

    Attributes:
        kind: ``"ratio"`` (passes when the value is ``< threshold``) or ``"wh_iou"``
            (passes when ``>= threshold``).
        threshold: the ratio bound (>= 1) or the IoU (in (0, 1]).
    """

    kind: str
    threshold: float

    def __post_init__(self) -> None:
        if self.kind not in (RATIO, WH_IOU):
            raise ValueError(f"unknown shape rule {self.kind!r}")

    def passes(self, values: np.ndarray) -> np.ndarray:
        """bool, same shape: which rule values (``coverage.shape_rule.rule_values``) pass."""
        if self.kind == RATIO:
            return values < self.threshold
        return values >= self.threshold

    def describe(self) -> str:
        """The rule in words, for reports."""
        if self.kind == RATIO:
            return f"w/h ratio < {self.threshold:g}"
        return f"width-height IoU >= {self.threshold:g}"


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
        shape_rule: a shape-only rule (YOLO) that decides positives instead of IoU >=
            ``matched_threshold``: coverage's ``recall_matched`` and ``mean_positives``
            then follow it (the IoU metrics stay positioned IoU), and so does the fit.
    """

    matched_threshold: float = 0.5
    unmatched_threshold: float = 0.5
    force_match: bool = False
    ignore_thresholds: bool = False
    negatives_lower_than_unmatched: bool = True
    source: str = "default"
    shape_rule: ShapeRule | None = None


FASTER_RCNN_FIRST_STAGE = MatcherSpec(
    matched_threshold=0.7,
    unmatched_threshold=0.3,
    force_match=True,
    source="faster_rcnn first stage (fixed in TFOD)",
)
