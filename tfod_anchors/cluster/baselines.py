"""Anchor clustering with scikit-learn: the YOLO9000 baseline and the TFOD notebook's methods.

Plain Euclidean k-means on ``(width, height)``, 1-D k-means, aspect ratios and scales
clustered separately, and the notebook's ratio picking. Inputs, weights and results
follow :mod:`tfod_anchors.cluster.kmeans` (``wh`` float ``[N, 2]``, optional ``weights [N]``);
every function is seeded. scikit-learn is imported only when one of them runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tfod_anchors.cluster.kmeans import (
    KMeansResult,
    _check_int,
    _result,
    _Shapes,
    check_weights,
    check_wh,
)
from tfod_anchors.errors import UsageError


def euclidean_kmeans(wh, k: int, *, seed: int = 0, n_init: int = 10, weights=None) -> KMeansResult:
    """Plain k-means on ``(width, height)`` (YOLO9000's "Cluster SSE"), via scikit-learn.

    ``labels`` and ``mean_iou`` of the result are by best IoU, for comparison.
    """
    from sklearn.cluster import KMeans

    wh = check_wh(wh)
    data = _Shapes(wh, check_weights(weights, len(wh)))
    k = _check_int(k, "k", 1)
    n_init, seed = _check_int(n_init, "n_init", 1), _check_int(seed, "seed", 0)
    model = KMeans(n_clusters=k, n_init=n_init, random_state=seed)
    model.fit(wh, sample_weight=data.wt)
    c = model.cluster_centers_.astype(np.float64)
    if len(np.unique(c, axis=0)) < k or not (c > 0).all():
        raise UsageError(f"k={k} exceeds the number of distinct box shapes")
    return _result(data, c, int(model.n_iter_))


def kmeans_1d(values, k: int, *, seed: int = 0, weights=None, n_init: int = 10) -> np.ndarray:
    """Sorted ``[k]`` centres of a weighted 1-D k-means (scikit-learn, seeded)."""
    from sklearn.cluster import KMeans

    v = np.asarray(values, dtype=np.float64).reshape(-1, 1)
    k = _check_int(k, "k", 1)
    if np.unique(v).size < k:
        raise UsageError(f"cannot make {k} clusters from {np.unique(v).size} distinct values")
    model = KMeans(n_clusters=k, n_init=n_init, random_state=_check_int(seed, "seed", 0))
    model.fit(v, sample_weight=weights)
    return np.sort(model.cluster_centers_[:, 0])


@dataclass(frozen=True)
class RatioScaleResult:
    """Aspect ratios and scales clustered separately (the seed notebook's third method).

    Attributes:
        ratios: float64 ``[R]`` ascending aspect ratios ``w / h``.
        scales: float64 ``[S]`` ascending scales ``sqrt(w · h)`` (input units).
        centroids: float64 ``[R·S, 2]`` ``(w, h)`` of every ratio × scale pair, by area.
        mean_iou: weighted mean best IoU of the boxes to those ``R·S`` shapes.
    """

    ratios: np.ndarray
    scales: np.ndarray
    centroids: np.ndarray
    mean_iou: float


def ratio_scale_kmeans(
    wh, n_ratios: int, n_scales: int, *, seed: int = 0, weights=None
) -> RatioScaleResult:
    """Cluster ``log(w/h)`` into ``n_ratios`` and ``log(sqrt(w·h))`` into ``n_scales``
    (independent 1-D k-means), and score the Cartesian product of the two."""
    wh = check_wh(wh)
    data = _Shapes(wh, check_weights(weights, len(wh)))
    w = data.wt
    ratios = np.exp(kmeans_1d(np.log(wh[:, 0] / wh[:, 1]), n_ratios, seed=seed, weights=w))
    scales = np.exp(kmeans_1d(0.5 * np.log(wh[:, 0] * wh[:, 1]), n_scales, seed=seed, weights=w))
    r, s = np.meshgrid(ratios, scales, indexing="ij")
    c = np.stack([(s * np.sqrt(r)).ravel(), (s / np.sqrt(r)).ravel()], axis=1)
    res = _result(data, c, 0)
    return RatioScaleResult(ratios, scales, res.centroids, res.mean_iou)


def notebook_ratios(wh, k: int, *, seed: int = 0, weights=None) -> np.ndarray:
    """Aspect ratios the way TFOD's k-means notebook picks them: scikit-learn
    ``KMeans(init="random", max_iter=500)`` on area-normalised shapes
    ``(w, h) / sqrt(w·h)``; returns the ``k`` centroid ratios ``w / h``, ascending."""
    from sklearn.cluster import KMeans

    wh = check_wh(wh)
    w = check_weights(weights, len(wh))
    unit = wh / np.sqrt(wh[:, :1] * wh[:, 1:])
    k, seed = _check_int(k, "k", 1), _check_int(seed, "seed", 0)
    model = KMeans(k, init="random", n_init=10, max_iter=500, random_state=seed)
    c = model.fit(unit, sample_weight=w).cluster_centers_
    return np.sort(c[:, 0] / c[:, 1])
