"""Positive anchors: how many anchors of a level have IoU ``>= t`` with each box.

Builds on the per-axis model of :mod:`tfod_anchors.coverage.best_iou` (cells split into the
intervals M, L, LR and R; see its docstring), which also gives each (box, shape) pair's
best IoU.

Positives (IoU ``>= t``) are counted only for pairs whose best IoU reaches ``t``, row
by row. ``IoU >= t`` is ``(1 + t) oy ox - t ly lx >= t A_box``; with ``ox <= lx`` it
bounds the rows that can hold a positive, and inside a row each interval's positives
form a run of cells whose ends are solved in closed form. A solved end within ``1e-6``
cell of a grid cell is settled by a literal IoU test of that cell, and a row whose
threshold sits on a plateau is counted cell by cell, so counts match a literal
evaluation, ties included.
"""

from __future__ import annotations

import numpy as np

from tfod_anchors.anchors.layout import AnchorLayout
from tfod_anchors.coverage.best_iou import (
    _FAR,
    _REL_TOL,
    _Axis,
    _clamp,
    _layout_columns,
    _level_best,
    _threshold,
)

# (box, shape) pairs counted per vectorised step; each pair expands to the rows of
# cells it can reach, so this stays well below best_iou's step.
_POSITIVE_PAIRS_PER_STEP = 1 << 14
# Solved run ends closer than this (in cells) to a cell are settled literally.
_CELL_TOL = 1e-6


def _literal(ax: _Axis, j, k, b0, b1, clip: bool):
    """Overlap with ``[b0, b1]`` and extent of shape ``k`` at cell ``j``, as TFOD lays it out."""
    centre = ax.offset + j * ax.stride
    lo, hi = centre - ax.half[k], centre + ax.half[k]
    if clip:
        lo, hi = _clamp(lo, 0.0, ax.extent), _clamp(hi, 0.0, ax.extent)
    return np.maximum(np.minimum(b1, hi) - np.maximum(b0, lo), 0.0), hi - lo


def _iou(oy, ly, ox, lx, area):
    inter = oy * ox
    return np.where(inter > 0.0, inter / (area + ly * lx - inter), 0.0)


def _cell(ax: _Axis, pos):
    """Real-valued cell index of pixel position ``pos``."""
    return (pos - ax.offset) * ax.inv_stride


def _run(x_lo, x_hi, lo_cell, hi_cell, feasible, check):
    """Number of cells ``ceil(x_lo)..floor(x_hi)`` within ``lo_cell..hi_cell``.

    An end within ``_CELL_TOL`` of a cell is settled by ``check(cells, mask)``, a
    literal IoU test of those cells, instead of by rounding.
    """
    # Infeasible entries get an empty run whose ends are far from any cell.
    x_lo, x_hi = np.where(feasible, x_lo, 0.5), np.where(feasible, x_hi, -0.5)
    lo, r = np.ceil(x_lo + _CELL_TOL), np.ceil(x_lo - _CELL_TOL)
    near = lo != r
    if near.any():
        near &= (r >= lo_cell) & (r <= hi_cell)
        lo[near] = np.where(check(r, near), r, r + 1.0)[near]
    hi, r = np.floor(x_hi - _CELL_TOL), np.floor(x_hi + _CELL_TOL)
    near = hi != r
    if near.any():
        near &= (r >= lo_cell) & (r <= hi_cell)
        hi[near] = np.where(check(r, near), r, r - 1.0)[near]
    np.maximum(lo, lo_cell, out=lo)
    np.minimum(hi, hi_cell, out=hi)
    hi -= lo
    hi += 1.0
    np.maximum(hi, 0.0, out=hi)
    return np.where(feasible, hi, 0.0)


def _side_runs(ax: _Axis, k, p, q, r0, w0, w1):
    """Runs of one-side-clipped cells where ``p * o - q * l >= r0`` (all terms >= 0).

    ``o``: overlap with ``[w0, w1]`` (inside the window); ``l``: clipped extent. On L the
    anchor is ``[0, e]``: the test is linear in ``e`` on ``[w0, w1]`` and only loses past
    ``w1``, so it holds for ``e in [(r0 + p w0) / (p - q), (p (w1 - w0) - r0) / q]`` if it
    holds at ``e = w1``. R is the mirror image in ``u = E - s``.

    Returns ``(x_lo, x_hi, lo_cell, hi_cell, feasible, tie)`` for L then R, in cell units;
    ``tie`` flags a peak within rounding of ``r0``.
    """
    ext, half, inv, off = ax.extent, ax.half[k], ax.inv_stride, ax.offset
    pw = p * (w1 - w0)
    hi = (pw - r0) / q
    runs = []
    for far, gap in ((w1, w0), (ext - w0, ext - w1)):
        qf = q * far
        g = pw - qf
        tie = np.abs(g - r0) <= _REL_TOL * (pw + qf + r0)
        lo = (r0 + p * gap) / (p - q)
        runs.append((lo, (p > q) & (g >= r0), tie))
    (l_lo, l_ok, l_tie), (r_lo, r_ok, r_tie) = runs
    has_left = ax.half_left[k] > -_FAR
    return [(((l_lo - half) - off) * inv, ((hi - half) - off) * inv, 0.0,
             np.where(has_left, ax.left_hi[k], -1.0), l_ok, l_tie),
            (((ext - hi + half) - off) * inv, ((ext - r_lo + half) - off) * inv,
             ax.right_lo[k], ax.n - 1.0, r_ok, r_tie)]


