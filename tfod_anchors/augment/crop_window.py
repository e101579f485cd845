"""Crop windows as ``tf.image.sample_distorted_bounding_box`` draws them, vectorised.

Restated from TensorFlow's CPU kernel (``sample_distorted_bounding_box_op.cc``):

* boxes become integer pixel rectangles by truncation: ``x = int(float32(b) * W)``;
  an image without boxes uses the whole image as its one box;
* each attempt (at most ``max_attempts``) draws an aspect ratio
  ``a = U * (a_max - a_min) + a_min`` (float32) and then a crop:
  ``min_area = area_lo * W * H`` and ``max_area = area_hi * W * H`` (float32);
  ``h = rint(sqrt(min_area / a))``, ``h_max = rint(sqrt(max_area / a))``
  (round half to even); if ``rint(h_max * a) > W`` then
  ``h_max = trunc((W + 0.5 - 1e-7) / a)`` (minus one more if still too wide);
  ``h_max = min(h_max, H)``; ``h = min(h, h_max)``; ``h += randint[0, h_max - h]``
  when ``h < h_max``; ``w = rint(h * a)``; one step up if the area is below
  ``min_area``, one step down if above ``max_area``; the attempt fails if the
  area is still out of range or the crop does not fit; ``y = randint[0, H - h)``
  (0 when ``h == H``), ``x`` likewise;
* a crop is accepted when its area is at least 1 pixel and it covers at least
  ``min_object_covered`` of some box of at least 1 pixel (integer rectangles,
  float32 ratio);
* no accepted crop after ``max_attempts``: the whole image.

Only the random generator differs from TF's (Philox there, keyed SplitMix here);
every distribution and every rounding is the kernel's.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from .state import F32
from .streams import Streams, tag

_EPS = float(np.float32(1e-7))


@dataclass(frozen=True)
class CropParams:
    """Per-instance parameters (each float32 ``[k]``)."""

    min_object_covered: np.ndarray
    aspect_lo: np.ndarray
    aspect_hi: np.ndarray
    area_lo: np.ndarray
    area_hi: np.ndarray


def _rint(x: np.ndarray) -> np.ndarray:
    """lrintf: float32 rounded half to even (kept as float32: exact for these sizes)."""
    return np.rint(x).astype(F32, copy=False)


def _area(w: np.ndarray, h: np.ndarray) -> np.ndarray:
    """float32(int(w) * int(h)), as the kernel converts its integer area."""
    return (w.astype(np.float64) * h).astype(F32)


def _generate(width, height, area_lo, area_hi, aspect, u_h, u_y, u_x):
    """One crop attempt per element (arrays broadcast together, e.g. ``[k, 1]``
    sizes and parameters with ``[k, A]`` draws).

    Integer quantities are carried as float32 (exact below 2^24 pixels a side).

    Returns:
        ``(ok, y0, x0, h, w)``: bool and float32 arrays.
    """
    w32 = width.astype(F32)
    h32 = height.astype(F32)
    min_area = (area_lo * w32 * h32).astype(F32)
    max_area = (area_hi * w32 * h32).astype(F32)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = _rint(np.sqrt(min_area / aspect))
        h_max = _rint(np.sqrt(max_area / aspect))
    too_wide = _rint(h_max * aspect) > w32
    if too_wide.any():
        alt = np.floor((w32.astype(np.float64) + 0.5 - _EPS)
                       / aspect.astype(np.float64)).astype(F32)
        alt = np.where(_rint(alt * aspect) > w32, alt - F32(1), alt)
        h_max = np.where(too_wide, alt, h_max)
    h_max = np.minimum(h_max, h32)
    h = np.minimum(h, h_max)
    h = h + np.floor(u_h * np.maximum(h_max - h + F32(1), F32(1))).astype(F32)
    w = _rint(h * aspect)
    area = _area(w, h)
    grow = area < min_area
    if grow.any():
        h = np.where(grow, h + F32(1), h)
        w = np.where(grow, _rint(h * aspect), w)
        area = np.where(grow, _area(w, h), area)
    shrink = area > max_area
    if shrink.any():
        h = np.where(shrink, h - F32(1), h)
        w = np.where(shrink, _rint(h * aspect), w)
        area = np.where(shrink, _area(w, h), area)
    ok = ((area >= min_area) & (area <= max_area) & (w <= w32) & (h <= h32)
          & (w > 0) & (h > 0) & (area_hi > 0) & (aspect > 0) & (area_lo <= area_hi))
    y0 = np.floor(u_y * (h32 - h)).astype(F32)  # 0 when h == H
    x0 = np.floor(u_x * (w32 - w)).astype(F32)
    return ok, y0, x0, h, w


#: Attempts drawn together, in order (the first success wins, so batching changes
#: nothing but speed): most crops succeed at once, the rest may need all 100.
_BATCHES = (1, 1, 2, 4, 8, 16, 32, 64)
#: Box x attempt elements evaluated at once (bounds memory).
_CHUNK = 1 << 21


def _chunks(rows: np.ndarray, counts: np.ndarray, width: int):
    """Split ``rows`` so that each part has at most ``_CHUNK`` box x attempt elements."""
    if rows.size == 0:
        return
    total = np.cumsum(counts) * width
    cut = np.searchsorted(total, np.arange(_CHUNK, int(total[-1]), _CHUNK), side="right")
    for part in np.split(rows, np.unique(cut)):
        if part.size:
            yield part


@dataclass(frozen=True)
class _Targets:
    """The boxes each instance's crop must cover, as integer pixel rectangles.

    ``rect`` int64 ``[B, 4]`` (y0, x0, y1, x1) and ``area`` float32 ``[B]`` (at least
    1 pixel each), grouped by instance: row ``i``'s boxes are ``starts[i]:starts[i + 1]``
    (``starts`` int64 ``[k + 1]``). ``min_h`` / ``min_w`` int64 ``[k]``: the smallest box
    height and width per instance (int64 max when it has none).
    """

    rect: np.ndarray
    area: np.ndarray
    starts: np.ndarray
    min_h: np.ndarray
    min_w: np.ndarray


@dataclass(frozen=True)
class _Attempts:
    """Crop attempts, float32 ``[r, A]`` each (row x attempt), in pixels."""

    y0: np.ndarray
    x0: np.ndarray
    h: np.ndarray
    w: np.ndarray

    def rows(self, pick: np.ndarray) -> _Attempts:
        """The attempts of rows ``pick`` (index or mask into the first axis)."""
        return _Attempts(self.y0[pick], self.x0[pick], self.h[pick], self.w[pick])


def _covers(targets: _Targets, rows: np.ndarray, moc: np.ndarray, tries: _Attempts,
            test: np.ndarray) -> np.ndarray:
    """bool ``[r, A]``: attempt ``j`` of row ``i`` covers enough of one of its boxes.

    ``rows`` int64 ``[r]`` index the per-instance arrays (``moc``: float32 ``[k]``
    minimum covered fraction); ``tries`` and ``test`` (the attempts worth testing) are
    ``[r, A]``; every row has at least one box in ``targets``.
    """
    starts = targets.starts
    counts = starts[rows + 1] - starts[rows]
    offsets = np.cumsum(counts) - counts
    seg = np.repeat(np.arange(rows.size), counts)
    idx = np.repeat(starts[rows] - offsets, counts) + np.arange(int(counts.sum()))
    r = targets.rect[idx]
    cy0, cx0 = tries.y0[seg], tries.x0[seg]
    iy = np.minimum(r[:, 2:3], cy0 + tries.h[seg]) - np.maximum(r[:, 0:1], cy0)
    ix = np.minimum(r[:, 3:4], cx0 + tries.w[seg]) - np.maximum(r[:, 1:2], cx0)
    inter = np.where((iy >= 0) & (ix >= 0), iy * ix, 0).astype(F32)
    good = (inter / targets.area[idx][:, None]) >= moc[rows][seg][:, None]
    good &= test[seg]
    return np.logical_or.reduceat(good, offsets, axis=0)


def _low32(bits: np.ndarray) -> np.ndarray:
    """float64 uniform in [0, 1) from the low 32 bits."""
    return (bits & np.uint64(0xFFFFFFFF)).astype(np.float64) * (2.0 ** -32)


def _high32(bits: np.ndarray) -> np.ndarray:
    """float64 uniform in [0, 1) from the high 32 bits."""
    return (bits >> np.uint64(32)).astype(np.float64) * (2.0 ** -32)


def _pixel_rects(boxes: np.ndarray, height: np.ndarray, width: np.ndarray) -> np.ndarray:
    """int64 ``[B, 4]`` (y0, x0, y1, x1) from normalized boxes clipped to [0, 1]."""
    b = np.nan_to_num(np.clip(boxes, F32(0), F32(1)).astype(F32, copy=False))
    h32 = height.astype(F32)
    w32 = width.astype(F32)
    return np.stack([(b[:, 0] * h32).astype(np.int64), (b[:, 1] * w32).astype(np.int64),
                     (b[:, 2] * h32).astype(np.int64), (b[:, 3] * w32).astype(np.int64)],
                    axis=1)


#: Above this many instances the windows are drawn in two threads (numpy releases the
#: GIL in its array loops); results do not depend on it (every draw is keyed).
PARALLEL_MIN = 40_000
#: Attempts per crop before falling back to the whole image (TFOD's ``max_attempts``
#: of ``sample_distorted_bounding_box``).
MAX_ATTEMPTS = 100


def sample_crop_windows(streams: Streams, inst: np.ndarray, height: np.ndarray,
                        width: np.ndarray, params: CropParams, box_inst: np.ndarray,
                        boxes: np.ndarray, step: object
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Crop windows for instances ``inst`` (see :func:`_sample` for the arguments);
    large inputs are split in two halves drawn on two threads."""
    k = int(inst.shape[0])
    if k < PARALLEL_MIN:
        return _sample(streams, inst, height, width, params, box_inst, boxes, step)
    half = k // 2
    cut = int(np.searchsorted(box_inst, half, side="left"))

    def part(lo: int, hi: int, blo: int, bhi: int):
        sub = CropParams(*(getattr(params, f)[lo:hi] for f in CropParams.__dataclass_fields__))
        return _sample(streams, inst[lo:hi], height[lo:hi], width[lo:hi], sub,
                       box_inst[blo:bhi] - lo, boxes[blo:bhi], step)

    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(part, 0, half, 0, cut)
        second = pool.submit(part, half, k, cut, int(box_inst.shape[0]))
        a, b = first.result(), second.result()
    return tuple(np.concatenate([x, y]) for x, y in zip(a, b))  # type: ignore[return-value]


