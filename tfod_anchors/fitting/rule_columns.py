"""The search's view of a shape-only matcher rule (YOLO's; :mod:`tfod_anchors.coverage.shape_rule`).

Under a shape rule a box is matched when some anchor shape *passes* the rule (the ratio
rule: ``max(w/a_w, a_w/w, h/a_h, a_h/h) < t`` per level, the darknet rule: centred IoU
``>= t``), whatever the anchor's position. So, as the IoU columns of
:mod:`.evaluator`, every ``(level, height, width)`` key gives one column over the search
boxes, here a bool one (passes or not), computed with the labeler's own arithmetic
(:mod:`tfod_anchors.coverage.shape_rule`); a candidate matches a box when one of its
columns does, and its passing columns are its positives ("anchors above threshold").
The objective's ``recall_matched`` (and each band's) is then the rule's headline, the
share of boxes with a target, exactly as coverage and the exact verification count it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from tfod_anchors.coverage.shape_rule import box_sizes, rule_values
from tfod_anchors.fitting.kernel import BoxGeometry
from tfod_anchors.fitting.objective import weighted_sum
from tfod_anchors.matcher import RATIO, ShapeRule

ColumnKey = tuple[int, float, float]
#: Memory bound of one rule's column cache (bool columns: one byte per box).
CACHE_BYTES = 16 << 20


class RuleColumns:
    """Bool pass columns of a shape rule on fixed boxes, by ``(level, height, width)``
    in shape units (thread-safe, least recently used out).

    Args:
        geom: the boxes with their images' grids.
        rule: the shape rule.
    """

    def __init__(self, geom: BoxGeometry, rule: ShapeRule, cache_bytes: int = CACHE_BYTES):
        self.geom, self.rule = geom, rule
        self._box = [box_sizes(rule, geom.boxes, geom.window, lv.cells) for lv in geom.levels]
        # an anchor of h x w shape units is (h * unit_y, w * unit_x) pixels of each box's
        # image; the rule sees it as pixels / stride (ratio) or pixels / input (wh_iou)
        self._per = [(lv.stride / geom.unit)[:, ::-1] if rule.kind == RATIO
                     else (geom.window / geom.unit)[:, ::-1] for lv in geom.levels]
        self._cache: OrderedDict[ColumnKey, np.ndarray] = OrderedDict()
        self._limit = max(16, cache_bytes // max(1, geom.num_boxes))
        self._lock = threading.Lock()

    def column(self, key: ColumnKey) -> np.ndarray:
        """bool ``[B]``: which boxes the anchor shape ``key`` passes."""
        with self._lock:
            col = self._cache.get(key)
            if col is not None:
                self._cache.move_to_end(key)
                return col
        level, h, w = key
        anchor = np.array([w, h], dtype=np.float64)[None, :] / self._per[level]
        if self.rule.kind == RATIO:
            anchor = anchor.astype(np.float32)
        col = self.rule.passes(rule_values(self.rule, self._box[level], anchor[:, None, :]))[:, 0]
        with self._lock:
            self._cache[key] = col
            while len(self._cache) > self._limit:
                self._cache.popitem(last=False)
        return col

    def passes(self, keys: list[ColumnKey]) -> tuple[np.ndarray, np.ndarray]:
        """``(matched bool [B], count int64 [B])`` of a candidate's keys (a key listed
        twice is one anchor shape per level, counted twice as the labeler would)."""
        count = np.zeros(self.geom.num_boxes, dtype=np.int64)
        for key in keys:
            count += self.column(key)
        return count > 0, count


def rule_metrics(columns: RuleColumns, keys: list[list[ColumnKey]], weight: np.ndarray,
                 band_matrix: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """``(recall [C], band recalls [nb, C] or None)`` of ``C`` candidates' keys: the
    weighted share of boxes matched under the rule, overall and per size band
    (``band_matrix`` float64 ``[nb, B]``, rows normalised)."""
    w = weight / weight.sum()
    # column-major [B, C]: each candidate's sums are its own (``weighted_sum``), whatever
    # else shares the batch, so a remembered score equals a recomputed one bit for bit
    hits = np.stack([columns.passes(k)[0] for k in keys], axis=0).T
    bands = np.stack([weighted_sum(row, hits) for row in band_matrix]) \
        if band_matrix is not None and band_matrix.size else None
    return weighted_sum(w, hits), bands
