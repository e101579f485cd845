"""Classic anchor clustering over box shapes (the YOLO9000 / TFOD-notebook workflow).

Boxes are reduced to their shape ``(width, height)``; position is ignored, so two
shapes are compared as if both were centred on the same point (YOLO9000's
"distance" ``1 - IoU``). All functions take ``wh`` as float ``[N, 2]`` in one of
two working spaces:

* resized pixels: :func:`resized_wh` of a :class:`~tfod_anchors.boxes.ResizedBoxes`
  (what TFOD's anchors are measured against);
* the YOLO9000 protocol: :func:`normalized_wh` of a :class:`~tfod_anchors.boxes.BoxSet`,
  i.e. ``w / W`` and ``h / H`` of the *original* image (comparable with the paper's
  Table 1 and with lars76's reproduction).

``weights`` (float ``[N]``, >= 0) lets a caller pass deduplicated or binned shapes
with their counts; a weight ``n`` behaves exactly like ``n`` repeated rows.
Everything is seeded and deterministic: the same inputs and seed give the same bytes.

The scikit-learn based methods (Euclidean k-means, ratio × scale, the notebook's
ratios) live in :mod:`tfod_anchors.cluster.baselines`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from tfod_anchors.boxes import BoxSet, ResizedBoxes
from tfod_anchors.errors import InputError, UsageError

#: Rows per block when an ``[N, K]`` IoU matrix is needed; bounds memory for large N.
CHUNK_ROWS = 1 << 16


@dataclass(frozen=True)
class KMeansResult:
    """Outcome of a shape clustering.

    Attributes:
        centroids: float64 ``[K, 2]`` ``(width, height)`` in the input's units,
            sorted by area (then width).
        labels: int64 ``[N]``, index of each box's best-IoU centroid (lowest index on ties).
        mean_iou: weighted mean over boxes of the best IoU to any centroid, in [0, 1].
        n_iter: Lloyd iterations of the kept run (0 when not applicable).
    """

    centroids: np.ndarray
    labels: np.ndarray
    mean_iou: float
    n_iter: int


# --------------------------------------------------------------------------- inputs


def resized_wh(boxes: ResizedBoxes) -> np.ndarray:
    """float64 ``[N, 2]`` ``(width, height)`` in pixels of the resized image."""
    return np.stack([boxes.widths, boxes.heights], axis=1).astype(np.float64)


def normalized_wh(boxes: BoxSet) -> np.ndarray:
    """float64 ``[N, 2]`` ``(w / W, h / H)`` of the original image (YOLO9000 protocol)."""
    b = np.asarray(boxes.boxes, dtype=np.float64)
    return np.stack([b[:, 3] - b[:, 1], b[:, 2] - b[:, 0]], axis=1)


def check_wh(wh, name: str = "wh") -> np.ndarray:
    """Validate box shapes: finite, positive, shape ``[N, 2]`` with N >= 1."""
    arr = np.asarray(wh, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise UsageError(f"{name} must have shape [N, 2] (width, height), got {arr.shape}")
    if arr.shape[0] == 0:
        raise InputError(f"{name}: no boxes to cluster")
    bad = ~(np.isfinite(arr).all(axis=1) & (arr > 0).all(axis=1))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"{name}: {int(bad.sum())} box(es) with a non-positive or non-finite size "
            f"(first: box {i}, w={arr[i, 0]!r}, h={arr[i, 1]!r})"
        )
    return np.ascontiguousarray(arr)


def check_weights(weights, n: int) -> np.ndarray:
    """Validate sample weights: ``[n]``, finite, >= 0, positive sum; None means all ones."""
    if weights is None:
        return np.ones(n, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n,):
        raise UsageError(f"weights must have shape [{n}], got {w.shape}")
    if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise UsageError("weights must be finite, >= 0, with a positive sum")
    return w


def _check_int(value, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise UsageError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


# --------------------------------------------------------------------------- IoU


class _Shapes:
    """Validated shapes as contiguous columns plus weights (internal)."""

    __slots__ = ("w", "h", "area", "wt", "total", "_order")

    def __init__(self, wh: np.ndarray, wt: np.ndarray):
        self.w = np.ascontiguousarray(wh[:, 0])
        self.h = np.ascontiguousarray(wh[:, 1])
        self.area = self.w * self.h
        self.wt, self.total = wt, float(wt.sum())
        self._order: list[np.ndarray] | None = None

    def value_order(self) -> list[np.ndarray]:
        """Stable argsort of widths and of heights (computed once, for medians)."""
        if self._order is None:
            self._order = [np.argsort(v, kind="stable") for v in (self.w, self.h)]
        return self._order

    def __len__(self) -> int:
        return self.w.shape[0]

    def wh(self, idx) -> np.ndarray:
        return np.stack([self.w[idx], self.h[idx]], axis=-1)

    def iou(self, c: np.ndarray, lo: int = 0, hi: int | None = None) -> np.ndarray:
        """float64 ``[hi - lo, K]`` IoU of rows ``lo:hi`` against ``c`` ``[K, 2]``."""
        w, h, a = self.w[lo:hi, None], self.h[lo:hi, None], self.area[lo:hi, None]
        inter = np.minimum(w, c[:, 0])
        inter *= np.minimum(h, c[:, 1])
        union = a + c[:, 0] * c[:, 1]
        union -= inter
        inter /= union
        return inter

    def best(self, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """labels int64 ``[N]`` (lowest index on ties) and best IoU ``[N]``, in row blocks."""
        n = len(self)
        labels = np.empty(n, dtype=np.int64)
        best = np.empty(n, dtype=np.float64)
        for lo in range(0, n, CHUNK_ROWS):
            block = self.iou(c, lo, lo + CHUNK_ROWS)
            lab = block.argmax(axis=1)
            labels[lo : lo + CHUNK_ROWS] = lab
            best[lo : lo + CHUNK_ROWS] = block[np.arange(lab.shape[0]), lab]
        return labels, best

    def mean(self, values: np.ndarray) -> float:
        return float(np.sum(self.wt * values) / self.total)


def iou_wh(wh, centroids) -> np.ndarray:
    """Shape-only IoU of every box against every centroid, both centred.

    Args:
        wh: ``[N, 2]`` positive ``(width, height)``.
        centroids: ``[K, 2]`` positive ``(width, height)``, same units.

    Returns:
        float64 ``[N, K]``: ``min(w)·min(h) / (area_a + area_b - min(w)·min(h))``.
    """
    wh = check_wh(wh)
    return _Shapes(wh, np.ones(len(wh))).iou(check_wh(centroids, "centroids"))


def best_iou(wh, centroids) -> tuple[np.ndarray, np.ndarray]:
    """Best centroid per box without materialising ``[N, K]`` (blocks of :data:`CHUNK_ROWS`).

    Returns:
        labels int64 ``[N]`` (lowest index on ties) and best IoU float64 ``[N]``.
    """
    wh = check_wh(wh)
    return _Shapes(wh, np.ones(len(wh))).best(check_wh(centroids, "centroids"))


def mean_best_iou(wh, centroids, weights=None) -> float:
    """Weighted mean over boxes of the best IoU to any centroid (YOLO9000's "Avg IOU")."""
    wh = check_wh(wh)
    data = _Shapes(wh, check_weights(weights, len(wh)))
    return data.mean(data.best(check_wh(centroids, "centroids"))[1])


def _result(data: _Shapes, centroids: np.ndarray, n_iter: int) -> KMeansResult:
    order = np.lexsort((centroids[:, 0], centroids[:, 0] * centroids[:, 1]))
    c = np.ascontiguousarray(centroids[order], dtype=np.float64)
    labels, best = data.best(c)
    return KMeansResult(c, labels, data.mean(best), int(n_iter))


# --------------------------------------------------------------------------- seeding


def _kmeanspp(data: _Shapes, k: int, rng: np.random.Generator) -> np.ndarray:
    """Greedy k-means++ under distance ``1 - IoU``: ``2 + log k`` weighted draws per
    centre, keeping the one that lowers the potential ``sum w·d²`` most."""
    n, trials = len(data), 2 + int(np.log(k))
    first = min(int(np.searchsorted(np.cumsum(data.wt), rng.random() * data.total, "right")), n - 1)
    centers = [data.wh(first)]
    dist2 = (1.0 - data.best(np.array(centers))[1]) ** 2
    for _ in range(1, k):
        cum = np.cumsum(data.wt * dist2)
        if cum[-1] <= 0:
            raise UsageError(f"k={k} exceeds the number of distinct box shapes ({len(centers)})")
        picks = np.minimum(np.searchsorted(cum, rng.random(trials) * cum[-1], "right"), n - 1)
        best_pot, best_d2, best_pick = np.inf, dist2, -1
        for p in picks:
            d2 = np.minimum(dist2, (1.0 - data.iou(data.wh(p)[None, :])[:, 0]) ** 2)
            pot = float(np.sum(data.wt * d2))
            if pot < best_pot:
                best_pot, best_d2, best_pick = pot, d2, int(p)
        centers.append(data.wh(best_pick))
        dist2 = best_d2
    return np.array(centers, dtype=np.float64)


def _forgy(data: _Shapes, k: int, rng: np.random.Generator) -> np.ndarray:
    """k boxes of distinct shape, drawn with probability proportional to weight."""
    shapes, inverse = np.unique(data.wh(slice(None)), axis=0, return_inverse=True)
    mass = np.bincount(inverse.reshape(-1), weights=data.wt, minlength=shapes.shape[0])
    live = np.flatnonzero(mass > 0)
    if live.size < k:
        raise UsageError(f"k={k} exceeds the number of distinct box shapes ({live.size})")
    pick = rng.choice(live, size=k, replace=False, p=mass[live] / mass[live].sum())
    return shapes[np.sort(pick)].astype(np.float64)


# --------------------------------------------------------------------------- Lloyd


def _cluster_medians(values, by_value, weights, labels, k, mass) -> np.ndarray:
    """Weighted median of ``values`` per cluster, ``[k]`` (NaN where ``mass`` is 0).

    ``by_value`` is a stable argsort of ``values``. A weight of n counts as n copies,
    with np.median's convention: when the half mass falls exactly between two
    values, their average.
    """
    order = by_value[np.argsort(labels[by_value], kind="stable")]
    v, cum = values[order], np.cumsum(weights[order])
    base = np.concatenate([[0.0], np.cumsum(mass)[:-1]])
    live = np.flatnonzero(mass > 0)
    half = base[live] + mass[live] / 2.0
    lo = np.searchsorted(cum, half, side="left")
    hi = np.minimum(np.searchsorted(cum, half, side="right"), v.size - 1)
    out = np.full(k, np.nan)
    out[live] = np.where(cum[lo] == half, (v[lo] + v[hi]) / 2.0, v[lo])
    return out


def _update(data: _Shapes, labels: np.ndarray, k: int, update: str):
    """New centroids ``[k, 2]`` (NaN rows for empty clusters) and cluster mass ``[k]``."""
    mass = np.bincount(labels, weights=data.wt, minlength=k)
    if update == "mean":
        sw = np.bincount(labels, weights=data.wt * data.w, minlength=k)
        sh = np.bincount(labels, weights=data.wt * data.h, minlength=k)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.stack([sw / mass, sh / mass], axis=1), mass
    cols = [
        _cluster_medians(col, order, data.wt, labels, k, mass)
        for col, order in zip((data.w, data.h), data.value_order())
    ]
    return np.stack(cols, axis=1), mass


#: A run stops once its mean IoU has not reached a new best for this many iterations.
PATIENCE = 10


def _lloyd(data: _Shapes, init: np.ndarray, update: str, max_iter: int,
           tol: float) -> tuple[np.ndarray, float, int]:
    """Lloyd iterations from ``init`` until the assignment repeats, the largest relative
    centroid move is ``<= tol``, :data:`PATIENCE` iterations pass without a new best,
    or ``max_iter``. Returns ``(centroids, mean IoU, iterations run)`` of the best
    state seen in which every cluster holds positive weight: with distance ``1 - IoU``
    neither update is sure to raise the mean IoU at every step (the mean update often
    peaks early, then drifts down to its fixed point)."""
    k = init.shape[0]
    c, prev, state, done, last_best = init.copy(), None, (init, -1.0), False, 0
    for it in range(max_iter + 1):
        labels, best = data.best(c)
        new_c, mass = _update(data, labels, k, update)
        val = data.mean(best)
        if val > state[1] and (mass > 0).all():
            state, last_best = (c, val), it
        if done or it == max_iter or it - last_best >= PATIENCE:
            break
        if prev is not None and np.array_equal(prev, labels):
            break
        empty = np.flatnonzero(mass <= 0)
        if empty.size:
            # Re-seed each dead centroid to one of the worst-served boxes of positive weight.
            live = np.flatnonzero(data.wt > 0)
            new_c[empty] = data.wh(live[np.argsort(best[live], kind="stable")[: empty.size]])
        done = not empty.size and float(np.max(np.abs(new_c - c) / c)) <= tol
        prev, c = labels, new_c
    return state[0], state[1], it


# --------------------------------------------------------------------------- polish

_MOVES = np.array([[1, 0], [-1, 0], [0, 1], [0, -1], [1, 1], [-1, -1], [1, -1], [-1, 1]], float)


#: Upper bound on refinement sweeps (each sweep tries every move of every centroid once).
MAX_SWEEPS = 200


def _refine(data: _Shapes, c: np.ndarray, step: float, min_step: float) -> np.ndarray:
    c = c.copy()
    k = c.shape[0]
    cols = np.empty((len(data), k), dtype=np.float32)
    for lo in range(0, len(data), CHUNK_ROWS):
        cols[lo : lo + CHUNK_ROWS] = data.iou(c, lo, lo + CHUNK_ROWS)
    for _ in range(MAX_SWEEPS):
        if step < min_step:
            break
        improved = False
        for j in range(k):
            others = np.zeros(len(data))
            if k > 1:
                others = np.delete(cols, j, axis=1).max(axis=1).astype(np.float64)
            cur_col = data.iou(c[j : j + 1])[:, 0]
            cur = float(np.sum(data.wt * np.maximum(others, cur_col)))
            for mv in _MOVES:
                cand = c[j] * np.exp(step * mv)
                col = data.iou(cand[None, :])[:, 0]
                val = float(np.sum(data.wt * np.maximum(others, col)))
                if val > cur * (1.0 + 1e-12):
                    c[j], cur, cur_col, improved = cand, val, col, True
            cols[:, j] = cur_col
        if not improved:
            step /= 2.0
    return c


def refine_centroids(wh, centroids, weights=None, *, step=0.05, min_step=1e-4) -> np.ndarray:
    """Local polish that directly maximises the weighted mean best IoU.

    Pattern search in log space, one centroid at a time: moves of ``±step`` in log
    width, log height, both (scale) and opposite (aspect); any move that raises the
    objective is kept; ``step`` halves when a sweep finds none, down to ``min_step``
    (at most :data:`MAX_SWEEPS` sweeps). Never lowers the objective. Each trial costs
    O(N); memory O(N·K) float32.

    Returns:
        float64 ``[K, 2]`` centroids, in the order given.
    """
    wh = check_wh(wh)
    data = _Shapes(wh, check_weights(weights, len(wh)))
    if not (0 < min_step <= step):
        raise UsageError(f"need 0 < min_step <= step, got step={step}, min_step={min_step}")
    return _refine(data, check_wh(centroids, "centroids"), float(step), float(min_step))


def _subsample(data: _Shapes, m: int, rng: np.random.Generator) -> _Shapes:
    """``m`` draws with replacement, probability ∝ weight; duplicates become counts."""
    idx = rng.choice(len(data), size=m, replace=True, p=data.wt / data.total)
    idx, counts = np.unique(idx, return_counts=True)
    return _Shapes(data.wh(idx), counts.astype(np.float64))


# --------------------------------------------------------------------------- public fits


@dataclass(frozen=True)
class KMeansOptions:
    """How :func:`iou_kmeans` searches: ``n_init`` restarts seeded by ``init``
    (``"k-means++"`` or ``"forgy"``), each a Lloyd loop with a ``"mean"`` or ``"median"``
    ``update`` for at most ``max_iter`` iterations or until centroids move by at most
    ``tol`` (relative); ``refine`` polishes the best run; above ``sample_size`` boxes
    (None: never) the search runs on a weighted sample."""

    n_init: int = 10
    update: str = "mean"
    init: str = "k-means++"
    max_iter: int = 300
    tol: float = 1e-4
    refine: bool = True
    sample_size: int | None = 50_000

    def checked(self) -> KMeansOptions:
        """These options validated (:class:`UsageError` naming the first bad one), with
        integer counts as Python ints. ``sample_size`` is checked against ``k`` by
        :func:`iou_kmeans`."""
        n_init = _check_int(self.n_init, "n_init", 1)
        max_iter = _check_int(self.max_iter, "max_iter", 0)
        if self.update not in ("mean", "median"):
            raise UsageError(f"update must be 'mean' or 'median', got {self.update!r}")
        if self.init not in ("k-means++", "forgy"):
            raise UsageError(f"init must be 'k-means++' or 'forgy', got {self.init!r}")
        tol = self.tol
        if not isinstance(tol, (int, float)) or not np.isfinite(tol) or tol < 0:
            raise UsageError(f"tol must be a number >= 0, got {tol!r}")
        return replace(self, n_init=n_init, max_iter=max_iter)


def _best_run(work: _Shapes, k: int, options: KMeansOptions,
              seeds: list[np.random.SeedSequence]) -> tuple[np.ndarray, int]:
    """``(centroids [k, 2], iterations)`` of the best of one Lloyd run per seed, by
    weighted mean IoU on ``work`` (the first run wins ties)."""
    best: tuple[np.ndarray, float, int] | None = None
    for ss in seeds:
        rng = np.random.default_rng(ss)
        start = _kmeanspp(work, k, rng) if options.init == "k-means++" else _forgy(work, k, rng)
        run = _lloyd(work, start, options.update, options.max_iter, float(options.tol))
        if best is None or run[1] > best[1]:
            best = run
    assert best is not None  # n_init >= 1
    return best[0], best[2]


def _polished(data: _Shapes, work: _Shapes, centroids: np.ndarray) -> np.ndarray:
    """``centroids`` after :func:`_refine` on ``work``, kept only if no worse on all of
    ``data`` (always kept when ``work`` is ``data``)."""
    polished = _refine(work, centroids, 0.05, 1e-4)
    if work is data or data.mean(data.best(polished)[1]) >= data.mean(data.best(centroids)[1]):
        return polished
    return centroids


def iou_kmeans(wh, k: int, *, seed: int = 0, weights=None, **options) -> KMeansResult:
    """K-means on box shapes with distance ``1 - IoU`` (YOLO9000), done carefully.

    Each of ``n_init`` runs starts from k-means++ seeding under the IoU distance (or
    ``init="forgy"``: k distinct boxes, lars76 style), then alternates best-IoU
    assignment with a ``"mean"`` or ``"median"`` update until the assignment stops
    changing, the largest relative centroid move is ``<= tol``, :data:`PATIENCE`
    iterations bring no new best, or ``max_iter``. A cluster that empties is
    re-seeded to the worst-served box: none is dead. Each run yields its best state
    (under the IoU distance a Lloyd step can lower the mean IoU), the best run by
    weighted mean IoU is kept, and with ``refine`` it is polished by
    :func:`refine_centroids` (direct maximisation of the mean IoU).

    When N exceeds ``sample_size``, seeding, restarts and polish run on a seeded
    weighted sample of ``sample_size`` draws (cost flat in N); labels and
    ``mean_iou`` are always over all boxes. ``sample_size=None`` uses every box.

    Args:
        wh: ``[N, 2]`` positive ``(width, height)``.
        k: number of centroids, ``1 <= k <=`` number of distinct shapes.
        weights: optional ``[N]`` sample weights (e.g. counts of binned shapes).
        seed: seeds every random choice (restarts use independent child seeds).
        options: the fields of :class:`KMeansOptions` (``n_init``, ``update``, ``init``,
            ``max_iter``, ``tol``, ``refine``, ``sample_size``), by keyword.

    Returns:
        :class:`KMeansResult`, centroids sorted by area.
    """
    wh = check_wh(wh)
    data = _Shapes(wh, check_weights(weights, len(wh)))
    k = _check_int(k, "k", 1)
    opts = KMeansOptions(**options).checked()
    seeds = np.random.SeedSequence(_check_int(seed, "seed", 0)).spawn(opts.n_init + 1)
    work = data
    if opts.sample_size is not None and len(data) > _check_int(opts.sample_size,
                                                               "sample_size", k):
        work = _subsample(data, opts.sample_size, np.random.default_rng(seeds[-1]))
    centroids, n_iter = _best_run(work, k, opts, seeds[:opts.n_init])
    if opts.refine:
        centroids = _polished(data, work, centroids)
    return _result(data, centroids, n_iter)


def elbow(wh, ks, **kwargs) -> list[tuple[int, float]]:
    """``[(k, mean_iou), ...]`` of :func:`iou_kmeans` for each k in ``ks`` (same kwargs)."""
    return [(int(k), iou_kmeans(wh, k, **kwargs).mean_iou) for k in ks]
