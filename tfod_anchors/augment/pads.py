"""Padding steps: the image grows, boxes shrink in normalized units, none is dropped.

* **pad image** (``random_pad_image``; ``random_absolute_pad_image`` and the pad
  half of ``random_crop_pad_image`` call it) - target size per side: at least the
  current size and ``min_size`` (default: current), below ``max_size`` (default:
  twice the current; never below the current), drawn as ``randint[min, max)``
  when ``max > min`` else ``max``; offset ``randint[0, target - size)`` when the
  target is larger, else 0; boxes re-expressed in the window
  ``[-oy, -ox, th - oy, tw - ox] / [h, w, h, w]`` (float32);
* **pad to aspect ratio** (``random_pad_to_aspect_ratio``, used by
  ``ssd_random_crop_pad_fixed_aspect_ratio``) - all in float32: the smallest
  canvas of that ratio, scaled by a uniform factor within the padded-size ratios,
  rounded half to even, image at the top left.
"""

from __future__ import annotations

import numpy as np

from .state import F32, State, change_frame, select
from .streams import Streams, tag


def pad_image(state: State, streams: Streams, inst: np.ndarray, min_size: np.ndarray | None,
              max_size: np.ndarray | None, key: object) -> None:
    """``random_pad_image`` for instances ``inst``.

    Args:
        min_size, max_size: int64 ``[k, 2]`` (height, width) or None for TFOD's defaults.
    """
    h, w = state.height[inst], state.width[inst]
    size = np.stack([h, w], axis=1)
    hi = 2 * size if max_size is None else np.asarray(max_size, dtype=np.int64)
    hi = np.maximum(hi, size)
    lo = size if min_size is None else np.asarray(min_size, dtype=np.int64)
    lo = np.maximum(lo, size)
    target = hi.copy()
    offset = np.zeros_like(size)
    for axis, name in ((0, "height"), (1, "width")):
        grow = hi[:, axis] > lo[:, axis]
        if grow.any():
            target[grow, axis] = streams.integers(
                inst[grow], tag(key, "target", name), lo[grow, axis], hi[grow, axis])
        bigger = target[:, axis] > size[:, axis]
        if bigger.any():
            offset[bigger, axis] = streams.integers(
                inst[bigger], tag(key, "offset", name), 0,
                target[bigger, axis] - size[bigger, axis])
    apply_pad(state, inst, target, offset)


def apply_pad(state: State, inst: np.ndarray, target: np.ndarray, offset: np.ndarray) -> None:
    """Pad instances ``inst`` to ``target`` (int64 ``[k, 2]`` height, width) with the
    image at ``offset`` (int64 ``[k, 2]``): the box half of ``random_pad_image``."""
    h32, w32 = state.height[inst].astype(F32), state.width[inst].astype(F32)
    window_k = np.stack([(-offset[:, 0]).astype(F32) / h32, (-offset[:, 1]).astype(F32) / w32,
                         (target[:, 0] - offset[:, 0]).astype(F32) / h32,
                         (target[:, 1] - offset[:, 1]).astype(F32) / w32], axis=1)
    sel = select(state, inst)
    state.boxes[sel.box] = change_frame(state.boxes[sel.box], window_k[sel.row])
    state.height[inst], state.width[inst] = target[:, 0], target[:, 1]


def pad_to_aspect_ratio(state: State, streams: Streams, inst: np.ndarray, aspect_ratio: float,
                        min_padded_size_ratio: tuple[float, float],
                        max_padded_size_ratio: tuple[float, float], key: object) -> None:
    """``random_pad_to_aspect_ratio`` for instances ``inst``."""
    h = state.height[inst].astype(F32)
    w = state.width[inst].astype(F32)
    new_ar = F32(aspect_ratio)
    ar = w / h
    th = np.where(ar <= new_ar, h, w / new_ar).astype(F32)
    tw = np.where(ar >= new_ar, w, h * new_ar).astype(F32)
    min_h = np.maximum(F32(min_padded_size_ratio[0]) * h, th)
    min_w = np.maximum(F32(min_padded_size_ratio[1]) * w, tw)
    max_h = np.maximum(F32(max_padded_size_ratio[0]) * h, th)
    max_w = np.maximum(F32(max_padded_size_ratio[1]) * w, tw)
    max_scale = np.minimum(max_h / th, max_w / tw)
    min_scale = np.minimum(max_scale, np.maximum(min_h / th, min_w / tw))
    u = streams.uniform32(inst, tag(key, "scale"))
    scale = (u * (max_scale - min_scale) + min_scale).astype(F32)
    th = np.rint(scale * th).astype(F32)
    tw = np.rint(scale * tw).astype(F32)
    zero = np.zeros_like(th)
    window_k = np.stack([zero, zero, th / h, tw / w], axis=1).astype(F32)
    sel = select(state, inst)
    state.boxes[sel.box] = change_frame(state.boxes[sel.box], window_k[sel.row])
    state.height[inst] = th.astype(np.int64)
    state.width[inst] = tw.astype(np.int64)
