"""Coverage of a dataset's boxes by the anchors TFOD generates, under its matcher.

Stage "coverage" of the data flow: boxes in resized pixels (:class:`ResizedBoxes`)
and, per padded input shape, the anchors TFOD lays out (:class:`AnchorLayout`) give,
per box, the best IoU over every anchor at its real position (exact, see
:mod:`tfod_anchors.coverage.best_iou`) and dataset metrics as a plain dict.

Metric keys (stable; :data:`METRIC_KEYS` come first in every output):

* ``num_boxes``, ``matched_threshold``, ``matcher_source``;
* ``mean_iou``: mean over boxes of the best positioned IoU;
* ``recall_matched``, ``recall_0.5``, ``recall_0.7``: share of boxes whose best
  positioned IoU is ``>=`` the matcher's matched threshold, 0.5, 0.7;
* ``mean_positives``: mean number of anchors per box with IoU ``>=`` the matched
  threshold. Each box is counted on its own: competition between boxes for an anchor
  (the matcher gives an anchor to its best box only) and forced matches are ignored;
* under a shape-only rule (``MatcherSpec.shape_rule``, YOLO's, :mod:`.shape_rule`),
  ``recall_matched`` (also per size band) is the share of boxes some anchor shape passes
  (for the ratio rule: the boxes with a target at all) and ``mean_positives`` the anchor
  shapes that pass per box (YOLOv5's "anchors above threshold"); nothing is unreachable;
  ``matched_rule`` names the rule (e.g. ``"w/h ratio < 4"``);
* ``num_unreachable``: boxes whose best *shape-only* IoU (anchor centred on the box)
  reaches the matched threshold while the best positioned IoU does not, i.e. lost to
  stride, cell position or the window policy rather than to the anchor shapes;
* ``by_size``: ``small`` (area < 32²), ``medium`` (< 96²), ``large``, by box area in
  resized pixels, each ``{count, mean_iou, recall_matched}``;
* ``bpr_yolov5``: YOLOv5's best possible recall with ``thr = 4`` (a box counts when,
  for some anchor shape, both ``w / w_a`` and ``h / h_a`` lie strictly within
  ``(1/4, 4)``);
* ``shape_only_avg_iou``: the YOLO9000 "avg IoU": mean over boxes of the best IoU of
  box and anchor shape placed on the same centre.

Both shape-only metrics use each box's own layout's anchor shapes (all levels).
Means over an empty set are ``None`` (JSON ``null``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from tfod_anchors.anchors.layout import AnchorLayout
from tfod_anchors.boxes import ResizedBoxes
from tfod_anchors.coverage.best_iou import layout_shapes
from tfod_anchors.coverage.positives import layout_search
from tfod_anchors.coverage.shape_rule import layout_passes
from tfod_anchors.errors import UsageError
from tfod_anchors.matcher import MatcherSpec, ShapeRule

#: COCO size bands by box area in resized pixels: (name, lowest area, area above the band).
SIZE_BANDS = (("small", 0.0, 32.0 ** 2), ("medium", 32.0 ** 2, 96.0 ** 2),
              ("large", 96.0 ** 2, np.inf))
#: The headline metrics, in the order every output lists them.
METRIC_KEYS = ("mean_iou", "recall_matched", "recall_0.5", "recall_0.7")
YOLOV5_BPR_THR = 4.0
DEFAULT_CHUNK = 1 << 14


@dataclass
class CoverageReport:
    """Per-box coverage results and the dataset metrics (arrays ``[N]``, box order).

    Attributes:
        best_iou: float64, best IoU over every anchor of the box's layout.
        best_shape: int64, index of the shape giving ``best_iou`` in the box's layout
            (levels concatenated, TFOD order within a level); -1 if it has no anchors.
        positives: int64, anchors with IoU ``>=`` the matched threshold (no competition);
            under a shape rule, the anchor shapes that pass it.
        shape_iou: float64, best IoU with an anchor shape centred on the box.
        unreachable: bool, ``shape_iou >= t`` but ``best_iou < t`` (none under a shape rule).
        metrics: the dataset metrics (see the module docstring), JSON-ready.
        matched: bool, the box is matched (``best_iou >= t``, or the shape rule passes);
            None: work it out from ``best_iou``.
    """

    best_iou: np.ndarray
    best_shape: np.ndarray
    positives: np.ndarray
    shape_iou: np.ndarray
    unreachable: np.ndarray
    metrics: dict = field(default_factory=dict)
    matched: np.ndarray | None = None

    def hits(self, threshold: float) -> np.ndarray:
        """bool ``[N]``: boxes matched (:attr:`matched`, else ``best_iou >= threshold``)."""
        return self.matched if self.matched is not None else self.best_iou >= threshold


def centred_iou(hw: np.ndarray, shapes: np.ndarray) -> np.ndarray:
    """float64 ``[N, S]`` IoU of boxes ``hw`` ``[N, 2]`` (height, width) and anchor
    shapes ``[S, 2]`` sharing one centre (0 where the intersection is empty)."""
    h, w = hw[:, 0:1], hw[:, 1:2]
    ha, wa = shapes[:, 0], shapes[:, 1]
    inter = np.minimum(h, ha) * np.minimum(w, wa)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.fmax(inter / (h * w + ha * wa - inter), 0.0)


def yolov5_ratio(hw: np.ndarray, shapes: np.ndarray) -> np.ndarray:
    """float64 ``[N]``: YOLOv5's anchor-fit metric, the best over anchor shapes of
    ``min(r_w, r_h)`` with ``r = min(x / x_a, x_a / x)``; a box counts towards the best
    possible recall when it is ``> 1 / thr``."""
    if shapes.shape[0] == 0:
        return np.zeros(hw.shape[0], dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ry, rx = (np.minimum(hw[:, d:d + 1], shapes[:, d]) / np.maximum(hw[:, d:d + 1],
                                                                        shapes[:, d])
                  for d in range(2))
        r = np.fmin(ry, rx)
    return np.fmax(np.fmax.reduce(r, axis=1), 0.0)


def _chunk_coverage(boxes: np.ndarray, layout: AnchorLayout, shapes: np.ndarray, t: float,
                    rule: ShapeRule | None = None):
    """Per-box arrays of one chunk: best IoU, its shape, positives, centred IoU, YOLOv5's
    ratio and whether the box is matched (IoU >= ``t``, or ``rule``'s shape-only test,
    whose passing anchors are then the positives)."""
    best, pos = layout_search(boxes, layout, t)
    assert pos is not None  # a threshold was given
    n = boxes.shape[0]
    if best.shape[1] == 0:
        zero = np.zeros(n, dtype=np.float64)
        return (zero, np.full(n, -1, dtype=np.int64), np.zeros(n, np.int64), zero, zero,
                np.zeros(n, dtype=bool))
    hw = np.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]], axis=1)
    idx = best.argmax(axis=1)
    top = best[np.arange(n), idx]
    if rule is None:
        matched, count = top >= t, pos.sum(axis=1)
    else:
        matched, count = layout_passes(rule, boxes, layout)
    return (top, idx.astype(np.int64), count, centred_iou(hw, shapes).max(axis=1),
            yolov5_ratio(hw, shapes), matched)


def ordered_metrics(metrics: dict) -> dict:
    """Coverage metrics with :data:`METRIC_KEYS` first (``before``/``after``/``coverage``)."""
    return {**{k: metrics[k] for k in METRIC_KEYS},
            **{k: v for k, v in metrics.items() if k not in METRIC_KEYS}}


def evaluate(
    resized: ResizedBoxes,
    layout_for_shape: Callable[[tuple[int, int]], AnchorLayout],
    matcher: MatcherSpec,
    *,
    chunk: int = DEFAULT_CHUNK,
    workers: int | None = None,
) -> CoverageReport:
    """Coverage of ``resized`` boxes by the anchors of their padded input shape.

    Args:
        resized: boxes in resized pixels with each image's padded shape.
        layout_for_shape: ``(H, W) -> AnchorLayout``; called once per distinct padded shape.
        matcher: gives the matched threshold (``0 < t <= 1``).
        chunk: boxes processed at a time (bounds temporary memory per worker).
        workers: threads working on chunks (None: the CPU count, at most 4); the
            results do not depend on it.
    """
    t = float(matcher.matched_threshold)
    if not 0.0 < t <= 1.0:
        raise UsageError(f"matched_threshold must be in (0, 1], got {t!r}")
    if chunk < 1:
        raise UsageError(f"chunk must be positive, got {chunk!r}")
    workers = _workers(workers)
    n = resized.num_boxes
    boxes = np.asarray(resized.boxes, dtype=np.float64).reshape(n, 4)
    best = np.zeros(n, dtype=np.float64)
    best_shape = np.full(n, -1, dtype=np.int64)
    positives = np.zeros(n, dtype=np.int64)
    shape_iou = np.zeros(n, dtype=np.float64)
    ratio = np.zeros(n, dtype=np.float64)
    hit = np.zeros(n, dtype=bool)
    if n:
        jobs = []
        for (ph, pw), members in resized.group_indices():
            layout = layout_for_shape((ph, pw))
            if tuple(int(v) for v in layout.padded_shape) != (ph, pw):
                raise UsageError(f"layout for padded shape {(ph, pw)} has padded_shape "
                                 f"{tuple(layout.padded_shape)}")
            shapes = layout_shapes(layout)
            jobs += [(members[s:s + chunk], layout, shapes) for s in range(0, len(members), chunk)]

        def run(job):
            sel, layout, shapes = job
            (best[sel], best_shape[sel], positives[sel], shape_iou[sel], ratio[sel],
             hit[sel]) = _chunk_coverage(boxes[sel], layout, shapes, t, matcher.shape_rule)

        if workers == 1 or len(jobs) == 1:
            for job in jobs:
                run(job)
        else:  # numpy releases the GIL in its loops; chunks write disjoint slices
            with ThreadPoolExecutor(workers) as pool:
                list(pool.map(run, jobs))
    # a shape-only rule does not depend on position: nothing is lost to the stride
    unreachable = (shape_iou >= t) & ~hit if matcher.shape_rule is None \
        else np.zeros(n, dtype=bool)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    metrics = dataset_metrics(best, positives, shape_iou, unreachable, ratio, area, matcher,
                              hit)
    metrics["degenerate"] = degenerate_summary(degenerate_mask(boxes), hit=hit)
    return CoverageReport(best, best_shape, positives, shape_iou, unreachable, metrics, hit)


#: A box with a side shorter than this (pixels of the model input) is "degenerate".
DEGENERATE_PX = 2.0


def degenerate_mask(boxes: np.ndarray) -> np.ndarray:
    """bool ``[N]``: boxes (``[N, 4]`` ymin, xmin, ymax, xmax in resized pixels) with a
    side under :data:`DEGENERATE_PX`. TFOD trains on them (crops make many slivers), so
    they stay in every metric; this only says how many there are."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return ((b[:, 2] - b[:, 0]) < DEGENERATE_PX) | ((b[:, 3] - b[:, 1]) < DEGENERATE_PX)


