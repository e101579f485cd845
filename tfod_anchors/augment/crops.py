"""Crop-based steps: ``random_crop_image`` and everything built on it, plus the
CenterNet/EfficientDet square crops.

Each function transforms the instances ``inst`` of a :class:`State` in place and
restates TFOD's ``core/preprocessor.py`` semantics (float32 arithmetic where TF
uses it):

* **random crop** - with probability ``random_coef`` the image is left alone
  (``random_coef`` below the smallest float means "always crop"); otherwise a
  window is drawn (:mod:`.crop_window`, 100 attempts, boxes clipped to [0, 1]
  for the sampler only), boxes completely outside the window (touching counts)
  and boxes with less than ``overlap_thresh`` of their area inside are dropped,
  the rest re-expressed in the window and clipped to [0, 1] if ``clip_boxes``;
* **crop to aspect ratio** - the largest window of that ratio (``round`` half to
  even), at a uniform integer offset; boxes with too little overlap dropped, then
  clipped and boxes of zero clipped area dropped;
* **square crop by scale** - a square of ``scale x long side`` around a random
  centre (kept ``border`` pixels from the edges); boxes outside dropped, the rest
  clipped (zero-area boxes stay);
* **scale, crop and pad to square** - the image rescaled by a uniform factor so
  its long side is ``scale x output_size``, an ``output_size`` square taken at a
  random offset (padding when smaller); boxes outside dropped, the rest clipped.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

from .crop_window import CropParams, sample_crop_windows
from .pads import pad_image
from .state import (
    F32,
    State,
    change_frame,
    clip01,
    covered_fraction,
    drop_boxes,
    outside,
    select,
    window_from_pixels,
)
from .streams import Streams, tag


@dataclass(frozen=True)
class CropSettings:
    """One or more ``random_crop_image`` settings (float32/bool arrays ``[n_ops]``).

    ``min_pad``/``max_pad`` (float32 ``[n_ops, 2]``) are used by crop-and-pad only.
    """

    min_object_covered: np.ndarray
    aspect_lo: np.ndarray
    aspect_hi: np.ndarray
    area_lo: np.ndarray
    area_hi: np.ndarray
    overlap_thresh: np.ndarray
    clip_boxes: np.ndarray
    random_coef: np.ndarray
    min_pad: np.ndarray | None = None
    max_pad: np.ndarray | None = None

    @property
    def num_ops(self) -> int:
        return int(self.min_object_covered.shape[0])


def crop_settings(rows: list[dict], with_pad: bool = False) -> CropSettings:
    """Settings from a list of per-operation dicts (keys as the proto fields)."""
    def col(name: str, dtype=F32) -> np.ndarray:
        return np.array([row[name] for row in rows], dtype=dtype)

    return CropSettings(
        min_object_covered=col("min_object_covered"), aspect_lo=col("min_aspect_ratio"),
        aspect_hi=col("max_aspect_ratio"), area_lo=col("min_area"), area_hi=col("max_area"),
        overlap_thresh=col("overlap_thresh"), clip_boxes=col("clip_boxes", bool),
        random_coef=col("random_coef", np.float64),
        min_pad=np.array([row["min_padded_size_ratio"] for row in rows], dtype=F32)
        if with_pad else None,
        max_pad=np.array([row["max_padded_size_ratio"] for row in rows], dtype=F32)
        if with_pad else None)


def random_crop(state: State, streams: Streams, inst: np.ndarray, settings: CropSettings,
                op_index: np.ndarray, key: object) -> np.ndarray:
    """``random_crop_image`` with setting ``op_index[i]`` for instance ``inst[i]``.

    Returns:
        int64 ``[k']``: the instances actually cropped (the others kept their image).
    """
    coef = settings.random_coef[op_index]
    u = streams.uniform32(inst, tag(key, "crop_or_not"))
    do = (coef < sys.float_info.min) | (u > coef.astype(F32))
    inst, op_index = inst[do], op_index[do]
    if inst.size == 0:
        return inst
    height, width = state.height[inst], state.width[inst]
    params = CropParams(
        min_object_covered=settings.min_object_covered[op_index],
        aspect_lo=settings.aspect_lo[op_index], aspect_hi=settings.aspect_hi[op_index],
        area_lo=settings.area_lo[op_index], area_hi=settings.area_hi[op_index])
    sel = select(state, inst)
    y0, x0, ch, cw = sample_crop_windows(streams, inst, height, width, params, sel.row,
                                         state.boxes[sel.box], key)
    apply_crop(state, inst, y0, x0, ch, cw, settings.overlap_thresh[op_index],
               settings.clip_boxes[op_index])
    return inst


def apply_crop(state: State, inst: np.ndarray, y0: np.ndarray, x0: np.ndarray,
               crop_h: np.ndarray, crop_w: np.ndarray, overlap_thresh: np.ndarray,
               clip_boxes: np.ndarray) -> None:
    """Crop instances ``inst`` to the given pixel windows (int64 ``[k]`` each; float32
    ``overlap_thresh`` and bool ``clip_boxes`` per instance): the box half of
    ``_strict_random_crop_image``."""
    sel = select(state, inst)
    window = window_from_pixels(y0, x0, y0 + crop_h, x0 + crop_w, state.height[inst],
                                state.width[inst])[sel.row]
    boxes = state.boxes[sel.box]
    keep = ~outside(boxes, window) & (covered_fraction(boxes, window)
                                      >= np.asarray(overlap_thresh, dtype=F32)[sel.row])
    moved = change_frame(boxes, window)
    clip = np.asarray(clip_boxes, dtype=bool)[sel.row]
    moved[clip] = clip01(moved[clip])
    state.boxes[sel.box] = moved
    state.height[inst], state.width[inst] = crop_h, crop_w
    drop_boxes(state, sel.box[~keep])


def ssd_crop(state: State, streams: Streams, inst: np.ndarray, settings: CropSettings,
             key: object) -> None:
    """``ssd_random_crop``: one setting per image, chosen uniformly, then random crop."""
    op_index = streams.integers(inst, tag(key, "operation"), 0, settings.num_ops)
    random_crop(state, streams, inst, settings, op_index, key)


def ssd_crop_pad(state: State, streams: Streams, inst: np.ndarray, settings: CropSettings,
                 key: object) -> None:
    """``ssd_random_crop_pad``: one setting per image, then ``random_crop_pad_image``."""
    op_index = streams.integers(inst, tag(key, "operation"), 0, settings.num_ops)
    crop_pad(state, streams, inst, settings, op_index, key)


def crop_pad(state: State, streams: Streams, inst: np.ndarray, settings: CropSettings,
             op_index: np.ndarray, key: object) -> None:
    """``random_crop_pad_image``: random crop, then a random pad whose size range is
    ``int(float32(original size) x ratio)`` (the size before the crop)."""
    assert settings.min_pad is not None and settings.max_pad is not None
    orig = np.stack([state.height[inst], state.width[inst]], axis=1).astype(F32)
    min_size = (orig * settings.min_pad[op_index]).astype(np.int64)
    max_size = (orig * settings.max_pad[op_index]).astype(np.int64)
    random_crop(state, streams, inst, settings, op_index, key)
    pad_image(state, streams, inst, min_size, max_size, (key, "pad"))


def crop_to_aspect_ratio(state: State, streams: Streams, inst: np.ndarray, aspect_ratio: float,
                         overlap_thresh: float, clip_boxes: bool, key: object) -> None:
    """``random_crop_to_aspect_ratio``."""
    h, w = state.height[inst], state.width[inst]
    h32, w32 = h.astype(F32), w.astype(F32)
    new_ar = F32(aspect_ratio)
    orig_ar = w32 / h32
    th = np.where(orig_ar >= new_ar, h, np.rint(w32 / new_ar).astype(np.int64))
    tw = np.where(orig_ar <= new_ar, w, np.rint(h32 * new_ar).astype(np.int64))
    oy = streams.integers(inst, tag(key, "offset_y"), 0, h - th + 1)
    ox = streams.integers(inst, tag(key, "offset_x"), 0, w - tw + 1)
    window_k = window_from_pixels(oy, ox, oy + th, ox + tw, h, w)
    sel = select(state, inst)
    window = window_k[sel.row]
    boxes = state.boxes[sel.box]
    keep = covered_fraction(boxes, window) >= F32(overlap_thresh)
    moved = change_frame(boxes, window)
    if clip_boxes:
        moved = clip01(moved)
        keep &= (moved[:, 2] - moved[:, 0]) * (moved[:, 3] - moved[:, 1]) > 0
    state.boxes[sel.box] = moved
    state.height[inst], state.width[inst] = th, tw
    drop_boxes(state, sel.box[~keep])


def _crop_border(border: int, size: np.ndarray) -> np.ndarray:
    """CenterNet's border: ``border // clip(2^ceil(log2(2 border / size)), 1, border)``
    in float32."""
    b = F32(border)
    with np.errstate(divide="ignore"):
        i = np.ceil(np.log(F32(2.0) * b / size.astype(F32)) / np.log(F32(2.0)))
    divisor = np.clip(np.power(F32(2.0), i.astype(F32)), F32(1), b).astype(np.int64)
    return np.int64(border) // divisor


def square_crop_by_scale(state: State, streams: Streams, inst: np.ndarray, max_border: int,
                         scale_min: float, scale_max: float, num_scales: int,
                         key: object) -> None:
    """``random_square_crop_by_scale``."""
    h, w = state.height[inst], state.width[inst]
    scales = np.linspace(F32(scale_min), F32(scale_max), num_scales, dtype=F32)
    scale = scales[streams.integers(inst, tag(key, "scale"), 0, num_scales)]
    size = (scale * np.maximum(h, w).astype(F32)).astype(np.int64)
    hb, wb = _crop_border(max_border, h), _crop_border(max_border, w)
    yc = streams.integers(inst, tag(key, "y_center"), hb, h - hb + 1)
    xc = streams.integers(inst, tag(key, "x_center"), wb, w - wb + 1)
    half = size // 2
    y0, x0 = yc - half, xc - half
    window_k = np.stack([y0 / h, x0 / w, (y0 + size) / h, (x0 + size) / w],
                        axis=1).astype(F32)
    _reframe_prune_clip(state, inst, window_k)
    state.height[inst], state.width[inst] = size, size


def scale_crop_pad_square(state: State, streams: Streams, inst: np.ndarray, output_size: int,
                          scale_min: float, scale_max: float, key: object) -> None:
    """``random_scale_crop_and_pad_to_square``."""
    h, w = state.height[inst], state.width[inst]
    lo, hi = F32(scale_min), F32(scale_max)
    scale = (streams.uniform32(inst, tag(key, "scale")) * (hi - lo) + lo).astype(F32)
    max_dim = np.maximum(h, w).astype(F32)
    ar_y, ar_x = h.astype(F32) / max_dim, w.astype(F32) / max_dim
    out = F32(output_size)
    sh = (scale * out * ar_y).astype(np.int64)
    sw = (scale * out * ar_x).astype(np.int64)
    oy = (np.maximum(F32(0), (sh - output_size).astype(F32))
          * streams.uniform32(inst, tag(key, "offset_y"))).astype(np.int64)
    ox = (np.maximum(F32(0), (sw - output_size).astype(F32))
          * streams.uniform32(inst, tag(key, "offset_x"))).astype(np.int64)
    window_k = window_from_pixels(oy, ox, oy + output_size, ox + output_size, sh, sw)
    _reframe_prune_clip(state, inst, window_k)
    state.height[inst] = output_size
    state.width[inst] = output_size


def _reframe_prune_clip(state: State, inst: np.ndarray, window_k: np.ndarray) -> None:
    """Boxes re-expressed in per-instance windows ``[k, 4]``; those completely outside
    the unit square dropped, the rest clipped to it (zero-area boxes kept)."""
    sel = select(state, inst)
    moved = change_frame(state.boxes[sel.box], window_k[sel.row])
    unit = np.array([[0, 0, 1, 1]], dtype=F32)
    gone = outside(moved, unit)
    state.boxes[sel.box] = clip01(moved)
    drop_boxes(state, sel.box[gone])
