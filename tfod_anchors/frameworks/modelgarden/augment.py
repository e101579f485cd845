"""The RetinaNet and R-CNN parsers' box augmentation, in numpy: random flips, then the
scale jitter of ``resize_and_crop_image`` with its random crop offset.

What the wheel does to the boxes of one training image (``vision/dataloaders/
retinanet_input.py`` ``_parse_train_data``; ``maskrcnn_input.py`` is the same with an
optional vertical flip and always padding), all in float32:

1. ``aug_rand_hflip``: with probability 0.5, ``x -> 1 - x`` on the normalized boxes
   (``aug_rand_vflip``, R-CNN only: the same on y); the flips use the same uniform as
   the scale of step 3 (see :func:`draw`);
2. boxes to pixels of the original image: ``y * H0``, ``x * W0``;
3. ``resize_and_crop_image`` (``vision/ops/preprocess_ops.py``): ``u ~ U(aug_scale_min,
   aug_scale_max)``, ``S = round(u * (Ho, Wo))``; keeping the aspect ratio,
   ``k = min(S_h / H0, S_w / W0)`` and ``S = round((H0, W0) * k)`` (round half to even);
   the per-axis scale is ``S / (H0, W0)``; the crop offset is
   ``trunc(max(S - (Ho, Wo), 0) * U(0, 1)^2)`` (one uniform per axis);
4. ``resize_and_crop_boxes``: ``box * scale - offset``, clipped to ``[0, Ho] x [0, Wo]``;
5. boxes with no height or no width left are dropped.

Without jitter (both bounds 1.0) there is no draw and no offset: these are the static
boxes. The draws are this module's own (counter-based streams keyed by each image's
content, draw index and seed, as the TFOD engine's: :func:`draw_boxes`), so single
draws differ from TensorFlow's while their distribution is the same (measured in
``benchmarks/bench_mg_augment.py``); :func:`apply` takes explicit draws so a test can
replay the real parser's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from tfod_anchors.augment.streams import Streams, instance_keys, tag
from tfod_anchors.boxes import BoxSet, ResizedBoxes
from tfod_anchors.errors import ConfigError

F32 = np.float32


@dataclass(frozen=True)
class ScaleJitter:
    """The parser settings that move boxes.

    Attributes:
        output_hw: ``(Ho, Wo)``, ``task.model.input_size[:2]`` in pixels.
        padded_hw: the size given to the network (``Ho, Wo`` padded up to a multiple of
            ``2**max_level``, or unpadded).
        scale_min, scale_max: ``parser.aug_scale_min`` / ``aug_scale_max``.
        hflip, vflip: ``parser.aug_rand_hflip`` / ``aug_rand_vflip`` (probability 0.5).
        keep_aspect_ratio: ``parser.keep_aspect_ratio`` (RetinaNet may turn it off).
    """

    output_hw: tuple[int, int]
    padded_hw: tuple[int, int]
    scale_min: float = 1.0
    scale_max: float = 1.0
    hflip: bool = False
    vflip: bool = False
    keep_aspect_ratio: bool = True

    @property
    def jitter(self) -> bool:
        """Whether the scale is drawn (the wheel's test: either bound is not 1.0)."""
        return not (math.isclose(self.scale_min, 1.0) and math.isclose(self.scale_max, 1.0))

    @property
    def random(self) -> bool:
        """Whether any box moves at random (else :func:`augment` gives the static boxes)."""
        return self.jitter or self.hflip or self.vflip


def from_params(params: Mapping, training: bool = True) -> ScaleJitter:
    """The :class:`ScaleJitter` of a resolved RetinaNet or R-CNN experiment (``training``
    False: the eval path, which has no flips and no jitter).

    Raises:
        ConfigError: no ``task.model.input_size``, or an experiment without ``anchor``.
    """
    model = params["task"]["model"]
    if "anchor" not in model:
        raise ConfigError("the parser's scale jitter belongs to RetinaNet and R-CNN "
                          "experiments (task.model.anchor)")
    size = model.get("input_size") or []
    if len(size) < 2:
        raise ConfigError("task.model.input_size is empty: set it (--params-override "
                          "task.model.input_size=[640,640,3])")
    parser = params["task"]["train_data"].get("parser") or {}
    rcnn = "rpn_head" in model
    hw = (int(size[0]), int(size[1]))
    step = 2 ** int(model["max_level"])
    padded = (math.ceil(hw[0] / step) * step, math.ceil(hw[1] / step) * step) \
        if rcnn or parser.get("pad", True) else hw
    if not training:
        return ScaleJitter(hw, padded, keep_aspect_ratio=rcnn or parser.get("keep_aspect_ratio",
                                                                             True))
    return ScaleJitter(
        hw, padded, float(parser.get("aug_scale_min", 1.0)), float(parser.get("aug_scale_max",
                                                                                1.0)),
        bool(parser.get("aug_rand_hflip", False)), rcnn and bool(parser.get("aug_rand_vflip")),
        rcnn or bool(parser.get("keep_aspect_ratio", True)))


@dataclass(frozen=True)
class Draws:
    """The random values for M images: ``flip_x``, ``flip_y`` bool ``[M]``; ``scale_u``
    float32 ``[M]`` (the drawn scale factor ``u``); ``offset_u`` float32 ``[M, 2]``
    (the crop position's uniforms, y then x)."""

    flip_x: np.ndarray
    flip_y: np.ndarray
    scale_u: np.ndarray
    offset_u: np.ndarray


def draw(spec: ScaleJitter, num_images: int, rng: np.random.Generator) -> Draws:
    """One draw per image, from ``rng`` (see :func:`from_uniforms`)."""
    u = rng.random(num_images, dtype=F32)
    return from_uniforms(spec, u, rng.random((num_images, 2), dtype=F32))


def keyed_draws(spec: ScaleJitter, streams: Streams, inst: np.ndarray) -> Draws:
    """One draw per drawn image ``inst`` (int64 ``[K]``) from its keyed stream
    (:class:`~tfod_anchors.augment.streams.Streams`: a function of the image's
    content, draw index and seed, not of its position in the input)."""
    u = streams.uniform32(inst, tag("mg_parser", "scale_u"))
    offset = np.stack([streams.uniform32(inst, tag("mg_parser", "offset_y")),
                       streams.uniform32(inst, tag("mg_parser", "offset_x"))], axis=1)
    return from_uniforms(spec, u, offset)


def from_uniforms(spec: ScaleJitter, u: np.ndarray, offset_u: np.ndarray) -> Draws:
    """The draws of ``K`` images from their uniforms: float32 ``u`` ``[K]`` and
    ``offset_u`` ``[K, 2]``, all in ``[0, 1)``.

    As in the wheel, one uniform ``u`` per image decides the flips and the scale: the
    flip ops and the scale op are all seeded 1 in one graph, so TensorFlow gives them
    the same number (an image is flipped, both ways when both flips are on, exactly
    when ``u < 0.5``, i.e. when its scale is in the lower half of the range). The crop
    offset's uniforms come from a differently shaped op and are independent of ``u``
    (they are the ``u`` of another image).
    """
    u = np.asarray(u, F32)
    scale = F32(spec.scale_min) + (F32(spec.scale_max) - F32(spec.scale_min)) * u
    flip = u < F32(0.5)
    none = np.zeros(u.shape[0], bool)
    return Draws(flip if spec.hflip else none, flip.copy() if spec.vflip else none,
                 scale.astype(F32) if spec.jitter else np.ones(u.shape[0], F32),
                 np.asarray(offset_u, F32))


def image_transform(image_hw: np.ndarray, spec: ScaleJitter,
                    draws: Draws) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per image (``image_hw`` int ``[M, 2]``, original size): the scale float32 ``[M, 2]``
    (y, x), the crop offset float32 ``[M, 2]`` in output pixels and the content size
    int32 ``[M, 2]`` (the scaled image clipped to the output size)."""
    size = np.asarray(image_hw, F32).reshape(-1, 2)
    desired = np.array(spec.output_hw, F32)
    scaled = np.round(draws.scale_u[:, None] * desired).astype(F32) if spec.jitter \
        else np.broadcast_to(desired, size.shape).astype(F32)
    if spec.keep_aspect_ratio:
        k = np.minimum(scaled[:, 0] / size[:, 0], scaled[:, 1] / size[:, 1]).astype(F32)
        scaled = np.round(size * k[:, None]).astype(F32)
    scale = (scaled / size).astype(F32)
    if spec.jitter:
        room = np.maximum(scaled - desired, F32(0))
        offset = np.trunc(room * draws.offset_u).astype(F32)
    else:
        offset = np.zeros_like(scale)
    content = np.minimum(scaled - offset, desired).astype(np.int32)
    return scale, offset, content


def apply(boxes: np.ndarray, box_image: np.ndarray, image_hw: np.ndarray, spec: ScaleJitter,
          draws: Draws) -> tuple[np.ndarray, np.ndarray]:
    """The parser's boxes for given draws.

    Args:
        boxes: float32 ``[N, 4]`` normalized ``(ymin, xmin, ymax, xmax)`` of the originals.
        box_image: int ``[N]``, each box's image index into ``image_hw`` and ``draws``.
        image_hw: int ``[M, 2]``, original image sizes.
    Returns:
        float32 ``[N, 4]`` boxes in output pixels, and bool ``[N]``: kept (height and
        width > 0 after the clip).
    """
    scale, offset, _ = image_transform(image_hw, spec, draws)
    return place(boxes, box_image, image_hw, spec.output_hw,
                 (draws.flip_x, draws.flip_y, scale, offset))


def place(boxes: np.ndarray, box_image: np.ndarray, image_hw: np.ndarray,
          output_hw: tuple[int, int],
          per_image: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
          ) -> tuple[np.ndarray, np.ndarray]:
    """Steps 1, 2, 4 and 5 for given per-image values ``(flip_x [M], flip_y [M],
    scale [M, 2], offset [M, 2])`` (the last two as the parser's ``image_info`` rows
    2 and 3); shapes and result as :func:`apply`."""
    flip_x, flip_y, scale, offset = per_image
    b = np.asarray(boxes, F32).reshape(-1, 4).copy()
    fx, fy = np.asarray(flip_x)[box_image], np.asarray(flip_y)[box_image]
    b[fx, 1], b[fx, 3] = F32(1) - b[fx, 3], F32(1) - b[fx, 1]
    b[fy, 0], b[fy, 2] = F32(1) - b[fy, 2], F32(1) - b[fy, 0]
    size = np.asarray(image_hw, F32).reshape(-1, 2)[box_image]
    b = b * np.concatenate([size, size], axis=1)
    b = b * np.tile(np.asarray(scale, F32)[box_image], 2) - \
        np.tile(np.asarray(offset, F32)[box_image], 2)
    limit = np.array(tuple(output_hw) * 2, F32)
    b = np.maximum(np.minimum(b, limit), F32(0)).astype(F32)
    kept = (b[:, 2] - b[:, 0] > 0) & (b[:, 3] - b[:, 1] > 0)
    return b, kept


def augment(boxset: BoxSet, spec: ScaleJitter, *, draws_per_image: int = 1,
            seed: int = 0) -> ResizedBoxes:
    """``draws_per_image`` augmented copies of every image's boxes, as
    :class:`ResizedBoxes` in output pixels (see :func:`draw_boxes`)."""
    return draw_boxes(boxset, spec, draws_per_image=draws_per_image, seed=seed)[0]


def draw_boxes(boxset: BoxSet, spec: ScaleJitter, *, draws_per_image: int = 1,
               seed: int = 0) -> tuple[ResizedBoxes, np.ndarray]:
    """``draws_per_image`` augmented copies of every image's boxes (one when nothing is
    random), image-major (image ``i``'s draw ``d`` is drawn image ``i * draws + d``),
    each image's boxes in their input order.

    Every draw is keyed by the image's content, its occurrence among identical images,
    the draw index and ``seed`` (:mod:`tfod_anchors.augment.streams`), so an image's
    boxes do not depend on the order of the images or of its boxes.

    Returns:
        The boxes in output pixels (boxes the crop leaves empty dropped, as the parser
        drops them; ``true_shape``: the scaled image inside the output), and int64
        ``[N']``: each kept box's index in ``boxset``.
    """
    from tfod_anchors.augment.engine import initial_state

    draws = draws_per_image if spec.random else 1
    state, keys = initial_state(boxset, draws)
    inst = np.arange(state.num_instances, dtype=np.int64)
    d = keyed_draws(spec, Streams(instance_keys(keys, draws, int(seed))), inst)
    hw = np.stack([state.height, state.width], axis=1)
    out, kept = apply(state.boxes, state.box_inst, hw, spec, d)
    content = image_transform(hw, spec, d)[2]
    resized = ResizedBoxes(
        true_shape=content.astype(np.int32),
        padded_shape=np.tile(np.array(spec.padded_hw, np.int32), (len(content), 1)),
        box_image=state.box_inst[kept].astype(np.int32), boxes=out[kept].astype(np.float64),
        label=state.label[kept].astype(np.int32))
    return resized, state.origin[kept]
