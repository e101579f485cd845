"""The YOLO training pipeline's boxes (mosaic, letterbox jitter, affine warp, flips,
mixup), in numpy: what ``task.build_inputs`` of a Model Garden YOLO experiment feeds the
labeler, drawn from our own seeded streams.

The wheel's order (``official/projects/yolo/ops/mosaic.py`` then
``dataloaders/yolo_input.py``), for one training sample:

1. **mixup** (``mixup_frequency``): the sample is one mosaic output, or two whose boxes
   are concatenated;
2. **mosaic** (``mosaic_frequency``; a 3x3 ``mosaic9`` with ``mosaic9_frequency``, YOLOv7
   tasks only): each tile image is flipped (one coin for all tiles of a mosaic: the ops
   share their seed), letterboxed to the input size with its padding pushed towards the
   mosaic centre (or stretched), its boxes filtered; the tiles are stitched. ``scale``
   mode then shifts the stitched image by ``round(U(-c, c))`` (``c`` = its size times
   ``mosaic_center``) and warps it to the input size with a random scale and
   translation; ``crop`` mode slices each tile at one random cut point, stitches the
   slices (box offsets at half the input, as the wheel places them) and warps;
3. **parser**: a horizontal flip; a sample that is no mosaic is letterboxed (jitter,
   random padding) and warped here instead; boxes with no area dropped and at most
   ``max_num_instances`` kept (the first ones).

Every stage clips and filters boxes as the wheel's ``transform_and_clip_boxes`` does:
sides >= 2 px, kept area > ``area_thresh`` of the unclipped box, aspect < 20 (only
area > 0 when ``area_thresh`` is 0). Mosaic partners are images drawn with replacement
from the whole set (the wheel draws them from shuffle buffers of 100, i.e. neighbours in
a shuffled order); each draw is keyed by the image's content, the draw index and the
seed (``augment/streams.py``), so a permuted input gives the same boxes per image.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from tfod_anchors.augment.streams import Streams, content_keys, instance_keys
from tfod_anchors.boxes import BoxSet, ResizedBoxes
from tfod_anchors.errors import ConfigError
from tfod_anchors.frameworks.modelgarden import yolo_paths as paths
from tfod_anchors.frameworks.modelgarden.rules import family

F32 = np.float32

AUGMENT_YOLO_NOTE = (
    "YOLO training boxes (mosaic, mosaic9, mixup, letterbox jitter, affine warp, flips) are "
    "drawn from the wheel's own formulas with tfod-anchors' random numbers; approximated: "
    "mosaic partners are drawn from the whole dataset, not from the wheel's shuffle buffers "
    "of 100. Measured against the real task.build_inputs (coco_yolov7tiny, coco_yolov7, "
    "scaled_yolo, yolo_darknet; COCO val2017, 10,000 samples per seed, seeds 0 and 1): KS "
    "distance at most 0.0057 on box width and 0.0056 on height, where the wheel against "
    "itself reaches 0.0045 and 0.0068 (docs/fidelity.md)."
)


@dataclass(frozen=True)
class YoloAugment:
    """The settings of a YOLO experiment that move boxes (``task.train_data.parser``
    and its ``mosaic`` block; names as there). ``output_hw`` is
    ``task.model.input_size[:2]``; ``scale`` and ``mosaic_scale`` are the
    ``(aug_scale_min, aug_scale_max)`` pairs of the parser and of the mosaic."""

    output_hw: tuple[int, int]
    letter_box: bool = True
    random_flip: bool = True
    random_pad: bool = False
    jitter: float = 0.0
    scale: tuple[float, float] = (1.0, 1.0)
    translate: float = 0.0
    angle: float = 0.0
    perspective: float = 0.0
    area_thresh: float = 0.1
    max_instances: int = 200
    mosaic: float = 0.0
    mosaic9: float = 0.0
    mixup: float = 0.0
    center: float = 0.2
    center9: float = 0.33
    crop_mode: str | None = "scale"
    mosaic_scale: tuple[float, float] = (1.0, 1.0)
    mosaic_jitter: float = 0.0


def from_params(params: Mapping) -> YoloAugment:
    """The :class:`YoloAugment` of a resolved YOLO experiment (a nested mapping).

    Raises:
        ConfigError: not a YOLO experiment, no ``input_size``, or settings the wheel
            refuses (jitter outside ``[0, 0.5]``) or this module does not reproduce
            (a 3x3 mosaic in ``crop`` mode).
    """
    fam = family(params)
    if fam not in ("yolo", "yolov7"):
        raise ConfigError("augment_yolo needs a YOLO experiment (task.model.anchor_boxes)")
    size = params["task"]["model"].get("input_size") or []
    if len(size) < 2:
        raise ConfigError("task.model.input_size is empty: set it (--params-override "
                          "task.model.input_size=[640,640,3])")
    parser = params["task"]["train_data"].get("parser") or {}
    mosaic = parser.get("mosaic") or {}
    g = lambda d, k, v: v if d.get(k) is None else d[k]  # noqa: E731
    spec = YoloAugment(
        (int(size[0]), int(size[1])), bool(g(parser, "letter_box", True)),
        bool(g(parser, "random_flip", True)), bool(g(parser, "random_pad", False)),
        float(g(parser, "jitter", 0.0)),
        (float(g(parser, "aug_scale_min", 1.0)), float(g(parser, "aug_scale_max", 1.0))),
        float(g(parser, "aug_rand_translate", 0.0)), float(g(parser, "aug_rand_angle", 0.0)),
        float(g(parser, "aug_rand_perspective", 0.0)), float(g(parser, "area_thresh", 0.1)),
        int(g(parser, "max_num_instances", 200)), float(g(mosaic, "mosaic_frequency", 0.0)),
        float(g(mosaic, "mosaic9_frequency", 0.0)) if fam == "yolov7" else 0.0,
        float(g(mosaic, "mixup_frequency", 0.0)), float(g(mosaic, "mosaic_center", 0.2)),
        float(g(mosaic, "mosaic9_center", 0.33)) if fam == "yolov7" else 0.33,
        mosaic.get("mosaic_crop_mode", "scale"),
        (float(g(mosaic, "aug_scale_min", 1.0)), float(g(mosaic, "aug_scale_max", 1.0))),
        float(g(mosaic, "jitter", 0.0)))
    for name, value in (("jitter", spec.jitter), ("mosaic.jitter", spec.mosaic_jitter)):
        if not 0.0 <= value <= 0.5:
            raise ConfigError(f"task.train_data.parser.{name} is {value}: the YOLO parser "
                              "accepts 0 to 0.5")
    if spec.mosaic9 > 0 and spec.mosaic > 0 and spec.crop_mode == "crop":
        raise ConfigError("a 3x3 mosaic (mosaic9_frequency > 0) in mosaic_crop_mode 'crop' "
                          "is not reproduced by tfod-anchors")
    return spec


def augment_yolo(boxset: BoxSet, params: Mapping, *, draws_per_image: int,
                 seed: int) -> ResizedBoxes:
    """``draws_per_image`` training samples per image of ``boxset`` as the YOLO input
    pipeline of ``params`` (a resolved experiment) produces them.

    Sample ``d * M + j`` is draw ``d`` of image ``j`` (its first mosaic tile, or the
    image itself when no mosaic is drawn); its boxes are in input pixels
    (``task.model.input_size``), float64 ``(ymin, xmin, ymax, xmax)``, labels carried
    from the source boxes. Every random choice is a function of the image's content,
    ``d`` and ``seed``.

    Raises:
        ConfigError: see :func:`from_params`; ``draws_per_image`` < 1.
    """
    if draws_per_image < 1:
        raise ConfigError(f"draws_per_image is {draws_per_image}: at least 1")
    spec = from_params(params)
    m = boxset.num_images
    order = np.argsort(boxset.box_image, kind="stable")
    keys = content_keys(boxset.image_height, boxset.image_width,
                        boxset.box_image[order], boxset.boxes[order], boxset.label[order])
    table = np.argsort(keys, kind="stable")  # partner rank r: the same image in any order
    streams = Streams(instance_keys(keys, draws_per_image, seed))
    data = paths.Source(np.stack([boxset.image_height, boxset.image_width], 1).astype(F32),
                        np.asarray(boxset.boxes, F32)[order], boxset.box_image[order],
                        np.searchsorted(boxset.box_image[order], np.arange(m + 1)))
    inst = np.arange(m * draws_per_image)
    sample = (inst % draws_per_image) * m + inst // draws_per_image
    pick = lambda idx, var: table[np.minimum(  # noqa: E731
        (streams.uniform(idx, var) * m).astype(np.int64), m - 1)] if m else idx
    boxes, owner, source = paths.sample_boxes(spec, data, streams, inst // draws_per_image,
                                              pick)
    label = np.asarray(boxset.label)[order][source]
    h, w = spec.output_hw
    out = boxes.astype(np.float64) * np.array([h, w, h, w], np.float64)
    total = m * draws_per_image
    shape = np.tile(np.array(spec.output_hw, np.int32), (total, 1))
    rank = np.argsort(sample[owner], kind="stable")
    return ResizedBoxes(true_shape=shape, padded_shape=shape.copy(),
                        box_image=sample[owner][rank].astype(np.int32), boxes=out[rank],
                        label=label[rank].astype(np.int32))


__all__ = ["AUGMENT_YOLO_NOTE", "YoloAugment", "augment_yolo", "from_params"]
