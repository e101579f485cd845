"""Turn cluster centroids (box shapes in resized pixels) into TFOD generator fields.

Centroids are float ``[K, 2]`` ``(width, height)`` in pixels of the resized
(padded) network input, e.g. :func:`tfod_anchors.cluster.kmeans.iou_kmeans` on
:func:`tfod_anchors.cluster.kmeans.resized_wh`. Every mapping returns a plain dict of
proto field values (the config writer turns it into a proto); numbers are rounded
to :data:`DECIMALS` places and lists are sorted ascending, so the output is
deterministic. Aspect ratio is TFOD's ``width / height`` throughout.

TFOD's shape formulas (``tile_anchors``): an anchor of scale ``s`` and ratio ``a``
on a base ``(base_h, base_w)`` is ``h = s / sqrt(a) · base_h``, ``w = s · sqrt(a) · base_w``.
Hence ``s = sqrt(w·h) / sqrt(base_h·base_w)`` and ``a = (w/h) · (base_h/base_w)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tfod_anchors.cluster.kmeans import check_weights, check_wh
from tfod_anchors.errors import UsageError

#: Decimal places of every number written into a config.
DECIMALS = 4


def _rounded(values) -> list[float]:
    """Sorted distinct values rounded to :data:`DECIMALS` places, as Python floats."""
    return sorted({float(v) for v in np.round(np.asarray(values, dtype=np.float64), DECIMALS)})


def _check_pair(pair, name: str) -> tuple[float, float]:
    vals = tuple(float(v) for v in pair)
    if len(vals) != 2 or not all(np.isfinite(v) and v > 0 for v in vals):
        raise UsageError(f"{name} must be two positive numbers (height, width), got {pair!r}")
    return vals


def scale_ratio(centroids, base_size=(256.0, 256.0)) -> tuple[np.ndarray, np.ndarray]:
    """Per-centroid TFOD ``(scale, aspect_ratio)`` for a base anchor ``(base_h, base_w)``.

    Returns:
        scales float64 ``[K]`` and aspect ratios float64 ``[K]`` (unrounded).
    """
    c = check_wh(centroids, "centroids")
    bh, bw = _check_pair(base_size, "base_size")
    return np.sqrt(c[:, 0] * c[:, 1] / (bh * bw)), (c[:, 0] / c[:, 1]) * (bh / bw)


def grid_shapes(scales, aspect_ratios, base_size=(256.0, 256.0)) -> np.ndarray:
    """float64 ``[R·S, 2]`` ``(w, h)`` that ``grid_anchor_generator`` builds per location,
    in TFOD's order (aspect ratio outer, scale inner)."""
    bh, bw = _check_pair(base_size, "base_size")
    a, s = np.meshgrid(np.asarray(aspect_ratios, float), np.asarray(scales, float), indexing="ij")
    return np.stack([(s * np.sqrt(a) * bw).ravel(), (s / np.sqrt(a) * bh).ravel()], axis=1)


