"""Exact best IoU of each box over every position of each anchor shape.

A level of anchors is a regular grid (:class:`~tfod_anchors.anchors.layout.AnchorLevel`):
cell ``i`` on an axis has its centre at ``offset + i * stride`` and every cell carries
the same ``K`` shapes. For one box and one shape we want the best IoU over all cells
without visiting them all.

Geometry used (continuous coordinates, IoU = ``o / (A_box + A_anchor - o)``):

* The overlap is separable, ``o = oy * ox``, and so is the anchor area ``ly * lx``
  (its extent after clipping).
* The window policies are separable too: pruning keeps the cells whose anchor lies
  inside ``[0, E]`` on both axes, an interval of cells per axis and shape ("M");
  clipping splits an axis into at most four intervals: left-clipped only ("L"),
  both sides clipped ("LR", every anchor there is ``[0, E]``), unclipped ("M"),
  right-clipped only ("R").
* For any fixed choice on the other axis the IoU is unimodal along each interval:
  on M it only depends on the overlap, a symmetric trapezoid around the box centre,
  so the cell nearest the centre (clamped into M) wins; on L the anchor is
  ``[0, e]`` and the IoU rises with ``e`` up to the box's far edge ``b1`` and falls
  after it (a ratio of linear functions with a non-negative derivative, then a
  growing area at constant overlap), so one of the two cells bracketing
  ``e = b1`` wins; R is the mirror image (``s = b0``); LR is constant.

So per axis at most five cells can win whatever the other axis does (M, two on L,
two on R; LR stands in for M when M is empty), and the best IoU is the best of their
pairings. The overlap and area of each candidate are computed literally (centre as
``offset + i * stride``, corners ``centre -/+ size / 2``, clamped to the window), the
same float64 arithmetic as evaluating the full anchor list.

Positive anchors (IoU at or above a threshold) are counted row by row: the rows that
can hold one follow from ``o >= t * A_box`` (and for unclipped anchors from
``(1 + t) o >= t (A_box + A_anchor)``); inside a row each interval's positives are a
run of cells whose ends are solved in closed form. Rows where a solved end falls
within ``1e-6`` cell of a grid cell, or the threshold sits on a plateau, are counted
literally instead, so counts agree with a literal evaluation even at exact ties.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tfod_anchors.anchors.layout import AnchorLayout
from tfod_anchors.errors import UsageError

WINDOW_POLICIES = ("none", "prune", "clip")

# (box, shape) pairs handled per vectorised step; bounds temporary memory.
_PAIRS_PER_STEP = 1 << 12
# Solved interval ends closer than this (in cells) to a grid cell are re-checked literally.
_CELL_TOL = 1e-6
_REL_TOL = 1e-9


@dataclass(frozen=True)
class _Axis:
    """One axis of one level, for its K anchor lengths (all arrays ``[K]``).

    Cell intervals are half-open ``[start, stop)``; an empty one has ``stop <= start``.
    ``mid`` is the unclipped (unpruned) interval, ``left`` the left-clipped-only cells
    ``[0, left_stop)``, ``both`` the cells clipped on both sides, ``right`` the
    right-clipped-only cells ``[right_start, n)``. With policy ``none`` everything is
    ``mid``; with ``prune`` only ``mid`` exists.
    """

    n: int
    offset: float
    stride: float
    extent: float
    length: np.ndarray
    half: np.ndarray
    mid_start: np.ndarray
    mid_stop: np.ndarray
    left_stop: np.ndarray
    both_start: np.ndarray
    both_stop: np.ndarray
    right_start: np.ndarray


def _axis(n: int, offset: float, stride: float, extent: float, length: np.ndarray,
          policy: str) -> _Axis:
    k = length.shape[0]
    half = length / 2.0
    zeros = np.zeros(k, dtype=np.int64)
    full = np.full(k, n, dtype=np.int64)
    if policy == "none":
        return _Axis(n, offset, stride, extent, length, half, zeros, full, zeros, zeros, zeros,
                     full)
    centre = offset + np.arange(n, dtype=np.float64) * stride
    # Corners grow with the cell index (float rounding is monotone), so each test is a prefix.
    n_left = (centre[None, :] - half[:, None] < 0.0).sum(axis=1).astype(np.int64)
    n_right_ok = (centre[None, :] + half[:, None] <= extent).sum(axis=1).astype(np.int64)
    mid_start, mid_stop = n_left, np.maximum(n_left, n_right_ok)
    if policy == "prune":
        return _Axis(n, offset, stride, extent, length, half, mid_start, mid_stop, zeros, zeros,
                     zeros, full)
    left_stop = np.minimum(n_left, n_right_ok)
    both_start, both_stop = n_right_ok, np.maximum(n_right_ok, n_left)
    right_start = np.maximum(n_left, n_right_ok)
    return _Axis(n, offset, stride, extent, length, half, mid_start, mid_stop, left_stop,
                 both_start, both_stop, right_start)


def _extent(ax: _Axis, j: np.ndarray, k: np.ndarray | slice, clip: bool):
    """Anchor ``(lo, hi)`` at cell index ``j`` (float) for shapes ``k``, as TFOD lays it out."""
    centre = ax.offset + j * ax.stride
    half = ax.half[k]
    lo, hi = centre - half, centre + half
    if clip:
        lo = np.minimum(np.maximum(lo, 0.0), ax.extent)
        hi = np.minimum(np.maximum(hi, 0.0), ax.extent)
    return lo, hi


def _overlap_len(ax: _Axis, j, k, b0, b1, clip: bool):
    """Literal overlap with ``[b0, b1]`` and anchor extent at cell ``j``."""
    lo, hi = _extent(ax, j, k, clip)
    return np.maximum(0.0, np.minimum(b1, hi) - np.maximum(b0, lo)), hi - lo


def _clamp(x, start, stop):
    """Clamp float cell indices into ``[start, stop - 1]`` (result meaningless if empty)."""
    return np.minimum(np.maximum(x, start), stop - 1)


def _cell(ax: _Axis, pos):
    """Real-valued cell index of pixel position ``pos`` on this axis."""
    return (pos - ax.offset) / ax.stride if ax.stride > 0 else np.zeros_like(pos)


def _iou(oy, ly, ox, lx, area_box):
    inter = oy * ox
    union = area_box + ly * lx - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(inter > 0.0, inter / union, 0.0)


def _window_box(ax: _Axis, b0, b1, policy: str):
    """The part of the box the anchors can overlap (the box itself when nothing is
    clipped or pruned, else its intersection with ``[0, E]``)."""
    if policy == "none":
        return b0, b1
    return np.minimum(np.maximum(b0, 0.0), ax.extent), np.minimum(np.maximum(b1, 0.0), ax.extent)


def _axis_candidates(ax: _Axis, b0, b1, policy: str):
    """Candidate ``(overlap, extent)`` per slot, arrays ``[slots, n, K]``.

    ``b0, b1``: ``[n, 1]`` box edges on this axis. Slot 0 is the best unclipped cell
    (or the both-clipped cell when no unclipped one exists); with ``clip`` slots 1-2
    bracket the left-clipped peak and 3-4 the right-clipped peak. Slots on an empty
    interval get overlap 0.
    """
    w0, w1 = _window_box(ax, b0, b1, policy)
    m_empty = ax.mid_stop <= ax.mid_start
    start = np.where(m_empty, ax.both_start, ax.mid_start)
    stop = np.where(m_empty, ax.both_stop, ax.mid_stop)
    j_mid = _clamp(np.floor(_cell(ax, (w0 + w1) / 2.0) + 0.5), start, stop)
    clip = policy == "clip"
    o, ln = _overlap_len(ax, j_mid, slice(None), b0, b1, clip)
    o = np.where(stop > start, o, 0.0)
    if not clip:
        return o[None], ln[None]
    os_, ls_ = [o], [ln]
    left = np.floor(_cell(ax, w1 - ax.half))
    right = np.floor(_cell(ax, w0 + ax.half))
    for base, rs, re in ((left, 0, ax.left_stop), (right, ax.right_start, ax.n)):
        ok = re > rs
        for step in (0.0, 1.0):
            o, ln = _overlap_len(ax, _clamp(base + step, rs, re), slice(None), b0, b1, True)
            os_.append(np.where(ok, o, 0.0))
            ls_.append(ln)
    return np.stack(os_), np.stack(ls_)


def _best_chunk(boxes: np.ndarray, ay: _Axis, ax: _Axis, policy: str) -> np.ndarray:
    y0, x0, y1, x1 = (boxes[:, i:i + 1] for i in range(4))
    area_box = (y1 - y0) * (x1 - x0)
    oy, ly = _axis_candidates(ay, y0, y1, policy)
    ox, lx = _axis_candidates(ax, x0, x1, policy)
    if oy.shape[0] == 1:
        return _iou(oy[0], ly[0], ox[0], lx[0], area_box)
    best = np.zeros(oy.shape[1:], dtype=np.float64)
    for p in range(oy.shape[0]):
        iou = _iou(oy[p][None], ly[p][None], ox, lx, area_box[None]).max(axis=0)
        np.maximum(best, iou, out=best)
    return best


def _run(x_lo, x_hi, start, stop, feasible, check):
    """Count the cells ``ceil(x_lo)..floor(x_hi)`` inside ``[start, stop)``.

    ``x_lo``/``x_hi`` are real-valued cell indices of the ends of a run of positives;
    an end lying within ``_CELL_TOL`` of a cell is settled by ``check(cells, mask)``
    (a literal IoU test of those cells) instead of by rounding.
    """
    with np.errstate(invalid="ignore"):
        x_lo = np.where(feasible, x_lo, 0.0)
        x_hi = np.where(feasible, x_hi, -1.0)
        lo, hi = np.ceil(x_lo), np.floor(x_hi)
        r_lo, r_hi = np.rint(x_lo), np.rint(x_hi)
        near_lo = feasible & (np.abs(x_lo - r_lo) < _CELL_TOL) & (r_lo >= start) & (r_lo < stop)
        near_hi = feasible & (np.abs(x_hi - r_hi) < _CELL_TOL) & (r_hi >= start) & (r_hi < stop)
    if near_lo.any():
        lo = np.where(near_lo, np.where(check(r_lo, near_lo), r_lo, r_lo + 1.0), lo)
    if near_hi.any():
        hi = np.where(near_hi, np.where(check(r_hi, near_hi), r_hi, r_hi - 1.0), hi)
    lo, hi = np.maximum(lo, start), np.minimum(hi, stop - 1)
    return np.where(feasible, np.maximum(hi - lo + 1.0, 0.0), 0.0)


def _side_runs(ax: _Axis, k, p, q, r0, w0, w1):
    """Runs of cells with ``p * o - q * l >= r0`` among the one-side-clipped cells.

    ``o``/``l`` are the overlap with ``[w0, w1]`` (inside the window) and the clipped
    length. Left-clipped anchors are ``[0, e]``: on ``[w0, w1]`` the test is linear in
    ``e`` and past ``w1`` the overlap stops growing, so it holds on
    ``e in [(r0 + p w0) / (p - q), (p (w1 - w0) - r0) / q]`` when it holds at ``e = w1``.
    Right-clipped anchors ``[s, E]`` are the mirror image in ``u = E - s``.

    Returns two ``(x_lo, x_hi, start, stop, feasible, tie)`` runs (left, right) in cell
    index units; ``tie`` flags a peak within rounding of ``r0``.
    """
    wb, ext, half = w1 - w0, ax.extent, ax.half[k]
    runs = []
    for far, near_gap, sign in ((w1, w0, 1.0), (ext - w0, ext - w1, -1.0)):
        g = p * wb - q * far
        feasible = (p > q) & (g >= r0)
        tie = np.abs(g - r0) <= _REL_TOL * (np.abs(p * wb) + np.abs(q * far) + np.abs(r0))
        lo = (r0 + p * near_gap) / (p - q)
        hi = (p * wb - r0) / q
        if sign > 0:
            runs.append((_cell(ax, lo - half), _cell(ax, hi - half), 0, ax.left_stop[k],
                         feasible, tie))
        else:
            runs.append((_cell(ax, ext - hi + half), _cell(ax, ext - lo + half),
                         ax.right_start[k], ax.n, feasible, tie))
    return runs


def _row_runs(ay: _Axis, aw: np.ndarray, boxes, policy: str, t: float, wb):
    """Rows (cell runs on y, ``[n, K]`` float ``lo``/``hi``, inclusive) that can hold a positive.

    Necessary conditions: unclipped anchors need
    ``(1 + t) oy * min(aw, wb) >= t (A_box + ah * aw)``; clipped ones need
    ``(1 + t) oy - t ly >= t A_box / min(aw, wb)`` (from ``ox <= lx``). Each region's
    solution is widened by one cell against rounding, then clamped to the region.
    """
    y0, y1 = boxes[:, 0:1], boxes[:, 2:3]
    area_box = (y1 - y0) * (boxes[:, 3:4] - boxes[:, 1:2])
    w0, w1 = _window_box(ay, y0, y1, policy)
    hb, ah = w1 - w0, ay.length
    ox_max = np.minimum(aw, wb)
    ok = (ox_max > 0) & (hb > 0) & (area_box > 0)
    clip = policy == "clip"
    with np.errstate(divide="ignore", invalid="ignore"):
        if clip:
            c0 = t * area_box / ox_max
            v = (c0 + t * ah) / (1.0 + t)
        else:
            v = t * (area_box + ah * aw) / ((1.0 + t) * ox_max)
        feasible = ok & (v <= np.minimum(ah, hb) * (1.0 + _REL_TOL))
        reach = (ah + hb) / 2.0 - v
        centre = (w0 + w1) / 2.0
        runs = [(_cell(ay, centre - reach), _cell(ay, centre + reach), ay.mid_start,
                 ay.mid_stop, feasible)]
        if clip:
            for x_lo, x_hi, start, stop, feas, tie in _side_runs(
                    ay, slice(None), 1.0 + t, t, c0, w0, w1):
                runs.append((x_lo, x_hi, start, stop, ok & (feas | tie)))
            feas = ok & ((1.0 + t) * hb - t * ay.extent >= c0 * (1.0 - _REL_TOL))
            runs.append((ay.both_start - 0.0, ay.both_stop - 1.0, ay.both_start, ay.both_stop,
                         feas))
    out = []
    for x_lo, x_hi, start, stop, feas in runs:
        with np.errstate(invalid="ignore"):
            lo = np.maximum(np.ceil(np.where(feas, x_lo, 0.0)) - 1.0, start)
            hi = np.minimum(np.floor(np.where(feas, x_hi, -1.0)) + 1.0, stop - 1)
        out.append((lo, np.where(feas, hi, lo - 1.0)))
    return out


def _positives_chunk(boxes: np.ndarray, ay: _Axis, ax: _Axis, policy: str,
                     t: float) -> np.ndarray:
    n, k = boxes.shape[0], ay.length.shape[0]
    clip = policy == "clip"
    wx0, wx1 = _window_box(ax, boxes[:, 1:2], boxes[:, 3:4], policy)
    wb = wx1 - wx0
    pairs, rows = [], []
    for lo, hi in _row_runs(ay, ax.length, boxes, policy, t, wb):
        counts = np.maximum(hi - lo + 1.0, 0.0).astype(np.int64).ravel()
        total = int(counts.sum())
        if total:
            pair = np.repeat(np.arange(n * k), counts)
            first = np.cumsum(counts) - counts
            pairs.append(pair)
            rows.append(lo.ravel()[pair] + (np.arange(total) - first[pair]))
    if not pairs:
        return np.zeros((n, k), dtype=np.int64)
    pair, row = np.concatenate(pairs), np.concatenate(rows)
    total = pair.shape[0]
    bi, ki = pair // k, pair % k
    y0, x0, y1, x1 = (boxes[bi, i] for i in range(4))
    area_box = (y1 - y0) * (x1 - x0)
    wx0, wx1, wb = wx0[bi, 0], wx1[bi, 0], wb[bi, 0]
    aw = ax.length[ki]
    oy, ly = _overlap_len(ay, row, ki, y0, y1, clip)

    def check(cells, mask):
        res = np.zeros(mask.shape, dtype=bool)
        sel = np.nonzero(mask)[0]
        ox, lx = _overlap_len(ax, cells[sel], ki[sel], x0[sel], x1[sel], clip)
        res[sel] = _iou(oy[sel], ly[sel], ox, lx, area_box[sel]) >= t
        return res

    cnt = np.zeros(total, dtype=np.float64)
    has = oy > 0
    p = (1.0 + t) * oy
    cx = (wx0 + wx1) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        # Unclipped cells: need ox >= v, a run of cells around the box centre.
        v = t * (area_box + ly * aw) / p
        top = np.minimum(aw, wb)
        tie = has & (np.abs(v - top) <= _REL_TOL * top)
        reach = (aw + wb) / 2.0 - v
        cnt += _run(_cell(ax, cx - reach), _cell(ax, cx + reach), ax.mid_start[ki],
                    ax.mid_stop[ki], has & (v <= top), check)
        if clip:
            for x_lo, x_hi, start, stop, feas, side_tie in _side_runs(
                    ax, ki, p, t * ly, t * area_box, wx0, wx1):
                cnt += _run(x_lo, x_hi, start, stop, has & feas, check)
                tie |= has & side_tie
            # Cells clipped on both sides all hold the anchor [0, W].
            b_start, b_stop = ax.both_start[ki], ax.both_stop[ki]
            both = b_stop > b_start
            if both.any():
                cnt += np.where(check(b_start.astype(np.float64), both), b_stop - b_start, 0)
    if tie.any():
        cnt[tie] = _literal_row_count(ax, np.nonzero(tie)[0], ki, x0, x1, oy, ly, area_box,
                                      policy, t)
    out = np.bincount(pair, weights=cnt, minlength=n * k)
    return np.rint(out).astype(np.int64).reshape(n, k)


def _literal_row_count(ax: _Axis, sel, ki, x0, x1, oy, ly, area_box, policy, t):
    """Positives of the rows ``sel`` by evaluating every cell (ties on a plateau)."""
    cells = np.arange(ax.n, dtype=np.float64)[None, :]
    k = ki[sel][:, None]
    ox, lx = _overlap_len(ax, cells, k, x0[sel][:, None], x1[sel][:, None], policy == "clip")
    hit = _iou(oy[sel][:, None], ly[sel][:, None], ox, lx, area_box[sel][:, None]) >= t
    if policy == "prune":
        hit &= (cells >= ax.mid_start[k]) & (cells < ax.mid_stop[k])
    return hit.sum(axis=1).astype(np.float64)


def _validate(boxes, padded_shape, grid_shape, stride, offset, sizes, window_policy):
    if window_policy not in WINDOW_POLICIES:
        raise UsageError(f"window_policy must be one of {WINDOW_POLICIES}, got {window_policy!r}")
    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise UsageError(f"boxes must have shape [N, 4], got {boxes.shape}")
    sizes = np.asarray(sizes, dtype=np.float64)
    if sizes.ndim != 2 or sizes.shape[1] != 2:
        raise UsageError(f"anchor sizes must have shape [K, 2], got {sizes.shape}")
    fh, fw = (int(v) for v in grid_shape)
    sy, sx = (float(v) for v in stride)
    if fh < 0 or fw < 0:
        raise UsageError(f"grid_shape must be non-negative, got {tuple(grid_shape)}")
    if (fh > 1 and not sy > 0) or (fw > 1 and not sx > 0):
        raise UsageError(f"anchor strides must be positive, got {tuple(stride)}")
    h, w = (float(v) for v in padded_shape)
    oy, ox = (float(v) for v in offset)
    return boxes, (h, w), (fh, fw), (sy, sx), (oy, ox), sizes


def _axes(padded_shape, grid_shape, stride, offset, sizes, policy):
    ay = _axis(grid_shape[0], offset[0], stride[0], padded_shape[0], sizes[:, 0], policy)
    ax = _axis(grid_shape[1], offset[1], stride[1], padded_shape[1], sizes[:, 1], policy)
    return ay, ax


def level_best_iou(
    boxes: np.ndarray,
    padded_shape: tuple[int, int],
    grid_shape: tuple[int, int],
    stride: tuple[float, float],
    offset: tuple[float, float],
    sizes: np.ndarray,
    window_policy: str,
) -> np.ndarray:
    """Best IoU of each box over every position of each anchor shape on one level.

    Args:
        boxes: float64 ``[N, 4]`` ``[ymin, xmin, ymax, xmax]`` in pixels of the padded image.
        padded_shape: ``(H, W)``; the window is ``[0, 0, H, W]``.
        grid_shape: ``(fh, fw)`` cells; stride ``(sy, sx)`` and offset ``(oy, ox)`` in
            pixels: cell ``(i, j)`` is centred at ``(oy + i * sy, ox + j * sx)``.
        sizes: ``[K, 2]`` anchor ``(height, width)`` in pixels.
        window_policy: ``"none"`` (keep all anchors), ``"prune"`` (drop anchors with a
            corner strictly outside the window) or ``"clip"`` (clamp corners to the
            window; zero-area anchors stay with IoU 0).

    Returns:
        float64 ``[N, K]``: exactly the maximum over all cells of the literal IoU (0 when
        the shape has no anchor left, e.g. everything pruned).
    """
    boxes, hw, grid, strides, offsets, sizes = _validate(
        boxes, padded_shape, grid_shape, stride, offset, sizes, window_policy)
    n, k = boxes.shape[0], sizes.shape[0]
    out = np.zeros((n, k), dtype=np.float64)
    if n == 0 or k == 0 or grid[0] == 0 or grid[1] == 0:
        return out
    ay, ax = _axes(hw, grid, strides, offsets, sizes, window_policy)
    step = max(1, _PAIRS_PER_STEP // k)
    for s in range(0, n, step):
        out[s:s + step] = _best_chunk(boxes[s:s + step], ay, ax, window_policy)
    return out


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
    window policy) have IoU ``>= threshold`` with the box. Arguments as
    :func:`level_best_iou`; ``threshold`` in ``(0, 1]``."""
    boxes, hw, grid, strides, offsets, sizes = _validate(
        boxes, padded_shape, grid_shape, stride, offset, sizes, window_policy)
    t = float(threshold)
    if not 0.0 < t <= 1.0:
        raise UsageError(f"IoU threshold must be in (0, 1], got {threshold!r}")
    n, k = boxes.shape[0], sizes.shape[0]
    out = np.zeros((n, k), dtype=np.int64)
    if n == 0 or k == 0 or grid[0] == 0 or grid[1] == 0:
        return out
    ay, ax = _axes(hw, grid, strides, offsets, sizes, window_policy)
    step = max(1, _PAIRS_PER_STEP // k)
    for s in range(0, n, step):
        out[s:s + step] = _positives_chunk(boxes[s:s + step], ay, ax, window_policy, t)
    return out


def layout_best_iou(boxes: np.ndarray, layout: AnchorLayout) -> np.ndarray:
    """float64 ``[N, S]``: :func:`level_best_iou` of every level of ``layout``, concatenated
    in level order (``S`` = sum of the levels' ``K``; column order = ``layout_shapes``)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    parts = [
        level_best_iou(boxes, layout.padded_shape, lv.grid_shape, lv.stride, lv.offset, lv.sizes,
                       layout.window_policy)
        for lv in layout.levels
    ]
    if not parts:
        return np.zeros((boxes.shape[0], 0), dtype=np.float64)
    return np.concatenate(parts, axis=1)


def layout_search(boxes: np.ndarray, layout: AnchorLayout,
                  threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Best IoU and positive count per box and anchor shape, for every level of ``layout``.

    Returns:
        ``(best, positives)``: float64 and int64 ``[N, S]`` in ``layout_shapes`` order;
        ``positives`` counts the anchors (after the window policy) with IoU
        ``>= threshold``.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    best, pos = [], []
    for lv in layout.levels:
        args = (boxes, layout.padded_shape, lv.grid_shape, lv.stride, lv.offset, lv.sizes,
                layout.window_policy)
        best.append(level_best_iou(*args))
        pos.append(level_positives(*args, threshold))
    if not best:
        n = boxes.shape[0]
        return np.zeros((n, 0), dtype=np.float64), np.zeros((n, 0), dtype=np.int64)
    return np.concatenate(best, axis=1), np.concatenate(pos, axis=1)


def layout_shapes(layout: AnchorLayout) -> np.ndarray:
    """float64 ``[S, 2]`` anchor ``(height, width)`` of every level, concatenated in level order."""
    parts = [np.asarray(lv.sizes, dtype=np.float64).reshape(-1, 2) for lv in layout.levels]
    return np.concatenate(parts, axis=0) if parts else np.zeros((0, 2), dtype=np.float64)
