"""The classic answer as a floor: IoU k-means anchors, where the generator can hold them.

Every other anchor tool (YOLOv5 AutoAnchor, the MMDetection/MMYOLO optimisers, TF
Model Garden, the k-means scripts) answers with k free ``(w, h)`` shapes that
maximise the mean centred IoU with the boxes. A ``flexible_grid_anchor_generator``
with one layer holds exactly such a set, so there the fit can promise not to lose to
it: :func:`kmeans_references` clusters the search boxes (:func:`~tfod_anchors.cluster.
kmeans.iou_kmeans`, k = the layer's shapes, mean and median updates, the median
ones also unpolished) and :mod:`.fit`
makes the best exact mean IoU and the best recall@0.5 of those sets absolute floors
of the guard (``--guard kmeans=off`` drops them) and starts searches from them.
Factorised generators (grid, SSD, multiscale) cannot hold a free set; there the guard
stays relative to the config.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tfod_anchors.fitting.evaluator import Evaluator
from tfod_anchors.fitting.problem import Problem
from tfod_anchors.fitting.sample import Sample


def kmeans_references(problem: Problem, sample: Sample, seed: int
                      ) -> list[tuple[np.ndarray, Any]]:
    """``[(x, generator)]``: IoU k-means sets of ``sample``'s boxes (mean and median
    centroid updates, as the k-means tools use one or the other) as points of a
    one-layer flexible grid's space and as messages; ``[]`` for other generators."""
    out = []
    for update, refine in (("mean", True), ("median", True), ("median", False)):
        ref = kmeans_reference(problem, sample, seed, update, refine)
        if ref is not None:
            out.append(ref)
    return out


#: Unpolished median k-means runs tried; the one whose anchors reach the most search
#: boxes at IoU 0.5 on the grid is kept (that recall varies by up to 0.01 from run to run).
MEDIAN_TRIES = 6


def kmeans_reference(problem: Problem, sample: Sample, seed: int, update: str = "mean",
                     refine: bool = True) -> tuple[np.ndarray, Any] | None:
    """``(x, generator)``: the IoU k-means set of ``sample``'s boxes as a point of a
    one-layer flexible grid's space and as a message; None for other generators.
    ``refine=False`` keeps the Lloyd result as the median k-means tools return it
    (tighter shapes: more recall@0.5, less mean IoU than the polished set); then
    :data:`MEDIAN_TRIES` seeded runs are made and the one whose anchors, laid out on the
    grid, give the search boxes the most recall@0.5 is kept (the first of equals)."""
    from tfod_anchors.cluster.kmeans import iou_kmeans
    from tfod_anchors.errors import TfodAnchorsError

    space = problem.space
    if not space.free_shapes or len(space.shapes_of(space.x0)) != 1:
        return None
    k = len(space.shapes_of(space.x0)[0])
    b = problem.resized.boxes[sample.index]
    wh = np.stack([b[:, 3] - b[:, 1], b[:, 2] - b[:, 0]], axis=1)
    keep = (wh > 0).all(axis=1)
    weight = sample.weight[keep]
    tries = 1 if refine else MEDIAN_TRIES
    try:
        runs = [iou_kmeans(wh[keep], k, seed=seed + 1009 * i, n_init=3, update=update,
                           weights=weight, refine=refine) for i in range(tries)]
    except (TfodAnchorsError, ValueError):  # fewer distinct shapes than anchors
        return None
    xs = [_as_point(space, r.centroids) for r in runs]
    if len(xs) > 1:  # the run whose anchors, laid out on the grid, reach most boxes at 0.5
        ev = Evaluator(problem.geometry(sample.index), sample.weight, space, problem.matched)
        x = max(xs, key=lambda p: float(ev.metrics(ev.best(p))["recall_0.5"]))
    else:
        x = xs[0]
    values = np.exp(x)
    return x, space.write(problem.generator, np.array([float(f"{v:.4g}") for v in values]))


def _as_point(space: Any, centroids: np.ndarray) -> np.ndarray:
    """``[K, 2]`` ``(w, h)`` centroids as a rounded point of a one-layer flexible grid's
    space (base sizes then aspect ratios, by area then ratio)."""
    c = centroids[np.lexsort((centroids[:, 0] / centroids[:, 1],
                              centroids[:, 0] * centroids[:, 1]))]
    return space.rounded(np.log(np.concatenate([np.sqrt(c[:, 0] * c[:, 1]),
                                                c[:, 0] / c[:, 1]])))