def degenerate_summary(mask: np.ndarray, best: np.ndarray | None = None,
                       matched: float | None = None, *, hit: np.ndarray | None = None) -> dict:
    """``{"under_px", "count", "share"}`` of ``mask`` (bool ``[N]``); ``share`` is their
    part of the recall denominator (all boxes). With the best IoUs ``best`` ``[N]`` and
    the matched threshold (or ``hit``, bool ``[N]``: the box is matched, e.g. under a
    shape rule), also ``recall_matched`` among them (None when there are none)."""
    n, count = int(mask.shape[0]), int(mask.sum())
    out: dict = {"under_px": DEGENERATE_PX, "count": count, "share": count / n if n else 0.0}
    if hit is None and best is not None and matched is not None:
        hit = best >= matched
    if hit is not None:
        out["recall_matched"] = _mean(hit[mask])
    return out


def _workers(workers: int | None) -> int:
    if workers is None:
        return min(4, os.cpu_count() or 1)
    if workers < 1:
        raise UsageError(f"workers must be positive, got {workers!r}")
    return int(workers)


def _mean(x: np.ndarray):
    return float(np.mean(x)) if x.size else None


def dataset_metrics(best: np.ndarray, positives: np.ndarray, shape_iou: np.ndarray,
                    unreachable: np.ndarray, yolo_ratio: np.ndarray, area: np.ndarray,
                    matcher: MatcherSpec, matched: np.ndarray | None = None) -> dict:
    """The metrics dict of :func:`evaluate` from per-box arrays (all ``[N]``); ``matched``:
    bool, the box reaches the matcher (default ``best >= matched_threshold``)."""
    t = float(matcher.matched_threshold)
    hit = best >= t if matched is None else matched
    by_size = {}
    for name, lo, hi in SIZE_BANDS:
        m = (area >= lo) & (area < hi)
        by_size[name] = {"count": int(m.sum()), "mean_iou": _mean(best[m]),
                         "recall_matched": _mean(hit[m])}
    rule = {} if matcher.shape_rule is None else {"matched_rule": matcher.shape_rule.describe()}
    return {
        "num_boxes": int(best.shape[0]),
        "matched_threshold": t,
        "matcher_source": matcher.source,
        **rule,
        "mean_iou": _mean(best),
        "recall_matched": _mean(hit),
        "recall_0.5": _mean(best >= 0.5),
        "recall_0.7": _mean(best >= 0.7),
        "mean_positives": _mean(positives),
        "num_unreachable": int(unreachable.sum()),
        "by_size": by_size,
        "bpr_yolov5": _mean(yolo_ratio > 1.0 / YOLOV5_BPR_THR),
        "shape_only_avg_iou": _mean(shape_iou),
    }
