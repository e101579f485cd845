"""k-means starts for a space of free shapes across levels (YOLO's boxes).

YOLO's anchors are one set of ``(w, h)`` shapes handed to the levels by area
(``ParamSpace.from_shapes``). The classic answer for such a set is k-means on the boxes'
``(w, h)``: the Model Garden's ``AnchorKMeans``, darknet's and YOLOv5's scripts. Here the
IoU k-means of :mod:`tfod_anchors.cluster.kmeans` (our own, distance ``1 - IoU``; the
mean update polished, and the median update as the tools return it) gives those sets as
*starts* of the search, which then moves them for the matcher's own objective (e.g. the
ratio rule's boxes with a target). They are not floors: the objective decides.
"""

from __future__ import annotations

import numpy as np

from tfod_anchors.fitting.problem import Problem
from tfod_anchors.fitting.sample import Sample

#: ``(origin, k-means update, polished)`` of each start.
RUNS = (("kmeans_wh", "mean", True), ("kmeans_wh_median", "median", False))


def shape_seeds(problem: Problem, sample: Sample, seed: int
                ) -> list[tuple[str, np.ndarray]]:
    """``[(origin, x)]``: IoU k-means sets of ``sample``'s box sizes (k = every shape of
    the space) as rounded points of ``problem``'s space; ``[]`` when the space holds no
    free set (``from_shapes`` None) or the boxes have fewer distinct shapes than k."""
    from tfod_anchors.cluster.kmeans import iou_kmeans
    from tfod_anchors.errors import TfodAnchorsError

    space = problem.space
    if space.from_shapes is None:
        return []
    k = sum(len(s) for s in space.shapes_of(space.x0))
    b = problem.resized.boxes[sample.index]
    unit = np.asarray(problem.units, dtype=np.float64)[problem.group[sample.index]]  # (y, x)
    wh = np.stack([(b[:, 3] - b[:, 1]) / unit[:, 1], (b[:, 2] - b[:, 0]) / unit[:, 0]], axis=1)
    keep = (wh > 0).all(axis=1)
    out = []
    for origin, update, polished in RUNS:
        try:
            run = iou_kmeans(wh[keep], k, seed=seed, n_init=3, update=update,
                             weights=sample.weight[keep], refine=polished)
        except (TfodAnchorsError, ValueError):  # fewer distinct shapes than anchors
            continue
        x = space.from_shapes(run.centroids)
        if x.shape == (space.dim,) and np.all(np.isfinite(x)):
            out.append((origin, space.rounded(x)))
    return out