def _targets(height: np.ndarray, width: np.ndarray, box_inst: np.ndarray,
             boxes: np.ndarray) -> _Targets:
    """The pixel rectangles of ``boxes`` (float32 ``[b, 4]`` normalized; ``box_inst``
    int64 ``[b]`` their rows, non-decreasing) for ``k = len(height)`` instances; an
    instance without boxes gets its whole image, and boxes under 1 pixel are dropped."""
    k = int(height.shape[0])
    rect = _pixel_rects(boxes, height[box_inst], width[box_inst])
    rect_area = ((rect[:, 3] - rect[:, 1]) * (rect[:, 2] - rect[:, 0])).astype(F32)
    has_box = np.bincount(box_inst, minlength=k) > 0
    # images without boxes: the whole image is the one box
    empty = np.flatnonzero(~has_box)
    if empty.size:
        box_inst = np.concatenate([box_inst, empty])
        rect = np.concatenate([rect, np.stack([np.zeros_like(empty), np.zeros_like(empty),
                                               height[empty], width[empty]], axis=1)])
        rect_area = np.concatenate([rect_area, (height[empty] * width[empty]).astype(F32)])
        order = np.argsort(box_inst, kind="stable")
        box_inst, rect, rect_area = box_inst[order], rect[order], rect_area[order]
    usable = rect_area >= F32(1)
    box_inst, rect, rect_area = box_inst[usable], rect[usable], rect_area[usable]
    starts = np.searchsorted(box_inst, np.arange(k + 1), side="left")
    big = np.iinfo(np.int64).max
    min_h = np.full(k, big, dtype=np.int64)
    min_w = np.full(k, big, dtype=np.int64)
    np.minimum.at(min_h, box_inst, rect[:, 2] - rect[:, 0])
    np.minimum.at(min_w, box_inst, rect[:, 3] - rect[:, 1])
    return _Targets(rect, rect_area, starts, min_h, min_w)