def optimal_1d(values, m: int, weights=None) -> np.ndarray:
    """Exact weighted 1-D k-means (dynamic programming over sorted values).

    Args:
        values: ``[n]`` numbers (meant for small n, e.g. centroid log-scales).
        m: number of centres, ``1 <= m <=`` number of distinct values.

    Returns:
        float64 ``[m]`` ascending centres (weighted means of contiguous groups).
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    w = check_weights(weights, v.size)
    uniq, inv = np.unique(v, return_inverse=True)
    wu = np.bincount(inv.ravel(), weights=w, minlength=uniq.size)
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or not 1 <= m <= uniq.size:
        raise UsageError(f"cannot make {m!r} groups from {uniq.size} distinct values")
    n = uniq.size
    cw, cx, cxx = (np.concatenate([[0.0], np.cumsum(x)]) for x in (wu, wu * uniq, wu * uniq**2))

    def sse(i: int, j: int) -> float:  # cost of group uniq[i:j]
        sw = cw[j] - cw[i]
        return 0.0 if sw <= 0 else cxx[j] - cxx[i] - (cx[j] - cx[i]) ** 2 / sw

    cost = np.full((m + 1, n + 1), np.inf)
    cut = np.zeros((m + 1, n + 1), dtype=np.int64)
    cost[0, 0] = 0.0
    for g in range(1, m + 1):
        for j in range(g, n + 1):
            for i in range(g - 1, j):
                val = cost[g - 1, i] + sse(i, j)
                if val < cost[g, j] - 1e-15:
                    cost[g, j], cut[g, j] = val, i
    centres, j = [], n
    for g in range(m, 0, -1):
        i = int(cut[g, j])
        sw = cw[j] - cw[i]
        centres.append((cx[j] - cx[i]) / sw if sw > 0 else float(uniq[i:j].mean()))
        j = i
    return np.array(centres[::-1])


def _factor(values, m: int | None, weights) -> np.ndarray:
    """Positive ``values`` reduced to ``m`` geometric cluster centres (all when None)."""
    if m is None:
        return np.asarray(values, dtype=np.float64)
    return np.exp(optimal_1d(np.log(values), m, weights))


# --------------------------------------------------------------------------- grid


def grid_naive(centroids, *, base_size=(256.0, 256.0)) -> dict:
    """``grid_anchor_generator`` fields the notebook's way: every centroid's scale and
    every centroid's ratio. TFOD takes the Cartesian product, so K centroids give up
    to K² anchors per location, not K."""
    s, a = scale_ratio(centroids, base_size)
    return {"scales": _rounded(s), "aspect_ratios": _rounded(a)}


def grid_factorised(
    centroids, n_scales: int, n_ratios: int, *, base_size=(256.0, 256.0), weights=None
) -> dict:
    """``grid_anchor_generator`` fields whose ``n_scales × n_ratios`` product best fits
    the centroids in log space.

    In ``(log s, log a)`` coordinates the product is a grid, and the squared distance
    from a centroid to its nearest grid node splits into a scale term plus a ratio
    term; so the optimum is an exact 1-D k-means of the centroids' log-scales and,
    separately, of their log-ratios (``weights`` ``[K]``, e.g. cluster sizes).
    """
    s, a = scale_ratio(centroids, base_size)
    return {
        "scales": _rounded(_factor(s, n_scales, weights)),
        "aspect_ratios": _rounded(_factor(a, n_ratios, weights)),
    }


# --------------------------------------------------------------------------- ssd


def ssd_from_centroids(
    centroids,
    image_shape,
    *,
    num_layers: int = 6,
    n_ratios: int | None = None,
    scales: str = "range",
    base_anchor_size=(1.0, 1.0),
    weights=None,
) -> dict:
    """``ssd_anchor_generator`` fields. Scales are fractions of ``min(H, W)`` of the
    padded input ``image_shape = (H, W)``; the base anchor ``(height, width)`` is the
    proto's ``base_anchor_height/width``.

    ``aspect_ratios``: every centroid's ratio (the notebook's choice) or, with
    ``n_ratios``, the best ``n_ratios`` in log space. Scales: ``"range"`` gives
    ``min_scale``/``max_scale`` spanning the centroids (TFOD interpolates linearly
    over ``num_layers``); ``"explicit"`` gives ``scales``, ``num_layers`` values
    clustered from the centroids' log-scales (needs ``K >= num_layers``).
    Note TFOD's lowest layer ignores both when ``reduce_boxes_in_lowest_layer``.
    """
    h_img, w_img = _check_pair(image_shape, "image_shape")
    bh, bw = _check_pair(base_anchor_size, "base_anchor_size")
    c = check_wh(centroids, "centroids")
    s = np.sqrt(c[:, 0] * c[:, 1] / (bh * bw)) / min(h_img, w_img)
    ratios = _factor((c[:, 0] / c[:, 1]) * (bh / bw), n_ratios, weights)
    out: dict[str, Any] = {"aspect_ratios": _rounded(ratios)}
    if scales == "range":
        out["min_scale"], out["max_scale"] = _rounded([s.min()])[0], _rounded([s.max()])[0]
    elif scales == "explicit":
        if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 1:
            raise UsageError(f"num_layers must be a positive integer, got {num_layers!r}")
        fitted = np.round(_factor(s, num_layers, weights), DECIMALS)
        if np.unique(fitted).size < num_layers:
            raise UsageError(f"need {num_layers} distinct centroid scales for explicit SSD scales")
        out["scales"] = [float(v) for v in fitted]
    else:
        raise UsageError(f"scales must be 'range' or 'explicit', got {scales!r}")
    return out


# --------------------------------------------------------------------------- multiscale


def _rungs(min_level: int, max_level: int, spo: int) -> tuple[np.ndarray, np.ndarray]:
    """log2 offsets ``l + q/spo`` of every multiscale size relative to ``anchor_scale``,
    and the level of each."""
    args = (min_level, max_level, spo)
    ints = [isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in args]
    if not all(ints) or spo < 1 or min_level > max_level:
        raise UsageError("need integers min_level <= max_level and scales_per_octave >= 1")
    levels = np.repeat(np.arange(min_level, max_level + 1), spo)
    return levels + np.tile(np.arange(spo) / spo, max_level - min_level + 1), levels


def multiscale_anchor_scale(
    sizes, *, min_level: int = 3, max_level: int = 7, scales_per_octave: int = 2, weights=None
) -> float:
    """The ``anchor_scale`` A whose ladder ``A·2^(l + q/spo)`` (all levels, octave
    steps) is closest to ``sizes`` (``sqrt(w·h)`` in pixels) in weighted squared
    log2 distance. Exact: the objective is piecewise quadratic in ``log2 A``, so every
    piece between breakpoints is solved in closed form. Ties go to the A nearest 4."""
    u = np.log2(np.asarray(sizes, dtype=np.float64).ravel())
    w = check_weights(weights, u.size)
    rungs, _ = _rungs(min_level, max_level, scales_per_octave)
    mids = (rungs[1:] + rungs[:-1]) / 2.0
    brk = np.unique((u[:, None] - mids[None, :]).ravel())
    edges = np.concatenate([[brk[0] - 1.0], brk, [brk[-1] + 1.0]])
    best = (np.inf, np.inf, 2.0)
    for lo, hi in zip(edges[:-1], edges[1:]):
        mid = (lo + hi) / 2.0
        idx = np.abs((u - mid)[:, None] - rungs[None, :]).argmin(axis=1)
        a = float(np.clip(np.sum(w * (u - rungs[idx])) / w.sum(), lo, hi))
        resid = u - a
        cost = float(np.sum(w * np.min((resid[:, None] - rungs[None, :]) ** 2, axis=1)))
        key = (round(cost, 12), abs(a - 2.0), a)
        if key < best:
            best = key
    return float(2.0 ** best[2])


def box_levels(wh, anchor_scale: float, *, min_level=3, max_level=7, scales_per_octave=2):
    """int64 ``[N]`` pyramid level of each box: the level of the multiscale size
    ``anchor_scale·2^(l + q/spo)`` nearest to ``sqrt(w·h)`` in log space."""
    b = check_wh(wh)
    rungs, levels = _rungs(min_level, max_level, scales_per_octave)
    u = 0.5 * np.log2(b[:, 0] * b[:, 1]) - np.log2(float(anchor_scale))
    return levels[np.abs(u[:, None] - rungs[None, :]).argmin(axis=1)].astype(np.int64)


def multiscale_from_centroids(
    centroids,
    *,
    min_level: int = 3,
    max_level: int = 7,
    scales_per_octave: int = 2,
    n_ratios: int | None = None,
    weights=None,
) -> dict:
    """``multiscale_anchor_generator`` fields ``anchor_scale`` and ``aspect_ratios``
    (levels and ``scales_per_octave`` belong to the network and stay as given).
    Base anchors are square, so a centroid's ratio is its ``w / h``."""
    c = check_wh(centroids, "centroids")
    scale = multiscale_anchor_scale(
        np.sqrt(c[:, 0] * c[:, 1]),
        min_level=min_level,
        max_level=max_level,
        scales_per_octave=scales_per_octave,
        weights=weights,
    )
    return {
        "anchor_scale": _rounded([scale])[0],
        "aspect_ratios": _rounded(_factor(c[:, 0] / c[:, 1], n_ratios, weights)),
    }


