"""Exact best IoU (and positive-anchor counts) of boxes over every position of each shape.

A level of anchors is a regular grid (:class:`~tfod_anchors.anchors.layout.AnchorLevel`):
cell ``i`` on an axis is centred at ``offset + i * stride`` and every cell carries the
same ``K`` shapes. For one box and one shape we want the best IoU over all cells
without visiting them all.

Geometry (continuous coordinates, IoU = ``o / (A_box + A_anchor - o)``):

* Overlap and anchor area are separable: ``o = oy * ox``, ``A_anchor = ly * lx``
  (``l`` = the anchor's extent after clipping).
* So are the window policies. Pruning keeps, per axis and shape, an interval of cells
  ("M", anchor inside ``[0, E]``). Clipping splits an axis into at most four intervals:
  left-clipped only ("L", anchor ``[0, e]``), clipped on both sides ("LR", anchor
  ``[0, E]``), unclipped ("M"), right-clipped only ("R", anchor ``[s, E]``).
* Whatever is chosen on the other axis, the IoU along one interval is unimodal: on M
  only the overlap varies, a trapezoid symmetric about the box centre, so the cell
  nearest the centre (clamped into M) wins; on L it rises with ``e`` up to the box's
  far edge ``b1`` (a ratio of linear functions of ``e`` whose derivative has the sign
  of ``ox * (A_box + b0 * lx) >= 0``) and falls after it (constant overlap, growing
  area), so one of the two cells bracketing ``e = b1`` wins; R is the mirror image
  around ``s = b0``; LR is constant.

Hence per axis at most five cells can win (M or LR, two on L, two on R), independently
of the other axis, and the best IoU is the best of their 25 pairings (one pairing
without clipping). Candidates are evaluated literally (centre ``offset + i * stride``,
corners ``centre -/+ size / 2``, clamped to the window): the same float64 arithmetic
as evaluating TFOD's full anchor list.

Positives (IoU ``>= t``) are counted only for pairs whose best IoU reaches ``t``, row
by row. ``IoU >= t`` is ``(1 + t) oy ox - t ly lx >= t A_box``; with ``ox <= lx`` it
bounds the rows that can hold a positive, and inside a row each interval's positives
form a run of cells whose ends are solved in closed form. A solved end within ``1e-6``
cell of a grid cell is settled by a literal IoU test of that cell, and a row whose
threshold sits on a plateau is counted cell by cell, so counts match a literal
evaluation, ties included.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tfod_anchors.anchors.layout import AnchorLayout
from tfod_anchors.errors import UsageError

WINDOW_POLICIES = ("none", "prune", "clip")

# (box, shape) pairs per vectorised step: keeps temporaries in cache and memory bounded.
_PAIRS_PER_STEP = 1 << 12
# Solved run ends closer than this (in cells) to a cell are settled literally.
_CELL_TOL = 1e-6
_REL_TOL = 1e-9
# Stands in for the half size of a shape whose L or R interval is empty: it moves
# every candidate fully outside the window, so overlap and extent come out 0.
_FAR = 1e300


@dataclass(frozen=True)
class _Axis:
    """One axis of one level for its ``K`` anchor lengths (arrays ``[K]``).

    Cell intervals (float cell indices, inclusive): ``mid_lo..mid_hi`` is M, or LR when
    M is empty (``mid_ok`` False when both are empty); ``left_hi`` ends L (which starts
    at 0); ``right_lo`` starts R (which ends at ``n - 1``). ``half_left``/``half_right``
    are the half lengths, or ``-_FAR`` where L/R is empty. ``both_lo..both_hi`` is LR.
    """

    n: int
    offset: float
    stride: float
    inv_stride: float
    extent: float
    length: np.ndarray
    half: np.ndarray
    mid_lo: np.ndarray
    mid_hi: np.ndarray
    mid_ok: np.ndarray
    unclipped_lo: np.ndarray
    unclipped_hi: np.ndarray
    left_hi: np.ndarray
    right_lo: np.ndarray
    both_lo: np.ndarray
    both_hi: np.ndarray
    half_left: np.ndarray
    half_right: np.ndarray


def _axis(n: int, offset: float, stride: float, extent: float, length: np.ndarray,
          policy: str) -> _Axis:
    half = length / 2.0
    k = length.shape[0]
    if policy == "none":
        n_left, n_fit = np.zeros(k), np.full(k, float(n))
    else:
        centre = offset + np.arange(n, dtype=np.float64) * stride
        # Corners grow with the cell index (rounding is monotone): each test is a prefix.
        n_left = (centre[None, :] - half[:, None] < 0.0).sum(axis=1).astype(np.float64)
        n_fit = (centre[None, :] + half[:, None] <= extent).sum(axis=1).astype(np.float64)
    m_lo, m_hi = n_left, n_fit - 1.0
    if policy == "clip":
        l_hi, r_lo = np.minimum(n_left, n_fit) - 1.0, np.maximum(n_left, n_fit)
        b_lo, b_hi = n_fit, n_left - 1.0
    else:
        l_hi, r_lo, b_lo, b_hi = np.full(k, -1.0), np.full(k, float(n)), n_fit, n_fit - 1.0
    m_empty = m_hi < m_lo
    mid_lo, mid_hi = np.where(m_empty, b_lo, m_lo), np.where(m_empty, b_hi, m_hi)
    return _Axis(
        n=n, offset=offset, stride=stride, inv_stride=1.0 / stride if stride > 0 else 0.0,
        extent=extent, length=length, half=half, mid_lo=mid_lo, mid_hi=mid_hi,
        mid_ok=mid_hi >= mid_lo, unclipped_lo=m_lo, unclipped_hi=m_hi,
        left_hi=np.maximum(l_hi, 0.0), right_lo=r_lo, both_lo=b_lo, both_hi=b_hi,
        half_left=np.where(l_hi >= 0, half, -_FAR),
        half_right=np.where(r_lo <= n - 1, half, -_FAR))


def _clamp(x, lo, hi):
    return np.minimum(np.maximum(x, lo), hi)


def _mid_slot(ax: _Axis, b0, b1, policy: str):
    """Overlap and extent ``[n, K]`` of the M (or LR) cell nearest the box centre."""
    c0, c1 = (b0, b1) if policy == "none" else (_clamp(b0, 0.0, ax.extent),
                                                 _clamp(b1, 0.0, ax.extent))
    j = np.floor(((c0 + c1) * 0.5 - ax.offset) * ax.inv_stride + 0.5)
    centre = np.maximum(j, ax.mid_lo)
    np.minimum(centre, ax.mid_hi, out=centre)
    centre *= ax.stride
    centre += ax.offset
    lo = centre - ax.half
    hi = np.add(centre, ax.half, out=centre)
    if policy == "clip":
        np.maximum(lo, 0.0, out=lo)
        np.minimum(hi, ax.extent, out=hi)
    o = np.minimum(b1, hi)
    o -= np.maximum(b0, lo)
    np.maximum(o, 0.0, out=o)
    if not ax.mid_ok.all():
        o *= ax.mid_ok
    return o, np.subtract(hi, lo, out=lo)


def _clip_slots(ax: _Axis, b0, b1):
    """Overlap and extent ``[5, n, K]`` of the five candidate cells under clipping:
    M/LR nearest the centre, the two L cells bracketing ``e = b1``, the two R cells
    bracketing ``s = b0`` (see the module docstring)."""
    ext, off, stride = ax.extent, ax.offset, ax.stride
    w0, w1 = np.maximum(b0, 0.0), np.minimum(b1, ext)
    o0, l0 = _mid_slot(ax, b0, b1, "clip")
    o, ln = np.empty((5,) + o0.shape), np.empty((5,) + o0.shape)
    o[0], ln[0] = o0, l0
    # Left-clipped cells hold [0, e], e = centre + half (never past E there).
    j = _clamp(np.floor((w1 - off) * ax.inv_stride - ax.half_left * ax.inv_stride), 0.0,
               ax.left_hi)
    for slot in (1, 2):
        e, ov = ln[slot], o[slot]
        np.multiply(j, stride, out=e)
        e += off
        e += ax.half_left
        np.maximum(e, 0.0, out=e)
        np.minimum(w1, e, out=ov)
        ov -= w0
        np.maximum(ov, 0.0, out=ov)
        if slot == 1:
            j += 1.0
            np.minimum(j, ax.left_hi, out=j)
    # Right-clipped cells hold [s, E], s = centre - half (never below 0 there).
    j = _clamp(np.floor((w0 - off) * ax.inv_stride + ax.half_right * ax.inv_stride),
               ax.right_lo, ax.n - 1.0)
    s = np.empty_like(j)
    for slot in (3, 4):
        ln_, ov = ln[slot], o[slot]
        np.multiply(j, stride, out=s)
        s += off
        s -= ax.half_right
        np.minimum(s, ext, out=s)
        np.maximum(w0, s, out=ov)
        np.subtract(w1, ov, out=ov)
        np.maximum(ov, 0.0, out=ov)
        np.subtract(ext, s, out=ln_)
        if slot == 3:
            j += 1.0
            np.minimum(j, ax.n - 1.0, out=j)
    return o, ln


def _best_chunk(boxes: np.ndarray, ay: _Axis, ax: _Axis, policy: str) -> np.ndarray:
    y0, x0, y1, x1 = (boxes[:, i:i + 1] for i in range(4))
    area = (y1 - y0) * (x1 - x0)
    if policy != "clip":
        oy, ly = _mid_slot(ay, y0, y1, policy)
        ox, lx = _mid_slot(ax, x0, x1, policy)
        inter = oy * ox
        ly *= lx
        ly += area
        ly -= inter
        inter /= ly
        return np.fmax(inter, 0.0, out=inter)
    oy, ly = _clip_slots(ay, y0, y1)
    ox, lx = _clip_slots(ax, x0, x1)
    best = np.zeros(oy.shape[1:])
    inter, union = np.empty_like(ox), np.empty_like(ox)
    for p in range(oy.shape[0]):
        np.multiply(oy[p], ox, out=inter)
        np.multiply(ly[p], lx, out=union)
        union += area
        union -= inter
        np.divide(inter, union, out=inter)
        for q in range(inter.shape[0]):
            np.fmax(best, inter[q], out=best)
    return best


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


def _level(boxes, padded_shape, grid_shape, stride, offset, sizes, policy, threshold,
           best=None, pos=None):
    """Best IoU ``[N, K]`` and, given a threshold, positives ``[N, K]`` (else None);
    written into ``best``/``pos`` when given (e.g. column slices of a layout's arrays)."""
    boxes, hw, grid, strides, offsets, sizes = _validate(
        boxes, padded_shape, grid_shape, stride, offset, sizes, policy)
    n, k = boxes.shape[0], sizes.shape[0]
    best = np.zeros((n, k), dtype=np.float64) if best is None else best
    if threshold is not None and pos is None:
        pos = np.zeros((n, k), dtype=np.int64)
    if n == 0 or k == 0 or grid[0] == 0 or grid[1] == 0:
        best[...] = 0.0
        if pos is not None:
            pos[...] = 0
        return best, pos
    ay = _axis(grid[0], offsets[0], strides[0], hw[0], sizes[:, 0], policy)
    ax = _axis(grid[1], offsets[1], strides[1], hw[1], sizes[:, 1], policy)
    step = max(1, (_PAIRS_PER_STEP if policy == "clip" else 4 * _PAIRS_PER_STEP) // k)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for s in range(0, n, step):
            best[s:s + step] = _best_chunk(boxes[s:s + step], ay, ax, policy)
        if pos is not None:
            pos[...] = 0
            # A pair can only have positives if its best IoU reaches the threshold.
            bi, ki = np.nonzero(best >= threshold * (1.0 - _REL_TOL))
            step = 4 * _PAIRS_PER_STEP
            for s in range(0, bi.shape[0], step):
                b, kk = bi[s:s + step], ki[s:s + step]
                pos[b, kk] = _count_pairs(boxes[b], kk, ay, ax, policy, threshold)
    return best, pos


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
        grid_shape: ``(fh, fw)`` cells; ``stride`` ``(sy, sx)`` and ``offset`` ``(oy, ox)``
            in pixels: cell ``(i, j)`` is centred at ``(oy + i * sy, ox + j * sx)``.
        sizes: ``[K, 2]`` anchor ``(height, width)`` in pixels.
        window_policy: ``"none"`` (keep every anchor), ``"prune"`` (drop anchors with a
            corner strictly outside the window) or ``"clip"`` (clamp corners to the
            window; zero-area anchors stay, with IoU 0).

    Returns:
        float64 ``[N, K]``: the maximum over all cells of the IoU, evaluated as on the
        literal anchor list (0 when no anchor of the shape is left, e.g. all pruned).
    """
    return _level(boxes, padded_shape, grid_shape, stride, offset, sizes, window_policy,
                  None)[0]


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
    arguments as :func:`level_best_iou`."""
    return _level(boxes, padded_shape, grid_shape, stride, offset, sizes, window_policy,
                  _threshold(threshold))[1]


def _threshold(threshold: float) -> float:
    t = float(threshold)
    if not 0.0 < t <= 1.0:
        raise UsageError(f"IoU threshold must be in (0, 1], got {threshold!r}")
    return t


def layout_search(boxes: np.ndarray, layout: AnchorLayout,
                  threshold: float | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Best IoU ``[N, S]`` over every level of ``layout`` (columns in ``layout_shapes``
    order) and, given a threshold, the positive counts ``[N, S]`` (else None)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    t = None if threshold is None else _threshold(threshold)
    total = sum(int(np.shape(lv.sizes)[0]) for lv in layout.levels)
    best = np.zeros((boxes.shape[0], total), dtype=np.float64)
    pos = None if t is None else np.zeros((boxes.shape[0], total), dtype=np.int64)
    col = 0
    for lv in layout.levels:
        k = int(np.shape(lv.sizes)[0])
        _level(boxes, layout.padded_shape, lv.grid_shape, lv.stride, lv.offset, lv.sizes,
               layout.window_policy, t, best[:, col:col + k],
               None if pos is None else pos[:, col:col + k])
        col += k
    return best, pos


def layout_best_iou(boxes: np.ndarray, layout: AnchorLayout) -> np.ndarray:
    """float64 ``[N, S]``: :func:`level_best_iou` of every level of ``layout``, concatenated
    in level order (``S`` = sum of the levels' ``K``; columns as ``layout_shapes``)."""
    return layout_search(boxes, layout)[0]


def layout_shapes(layout: AnchorLayout) -> np.ndarray:
    """float64 ``[S, 2]`` anchor ``(height, width)`` of every level, in level order."""
    parts = [np.asarray(lv.sizes, dtype=np.float64).reshape(-1, 2) for lv in layout.levels]
    return np.concatenate(parts, axis=0) if parts else np.zeros((0, 2), dtype=np.float64)
