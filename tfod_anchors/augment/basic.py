"""Steps that need no crop window: flips, rotation, rescales, box jitter, self
concatenation and the label steps that drop boxes.

Semantics restated from TFOD's ``core/preprocessor.py`` (float32 where TF is):

* flips/rotation happen when a float32 uniform is ``< probability``; horizontal:
  ``x -> 1 - x``; vertical: ``y -> 1 - y``; rotation (counter-clockwise):
  ``[1 - xmax, ymin, 1 - xmin, ymax]`` and height/width swap;
* ``random_image_scale``: ``new = int(float32(size) * U[min, max))``;
* ``random_downscale_to_target_pixels``: with probability ``1 - random_coef`` and
  only when ``h * w > target`` (``target = randint[min, max)``), both sides
  become ``int(sqrt(float32(target) / float32(h w)) * float32(side))``;
* ``resize_image`` / ``random_resize_method``: a fixed new size;
* ``random_jitter_boxes``: per box, uniform distortions of the edges (modes as in
  TFOD), result clipped to [0, 1];
* ``random_self_concat_image``: vertical with probability ``p_v`` (boxes halved in
  y, then a copy shifted by 0.5), then horizontal with ``p_h``;
* ``drop_label_probabilistically``: a box of that label goes when a float32
  uniform is ``<= drop_probability``.

The per-box draws of the jitter and the label drop are keyed by each box's content
(:func:`.streams.box_keys`), so the order of the boxes within an image does not
change them.
"""

from __future__ import annotations

import numpy as np

from .state import F32, State, drop_boxes, select
from .streams import Streams, box_keys, tag


def _chosen(streams: Streams, inst: np.ndarray, probability: float, key: object) -> np.ndarray:
    return inst[streams.uniform32(inst, tag(key, "do")) < F32(probability)]


def horizontal_flip(state: State, streams: Streams, inst: np.ndarray, probability: float,
                    key: object) -> None:
    sel = select(state, _chosen(streams, inst, probability, key))
    b = state.boxes[sel.box]
    state.boxes[sel.box] = np.stack([b[:, 0], F32(1) - b[:, 3], b[:, 2], F32(1) - b[:, 1]],
                                    axis=1)


def vertical_flip(state: State, streams: Streams, inst: np.ndarray, probability: float,
                  key: object) -> None:
    sel = select(state, _chosen(streams, inst, probability, key))
    b = state.boxes[sel.box]
    state.boxes[sel.box] = np.stack([F32(1) - b[:, 2], b[:, 1], F32(1) - b[:, 0], b[:, 3]],
                                    axis=1)


def rotation90(state: State, streams: Streams, inst: np.ndarray, probability: float,
               key: object) -> None:
    chosen = _chosen(streams, inst, probability, key)
    sel = select(state, chosen)
    b = state.boxes[sel.box]
    state.boxes[sel.box] = np.stack([F32(1) - b[:, 3], b[:, 0], F32(1) - b[:, 1], b[:, 2]],
                                    axis=1)
    h = state.height[chosen].copy()
    state.height[chosen] = state.width[chosen]
    state.width[chosen] = h


def image_scale(state: State, streams: Streams, inst: np.ndarray, min_ratio: float,
                max_ratio: float, key: object) -> None:
    lo, hi = F32(min_ratio), F32(max_ratio)
    coef = (streams.uniform32(inst, tag(key, "scale")) * (hi - lo) + lo).astype(F32)
    state.height[inst] = (state.height[inst].astype(F32) * coef).astype(np.int64)
    state.width[inst] = (state.width[inst].astype(F32) * coef).astype(np.int64)


def downscale_to_target_pixels(state: State, streams: Streams, inst: np.ndarray,
                               random_coef: float, min_pixels: int, max_pixels: int,
                               key: object) -> None:
    do = streams.uniform32(inst, tag(key, "do")) >= F32(random_coef)
    target = streams.integers(inst, tag(key, "target_pixels"), min_pixels, max_pixels)
    h, w = state.height[inst], state.width[inst]
    pixels = h * w
    apply = do & (pixels > target)
    scale = np.sqrt(target.astype(F32) / pixels.astype(F32)).astype(F32)
    state.height[inst] = np.where(apply, (scale * h.astype(F32)).astype(np.int64), h)
    state.width[inst] = np.where(apply, (scale * w.astype(F32)).astype(np.int64), w)


def resize_to(state: State, inst: np.ndarray, height: int, width: int) -> None:
    state.height[inst] = height
    state.width[inst] = width


def scale_to_pixels(state: State, inst: np.ndarray) -> None:
    sel = select(state, inst)
    h = state.height[sel.inst][sel.row].astype(F32)
    w = state.width[sel.inst][sel.row].astype(F32)
    b = state.boxes[sel.box]
    state.boxes[sel.box] = np.stack([b[:, 0] * h, b[:, 1] * w, b[:, 2] * h, b[:, 3] * w], axis=1)


