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
    """lrintf: float32 rounded half to even, as int64."""
    return np.rint(x).astype(np.int64)


def _generate(width, height, area_lo, area_hi, aspect, u_h, u_y, u_x):
    """One crop attempt for each row (all arrays ``[k]``).

    Returns:
        ``(ok, y0, x0, h, w)``, bool and int64 ``[k]``.
    """
    w32 = width.astype(F32)
    h32 = height.astype(F32)
    min_area = (area_lo * w32 * h32).astype(F32)
    max_area = (area_hi * w32 * h32).astype(F32)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = _rint(np.sqrt(min_area / aspect))
        h_max = _rint(np.sqrt(max_area / aspect))
    too_wide = _rint(h_max.astype(F32) * aspect) > width
    if too_wide.any():
        alt = np.floor((width.astype(np.float64) + 0.5 - _EPS)
                       / aspect.astype(np.float64)).astype(np.int64)
        alt = np.where(_rint(alt.astype(F32) * aspect) > width, alt - 1, alt)
        h_max = np.where(too_wide, alt, h_max)
    h_max = np.minimum(h_max, height)
    h = np.minimum(h, h_max)
    span = np.maximum(h_max - h + 1, 1)
    h = h + np.where(h < h_max, np.floor(u_h * span).astype(np.int64), 0)
    w = _rint(h.astype(F32) * aspect)
    area = (w * h).astype(F32)
    grow = area < min_area
    h = np.where(grow, h + 1, h)
    w = np.where(grow, _rint(h.astype(F32) * aspect), w)
    area = np.where(grow, (w * h).astype(F32), area)
    shrink = area > max_area
    h = np.where(shrink, h - 1, h)
    w = np.where(shrink, _rint(h.astype(F32) * aspect), w)
    area = np.where(shrink, (w * h).astype(F32), area)
    ok = ((area >= min_area) & (area <= max_area) & (w <= width) & (h <= height)
          & (w > 0) & (h > 0) & (area_hi > 0) & (aspect > 0) & (area_lo <= area_hi))
    y0 = np.where(h < height, np.floor(u_y * np.maximum(height - h, 1)).astype(np.int64), 0)
    x0 = np.where(w < width, np.floor(u_x * np.maximum(width - w, 1)).astype(np.int64), 0)
    return ok, y0, x0, h, w


def _pixel_rects(boxes: np.ndarray, height: np.ndarray, width: np.ndarray) -> np.ndarray:
    """int64 ``[B, 4]`` (y0, x0, y1, x1) from normalized boxes clipped to [0, 1]."""
    b = np.clip(boxes, F32(0), F32(1)).astype(F32, copy=False)
    h32 = height.astype(F32)
    w32 = width.astype(F32)
    return np.stack([(b[:, 0] * h32).astype(np.int64), (b[:, 1] * w32).astype(np.int64),
                     (b[:, 2] * h32).astype(np.int64), (b[:, 3] * w32).astype(np.int64)],
                    axis=1)


#: Above this many instances the windows are drawn in two threads (numpy releases the
#: GIL in its array loops); results do not depend on it (every draw is keyed).
PARALLEL_MIN = 40_000


