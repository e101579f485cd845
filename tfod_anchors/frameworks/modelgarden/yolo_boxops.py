"""The box arithmetic of the Model Garden YOLO input pipeline, in numpy float32.

Vectorised over boxes: every function takes boxes ``[N, 4]`` ``(ymin, xmin, ymax,
xmax)`` and per-box parameters already gathered to ``[N, ...]``. The stages are those of
``official/projects/yolo/ops/preprocessing_ops.py`` (``resize_and_jitter_image``,
``mosaic_cut``, ``transform_and_clip_boxes``, ``_build_transform``,
``affine_warp_boxes``, ``boxes_candidates``), written from their formulas; the random
values are arguments (uniforms in ``[0, 1)``), so a test can feed hand-picked draws.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

F32 = np.float32


def tile2(hw: np.ndarray) -> np.ndarray:
    """float32 ``[N, 2]`` (y, x) -> ``[N, 4]`` (y, x, y, x)."""
    hw = np.asarray(hw, F32)
    return np.concatenate([hw, hw], axis=-1)


def non_empty(boxes: np.ndarray) -> np.ndarray:
    """bool ``[N]``: height > 0 and width > 0."""
    return (boxes[:, 2] - boxes[:, 0] > 0) & (boxes[:, 3] - boxes[:, 1] > 0)


def clip(boxes: np.ndarray, hw: np.ndarray) -> np.ndarray:
    """Boxes clipped to ``[0, h] x [0, w]`` (``hw`` float32 ``[N, 2]`` or ``[2]``)."""
    return np.maximum(np.minimum(boxes, tile2(hw)), F32(0)).astype(F32)


@dataclass(frozen=True)
class Info:
    """One resize/crop/pad step (a row of the wheel's ``infos``), per box, float32
    ``[N, 2]`` each: the input size it denormalizes by, the output size it clips to and
    normalizes by, the scale and the offset subtracted after scaling (pixels)."""

    in_hw: np.ndarray
    out_hw: np.ndarray
    scale: np.ndarray
    offset: np.ndarray


def apply_info(boxes: np.ndarray, history: np.ndarray, valid: np.ndarray, info: Info,
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One ``transform_and_clip_boxes`` info step on normalized boxes: denormalize,
    scale, shift, clip (``history``: not clipped), update ``valid``, normalize."""
    b = boxes * tile2(info.in_hw)
    h = history * tile2(info.in_hw)
    b = b * tile2(info.scale) - tile2(info.offset)
    h = h * tile2(info.scale) - tile2(info.offset)
    b = clip(b, info.out_hw)
    valid = valid & non_empty(b)
    out = tile2(info.out_hw)
    return (b / out).astype(F32), (h / out).astype(F32), valid


def candidates(boxes: np.ndarray, history: np.ndarray, area_thresh: float) -> np.ndarray:
    """``boxes_candidates`` on pixel boxes: bool ``[N]``, kept. With a non-zero
    ``area_thresh``: both sides >= 2 px, area > ``area_thresh`` times the unclipped
    (history) area, aspect < 20; with 0: area > 0 only."""
    wh_thr, ar_thr = (F32(0), np.inf) if area_thresh == 0.0 else (F32(2), F32(20))
    og_h = np.maximum(history[:, 2] - history[:, 0], F32(0))
    og_w = np.maximum(history[:, 3] - history[:, 1], F32(0))
    ch = np.maximum(boxes[:, 2] - boxes[:, 0], F32(0))
    cw = np.maximum(boxes[:, 3] - boxes[:, 1], F32(0))
    eps = F32(1e-16)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        ar = np.maximum(cw / (ch + eps), ch / (cw + eps))
        area = (ch * cw) / (og_w * og_h + eps)
    return (cw >= wh_thr) & (ch >= wh_thr) & (area > F32(abs(area_thresh))) & (ar < ar_thr)


def letterbox_jitter(image_hw: np.ndarray, out_hw: tuple[int, int], letter_box: np.ndarray,
                     jitter_u: np.ndarray, jitter: float, shift: np.ndarray,
                     random_pad: bool) -> dict[str, np.ndarray]:
    """``resize_and_jitter_image``'s geometry per image (float32; ints truncated as
    ``tf.cast`` truncates).

    Args:
        image_hw: float32 ``[T, 2]`` image sizes; out_hw: the desired ``(h, w)``.
        letter_box: bool ``[T]``; jitter_u: float32 ``[T, 4]`` uniforms for ``pleft,
        pright, ptop, pbottom``; shift: float32 ``[T, 2]`` (shifty, shiftx).
    Returns:
        ``crop`` (int offsets ``[T, 2]``), ``crop_hw`` (cropped size ``[T, 2]``),
        ``pad`` (int ``[T, 4]`` top, left, bottom, right), ``dst`` (float32 ``[T, 4]``
        ptop, pleft, pbottom, pright after the crop, for ``mosaic_cut``).
    """
    h0, w0 = image_hw[:, 0].astype(F32), image_hw[:, 1].astype(F32)
    height, width = F32(out_hw[0]), F32(out_hw[1])
    jw, jh = w0 * F32(jitter), h0 * F32(jitter)
    pleft, pright = -jw + F32(2) * jw * jitter_u[:, 0], -jw + F32(2) * jw * jitter_u[:, 1]
    ptop, pbottom = -jh + F32(2) * jh * jitter_u[:, 2], -jh + F32(2) * jh * jitter_u[:, 3]
    in_ar = width / height
    wide = (w0 / h0) / in_ar > 1
    delta_h = np.where(letter_box & wide, ((w0 / in_ar) - h0) / F32(2), F32(0)).astype(F32)
    delta_w = np.where(letter_box & ~wide, ((h0 * in_ar) - w0) / F32(2), F32(0)).astype(F32)
    ptop, pbottom = ptop - delta_h, pbottom - delta_h
    pleft, pright = pleft - delta_w, pright - delta_w
    swidth, sheight = w0 - pleft - pright, h0 - ptop - pbottom
    top, left = np.maximum(ptop, F32(0)), np.maximum(pleft, F32(0))
    bottom, right = np.minimum(sheight + ptop, h0), np.minimum(swidth + pleft, w0)
    h_, w_ = bottom - top, right - left
    if random_pad:
        rmh, rmw = np.maximum(F32(0), -ptop), np.maximum(F32(0), -pleft)
    else:
        rmw, rmh = (swidth - w_) * shift[:, 1], (sheight - h_) * shift[:, 0]
    crop = np.trunc(np.stack([top, left, bottom, right], axis=1)).astype(np.int64)
    pad = np.trunc(np.stack([rmh, rmw, sheight - (rmh + h_), swidth - (rmw + w_)],
                            axis=1)).astype(np.int64)
    dst = np.stack([rmh, rmw, rmh + h_, rmw + w_], axis=1).astype(F32)
    return {"crop": crop[:, :2], "crop_hw": crop[:, 2:] - crop[:, :2], "pad": pad,
            "dst": dst, "s_hw": np.stack([sheight, swidth], axis=1).astype(F32)}


def letterbox_infos(image_hw: np.ndarray, out_hw: tuple[int, int],
                    geo: dict[str, np.ndarray]) -> list[Info]:
    """The crop and pad-and-resize infos of :func:`letterbox_jitter` per image
    (``[T, 2]`` arrays; gather them per box before :func:`apply_info`)."""
    crop_hw = geo["crop_hw"].astype(F32)
    ones = np.ones_like(crop_hw)
    crop = Info(np.asarray(image_hw, F32), crop_hw, ones, geo["crop"].astype(F32))
    pad = geo["pad"]
    isize = (geo["crop_hw"] + pad[:, :2] + pad[:, 2:]).astype(F32)
    osize = np.broadcast_to(np.array(out_hw, F32), isize.shape)
    scale = (osize / isize).astype(F32)
    resize = Info(crop_hw, osize.astype(F32), scale, (-pad[:, :2].astype(F32) * scale))
    return [crop, resize]


def mosaic_cut_info(out_hw: tuple[int, int], image_hw: np.ndarray, cut: np.ndarray,
                    dst: np.ndarray, shift: np.ndarray) -> Info:
    """``mosaic_cut``: the slice of each resized tile that goes into a ``crop`` mosaic.

    Args:
        out_hw: the tile size ``(h, w)``; image_hw: float32 ``[T, 2]`` original sizes;
        cut: float32 ``[T, 2]`` (cut_y, cut_x); dst: :func:`letterbox_jitter`'s
        ``dst``; shift: float32 ``[T, 2]`` (shifty, shiftx), each 0 or 1.
    """
    height, width = F32(out_hw[0]), F32(out_hw[1])
    cy, cx = cut[:, 0], cut[:, 1]
    h0, w0 = image_hw[:, 0], image_hw[:, 1]
    ptop, pleft, pbottom, pright = dst[:, 0], dst[:, 1], dst[:, 2], dst[:, 3]
    zero = F32(0)
    left = np.minimum(np.minimum(cx, np.maximum(zero, -pleft * width / w0)), width - cx)
    top = np.minimum(np.minimum(cy, np.maximum(zero, -ptop * height / h0)), height - cy)
    right = np.minimum(np.minimum(width - cx, np.maximum(zero, -pright * width / w0)), cx)
    bot = np.minimum(np.minimum(height - cy, np.maximum(zero, -pbottom * height / h0)), cy)
    right_side, lower = shift[:, 1] == 1, shift[:, 0] == 1
    off_y = np.where(lower, cy - bot, top)
    off_x = np.where(right_side, cx - right, left)
    size_y = np.minimum(np.where(lower, height - cy, cy), height)
    size_x = np.minimum(np.where(right_side, width - cx, cx), width)
    offset = np.trunc(np.stack([off_y, off_x], axis=1)).astype(F32)
    size = np.trunc(np.stack([size_y, size_x], axis=1)).astype(F32)
    full = np.broadcast_to(np.array(out_hw, F32), size.shape).astype(F32)
    return Info(full, size, np.ones_like(size), offset)


def box_affine(in_hw: np.ndarray, out_hw: tuple[int, int], u: np.ndarray, *,
               degrees: float, perspective: float, scale_range: tuple[float, float],
               translate: float, random_pad: bool) -> np.ndarray:
    """``_build_transform``'s box matrix per sample, float32 ``[S, 3, 3]``, acting on
    ``(x, y, 1)`` columns.

    Args:
        in_hw: float32 ``[S, 2]``, the size of the image being warped.
        out_hw: the output ``(h, w)``.
        u: float32 ``[S, 6]`` uniforms: angle, perspective x, perspective y, scale,
            translation x, translation y.
    """
    s_n = in_hw.shape[0]
    height, width = in_hw[:, 0].astype(F32), in_hw[:, 1].astype(F32)
    ch, cw = F32(out_hw[0]), F32(out_hw[1])
    lo, hi = sorted((F32(scale_range[0]), F32(scale_range[1])))
    a = (F32(-degrees) + F32(2 * degrees) * u[:, 0]) * F32(np.pi / 180.0)
    px = F32(-perspective) + F32(2 * perspective) * u[:, 1]
    py = F32(-perspective) + F32(2 * perspective) * u[:, 2]
    s = (lo + (hi - lo) * u[:, 3]).astype(F32)
    inside = (height * s < ch) & (width * s < cw) if random_pad else np.zeros(s_n, bool)
    t = F32(translate)
    tx_u = F32(0.5) - t + F32(2) * t * u[:, 4]
    ty_u = F32(0.5) - t + F32(2) * t * u[:, 5]
    dx, dy = (width - cw / s) / width, (height - ch / s) / height
    tx = np.where(inside, (u[:, 4] - 1) * (cw / s - width), (dx / 2 + (1 - dx) * tx_u) * width)
    ty = np.where(inside, (u[:, 5] - 1) * (ch / s - height), (dy / 2 + (1 - dy) * ty_u) * height)
    eye = np.broadcast_to(np.eye(3, dtype=F32), (s_n, 3, 3))
    persp, center, rot, scale, trans = (eye.copy() for _ in range(5))
    persp[:, 2, 0], persp[:, 2, 1] = -px, -py
    center[:, 0, 2] = np.where(inside, F32(0), cw / 2)
    center[:, 1, 2] = np.where(inside, F32(0), ch / 2)
    cos, sin = np.cos(a).astype(F32), np.sin(a).astype(F32)
    rot[:, 0, 0], rot[:, 0, 1], rot[:, 1, 0], rot[:, 1, 1] = cos, sin, -sin, cos
    scale[:, 0, 0] = scale[:, 1, 1] = s
    trans[:, 0, 2], trans[:, 1, 2] = -tx, -ty
    return (persp @ center @ rot @ scale @ trans).astype(F32)


def warp(boxes: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """``affine_warp_boxes`` without the clip: the four corners of each pixel box
    through its ``[N, 3, 3]`` matrix, then their bounding box, float32 ``[N, 4]``."""
    ys = boxes[:, [0, 2, 0, 2]]
    xs = boxes[:, [1, 1, 3, 3]]
    pts = np.stack([xs, ys, np.ones_like(xs)], axis=1)  # [N, 3, 4]
    out = (matrix @ pts).astype(F32)
    x, y = out[:, 0] / out[:, 2], out[:, 1] / out[:, 2]
    return np.stack([y.min(1), x.min(1), y.max(1), x.max(1)], axis=1).astype(F32)