def _row_cells(ay: _Axis, ax: _Axis, k, boxes, policy: str, t: float):
    """Rows ``(pair, row)`` that can hold a positive, for pairs ``(boxes[i], k[i])``.

    Necessary: unclipped rows need ``(1 + t) oy min(aw, wb) >= t (A_box + ah aw)``;
    clipped ones ``(1 + t) oy - t ly >= t A_box / min(aw, wb)`` (as ``ox <= lx``).
    Each interval's solution is widened by a cell against rounding, then clamped to it.
    """
    y0, x0, y1, x1 = boxes.T
    area = (y1 - y0) * (x1 - x0)
    w0, w1 = (y0, y1) if policy == "none" else (_clamp(y0, 0.0, ay.extent),
                                                 _clamp(y1, 0.0, ay.extent))
    wx0, wx1 = (x0, x1) if policy == "none" else (_clamp(x0, 0.0, ax.extent),
                                                   _clamp(x1, 0.0, ax.extent))
    hb, ah, aw = w1 - w0, ay.length[k], ax.length[k]
    ox_max = np.minimum(aw, wx1 - wx0)
    ok = (ox_max > 0) & (hb > 0) & (area > 0)
    if policy == "clip":
        c0 = t * area / ox_max
        v = (c0 + t * ah) / (1.0 + t)
    else:
        v = t * (area + ah * aw) / ((1.0 + t) * ox_max)
    reach = (ah + hb) / 2.0 - v
    centre = (w0 + w1) / 2.0
    runs = [(_cell(ay, centre - reach), _cell(ay, centre + reach), ay.unclipped_lo[k],
             ay.unclipped_hi[k], ok & (v <= np.minimum(ah, hb) * (1.0 + _REL_TOL)))]
    if policy == "clip":
        for x_lo, x_hi, lo_cell, hi_cell, feas, tie in _side_runs(ay, k, 1.0 + t, t, c0, w0, w1):
            runs.append((x_lo, x_hi, lo_cell, hi_cell, ok & (feas | tie)))
        feas = ok & ((1.0 + t) * hb - t * ay.extent >= c0 * (1.0 - _REL_TOL))
        runs.append((ay.both_lo[k], ay.both_hi[k], ay.both_lo[k], ay.both_hi[k], feas))
    pairs, rows = [], []
    for x_lo, x_hi, lo_cell, hi_cell, feas in runs:
        lo = np.maximum(np.ceil(np.where(feas, x_lo, 0.0)) - 1.0, lo_cell)
        hi = np.minimum(np.floor(np.where(feas, x_hi, -1.0)) + 1.0, hi_cell)
        counts = np.where(feas, np.maximum(hi - lo + 1.0, 0.0), 0.0).astype(np.int64)
        total = int(counts.sum())
        if total:
            pair = np.repeat(np.arange(counts.shape[0]), counts)
            first = np.cumsum(counts) - counts
            pairs.append(pair)
            rows.append(lo[pair] + (np.arange(total) - first[pair]))
    if not pairs:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    return np.concatenate(pairs), np.concatenate(rows)


