"""Best IoU of boxes against every position of an anchor shape, fast and exact.

For one feature-map level the anchors of one shape sit at centres
``offset + i * stride`` (per axis, ``i < n``). TFOD then keeps them as they are
(SSD, ``"none"``), drops those leaving the window (``"prune"``) or clamps them to
it (``"clip"``). Along one axis the anchor's interval ``[L(c), R(c)]`` and its
overlap with the box are piecewise linear in the centre ``c``, with breakpoints
only at ``c = y1 - a/2`` and ``c = y0 + a/2`` (where they matter; the window
edges ``a/2`` and ``H - a/2`` are never local maxima of the IoU). With the other
axis fixed, the IoU is linear-fractional, hence monotone, between breakpoints,
so the best cell index on each axis is the floor or ceiling of one of the two
breakpoints, clamped to the usable index range. That gives four candidates per
axis: without clipping the anchor length is constant and the axes separate;
with clipping the sixteen pairs are compared.

All arrays here are per box: boxes may come from images of different padded
shapes, each with its own grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tfod_anchors.coverage.axis import far_edge_cell, near_edge_cell, nearest_cell


@dataclass(frozen=True)
class LevelGrid:
    """One level's anchor grid, seen from each box.

    Attributes:
        cells: int ``[B, 2]`` ``(fh, fw)`` of the feature map of each box's image.
        stride: float64 ``[B, 2]`` ``(sy, sx)`` in pixels.
        offset: float64 ``[B, 2]`` centre of cell ``(0, 0)`` in pixels.
    """

    cells: np.ndarray
    stride: np.ndarray
    offset: np.ndarray

    def take(self, index: np.ndarray) -> LevelGrid:
        return LevelGrid(self.cells[index], self.stride[index], self.offset[index])


@dataclass(frozen=True)
class BoxGeometry:
    """Boxes with everything the kernel needs about their images.

    Attributes:
        boxes: float64 ``[B, 4]`` ``[ymin, xmin, ymax, xmax]`` in padded-image pixels.
        window: float64 ``[B, 2]`` padded ``(H, W)`` of each box's image.
        unit: float64 ``[B, 2]`` pixels per shape unit ``(y, x)``: ones for generators
            whose shapes are in pixels, ``min(H, W) * base`` for ``ssd_anchor_generator``.
        levels: one :class:`LevelGrid` per feature-map level, TFOD order.
        policy: ``"none"``, ``"prune"`` or ``"clip"``.
    """

    boxes: np.ndarray
    window: np.ndarray
    unit: np.ndarray
    levels: tuple[LevelGrid, ...]
    policy: str

    @property
    def num_boxes(self) -> int:
        return int(self.boxes.shape[0])

    def take(self, index: np.ndarray) -> BoxGeometry:
        """The same geometry restricted to boxes ``index``."""
        return BoxGeometry(self.boxes[index], self.window[index], self.unit[index],
                           tuple(g.take(index) for g in self.levels), self.policy)


@dataclass(frozen=True)
class Prepared:
    """Shape-independent per-box quantities of one level (float32 ``[B, 1]`` columns;
    float32 keeps IoUs exact to ~1e-6, ample for ranking candidates).

    ``dy, dx``: distance from the box centre to the nearest cell centre of the grid
    (the best cell on an axis when the anchor is neither pruned nor clipped there);
    ``hh2, wh2``: half the box's height and width (exact halves); ``min_area``: the
    smallest box area (a lower bound for a :meth:`take` subset).
    """

    y0: np.ndarray
    x0: np.ndarray
    y1: np.ndarray
    x1: np.ndarray
    my: np.ndarray
    mx: np.ndarray
    hb: np.ndarray
    wb: np.ndarray
    area: np.ndarray
    dy: np.ndarray
    dx: np.ndarray
    sy: np.ndarray
    sx: np.ndarray
    oy: np.ndarray
    ox: np.ndarray
    last_y: np.ndarray
    last_x: np.ndarray
    hh: np.ndarray
    ww: np.ndarray
    uy: np.ndarray
    ux: np.ndarray
    hh2: np.ndarray
    wh2: np.ndarray
    policy: str
    min_area: float = 0.0

    def take(self, sel) -> Prepared:
        return Prepared(**{f: getattr(self, f)[sel] for f in _FIELDS}, policy=self.policy,
                        min_area=self.min_area)


_FIELDS = ("y0", "x0", "y1", "x1", "my", "mx", "hb", "wb", "area", "dy", "dx", "sy", "sx",
           "oy", "ox", "last_y", "last_x", "hh", "ww", "uy", "ux", "hh2", "wh2")


def prepare(geom: BoxGeometry, level: int) -> Prepared:
    """The :class:`Prepared` arrays of ``level`` for ``geom``."""
    b = geom.boxes
    grid = geom.levels[level]
    y0, x0, y1, x1 = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    my, mx = (y0 + y1) / 2.0, (x0 + x1) / 2.0
    last = grid.cells.astype(np.float64) - 1.0
    inv = 1.0 / grid.stride
    iy = np.clip(nearest_cell(my, grid.offset[:, 0], inv[:, 0]), 0.0, last[:, 0])
    ix = np.clip(nearest_cell(mx, grid.offset[:, 1], inv[:, 1]), 0.0, last[:, 1])
    dy = np.abs(grid.offset[:, 0] + iy * grid.stride[:, 0] - my)
    dx = np.abs(grid.offset[:, 1] + ix * grid.stride[:, 1] - mx)
    cols = [y0, x0, y1, x1, my, mx, y1 - y0, x1 - x0, (y1 - y0) * (x1 - x0), dy, dx,
            grid.stride[:, 0], grid.stride[:, 1], grid.offset[:, 0], grid.offset[:, 1],
            last[:, 0], last[:, 1], geom.window[:, 0], geom.window[:, 1],
            geom.unit[:, 0], geom.unit[:, 1]]
    cols += [np.float32(c) * np.float32(0.5) for c in (y1 - y0, x1 - x0)]
    out = {f: np.ascontiguousarray(c, dtype=np.float32)[:, None] for f, c in zip(_FIELDS, cols)}
    return Prepared(**out, policy=geom.policy,
                    min_area=float(out["area"].min()) if b.shape[0] else 0.0)


def level_columns(geom: BoxGeometry | Prepared, level: int, shapes: np.ndarray,
                  chunk: int = 1 << 15, approx_below: float = 0.0) -> np.ndarray:
    """Best IoU ``float32 [B, K]`` of each box with shape ``k`` placed anywhere on ``level``.

    Args:
        geom: the boxes and their grids (or the :func:`prepare` d arrays of ``level``).
        level: index into ``geom.levels`` (ignored for prepared arrays).
        shapes: float ``[K, 2]`` anchor ``(height, width)`` in shape units (see
            :attr:`BoxGeometry.unit`).
        chunk: box-shape pairs processed at once (keeps temporaries in cache).
        approx_below: where clipping could matter but no anchor of the pair can reach
            this IoU (by the bounds below), skip the exact search and report the
            unclipped estimate, which is also below it. 0 (default): exact everywhere.
            The search uses 0.3: a box's best IoU is then exact whenever it is at least
            0.3, which is all that recalls at 0.5 / 0.7 and nearly all of mean IoU see.
    """
    prep = geom if isinstance(geom, Prepared) else prepare(geom, level)
    shapes = np.asarray(shapes, dtype=np.float64).reshape(-1, 2)
    n, k = prep.y0.shape[0], shapes.shape[0]
    out = np.zeros((n, k), dtype=np.float32)
    if n == 0 or k == 0:
        return out
    step = max(1, chunk // k)
    for start in range(0, n, step):
        sl = slice(start, min(n, start + step))
        out[sl] = _columns(prep.take(sl), shapes, approx_below)
    return out


#: The :class:`Prepared` fields the ``"none"`` policy's row kernel reads.
ROW_FIELDS = ("hb", "wb", "hh2", "wh2", "dy", "dx", "area", "uy", "ux")


@dataclass(frozen=True)
class RowInputs:
    """What the ``"none"`` policy's row kernel reads of one level (:func:`row_inputs`):
    float32 ``[B]`` rows of :data:`ROW_FIELDS` (``uy``, ``ux`` of shape ``[1]`` when
    every box has the same shape unit, ``same_unit``), the number of boxes and the
    smallest box area. A column store keeps these instead of the whole
    :class:`Prepared` (9 of its 23 arrays)."""

    rows: dict[str, np.ndarray]
    same_unit: bool
    n: int
    min_area: float


def row_inputs(prep: Prepared) -> RowInputs:
    """The :class:`RowInputs` of a ``"none"``-policy :class:`Prepared` level."""
    r = {f: getattr(prep, f)[:, 0] for f in ROW_FIELDS}
    n = r["hb"].shape[0]
    same = n > 0 and bool((r["uy"] == r["uy"][0]).all() and (r["ux"] == r["ux"][0]).all())
    if same:  # one number each: the whole rows need not be kept
        r["uy"], r["ux"] = r["uy"][:1].copy(), r["ux"][:1].copy()
    return RowInputs(r, same, n, prep.min_area)


def store_inputs(geom: BoxGeometry, level: int) -> Prepared | RowInputs:
    """What :func:`level_rows` needs of ``level``, in its smallest form: the
    :class:`RowInputs` under the ``"none"`` policy, else the :class:`Prepared` arrays."""
    prep = prepare(geom, level)
    return row_inputs(prep) if prep.policy == "none" else prep


def level_rows(prep: Prepared | RowInputs, shapes: np.ndarray, approx_below: float = 0.0
               ) -> list[np.ndarray]:
    """:func:`level_columns` by rows: best IoU of every box with each shape, one
    contiguous float32 ``[B]`` array per shape (what a column store keeps), the same
    values bit for bit.

    With the ``"none"`` policy (``prep`` then may be its :class:`RowInputs`) the rows are
    computed in place with the same float32 operations in the same order (so the same
    roundings): one row at a time for many boxes, a group of rows small enough to stay in
    cache for few; where every box has the same shape unit (one padded shape) the anchor
    side is one number, not a row."""
    shapes = np.asarray(shapes, dtype=np.float64).reshape(-1, 2)
    if isinstance(prep, Prepared):
        if prep.policy != "none":
            cols = level_columns(prep, 0, shapes, approx_below=approx_below)
            return [np.ascontiguousarray(cols[:, j]) for j in range(shapes.shape[0])]
        prep = row_inputs(prep)
    r, n = prep.rows, prep.n
    hs, ws = (shapes[:, i].astype(np.float32)[:, None] for i in (0, 1))
    if n > SMALL_ROWS:  # many boxes: one row at a time
        scratch = [np.empty(n, dtype=np.float32) for _ in range(3)]
        out = []
        for h, w in zip(hs[:, 0], ws[:, 0]):
            ah, aw = (h * r["uy"][0], w * r["ux"][0]) if prep.same_unit else \
                (h * r["uy"], w * r["ux"])
            row = np.empty(n, dtype=np.float32)
            _row_none(r, ah, aw, scratch, row, prep.min_area)
            out.append(row)
        return out
    # few boxes: as many shapes at once as keep the temporaries in cache
    k, g = shapes.shape[0], max(1, BLOCK // max(1, n))
    unit = [r["uy"][:1], r["ux"][:1]] if prep.same_unit else [r["uy"], r["ux"]]
    bufs = [np.empty((min(g, k), n), dtype=np.float32) for _ in range(4)]
    out = []
    for start in range(0, k, g):
        m = min(k, start + g) - start
        part = [b[:m] for b in bufs]
        _row_none(r, hs[start:start + m] * unit[0], ws[start:start + m] * unit[1], part[:3],
                  part[3], prep.min_area)
        out += [row.copy() for row in part[3]]
    return out


#: Box-shape pairs :func:`level_rows` computes at once (when the boxes are few).
BLOCK = 1 << 16
#: From this many boxes on, :func:`level_rows` computes one row at a time.
SMALL_ROWS = 8192


def _row_none(r: dict[str, np.ndarray], ah, aw, scratch: list[np.ndarray],
              out: np.ndarray, min_area: float = 0.0) -> None:
    """``out`` = the ``"none"`` policy's best IoU (:func:`_columns`'s operations in its
    order, merged where that is exact, so the same bits) of boxes ``r`` (``[B]`` rows of
    :class:`Prepared`) with anchors of sides ``ah`` x ``aw`` pixels: float32 numbers
    (``out`` ``[B]``), or ``[K, 1]`` / ``[K, B]`` (``out`` ``[K, B]``); ``scratch``:
    three arrays shaped as ``out``; ``min_area``: the smallest box area (or a lower bound)."""
    ovy, ovx, tmp = scratch
    for ov, a, side, half, d in ((ovy, ah, r["hb"], r["hh2"], r["dy"]),
                                 (ovx, aw, r["wb"], r["wh2"], r["dx"])):
        # (side + a) * 0.5, to the bit: halving is exact and commutes with rounding
        np.add(half, np.multiply(a, np.float32(0.5)), out=ov)
        ov -= d
        np.minimum(ov, side, out=ov)
        np.maximum(ov, np.float32(0.0), out=ov)
        np.minimum(ov, a, out=ov)  # = max(min(ov, a), 0), as a > 0
    ovy *= ovx  # the intersection
    anchor_area = np.multiply(ah, aw)
    np.add(anchor_area, r["area"], out=tmp)  # the union: anchor area + box area
    tmp -= ovy  # ... - intersection
    # With box areas >= 0 (``min_area``) the union is at least about the larger of the
    # two areas (the intersection is at most the smaller), so the floor below only binds
    # for vanishing anchors: skip it (a pass over every pair) when no anchor is that
    # small; the same bits either way.
    if min_area < 0.0 or anchor_area.min() <= np.float32(1e-29):
        np.maximum(tmp, np.float32(1e-30), out=tmp)
    np.divide(ovy, tmp, out=out)


def _columns(p: Prepared, shapes: np.ndarray, approx_below: float = 0.0) -> np.ndarray:
    """Best IoU ``[b, K]`` for a chunk of boxes (see :func:`level_columns`)."""
    ah = shapes[None, :, 0].astype(np.float32) * p.uy
    aw = shapes[None, :, 1].astype(np.float32) * p.ux
    dy, dx = p.dy, p.dx
    ok = None
    if p.policy == "prune":
        iy, oky = _nearest(p.my, ah, p.oy, p.sy, p.last_y, p.hh)
        ix, okx = _nearest(p.mx, aw, p.ox, p.sx, p.last_x, p.ww)
        dy = np.abs(p.oy + iy * p.sy - p.my)
        dx = np.abs(p.ox + ix * p.sx - p.mx)
        ok = oky & okx
    ovy = np.minimum((p.hb + ah) * 0.5 - dy, np.minimum(p.hb, ah))
    ovx = np.minimum((p.wb + aw) * 0.5 - dx, np.minimum(p.wb, aw))
    np.maximum(ovy, 0.0, out=ovy)
    np.maximum(ovx, 0.0, out=ovx)
    inter = ovy * ovx
    union = ah * aw
    union += p.area
    union -= inter
    np.maximum(union, np.float32(1e-30), out=union)
    iou = inter / union
    if ok is not None:
        iou[~ok] = 0.0
    if p.policy != "clip":
        return iou
    # Clipping can only matter on an axis where an anchor near the box reaches the
    # window edge (``near``); elsewhere the unclipped nearest cell above is exact on
    # that axis. Where the nearest cells are unclipped on both axes (``fast`` is then an
    # IoU some anchor really has) and even the smallest clipped anchor could not beat
    # it, the pair is settled too: a clipped anchor spans at least ``min(a/2, E)`` on
    # its clipped axis, so its IoU is at most ``A_box / (l_y * l_x)``.
    half_h, half_w = ah * 0.5, aw * 0.5
    free_y = (p.my - p.sy - half_h >= 0) & (p.my + p.sy + half_h <= p.hh)
    free_x = (p.mx - p.sx - half_w >= 0) & (p.mx + p.sx + half_w <= p.ww)
    near_y = ~free_y | (p.y1 < ah) | (p.y0 > p.hh - ah)
    near_x = ~free_x | (p.x1 < aw) | (p.x0 > p.ww - aw)
    top_y, top_x = p.oy + p.last_y * p.sy, p.ox + p.last_x * p.sx
    len_y = np.where(near_y, np.clip(np.minimum(np.minimum(half_h, p.hh),
                                                p.hh + half_h - top_y), 0.0, None), ah)
    len_x = np.where(near_x, np.clip(np.minimum(np.minimum(half_w, p.ww),
                                                p.ww + half_w - top_x), 0.0, None), aw)
    room = np.maximum(len_y * len_x, np.float32(1e-30))
    settled = free_y & free_x & (p.area <= iou * room)
    if approx_below > 0:
        settled |= (p.area < np.float32(approx_below) * room) & (iou < approx_below)
    near_y &= ~settled
    near_x &= ~settled
    for mask, mode in ((near_y & ~near_x, "y"), (near_x & ~near_y, "x"), (near_y & near_x, "xy")):
        pb, pk = np.nonzero(mask)
        for start in range(0, pb.size, _CLIP_PAIRS):
            b, k = pb[start:start + _CLIP_PAIRS], pk[start:start + _CLIP_PAIRS]
            iou[b, k] = _clipped_pairs(p, b, ah[b, k], aw[b, k], ovy[b, k], ovx[b, k], mode)
    return iou


def _nearest(mid, a, off, step, last, limit):
    """Index of the unpruned cell nearest to ``mid`` (float ``[b, K]``) and whether
    any cell keeps its anchor inside the window."""
    first = np.maximum(0.0, np.ceil((a / 2.0 - off) / step))
    stop = np.minimum(last, np.floor((limit - a / 2.0 - off) / step))
    idx = np.clip(nearest_cell(mid, off, 1.0 / step), first, np.maximum(first, stop))
    return idx, first <= stop


_CLIP_PAIRS = 4096


def _clipped_axis(lo, hi, a, off, step, last, limit):
    """Overlap and clipped length ``float32 [P, 4]`` on one axis at the four candidate
    cells (floor and floor + 1 of both breakpoints; a duplicate at integers is harmless)."""
    half = a / 2.0
    cand = np.empty((lo.shape[0], 4))
    inv = 1.0 / step
    cand[:, 0] = far_edge_cell(hi, half, off, inv)
    cand[:, 2] = near_edge_cell(lo, half, off, inv)
    cand[:, 1] = cand[:, 0] + 1.0
    cand[:, 3] = cand[:, 2] + 1.0
    np.clip(cand, 0.0, last[:, None], out=cand)
    c = off[:, None] + cand * step[:, None]
    left = np.maximum(c - half[:, None], 0.0)
    right = np.minimum(c + half[:, None], limit[:, None])
    ov = np.minimum(right, hi[:, None]) - np.maximum(left, lo[:, None])
    np.maximum(ov, 0.0, out=ov)
    return ov.astype(np.float32), (right - left).astype(np.float32)


def _clipped_pairs(p: Prepared, b: np.ndarray, ah, aw, ovy0, ovx0, mode: str) -> np.ndarray:
    """Exact best IoU ``[P]`` under clipping for box-shape pairs (boxes ``b``).

    ``mode`` says which axes need their four candidates; the other axis keeps its
    unclipped best overlap ``ovy0``/``ovx0`` and length ``ah``/``aw``.
    """
    area = p.area[b, 0].astype(np.float32)[:, None]
    if "y" in mode:
        ovy, leny = _clipped_axis(p.y0[b, 0], p.y1[b, 0], ah, p.oy[b, 0], p.sy[b, 0],
                                  p.last_y[b, 0], p.hh[b, 0])
    else:
        ovy, leny = ovy0.astype(np.float32)[:, None], ah.astype(np.float32)[:, None]
    if "x" in mode:
        ovx, lenx = _clipped_axis(p.x0[b, 0], p.x1[b, 0], aw, p.ox[b, 0], p.sx[b, 0],
                                  p.last_x[b, 0], p.ww[b, 0])
    else:
        ovx, lenx = ovx0.astype(np.float32)[:, None], aw.astype(np.float32)[:, None]
    inter = (ovy[:, :, None] * ovx[:, None, :]).reshape(len(b), -1)
    union = (leny[:, :, None] * lenx[:, None, :]).reshape(len(b), -1)
    union += area
    union -= inter
    np.maximum(union, np.float32(1e-30), out=union)
    inter /= union
    return inter.max(axis=1)
