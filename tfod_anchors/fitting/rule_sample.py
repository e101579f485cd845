"""The coarse sample of a shape-rule fit: every box at risk counted exactly.

Under a shape-only rule (YOLO's, :mod:`tfod_anchors.coverage.shape_rule`) the headline is
the share of boxes that some anchor shape passes. Almost every box passes with a wide
margin whatever the search does nearby; the few that decide between candidates lie at
the edges of the shape distribution (tiny, very thin, very large boxes). On COCO val2017
with ``coco_yolov7tiny``'s anchors that is 781 of 36,781 boxes, so a uniform coarse
sample of 4,000 boxes holds about 80 of them and ranks candidates differing by 40 boxes
by chance: the search then polishes the wrong basin.

So the coarse sample of a shape-rule fit takes **every box at risk** with weight 1 (its
own stratum, taken whole) and the usual stratified draw of the other boxes. A box is at
risk when, under the config's shapes or any start's, its best rule value is within
``MARGIN`` of failing (ratio rule: best ``max(w/a_w, a_w/w, h/a_h, a_h/h) >= t /
MARGIN``; darknet rule: best centred IoU ``< t * MARGIN``): an anchor must move by more
than that factor for the box's fate to change. Sizes are compared in shape units
(pixels / the image's shape unit), which is what both rules see up to float32 rounding.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from tfod_anchors.fitting.problem import Problem
from tfod_anchors.fitting.sample import Sample, choose_keys, draw
from tfod_anchors.matcher import RATIO, ShapeRule

#: How far (a factor on the rule's value) from failing a box counts as at risk.
MARGIN = 1.5


def _box_wh(problem: Problem) -> np.ndarray:
    """float64 ``[N, 2]`` ``(w, h)`` of every box in its image's shape units."""
    b = problem.resized.boxes
    unit = np.asarray(problem.units, dtype=np.float64)[problem.group]  # (y, x)
    return np.stack([(b[:, 3] - b[:, 1]) / unit[:, 1], (b[:, 2] - b[:, 0]) / unit[:, 0]],
                    axis=1)


def at_risk(problem: Problem, rule: ShapeRule, points: list[np.ndarray],
            margin: float = MARGIN) -> np.ndarray:
    """bool ``[N]``: boxes within ``margin`` of failing ``rule`` under the shapes of any
    point of ``problem``'s space in ``points`` (every level's shapes together)."""
    wh = _box_wh(problem)
    risky = np.zeros(wh.shape[0], dtype=bool)
    for x in points:
        shapes = np.concatenate(problem.space.shapes_of(np.asarray(x, dtype=np.float64)))
        anchor = shapes[:, ::-1]  # (h, w) -> (w, h)
        with np.errstate(divide="ignore", invalid="ignore"):
            if rule.kind == RATIO:
                r = wh[:, None, :] / anchor[None, :, :]
                value = np.nan_to_num(np.maximum(r, 1.0 / r), nan=np.inf).max(axis=2)
                risky |= value.min(axis=1) >= rule.threshold / margin
            else:
                inter = np.minimum(wh[:, None, :], anchor[None, :, :]).prod(axis=2)
                union = wh.prod(axis=1)[:, None] + anchor.prod(axis=1)[None, :] - inter
                iou = np.where(union > 0, inter / union, 0.0)
                risky |= iou.max(axis=1) < rule.threshold * margin
    return risky


def risk_sample(problem: Problem, risky: np.ndarray, n_rest: int, seed: int) -> Sample:
    """The boxes ``risky`` (bool ``[N]``) whole, as one stratum of weight 1, and a seeded
    stratified draw of about ``n_rest`` of the others (:func:`~.sample.draw`, content
    keyed, so the input order does not matter)."""
    boxes = problem.resized.boxes
    rest = np.flatnonzero(~risky)
    window = problem.shapes.astype(np.float64)[problem.group[rest]]
    group = problem.group[rest]
    drawn = draw(choose_keys(boxes[rest], window, group, n_rest), n_rest, seed,
                 boxes[rest], group)
    whole = np.flatnonzero(risky)
    index = np.concatenate([whole, rest[drawn.index]])
    stratum = np.concatenate([np.full(whole.size, drawn.stratum_size.size, dtype=np.int64),
                              drawn.stratum])
    size = np.append(drawn.stratum_size, whole.size).astype(np.int64)
    taken = np.append(drawn.stratum_taken, whole.size).astype(np.int64)
    weight = np.concatenate([np.ones(whole.size), drawn.weight])
    return Sample(index, weight, stratum, size, taken, drawn.exact)


def rule_coarse(problem: Problem, rule: ShapeRule | None, coarse: Sample,
                points: list[np.ndarray], seed: int) -> Sample:
    """The coarse sample of a shape-rule fit (the module docstring): ``coarse`` itself
    when there is no shape rule or it holds every box already."""
    if rule is None or coarse.exact:
        return coarse
    risky = at_risk(problem, rule, points)
    if not risky.any() or risky.all():
        return coarse
    out = risk_sample(problem, risky, coarse.size, seed)
    return replace(out, exact=bool(out.size == problem.resized.num_boxes))
