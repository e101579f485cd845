"""The three paths a YOLO training sample takes (no mosaic, 2x2 mosaic, 3x3 mosaic), on
boxes, with explicit draws; and the sampler that draws them (``augment_yolo.py``).

Boxes stay normalized float32 ``(ymin, xmin, ymax, xmax)`` between stages, as in the
wheel; each path returns the kept boxes normalized to the input size with, per box, its
owner (the sample's row) and its source (row in :class:`Source`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from tfod_anchors.augment.streams import Streams, tag
from tfod_anchors.frameworks.modelgarden import yolo_boxops as ops

if TYPE_CHECKING:
    from tfod_anchors.frameworks.modelgarden.augment_yolo import YoloAugment

F32 = np.float32
#: (shifty, shiftx) and letterbox permission of each tile, in the wheel's tile order
#: (row-major in the stitched image); the 3x3 mosaic letterboxes only its corners.
SHIFTS = {2: np.array([(1, 1), (1, 0), (0, 1), (0, 0)], F32),
          3: np.array([(1, 1), (0, 0), (1, 0), (0, 0), (0, 0), (0, 0), (0, 1), (0, 0),
                       (0, 0)], F32)}
LETTERBOX = {2: np.ones(4, bool), 3: np.array([1, 0, 1, 0, 0, 0, 1, 0, 1], bool)}


@dataclass(frozen=True)
class Source:
    """Original images and boxes: ``image_hw`` float32 ``[M, 2]``; ``boxes`` float32
    ``[N, 4]`` normalized, grouped by image; ``box_image`` int ``[N]`` non-decreasing;
    ``starts`` int ``[M + 1]`` (image ``i``'s boxes are rows ``starts[i]:starts[i+1]``)."""

    image_hw: np.ndarray
    boxes: np.ndarray
    box_image: np.ndarray
    starts: np.ndarray

    def gather(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For images ``[T]`` (with repeats): ``(row [B], source box [B])`` listing
        each image's boxes in order, images in the given order."""
        counts = self.starts[images + 1] - self.starts[images]
        row = np.repeat(np.arange(images.shape[0]), counts)
        first = np.cumsum(counts) - counts
        within = np.arange(row.shape[0]) - first[row]
        return row, self.starts[images][row] + within


def flip_x(boxes: np.ndarray, flip: np.ndarray) -> np.ndarray:
    """``x -> 1 - x`` on the rows where ``flip`` (bool ``[N]``) is set."""
    b = boxes.copy()
    b[flip, 1], b[flip, 3] = F32(1) - boxes[flip, 3], F32(1) - boxes[flip, 1]
    return b


def gather_info(info: ops.Info, rows: np.ndarray) -> ops.Info:
    """An :class:`~yolo_boxops.Info` per box from one per row."""
    return ops.Info(info.in_hw[rows], info.out_hw[rows], info.scale[rows], info.offset[rows])


def transform_and_filter(boxes: np.ndarray, rows: np.ndarray, infos: list[ops.Info],
                         area_thresh: float, affine: tuple | None,
                         out_hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """``transform_and_clip_boxes`` (clip to [0, 1], the infos, the optional warp
    ``affine = (in_hw [R, 2], matrix [R, 3, 3])``, the candidate filter).

    Returns:
        normalized float32 ``[K, 4]`` kept boxes and bool ``[N]`` (kept).
    """
    history = boxes
    b = np.clip(boxes, F32(0), F32(1)).astype(F32)
    valid = ops.non_empty(b)
    out = None
    for info in infos:
        per_box = gather_info(info, rows)
        b, history, valid = ops.apply_info(b, history, valid, per_box)
        out = per_box.out_hw
    if affine is not None:
        in_hw = ops.tile2(affine[0][rows])
        b, history = ops.warp(b * in_hw, affine[1][rows]), ops.warp(history * in_hw,
                                                                    affine[1][rows])
        out = np.broadcast_to(np.array(out_hw, F32), (b.shape[0], 2))
        b = ops.clip(b, out)
        valid = valid & ops.non_empty(b)
        b, history = b / ops.tile2(out), history / ops.tile2(out)
    if out is None:
        raise ValueError("transform_and_filter needs an info or a warp")
    b = (b * valid[:, None]).astype(F32)
    keep = ops.candidates(b * ops.tile2(out), history * ops.tile2(out), area_thresh)
    return b[keep], keep


@dataclass(frozen=True)
class Draws:
    """Uniforms in [0, 1) for S samples of one path: ``flip`` bool ``[S]`` (the mosaic's
    tile flip, or the parser's flip for a sample with no mosaic); ``jitter`` float32
    ``[T, 4]`` per tile (``pleft, pright, ptop, pbottom``; T = S for no mosaic);
    ``cut`` (crop mode: y, x), ``shift`` (scale mode: y, x) float32 ``[S, 2]``;
    ``affine`` float32 ``[S, 6]`` (angle, perspective x, y, scale, translation x, y)."""

    flip: np.ndarray
    jitter: np.ndarray
    cut: np.ndarray
    shift: np.ndarray
    affine: np.ndarray


def single_path(spec: YoloAugment, image_hw: np.ndarray, boxes: np.ndarray,
                box_sample: np.ndarray, draws: Draws) -> tuple[np.ndarray, np.ndarray]:
    """A sample with no mosaic (``yolo_input.Parser._jitter_scale``): flip, letterbox
    jitter (or its crop only, when the parser's scale jitter is on), then the warp.

    Args:
        image_hw: float32 ``[S, 2]``; boxes: normalized ``[N, 4]``; box_sample: ``[N]``.
    Returns:
        kept boxes normalized to the input, and bool ``[N]`` kept.
    """
    out = spec.output_hw
    b = flip_x(np.asarray(boxes, F32), draws.flip[box_sample])
    n = image_hw.shape[0]
    geo = ops.letterbox_jitter(image_hw, out, np.full(n, spec.letter_box), draws.jitter,
                               spec.jitter, np.full((n, 2), 0.5, F32), spec.random_pad)
    infos = ops.letterbox_infos(image_hw, out, geo)
    in_hw = np.broadcast_to(np.array(out, F32), (n, 2)).astype(F32)
    if spec.scale != (1.0, 1.0):
        ident = ops.Info(image_hw, image_hw, np.ones_like(image_hw), np.zeros_like(image_hw))
        infos = [ident, infos[0]]
        in_hw = geo["crop_hw"].astype(F32)
        if not spec.letter_box:
            in_hw = np.round(in_hw * np.array(out, F32) / geo["s_hw"]).astype(F32)
    matrix = ops.box_affine(in_hw, out, draws.affine, degrees=spec.angle,
                            perspective=spec.perspective, scale_range=spec.scale,
                            translate=spec.translate, random_pad=spec.random_pad)
    return transform_and_filter(b, box_sample, infos, spec.area_thresh, (in_hw, matrix), out)


def mosaic_path(spec: YoloAugment, n: int, tile_hw: np.ndarray, boxes: np.ndarray,
                box_tile: np.ndarray, draws: Draws) -> tuple[np.ndarray, np.ndarray]:
    """An ``n`` x ``n`` mosaic (``Mosaic._mosaic4`` / ``_mosaic9``) of S samples.

    Args:
        tile_hw: float32 ``[S * n * n, 2]``, tile ``t`` of sample ``s`` at ``s*n*n + t``.
        boxes: normalized ``[N, 4]``; box_tile: int ``[N]``, each box's tile.
    Returns:
        kept boxes normalized to the input, and bool ``[N]`` kept.
    """
    out, nn = spec.output_hw, n * n
    t_n = tile_hw.shape[0]
    tile_sample, slot = np.arange(t_n) // nn, np.arange(t_n) % nn
    shift = SHIFTS[n][slot]
    b = flip_x(np.asarray(boxes, F32), draws.flip[tile_sample[box_tile]])
    geo = ops.letterbox_jitter(tile_hw, out, LETTERBOX[n][slot] & spec.letter_box,
                               draws.jitter, spec.mosaic_jitter, shift, False)
    infos = ops.letterbox_infos(tile_hw, out, geo)
    crop = spec.crop_mode == "crop"
    if crop:
        hw = np.array(out, F32)
        c = F32(spec.center)
        cut = hw * c + (hw * (F32(1) - c) - hw * c) * draws.cut
        infos.append(ops.mosaic_cut_info(out, tile_hw, cut[tile_sample], geo["dst"], shift))
    b, kept = transform_and_filter(b, box_tile, infos, spec.area_thresh, None, out)
    rows = box_tile[kept]
    piece = infos[-1].out_hw
    stitched = np.array(out if crop else (n * out[0], n * out[1]), F32)
    step = (stitched / F32(n)) * np.stack([slot // n, slot % n], 1).astype(F32)
    b = (b * ops.tile2(piece[rows]) + ops.tile2(step[rows])) / ops.tile2(stitched)
    owner = tile_sample[rows]
    if spec.crop_mode is None:
        return _scatter_keep(b.astype(F32), kept, np.ones(b.shape[0], bool))
    s_n = t_n // nn
    if crop:
        size = np.stack([piece[slot == 0, 0] + piece[slot == n, 0],
                         piece[slot == 0, 1] + piece[slot == 1, 1]], 1).astype(F32)
    else:
        size = np.broadcast_to(stitched, (s_n, 2)).astype(F32)
        center = stitched * F32(spec.center if n == 2 else spec.center9)
        d = np.round(-center + F32(2) * center * draws.shift).astype(F32)
        px = ops.clip(b * ops.tile2(stitched) + ops.tile2(d[owner]), stitched)
        alive = ops.non_empty(px)
        b, owner = (px / ops.tile2(stitched))[alive], owner[alive]
        kept = _scatter_keep(b, kept, alive)[1]
    matrix = ops.box_affine(size, out, draws.affine, degrees=spec.angle,
                            perspective=spec.perspective, scale_range=spec.mosaic_scale,
                            translate=spec.translate, random_pad=False)
    b, alive = transform_and_filter(b.astype(F32), owner, [], spec.area_thresh,
                                    (size, matrix), out)
    return _scatter_keep(b, kept, alive)


def _scatter_keep(boxes: np.ndarray, kept: np.ndarray,
                  alive: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Compose two keep masks: ``alive`` over the rows ``kept`` selected."""
    out = kept.copy()
    out[np.flatnonzero(kept)] = alive
    return boxes, out


def sample_boxes(spec: YoloAugment, data: Source, streams: Streams, anchor: np.ndarray,
                 pick: Callable[[np.ndarray, object], np.ndarray],
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw and run one training sample per instance (``anchor[i]``: its first image).

    Returns:
        normalized float32 ``[K, 4]`` boxes, their instance ``[K]`` and source box
        ``[K]`` (row of ``data``), ordered by instance and, within, as the wheel orders
        them; at most ``spec.max_instances`` per instance.
    """
    inst = np.arange(anchor.shape[0])
    u32 = lambda idx, *name: streams.uniform32(idx, tag("yolo", *name))  # noqa: E731
    # mixup runs inside the mosaic's dataset function: never without mosaic
    mixed = u32(inst, "mixup") >= F32(1 - spec.mixup) if spec.mixup > 0 and spec.mosaic > 0 \
        else np.zeros(inst.shape, bool)
    sub_inst = np.concatenate([inst, inst[mixed]])
    sub_idx = np.repeat([0, 1], [inst.shape[0], int(mixed.sum())])
    sub_anchor = np.concatenate([anchor, pick(inst[mixed], tag("yolo", "mixup_partner"))])
    kind = np.ones(sub_inst.shape, np.int64)
    if spec.mosaic > 0:
        var = np.array([tag("yolo", "mosaic", 0), tag("yolo", "mosaic", 1)])[sub_idx]
        mos = np.full(kind.shape, True) if spec.mosaic >= 1 else \
            streams.uniform32(sub_inst, var) >= F32(1 - spec.mosaic)
        var9 = np.array([tag("yolo", "mosaic9", 0), tag("yolo", "mosaic9", 1)])[sub_idx]
        nine = (streams.uniform32(sub_inst, var9) >= F32(1 - spec.mosaic9)) \
            if spec.mosaic9 > 0 else np.zeros(kind.shape, bool)
        kind = np.where(mos, np.where(nine, 3, 2), 1)
    parser_flip = (u32(inst, "parser_flip") > F32(0.5)) if spec.random_flip \
        else np.zeros(inst.shape, bool)
    parts = []
    for k in (1, 2, 3):
        sel = np.flatnonzero(kind == k)
        if sel.size:
            parts.append(_run_kind(spec, data, streams, k, sel,
                                   Subs(sub_inst, sub_idx, sub_anchor, parser_flip), pick))
    return _assemble(spec, parts, sub_inst, sub_idx, parser_flip)


def _draws(spec: YoloAugment, streams: Streams, inst: np.ndarray, sub_idx: np.ndarray,
           tiles: int, flip: np.ndarray | None) -> Draws:
    """The uniforms of S samples (instances ``inst``, sub-sample ``sub_idx``) with
    ``tiles`` tiles each; ``flip`` given (the parser's) or drawn (the mosaic's)."""
    def u(name: str, k: int, rows: np.ndarray, sub: np.ndarray) -> np.ndarray:
        var = np.array([[tag("yolo", name, s, k, t) for t in range(tiles)]
                        for s in (0, 1)], dtype=np.uint64)
        return streams.uniform32(rows, var[sub, np.arange(rows.shape[0]) % tiles])

    t_inst, t_sub = np.repeat(inst, tiles), np.repeat(sub_idx, tiles)
    jitter_on = spec.mosaic_jitter if tiles > 1 else spec.jitter
    jitter = np.stack([u("jitter", k, t_inst, t_sub) for k in range(4)], 1) if jitter_on \
        else np.zeros((t_inst.shape[0], 4), F32)
    one = lambda name, k: u(name, k, inst, sub_idx) if tiles == 1 else \
        u(name, k, t_inst, t_sub)[::tiles]  # noqa: E731
    if flip is None:
        flip = (one("mosaic_flip", 0) > F32(0.5)) if spec.random_flip \
            else np.zeros(inst.shape, bool)
    return Draws(flip, jitter, np.stack([one("cut", k) for k in range(2)], 1),
                 np.stack([one("shift", k) for k in range(2)], 1),
                 np.stack([one("affine", k) for k in range(6)], 1))


@dataclass(frozen=True)
class Subs:
    """The sub-samples of a batch of instances (one each, two when mixed up), int ``[U]``:
    ``inst`` (their instance), ``idx`` (0, or 1 for a mixup partner), ``anchor`` (first
    image); ``parser_flip`` bool per instance."""

    inst: np.ndarray
    idx: np.ndarray
    anchor: np.ndarray
    parser_flip: np.ndarray


def _run_kind(spec: YoloAugment, data: Source, streams: Streams, n: int, sel: np.ndarray,
              subs: Subs, pick: Callable) -> tuple:
    """One path (``n``: 1 no mosaic, 2 or 3 a mosaic) over the sub-samples ``sel``:
    ``(boxes, sub row [K], source [K], is_mosaic)``."""
    inst, sub = subs.inst[sel], subs.idx[sel]
    nn = n * n if n > 1 else 1
    images = np.repeat(subs.anchor[sel], nn)
    if nn > 1:
        t_inst, t_sub = np.repeat(inst, nn), np.repeat(sub, nn)
        slot = np.arange(images.shape[0]) % nn
        var = np.array([[tag("yolo", "partner", s, t) for t in range(nn)] for s in (0, 1)],
                       dtype=np.uint64)[t_sub, slot]
        partners = pick(t_inst, var)
        images = np.where(slot == 0, images, partners)
    row, source = data.gather(images)
    boxes = data.boxes[source]
    if n == 1:
        draws = _draws(spec, streams, inst, sub, 1, subs.parser_flip[inst])
        b, kept = single_path(spec, data.image_hw[images], boxes, row, draws)
        return b, sel[row[kept]], source[kept], False
    draws = _draws(spec, streams, inst, sub, nn, None)
    b, kept = mosaic_path(spec, n, data.image_hw[images], boxes, row, draws)
    return b, sel[row[kept] // nn], source[kept], True


def _assemble(spec: YoloAugment, parts: list, sub_inst: np.ndarray, sub_idx: np.ndarray,
              parser_flip: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The parser's last steps on every sub-sample's boxes: the flip of mosaic samples
    (a sample with no mosaic was flipped first), the empty-box filter, the order
    (instance, then sub-sample, then the path's order) and ``max_num_instances``."""
    if not parts:
        return np.zeros((0, 4), F32), np.zeros(0, np.int64), np.zeros(0, np.int64)
    boxes, subs, sources = [], [], []
    for b, sub, source, _ in parts:
        boxes.append(b)
        subs.append(sub)
        sources.append(source)
    b, sub, source = np.concatenate(boxes), np.concatenate(subs), np.concatenate(sources)
    mosaic = np.concatenate([np.full(p[1].shape, p[3]) for p in parts])
    return _finish(spec, (b, sub, source, mosaic), sub_inst, sub_idx, parser_flip)


def _finish(spec: YoloAugment, rows: tuple, sub_inst: np.ndarray, sub_idx: np.ndarray,
            parser_flip: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Order, parser flip of mosaic samples, empty filter and truncation; ``rows`` is
    ``(boxes [K, 4], sub-sample [K], source [K], from a mosaic [K])``."""
    b, sub, source, mosaic = rows
    order = np.lexsort((sub_idx[sub], sub_inst[sub]))
    b, sub, source, mosaic = b[order], sub[order], source[order], mosaic[order]
    inst = sub_inst[sub]
    b = flip_x(b, mosaic & parser_flip[inst])
    px = b * ops.tile2(np.array(spec.output_hw, F32))
    alive = ops.non_empty(px)
    b, inst, source = b[alive], inst[alive], source[alive]
    first = np.searchsorted(inst, inst, side="left")
    keep = np.arange(inst.shape[0]) - first < spec.max_instances
    return b[keep], inst[keep], source[keep]