# --------------------------------------------------------------------------- flexible grid


def flexible_grid_from_layers(centroids_per_layer: Sequence) -> dict:
    """``flexible_grid_anchor_generator`` ``anchor_grid`` entries, one per layer, from
    each layer's own centroids: ``base_sizes = sqrt(w·h)``, ``aspect_ratios = w/h``,
    paired element-wise (TFOD does not take a product here), ordered by size then
    ratio. Strides and offsets are left to the existing config."""
    grids = []
    for i, layer in enumerate(centroids_per_layer):
        c = check_wh(layer, f"centroids of layer {i}")
        pairs = sorted(
            {
                (round(float(s), DECIMALS), round(float(a), DECIMALS))
                for s, a in zip(np.sqrt(c[:, 0] * c[:, 1]), c[:, 0] / c[:, 1])
            }
        )
        grids.append({"base_sizes": [p[0] for p in pairs], "aspect_ratios": [p[1] for p in pairs]})
    return {"anchor_grid": grids}


def flexible_grid_from_centroids(centroids, layer_sizes) -> dict:
    """Split one centroid set over layers (each centroid to the layer whose nominal
    size in ``layer_sizes`` ``[L]`` pixels is nearest in log space), then
    :func:`flexible_grid_from_layers`. Raises when a layer gets no centroid: cluster
    per layer instead (TFOD would give that layer no anchors)."""
    c = check_wh(centroids, "centroids")
    sizes = np.asarray(layer_sizes, dtype=np.float64).ravel()
    if sizes.size == 0 or not (np.isfinite(sizes).all() and (sizes > 0).all()):
        raise UsageError("layer_sizes must be positive numbers, one per layer")
    u = 0.5 * np.log(c[:, 0] * c[:, 1])
    layer = np.abs(u[:, None] - np.log(sizes)[None, :]).argmin(axis=1)
    empty = [i for i in range(sizes.size) if not (layer == i).any()]
    if empty:
        raise UsageError(f"no centroid falls on layer(s) {empty}; cluster each layer's boxes")
    return flexible_grid_from_layers([c[layer == i] for i in range(sizes.size)])


