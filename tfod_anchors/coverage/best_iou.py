"""Exact best IoU of boxes over every position of each anchor shape.

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

Counting positive anchors (IoU ``>= t``) builds on the same per-axis model and lives in
:mod:`tfod_anchors.coverage.positives`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tfod_anchors.anchors.layout import WINDOW_POLICIES, AnchorLayout, AnchorLevel
from tfod_anchors.coverage.axis import far_edge_cell, near_edge_cell, nearest_cell
from tfod_anchors.errors import UsageError

# (box, shape) pairs per vectorised step: keeps temporaries in cache and memory bounded.
_PAIRS_PER_STEP = 1 << 16
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
    j = nearest_cell((c0 + c1) * 0.5, ax.offset, ax.inv_stride)
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
    j = _clamp(far_edge_cell(w1, ax.half_left, off, ax.inv_stride), 0.0, ax.left_hi)
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
    j = _clamp(near_edge_cell(w0, ax.half_right, off, ax.inv_stride), ax.right_lo, ax.n - 1.0)
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


def _threshold(threshold: float) -> float:
    t = float(threshold)
    if not 0.0 < t <= 1.0:
        raise UsageError(f"IoU threshold must be in (0, 1], got {threshold!r}")
    return t


def _level_best(boxes, padded_shape, grid_shape, stride, offset, sizes, policy, best=None):
    """Validated boxes ``[N, 4]``, the level's axes ``(ay, ax)`` (None when it has no box,
    shape or cell) and the best IoU ``[N, K]``, written into ``best`` when given (e.g. a
    column slice of a layout's array)."""
    boxes, hw, grid, strides, offsets, sizes = _validate(
        boxes, padded_shape, grid_shape, stride, offset, sizes, policy)
    n, k = boxes.shape[0], sizes.shape[0]
    best = np.zeros((n, k), dtype=np.float64) if best is None else best
    if n == 0 or k == 0 or grid[0] == 0 or grid[1] == 0:
        best[...] = 0.0
        return boxes, None, best
    ay = _axis(grid[0], offsets[0], strides[0], hw[0], sizes[:, 0], policy)
    ax = _axis(grid[1], offsets[1], strides[1], hw[1], sizes[:, 1], policy)
    step = max(1, (_PAIRS_PER_STEP if policy == "clip" else 4 * _PAIRS_PER_STEP) // k)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for s in range(0, n, step):
            best[s:s + step] = _best_chunk(boxes[s:s + step], ay, ax, policy)
    return boxes, (ay, ax), best


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
    return _level_best(boxes, padded_shape, grid_shape, stride, offset, sizes,
                       window_policy)[2]


def _layout_columns(layout: AnchorLayout) -> tuple[list[tuple[AnchorLevel, slice]], int]:
    """Each level of ``layout`` with its column slice of the ``[N, S]`` layout arrays
    (columns in :func:`layout_shapes` order), and ``S``."""
    out, col = [], 0
    for lv in layout.levels:
        k = int(np.shape(lv.sizes)[0])
        out.append((lv, slice(col, col + k)))
        col += k
    return out, col


def layout_best_iou(boxes: np.ndarray, layout: AnchorLayout) -> np.ndarray:
    """float64 ``[N, S]``: :func:`level_best_iou` of every level of ``layout``, concatenated
    in level order (``S`` = sum of the levels' ``K``; columns as ``layout_shapes``)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    columns, total = _layout_columns(layout)
    best = np.zeros((boxes.shape[0], total), dtype=np.float64)
    for lv, c in columns:
        _level_best(boxes, layout.padded_shape, lv.grid_shape, lv.stride, lv.offset,
                    lv.sizes, layout.window_policy, best[:, c])
    return best


def layout_shapes(layout: AnchorLayout) -> np.ndarray:
    """float64 ``[S, 2]`` anchor ``(height, width)`` of every level, in level order."""
    parts = [np.asarray(lv.sizes, dtype=np.float64).reshape(-1, 2) for lv in layout.levels]
    return np.concatenate(parts, axis=0) if parts else np.zeros((0, 2), dtype=np.float64)