def _draw_attempts(streams: Streams, ids: np.ndarray, step: object, cols: range,
                   height: np.ndarray, width: np.ndarray, params: CropParams
                   ) -> tuple[np.ndarray, _Attempts]:
    """Attempts ``cols`` for instances ``ids`` (int64 ``[r]``; their sizes and
    parameters given as ``[r]`` arrays): bool ``ok [r, A]`` (the crop fits and has an
    area of at least 1 pixel) and the crops."""
    # two 64-bit hashes per attempt: aspect (23 bits, like TF's RandFloat) and
    # height from the first, y and x from the second (32 bits each)
    first = np.stack([streams.bits(ids, tag(step, "crop_a", j)) for j in cols], axis=1)
    second = np.stack([streams.bits(ids, tag(step, "crop_b", j)) for j in cols], axis=1)
    lo, hi = params.aspect_lo[:, None], params.aspect_hi[:, None]
    u_aspect = (first >> np.uint64(41)).astype(F32) * F32(2.0 ** -23)
    aspect = (u_aspect * (hi - lo) + lo).astype(F32)
    ok, ty0, tx0, th, tw = _generate(
        width[:, None], height[:, None], params.area_lo[:, None], params.area_hi[:, None],
        aspect, _low32(first), _high32(second), _low32(second))
    ok &= (th * tw).astype(F32) >= F32(1)
    return ok, _Attempts(ty0, tx0, th, tw)


