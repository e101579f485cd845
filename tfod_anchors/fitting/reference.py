"""The classic answer as a floor: IoU k-means anchors, where the generator can hold them.

Every other anchor tool (YOLOv5 AutoAnchor, the MMDetection/MMYOLO optimisers, TF
Model Garden, the k-means scripts) answers with k free ``(w, h)`` shapes that
maximise the mean centred IoU with the boxes. A ``flexible_grid_anchor_generator``
with one layer holds exactly such a set, so there the fit can promise not to lose to
it: :func:`kmeans_references` clusters the search boxes (:func:`~tfod_anchors.cluster.
kmeans.iou_kmeans`, k = the layer's shapes, mean and median updates) and :mod:`.fit`
makes the best exact mean IoU and the best recall@0.5 of those sets absolute floors
of the guard (``--guard kmeans=off`` drops them) and starts searches from them.
Factorised generators (grid, SSD, multiscale) cannot hold a free set; there the guard
stays relative to the config.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tfod_anchors.fitting.problem import Problem
from tfod_anchors.fitting.sample import Sample


def kmeans_references(problem: Problem, sample: Sample, seed: int
                      ) -> list[tuple[np.ndarray, Any]]:
    """``[(x, generator)]``: IoU k-means sets of ``sample``'s boxes (mean and median
    centroid updates, as the k-means tools use one or the other) as points of a
    one-layer flexible grid's space and as messages; ``[]`` for other generators."""
    out = []
    for update in ("mean", "median"):
        ref = kmeans_reference(problem, sample, seed, update)
        if ref is not None:
            out.append(ref)
    return out


def kmeans_reference(problem: Problem, sample: Sample, seed: int, update: str = "mean"
                     ) -> tuple[np.ndarray, Any] | None:
    """``(x, generator)``: the IoU k-means set of ``sample``'s boxes as a point of a
    one-layer flexible grid's space and as a message; None for other generators."""
    from tfod_anchors.cluster.kmeans import iou_kmeans
    from tfod_anchors.errors import TfodAnchorsError

    space = problem.space
    if problem.kind != "flexible_grid_anchor_generator" or len(space.shapes_of(space.x0)) != 1:
        return None
    k = len(space.shapes_of(space.x0)[0])
    b = problem.resized.boxes[sample.index]
    wh = np.stack([b[:, 3] - b[:, 1], b[:, 2] - b[:, 0]], axis=1)
    keep = (wh > 0).all(axis=1)
    try:
        res = iou_kmeans(wh[keep], k, seed=seed, n_init=3, update=update,
                         weights=sample.weight[keep])
    except (TfodAnchorsError, ValueError):  # fewer distinct shapes than anchors
        return None
    c = res.centroids[np.lexsort((res.centroids[:, 0] / res.centroids[:, 1],
                                  res.centroids[:, 0] * res.centroids[:, 1]))]
    x = np.log(np.concatenate([np.sqrt(c[:, 0] * c[:, 1]), c[:, 0] / c[:, 1]]))
    x = space.rounded(x)
    values = np.exp(x)
    return x, space.write(problem.generator, np.array([float(f"{v:.4g}") for v in values]))