def _count_pairs(boxes: np.ndarray, k: np.ndarray, ay: _Axis, ax: _Axis, policy: str,
                 t: float) -> np.ndarray:
    """Positives (IoU ``>= t``) of shape ``k[i]`` for box ``boxes[i]``; int64 ``[m]``."""
    m = boxes.shape[0]
    pair, row = _row_cells(ay, ax, k, boxes, policy, t)
    if pair.shape[0] == 0:
        return np.zeros(m, dtype=np.int64)
    clip = policy == "clip"
    # Per pair first (cheap), then spread to the rows ("items").
    y0, x0, y1, x1 = boxes.T
    area = (y1 - y0) * (x1 - x0)
    wx0, wx1 = (x0, x1) if policy == "none" else (_clamp(x0, 0.0, ax.extent),
                                                   _clamp(x1, 0.0, ax.extent))
    aw, wb = ax.length[k], wx1 - wx0
    top = np.minimum(aw, wb)
    c_lo = ((wx0 + wx1) * 0.5 - (aw + wb) * 0.5 - ax.offset) * ax.inv_stride
    c_hi = ((wx0 + wx1) * 0.5 + (aw + wb) * 0.5 - ax.offset) * ax.inv_stride
    ki = k[pair]
    oy, ly = _literal(ay, row, ki, y0[pair], y1[pair], clip)

    def check(cells, mask):
        sel = np.nonzero(mask)[0]
        res = np.zeros(mask.shape, dtype=bool)
        ps = pair[sel]
        ox, lx = _literal(ax, cells[sel], ki[sel], x0[ps], x1[ps], clip)
        res[sel] = _iou(oy[sel], ly[sel], ox, lx, area[ps]) >= t
        return res

    has = oy > 0
    p = (1.0 + t) * oy
    # Unclipped cells: need ox >= v, a run of cells around the box centre.
    if clip:
        v = (t * area)[pair]
        v += ly * (t * aw)[pair]
        v /= p
    else:  # ly is the anchor height (up to rounding, which the end checks absorb)
        v = ((t / (1.0 + t)) * (area + ay.length[k] * aw))[pair] / oy
    top_i = top[pair]
    tie = has & (np.abs(v - top_i) <= _REL_TOL * top_i)
    feasible = has & (v <= top_i)
    v *= ax.inv_stride
    cnt = _run(c_lo[pair] + v, c_hi[pair] - v, ax.unclipped_lo[ki], ax.unclipped_hi[ki],
               feasible, check)
    if clip:
        for x_lo, x_hi, lo_cell, hi_cell, feas, side_tie in _side_runs(
                ax, ki, p, t * ly, (t * area)[pair], wx0[pair], wx1[pair]):
            cnt += _run(x_lo, x_hi, lo_cell, hi_cell, has & feas, check)
            tie |= has & side_tie
        # Cells clipped on both sides all hold the anchor [0, W]: one test settles them.
        b_lo, b_hi = ax.both_lo[ki], ax.both_hi[ki]
        both = b_hi >= b_lo
        if both.any():
            cnt += np.where(check(b_lo, both), b_hi - b_lo + 1.0, 0.0)
    if tie.any():
        sel = np.nonzero(tie)[0]
        ps = pair[sel]
        cells = np.arange(ax.n, dtype=np.float64)[None, :]
        kk = ki[sel][:, None]
        ox, lx = _literal(ax, cells, kk, x0[ps][:, None], x1[ps][:, None], clip)
        hit = _iou(oy[sel][:, None], ly[sel][:, None], ox, lx, area[ps][:, None]) >= t
        if policy == "prune":
            hit &= (cells >= ax.unclipped_lo[kk]) & (cells <= ax.unclipped_hi[kk])
        cnt[sel] = hit.sum(axis=1)
    return np.rint(np.bincount(pair, weights=cnt, minlength=m)).astype(np.int64)


def _positives(boxes: np.ndarray, axes: tuple[_Axis, _Axis] | None, best: np.ndarray,
               policy: str, threshold: float, pos: np.ndarray) -> np.ndarray:
    """Positives ``[N, K]`` (int64) of one level, written into ``pos`` and returned.

    ``boxes``, ``axes`` and ``best`` as :func:`_level_best` returns them (``axes`` None:
    no box, shape or cell, so no positives); ``threshold`` already validated.
    """
    pos[...] = 0
    if axes is None:
        return pos
    ay, ax = axes
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        # A pair can only have positives if its best IoU reaches the threshold.
        bi, ki = np.nonzero(best >= threshold * (1.0 - _REL_TOL))
        step = _POSITIVE_PAIRS_PER_STEP
        for s in range(0, bi.shape[0], step):
            b, kk = bi[s:s + step], ki[s:s + step]
            pos[b, kk] = _count_pairs(boxes[b], kk, ay, ax, policy, threshold)
    return pos


def level_positives(
    boxes: np.ndarray,
    padded_shape: tuple[int, int],
    grid_shape: tuple[int, int],
    stride: tuple[float, float],
    offset: tuple[float, float],
    sizes: np.ndarray,
    window_policy: str,
    threshold: float,
) -> np.ndarray:
    """int64 ``[N, K]``: per box and shape, how many of the level's anchors (after the
    window policy) have IoU ``>= threshold`` (in ``(0, 1]``) with the box. Other
    arguments as :func:`~tfod_anchors.coverage.best_iou.level_best_iou`."""
    t = _threshold(threshold)
    boxes, axes, best = _level_best(boxes, padded_shape, grid_shape, stride, offset, sizes,
                                    window_policy)
    return _positives(boxes, axes, best, window_policy, t, np.zeros(best.shape, np.int64))


def layout_search(boxes: np.ndarray, layout: AnchorLayout,
                  threshold: float | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Best IoU ``[N, S]`` over every level of ``layout`` (columns in ``layout_shapes``
    order) and, given a threshold, the positive counts ``[N, S]`` (else None)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    t = None if threshold is None else _threshold(threshold)
    columns, total = _layout_columns(layout)
    best = np.zeros((boxes.shape[0], total), dtype=np.float64)
    pos = None if t is None else np.zeros((boxes.shape[0], total), dtype=np.int64)
    for lv, c in columns:
        checked, axes, level_best = _level_best(boxes, layout.padded_shape, lv.grid_shape,
                                                lv.stride, lv.offset, lv.sizes,
                                                layout.window_policy, best[:, c])
        if t is not None and pos is not None:
            _positives(checked, axes, level_best, layout.window_policy, t, pos[:, c])
    return best, pos