def _accepted(targets: _Targets, active: np.ndarray, moc: np.ndarray, ok: np.ndarray,
              tries: _Attempts) -> np.ndarray:
    """bool ``[r, A]``: the attempts (``ok`` and ``tries`` of rows ``active``) accepted,
    i.e. covering ``moc`` (float32 ``[k]``) of some box, or any fitting crop when
    ``moc`` is 0 (coverage >= 0 always holds)."""
    need = (moc > 0)[active][:, None]
    success = ok & ~need
    # a crop of size (h, w) covers at most min(1, h / min_h) * min(1, w / min_w) of any
    # box (exact upper bound, used only to skip the per-box test when it cannot pass)
    bound = (np.minimum(1.0, tries.h / np.maximum(targets.min_h[active], 1)[:, None])
             * np.minimum(1.0, tries.w / np.maximum(targets.min_w[active], 1)[:, None]))
    test = ok & need & (bound >= moc[active].astype(np.float64)[:, None] * (1 - 1e-6))
    cand = np.flatnonzero(test.any(axis=1))
    starts = targets.starts
    for chunk in _chunks(cand, starts[active[cand] + 1] - starts[active[cand]],
                         test.shape[1]):
        success[chunk] |= _covers(targets, active[chunk], moc, tries.rows(chunk), test[chunk])
    return success


def _sample(streams: Streams, inst: np.ndarray, height: np.ndarray,
            width: np.ndarray, params: CropParams, box_inst: np.ndarray,
            boxes: np.ndarray, step: object
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Crop windows for instances ``inst``.

    Args:
        streams: random streams of all instances.
        inst: int64 ``[k]``, the instances to crop (distinct).
        height, width: int64 ``[k]``, their current image sizes.
        params: per-instance parameters (float32 ``[k]`` each).
        box_inst: int64 ``[b]``, for each box of these instances its row in
            ``inst`` (0..k-1), non-decreasing.
        boxes: float32 ``[b, 4]`` their normalized boxes (clipped here to [0, 1]).
        step: identifies the calling step in the random tags.
    Returns:
        ``(y0, x0, h, w)`` int64 ``[k]``: the crop in pixels.
    """
    k = int(inst.shape[0])
    y0 = np.zeros(k, dtype=np.int64)
    x0 = np.zeros(k, dtype=np.int64)
    ch = height.astype(np.int64).copy()
    cw = width.astype(np.int64).copy()
    if k == 0:
        return y0, x0, ch, cw
    targets = _targets(height, width, box_inst, boxes)
    active = np.flatnonzero(np.diff(targets.starts) > 0)  # no usable box: never satisfied
    attempt = 0
    for batch in _BATCHES:
        if active.size == 0 or attempt >= MAX_ATTEMPTS:
            break
        cols = range(attempt, min(attempt + batch, MAX_ATTEMPTS))
        attempt += len(cols)
        sub = CropParams(*(getattr(params, f)[active] for f in CropParams.__dataclass_fields__))
        ok, tries = _draw_attempts(streams, inst[active], step, cols, height[active],
                                   width[active], sub)
        success = _accepted(targets, active, params.min_object_covered, ok, tries)
        found = success.any(axis=1)
        first_ok = success.argmax(axis=1)[found]
        rows = active[found]
        pick = np.flatnonzero(found)
        y0[rows], x0[rows] = tries.y0[pick, first_ok], tries.x0[pick, first_ok]
        ch[rows], cw[rows] = tries.h[pick, first_ok], tries.w[pick, first_ok]
        active = active[~found]
    return y0, x0, ch, cw