# --------------------------------------------------------------------------- dispatch


def generator_fields(
    generator,
    centroids,
    *,
    padded_shape=None,
    num_scales: int | None = None,
    num_ratios: int | None = None,
    scales_per_octave: int | None = None,
    weights=None,
) -> dict:
    """The fields of an ``AnchorGenerator`` message's oneof implied by centroids
    ``[K, 2]`` ``(w, h)`` in resized pixels, through the mapping of its kind.

    Counts default to the message's own (clamped to ``K``): ``num_scales`` and
    ``num_ratios`` for the grid's product, ``num_ratios`` for SSD and multiscale,
    ``scales_per_octave`` for multiscale. ``padded_shape`` ``(H, W)`` is needed for
    SSD (its scales are fractions of ``min(H, W)``).

    Raises:
        UsageError: a kind without a centroid mapping (flexible grids are fitted
            per layer), or centroids the mapping cannot use.
    """
    from tfod_anchors.frameworks.tfod_generators import GENERATORS

    kind = generator.WhichOneof("anchor_generator_oneof")
    record = GENERATORS.get(kind or "")
    if record is None or record.centroid_fields is None:
        raise UsageError(f"no centroid mapping for {kind or 'an empty generator'}: "
                         "use `fit` for flexible grids")
    counts = CentroidCounts(num_scales, num_ratios, scales_per_octave)
    return record.centroid_fields(getattr(generator, kind), centroids, padded_shape, counts,
                                  weights)


@dataclass(frozen=True)
class CentroidCounts:
    """Counts asked of a centroid mapping (None: the message's own, clamped to ``K``)."""

    num_scales: int | None = None
    num_ratios: int | None = None
    scales_per_octave: int | None = None


def grid_fields(msg, centroids, padded_shape, counts: CentroidCounts, weights) -> dict:
    """``grid_anchor_generator``: the factorised ``scales`` x ``aspect_ratios``."""
    k = len(centroids)
    n_s = counts.num_scales or min(len(msg.scales) or 4, k)
    n_a = counts.num_ratios or min(len(msg.aspect_ratios) or 3, k)
    return grid_factorised(centroids, n_s, n_a, base_size=(float(msg.height),
                                                          float(msg.width)),
                           weights=weights)


def _num_ratios(msg, centroids, counts: CentroidCounts) -> int:
    return min(len(msg.aspect_ratios), len(centroids)) if counts.num_ratios is None \
        else counts.num_ratios


def ssd_fields(msg, centroids, padded_shape, counts: CentroidCounts, weights) -> dict:
    """``ssd_anchor_generator``: layer scales (fractions of ``min(H, W)``) and ratios."""
    if padded_shape is None:
        raise UsageError("ssd_anchor_generator needs the padded input shape")
    n_r = _num_ratios(msg, centroids, counts)
    return ssd_from_centroids(
        centroids, padded_shape, num_layers=int(msg.num_layers), n_ratios=n_r or None,
        base_anchor_size=(float(msg.base_anchor_height), float(msg.base_anchor_width)),
        weights=weights)


def multiscale_fields(msg, centroids, padded_shape, counts: CentroidCounts, weights) -> dict:
    """``multiscale_anchor_generator``: ``anchor_scale`` and ratios on its levels."""
    n_r = _num_ratios(msg, centroids, counts)
    return multiscale_from_centroids(
        centroids, min_level=int(msg.min_level), max_level=int(msg.max_level),
        scales_per_octave=counts.scales_per_octave or int(msg.scales_per_octave),
        n_ratios=n_r or None, weights=weights)


def with_fields(generator, fields: dict):
    """A copy of the ``AnchorGenerator`` message ``generator`` whose oneof message has
    ``fields`` (from :func:`generator_fields`) set; lists replace repeated fields."""
    out = type(generator)()
    out.CopyFrom(generator)
    msg = getattr(out, generator.WhichOneof("anchor_generator_oneof"))
    for name, value in fields.items():
        if isinstance(value, list):
            msg.ClearField(name)
            getattr(msg, name).extend(value)
        else:
            setattr(msg, name, value)
    return out