def sample_crop_windows(streams: Streams, inst: np.ndarray, height: np.ndarray,
                        width: np.ndarray, params: CropParams, box_inst: np.ndarray,
                        boxes: np.ndarray, step: object, max_attempts: int = 100
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Crop windows for instances ``inst`` (see :func:`_sample` for the arguments);
    large inputs are split in two halves drawn on two threads."""
    k = int(inst.shape[0])
    if k < PARALLEL_MIN:
        return _sample(streams, inst, height, width, params, box_inst, boxes, step,
                       max_attempts)
    half = k // 2
    cut = int(np.searchsorted(box_inst, half, side="left"))

    def part(lo: int, hi: int, blo: int, bhi: int):
        sub = CropParams(*(getattr(params, f)[lo:hi] for f in CropParams.__dataclass_fields__))
        return _sample(streams, inst[lo:hi], height[lo:hi], width[lo:hi], sub,
                       box_inst[blo:bhi] - lo, boxes[blo:bhi], step, max_attempts)

    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(part, 0, half, 0, cut)
        second = pool.submit(part, half, k, cut, int(box_inst.shape[0]))
        a, b = first.result(), second.result()
    return tuple(np.concatenate([x, y]) for x, y in zip(a, b))  # type: ignore[return-value]


def _sample(streams: Streams, inst: np.ndarray, height: np.ndarray,
            width: np.ndarray, params: CropParams, box_inst: np.ndarray,
            boxes: np.ndarray, step: object, max_attempts: int = 100
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
    has_usable = np.diff(starts) > 0
    # smallest usable box height and width per instance: a crop of size (h, w) covers
    # at most min(1, h / min_h) * min(1, w / min_w) of any box (exact upper bound,
    # used only to skip the per-box test when it cannot pass)
    big = np.iinfo(np.int64).max
    min_h = np.full(k, big, dtype=np.int64)
    min_w = np.full(k, big, dtype=np.int64)
    np.minimum.at(min_h, box_inst, rect[:, 2] - rect[:, 0])
    np.minimum.at(min_w, box_inst, rect[:, 3] - rect[:, 1])
    needs_boxes = params.min_object_covered > 0  # coverage >= 0 always holds

    active = np.flatnonzero(has_usable)  # no usable box: never satisfied
    for attempt in range(max_attempts):
        if active.size == 0:
            break
        ids = inst[active]
        lo, hi = params.aspect_lo[active], params.aspect_hi[active]
        aspect = (streams.uniform32(ids, tag(step, "aspect", attempt)) * (hi - lo) + lo
                  ).astype(F32)
        ok, ty0, tx0, th, tw = _generate(
            width[active], height[active], params.area_lo[active], params.area_hi[active],
            aspect, streams.uniform(ids, tag(step, "height", attempt)),
            streams.uniform(ids, tag(step, "y", attempt)),
            streams.uniform(ids, tag(step, "x", attempt)))
        ok &= (th * tw).astype(F32) >= F32(1)
        free = ok & ~needs_boxes[active]
        if free.any():
            rows = active[free]
            y0[rows], x0[rows], ch[rows], cw[rows] = ty0[free], tx0[free], th[free], tw[free]
        bound = (np.minimum(1.0, th / np.maximum(min_h[active], 1))
                 * np.minimum(1.0, tw / np.maximum(min_w[active], 1)))
        ok &= needs_boxes[active] & (
            bound >= params.min_object_covered[active].astype(np.float64) * (1 - 1e-6))
        cand = np.flatnonzero(ok)
        if free.any() and not cand.size:
            active = active[~free]
        if cand.size:
            rows = active[cand]
            counts = starts[rows + 1] - starts[rows]
            seg = np.repeat(np.arange(cand.size), counts)
            idx = np.repeat(starts[rows] - np.cumsum(counts) + counts, counts) + np.arange(
                int(counts.sum()))
            r = rect[idx]
            cy0, cx0 = ty0[cand][seg], tx0[cand][seg]
            cy1, cx1 = cy0 + th[cand][seg], cx0 + tw[cand][seg]
            iy = np.minimum(r[:, 2], cy1) - np.maximum(r[:, 0], cy0)
            ix = np.minimum(r[:, 3], cx1) - np.maximum(r[:, 1], cx0)
            inter = np.where((iy >= 0) & (ix >= 0), iy * ix, 0).astype(F32)
            frac = (inter / rect_area[idx]).astype(F32)
            good = frac >= params.min_object_covered[rows][seg]
            accepted = np.bincount(seg[good], minlength=cand.size) > 0
            done = rows[accepted]
            y0[done], x0[done] = ty0[cand][accepted], tx0[cand][accepted]
            ch[done], cw[done] = th[cand][accepted], tw[cand][accepted]
            keep_active = ~free
            keep_active[cand[accepted]] = False
            active = active[keep_active]
    return y0, x0, ch, cw
