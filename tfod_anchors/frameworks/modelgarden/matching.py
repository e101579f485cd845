"""Which anchors the Model Garden makes positive for a box, per family, and what that gives.

* ``retinanet_box_matcher`` (``AnchorLabeler``): IoU >= ``parser.match_threshold`` (0.5) and
  every box's best anchor forced positive (``BoxMatcher(force_match_for_each_col=True)``).
* ``rpn_box_matcher`` (``RpnAnchorLabeler``, Faster/Mask/Cascade R-CNN): IoU >=
  ``parser.rpn_match_threshold`` (0.7), forced best; ``parser.match_threshold`` is not used.
  Both are positioned-IoU rules, measured by :mod:`tfod_anchors.coverage` like TFOD's.
* ``yolo_darknet`` (``YoloAnchorLabeler``, ``best_match_only: false``): width-height IoU (boxes
  and anchors on one centre) against every anchor of every level; the best anchor is always
  kept (forced) and, with the tie breaker, every other one with IoU >= ``anchor_thresh``.
* ``yolo_ratio`` (``best_match_only: true`` with ``anchor_thresh`` >= 1: scaled YOLO; and
  YOLOv7's loss with ``loss.anchor_threshold``): per level, every anchor with
  ``max(w/a_w, a_w/w, h/a_h, a_h/h) < threshold`` in grid units, **no forced match**; each
  kept anchor takes the centre cell and, with ``scale_xy`` 2 (YOLOv5's rule), the two
  neighbours nearer the centre. A box no anchor passes gets no target at all.

Shapes and units: box sizes ``(w, h)`` in pixels of the network input; anchors ``(w, h)``
pixels at the input size (``anchor_boxes.boxes``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tfod_anchors.frameworks.modelgarden.experiment import RCNN_FAMILIES, RETINANET, YOLOV7
from tfod_anchors.frameworks.modelgarden.geometry import YoloAnchors
from tfod_anchors.matcher import MatcherSpec

RETINANET_RULE = "retinanet_box_matcher"
RPN_RULE = "rpn_box_matcher"
DARKNET_RULE = "yolo_darknet"
RATIO_RULE = "yolo_ratio"


@dataclass(frozen=True)
class MatchRule:
    """A family's positive-anchor rule.

    Attributes:
        name: one of the ``*_RULE`` names above (named in every output).
        threshold: IoU (``*_box_matcher``, ``yolo_darknet``) or w/h ratio (``yolo_ratio``).
        unmatched_threshold: the BoxMatcher's negative bound (IoU rules), else None.
        force_match: every box takes its best anchor whatever the threshold.
        scale_xy: ``{level: scale_xy}`` centre radius of the YOLO rules (1: one cell).
        source: the config key the threshold comes from.
    """

    name: str
    threshold: float
    unmatched_threshold: float | None = None
    force_match: bool = True
    scale_xy: tuple[tuple[int, float], ...] = ()
    source: str = ""

    def matcher_spec(self) -> MatcherSpec:
        """The IoU rules as the :class:`MatcherSpec` coverage measures with."""
        unmatched = self.threshold if self.unmatched_threshold is None else self.unmatched_threshold
        return MatcherSpec(matched_threshold=self.threshold, unmatched_threshold=unmatched,
                           force_match=self.force_match, source=self.source)


def _scale_xy(exp: dict, levels: range) -> tuple[tuple[int, float], ...]:
    """``detection_generator.scale_xy.get()`` per level (``all`` wins when set)."""
    values = exp["task"]["model"]["detection_generator"]["scale_xy"]
    every = values.get("all")
    return tuple((lvl, float(every if every is not None else values.get(str(lvl), 1.0)))
                 for lvl in levels)


def matching_rule(exp: dict, family: str, anchors: YoloAnchors | None = None) -> MatchRule:
    """The rule the training parser (or YOLOv7's loss) applies, read from the experiment."""
    parser = exp["task"]["train_data"]["parser"]
    if family == RETINANET:
        return MatchRule(RETINANET_RULE, float(parser["match_threshold"]),
                         float(parser["unmatched_threshold"]),
                         source="task.train_data.parser.match_threshold")
    if family in RCNN_FAMILIES:
        return MatchRule(RPN_RULE, float(parser["rpn_match_threshold"]),
                         float(parser["rpn_unmatched_threshold"]),
                         source="task.train_data.parser.rpn_match_threshold")
    assert anchors is not None
    levels = range(anchors.min_level, anchors.max_level + 1)
    if family == YOLOV7:
        radius = tuple((lvl, 2.0) for lvl in levels)  # the loss's 3 cells, bias 0.5
        return MatchRule(RATIO_RULE, float(exp["task"]["model"]["loss"]["anchor_threshold"]),
                         force_match=False, scale_xy=radius,
                         source="task.model.loss.anchor_threshold")
    darknet = bool(exp["task"]["model"].get("darknet_based_model", False))
    radius = tuple((lvl, 1.0) for lvl in levels) if darknet else _scale_xy(exp, levels)
    thresh = float(parser["anchor_thresh"])
    if bool(parser["best_match_only"]) and thresh >= 1.0:
        return MatchRule(RATIO_RULE, thresh, force_match=False, scale_xy=radius,
                         source="task.train_data.parser.anchor_thresh")
    return MatchRule(DARKNET_RULE, thresh, force_match=True, scale_xy=radius,
                     source="task.train_data.parser.anchor_thresh")


def wh_iou(wh: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """float64 ``[N, K]`` IoU of box sizes ``wh [N, 2]`` and anchor sizes ``[K, 2]`` placed
    on one centre (``iou_type=3`` of ``get_best_anchor``, width and height only)."""
    inter = (np.minimum(wh[:, None, 0], anchors[None, :, 0])
             * np.minimum(wh[:, None, 1], anchors[None, :, 1]))
    union = (wh[:, 0] * wh[:, 1])[:, None] + (anchors[:, 0] * anchors[:, 1])[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def wh_ratio(wh: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """float64 ``[N, K]`` ``max(w/a_w, a_w/w, h/a_h, a_h/h)`` (inf for a zero side)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        r = wh[:, None, :] / anchors[None, :, :]
        r = np.maximum(r, 1.0 / r)
    return np.nan_to_num(r, nan=np.inf).max(axis=2)


def _cells(centre: np.ndarray, grid: np.ndarray, scale_xy: float) -> np.ndarray:
    """int64 ``[N]`` grid cells ``YoloAnchorLabeler._get_centers`` gives a box centre
    ``centre [N, 2]`` (x, y in cells) on a ``grid [2]`` (w, h) with ``scale_xy``."""
    offset = 0.5 * (scale_xy - 1.0)
    if offset == 0.0:
        return np.ones(centre.shape[0], dtype=np.int64)
    frac = centre - np.floor(centre)
    low = (frac < offset) & (centre > 1)
    high = (frac > np.float32(1.0 - offset)) & (centre < grid[None, :] - 1)
    return 1 + low.sum(axis=1) + high.sum(axis=1)


@dataclass(frozen=True)
class YoloMatch:
    """Per box results of a YOLO rule (arrays ``[N]``, box order).

    Attributes:
        matched: bool, the box passes the threshold with some anchor (no forcing).
        targets: int64, (anchor, cell) targets the box gets, forced one included.
        best: float64, best width-height IoU over all anchors (``yolo_darknet``) or the
            smallest w/h ratio (``yolo_ratio``).
    """

    matched: np.ndarray
    targets: np.ndarray
    best: np.ndarray


def yolo_match(boxes: np.ndarray, input_hw: tuple[int, int], anchors: YoloAnchors,
               rule: MatchRule) -> YoloMatch:
    """The YOLO rule on boxes ``[N, 4]`` (ymin, xmin, ymax, xmax) pixels of the input.

    Sizes are compared in grid units as the labeler does (box ``size / input * (input //
    stride)``, anchor ``size / stride``), which equals pixels when the input is a multiple of
    the stride.
    """
    h, w = int(input_hw[0]), int(input_hw[1])
    # float32 on normalized boxes, as the labeler computes (cell boundaries at exact halves)
    norm = (boxes / np.array([h, w, h, w], dtype=np.float64)).astype(np.float32)
    wh = np.stack([norm[:, 3] - norm[:, 1], norm[:, 2] - norm[:, 0]], axis=1)
    centre = np.stack([norm[:, 1] + norm[:, 3], norm[:, 0] + norm[:, 2]], axis=1) / np.float32(2)
    radius = dict(rule.scale_xy)
    per_level = anchors.per_level()
    n = boxes.shape[0]
    targets = np.zeros(n, dtype=np.int64)

    def grid_of(level: int) -> np.ndarray:
        return np.array([w // 2 ** level, h // 2 ** level], dtype=np.float32)

    if rule.name == RATIO_RULE and not rule.force_match:
        best = np.full(n, np.inf)
        for level, wh_a in per_level.items():
            grid = grid_of(level)
            ratio = wh_ratio(wh * grid, (wh_a / 2 ** level).astype(np.float32))
            kept = (ratio < rule.threshold).sum(axis=1)
            best = np.minimum(best, ratio.min(axis=1))
            targets += kept * _cells(centre * grid, grid, radius.get(level, 1.0))
        return YoloMatch(targets > 0, targets, best)
    every = np.concatenate(list(per_level.values()), axis=0)
    iou = wh_iou(wh.astype(np.float64), every / np.array([w, h]))
    best_index = iou.argmax(axis=1)
    kept = iou >= rule.threshold
    kept[np.arange(n), best_index] = True
    start = 0
    for level, wh_a in per_level.items():
        grid = grid_of(level)
        count = kept[:, start:start + wh_a.shape[0]].sum(axis=1)
        targets += count * _cells(centre * grid, grid, radius.get(level, 1.0))
        start += wh_a.shape[0]
    best = iou.max(axis=1)
    return YoloMatch(best >= rule.threshold, targets, best)


def yolo_metrics(match: YoloMatch, rule: MatchRule) -> dict:
    """Dataset metrics of a YOLO rule, JSON-ready.

    Keys: ``rule``, ``threshold``, ``num_boxes``, ``recall_matched`` (share of boxes that pass
    the threshold with some anchor), ``no_target_share`` (share of boxes with no target at
    all: only the ratio rule, which forces nothing, can leave one), ``mean_targets`` (targets
    per box), and ``mean_best_wh_iou`` (``yolo_darknet``) or ``median_best_ratio`` (the
    smallest w/h ratio of a box: a median, as a box of zero width has an unbounded one).
    """
    n = int(match.matched.shape[0])
    mean = (lambda x: float(np.mean(x)) if n else None)  # noqa: E731
    out = {"rule": rule.name, "threshold": rule.threshold, "source": rule.source,
           "num_boxes": n, "recall_matched": mean(match.matched),
           "no_target_share": mean(match.targets == 0), "mean_targets": mean(match.targets)}
    if rule.name == RATIO_RULE:
        out["median_best_ratio"] = float(np.median(match.best)) if n else None
    else:
        out["mean_best_wh_iou"] = mean(match.best)
    return out