JITTER_RANGES = {
    "default": (-1.0, 1.0), "expand": (0.0, 1.0), "shrink": (-1.0, 0.0),
    "expand_symmetric": (0.0, 1.0), "shrink_symmetric": (-1.0, 0.0),
    "expand_symmetric_xy": (0.0, 1.0), "shrink_symmetric_xy": (-1.0, 0.0),
}


def jitter_boxes(state: State, streams: Streams, inst: np.ndarray, ratio: float, mode: str,
                 key: object) -> None:
    sel = select(state, inst)
    if sel.box.size == 0:
        return
    b = state.boxes[sel.box]
    box_inst = state.box_inst[sel.box]
    key_of_box = box_keys(box_inst, b, state.label[sel.box])
    r = F32(ratio)
    lo_sign, hi_sign = JITTER_RANGES[mode]
    lo, hi = F32(lo_sign) * r, F32(hi_sign) * r
    height = b[:, 2] - b[:, 0]
    width = b[:, 3] - b[:, 1]
    yc = b[:, 0] + height / F32(2)
    xc = b[:, 1] + width / F32(2)
    height = np.maximum(np.abs(height), F32(1e-6))
    width = np.maximum(np.abs(width), F32(1e-6))

    def distortion(column: int) -> np.ndarray:
        u = streams.per_box_uniform32(box_inst, key_of_box, tag(key, "distortion", column))
        return (F32(1) + (u * (hi - lo) + lo)).astype(F32)

    if "symmetric" in mode:
        dh, dw = distortion(0), distortion(1)
        max_dh = np.abs(np.minimum(F32(2) * yc / height, F32(2) * (F32(1) - yc) / height))
        max_dw = np.abs(np.minimum(F32(2) * xc / width, F32(2) * (F32(1) - xc) / width))
        if mode.endswith("_xy"):
            dw = dh
            max_dh = max_dw = np.minimum(max_dw, max_dh)
        dh = np.clip(dh, -max_dh, max_dh)
        dw = np.clip(dw, -max_dw, max_dw)
        out = np.stack([yc - height * dh / F32(2), xc - width * dw / F32(2),
                        yc + height * dh / F32(2), xc + width * dw / F32(2)], axis=1)
    else:
        d = [distortion(c) for c in range(4)]
        out = np.stack([yc - height * d[0] / F32(2), xc - width * d[1] / F32(2),
                        yc + height * d[2] / F32(2), xc + width * d[3] / F32(2)], axis=1)
    state.boxes[sel.box] = np.clip(out, F32(0), F32(1)).astype(F32)


def self_concat(state: State, streams: Streams, inst: np.ndarray, p_vertical: float,
                p_horizontal: float, key: object) -> None:
    vertical = streams.uniform32(inst, tag(key, "vertical")) < F32(p_vertical)
    horizontal = streams.uniform32(inst, tag(key, "horizontal")) < F32(p_horizontal)
    for axis, chosen in ((0, inst[vertical]), (1, inst[horizontal])):
        if chosen.size == 0:
            continue
        sel = select(state, chosen)
        old = state.boxes[sel.box].copy()
        old[:, axis] *= F32(0.5)
        old[:, axis + 2] *= F32(0.5)
        new = old.copy()
        new[:, axis] += F32(0.5)
        new[:, axis + 2] += F32(0.5)
        state.boxes[sel.box] = old
        order = np.argsort(np.concatenate([state.box_inst, state.box_inst[sel.box]]),
                           kind="stable")
        state.box_inst = np.concatenate([state.box_inst, state.box_inst[sel.box]])[order]
        state.boxes = np.concatenate([state.boxes, new])[order]
        state.label = np.concatenate([state.label, state.label[sel.box]])[order]
        state.origin = np.concatenate([state.origin, state.origin[sel.box]])[order]
        if axis == 0:
            state.height[chosen] *= 2
        else:
            state.width[chosen] *= 2


def drop_label(state: State, streams: Streams, inst: np.ndarray, label: int,
               probability: float, key: object) -> None:
    sel = select(state, inst)
    if sel.box.size == 0:
        return
    box_inst = state.box_inst[sel.box]
    u = streams.per_box_uniform32(
        box_inst, box_keys(box_inst, state.boxes[sel.box], state.label[sel.box]),
        tag(key, "drop"))
    keep = (u > F32(probability)) | (state.label[sel.box] != label)
    drop_boxes(state, sel.box[~keep])


def remap_labels(state: State, inst: np.ndarray, original: list[int], new_label: int) -> None:
    sel = select(state, inst)
    labels = state.label[sel.box]
    state.label[sel.box] = np.where(np.isin(labels, original), new_label, labels)
