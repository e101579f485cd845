"""The Model Garden's training augmentation as the pipeline's
:class:`~tfod_anchors.frameworks.base.Augmenter`.

The Model Garden parsers scale, crop and pad the image in the same step that jitters
it, so their draws come out already in pixels of the network input; the TFOD engine
instead augments normalized boxes and leaves the resize to the pipeline. The seam is
:attr:`tfod_anchors.augment.AugmentResult.resized`: this augmenter fills it (and gives
the same boxes, normalized to the output size, as ``boxset``), and the pipeline uses
it instead of resizing. Nothing downstream knows which framework drew the boxes.

One entry per family in :data:`ENTRIES` (a function of the resolved experiment giving
a :class:`FamilyAugmentation`, or None when that family's augmentation is not
reproduced, so its coverage stays static):

* RetinaNet and the R-CNNs: :mod:`.augment` (flips, then ``resize_and_crop_image``'s
  scale jitter with its crop offset);
* YOLO: :mod:`.augment_yolo` (mosaic, letterbox jitter, affine warp, flips, mixup; an
  approximation whose measured distance is named in the outputs).

After the draws, each drawn image keeps its first ``max_boxes`` boxes when a limit is
given (``--max-boxes``). The parsers themselves label anchors on every box: RetinaNet's
``AnchorLabeler`` and the R-CNN ``RpnAnchorLabeler`` see all boxes that survive the crop,
and Mask R-CNN's ``clip_or_pad_to_fixed_size(max_num_instances)`` only truncates the
second stage's targets, after the RPN labelling; so the experiment sets no limit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from tfod_anchors.boxes import BoxSet, ResizedBoxes
from tfod_anchors.errors import UsageError
from tfod_anchors.frameworks.modelgarden import experiment as mgx

if TYPE_CHECKING:
    from tfod_anchors.augment import AugmentResult
    from tfod_anchors.rules.findings import Finding

#: ``dropped`` keys: boxes the parser's crop leaves empty, and the ``--max-boxes`` cut.
CROPPED, TRUNCATED = "empty_after_crop", "max_number_of_boxes"


@dataclass(frozen=True)
class Drawn:
    """One family's draws, image-major (image ``i``'s draw ``d`` is drawn image
    ``i * draws + d``).

    Attributes:
        resized: the boxes in pixels of the network input.
        origin: int64 ``[N']``, each box's index in the input :class:`BoxSet`, or None
            when a drawn image mixes images (mosaic).
    """

    resized: ResizedBoxes
    origin: np.ndarray | None


@dataclass(frozen=True)
class FamilyAugmentation:
    """What one family's parser does to boxes in training.

    Attributes:
        output_hw: ``(H, W)`` pixels the drawn boxes are clipped to (the parser's output
            before padding); ``boxset`` in the result is normalized to it.
        steps: JSON-ready step list (``index``, ``op``, ``status``, ``modelled``,
            ``effect``), in the parser's order.
        random: whether any step moves boxes at random (else nothing is drawn).
        run: ``(boxset, draws, seed) -> Drawn``.
        note: what the draws approximate and how far they are measured to be from the
            Model Garden's own (None when reproduced).
    """

    output_hw: tuple[int, int]
    steps: tuple[dict[str, Any], ...]
    random: bool
    run: Callable[[BoxSet, int, int], Drawn]
    note: str | None = None


def _step(index: int, op: str, effect: str) -> dict[str, Any]:
    return {"index": index, "op": op, "status": "geometric", "modelled": True,
            "effect": effect}


def scale_jitter_entry(params: Mapping) -> FamilyAugmentation:
    """RetinaNet and R-CNN: :mod:`.augment`'s flips and scale jitter."""
    from tfod_anchors.frameworks.modelgarden import augment as mga

    spec = mga.from_params(params)
    steps: list[dict[str, Any]] = []
    for flag, axis, on in (("aug_rand_hflip", "x", spec.hflip),
                           ("aug_rand_vflip", "y", spec.vflip)):
        if on:
            steps.append(_step(len(steps), flag, f"mirror {axis} with probability 0.5 (the "
                               "wheel's graph gives the flip the scale's uniform)"))
    if spec.jitter:
        steps.append(_step(len(steps), f"aug_scale {spec.scale_min:g}-{spec.scale_max:g}",
                           f"resize_and_crop_image: input_size x U({spec.scale_min:g}, "
                           f"{spec.scale_max:g}), aspect kept, random crop offset, boxes "
                           "clipped, empty boxes dropped"))

    def run(boxset: BoxSet, draws: int, seed: int) -> Drawn:
        resized, origin = mga.draw_boxes(boxset, spec, draws_per_image=draws, seed=seed)
        return Drawn(resized, origin)

    return FamilyAugmentation(spec.output_hw, tuple(steps), spec.random, run)


def yolo_entry(params: Mapping) -> FamilyAugmentation | None:
    """YOLO: ``augment_yolo`` (mosaic, letterbox jitter, affine warp, flips, mixup), an
    approximation whose measured distance its note states."""
    from tfod_anchors.frameworks.modelgarden import augment_yolo as mgy
    from tfod_anchors.frameworks.modelgarden.geometry import input_hw

    data = params["task"]["train_data"]
    parser = data.get("parser") or {}
    mosaic = parser.get("mosaic") or {}
    def g(block: Mapping, key: str, default: float) -> str:
        return f"{float(block.get(key, default) or 0.0):g}"

    steps = (_step(0, "yolo_parser", "mosaic (frequency " + g(mosaic, "mosaic_frequency", 0)
                   + ", 3x3 " + g(mosaic, "mosaic9_frequency", 0) + ", mixup "
                   + g(mosaic, "mixup_frequency", 0) + ", scale " + g(mosaic, "aug_scale_min", 1)
                   + "-" + g(mosaic, "aug_scale_max", 1) + "), letterbox jitter "
                   + g(parser, "jitter", 0) + ", scale " + g(parser, "aug_scale_min", 1) + "-"
                   + g(parser, "aug_scale_max", 1) + ", translate "
                   + g(parser, "aug_rand_translate", 0) + ", flip "
                   + ("on" if parser.get("random_flip", True) else "off")
                   + "; approximated (see the note)"),)

    def run(boxset: BoxSet, draws: int, seed: int) -> Drawn:
        drawn = mgy.augment_yolo(boxset, params, draws_per_image=draws, seed=seed)
        return Drawn(image_major(drawn, boxset.num_images, draws), None)

    h, w = input_hw(dict(params))
    return FamilyAugmentation((int(h), int(w)), steps, True, run, str(mgy.AUGMENT_YOLO_NOTE))


def image_major(resized: ResizedBoxes, num_images: int, draws: int) -> ResizedBoxes:
    """Draw-major draws (image ``j``'s draw ``d`` at ``d * M + j``, as ``augment_yolo``
    gives them) reordered image-major (at ``j * draws + d``), boxes grouped by drawn
    image in their order."""
    j = np.arange(num_images * draws) % num_images
    d = np.arange(num_images * draws) // num_images
    new_index = (j * draws + d).astype(np.int32)  # of each draw-major image
    box_image = new_index[resized.box_image]
    order = np.argsort(box_image, kind="stable")
    rows = np.argsort(new_index)
    return ResizedBoxes(resized.true_shape[rows], resized.padded_shape[rows],
                        box_image[order], resized.boxes[order], resized.label[order])


#: family -> its augmentation (plugging a family in is one entry).
ENTRIES: dict[str, Callable[[Mapping], FamilyAugmentation | None]] = {
    mgx.RETINANET: scale_jitter_entry,
    mgx.FASTER_RCNN: scale_jitter_entry,
    mgx.MASK_RCNN: scale_jitter_entry,
    mgx.CASCADE_RCNN: scale_jitter_entry,
    mgx.YOLO: yolo_entry,
    mgx.YOLOV7: yolo_entry,
}


def family_augmentation(params: Mapping, family: str) -> FamilyAugmentation | None:
    """The family's entry built for ``params``, or None when not reproduced."""
    entry = ENTRIES.get(family)
    return entry(params) if entry is not None else None


def _rank_in_image(box_image: np.ndarray) -> np.ndarray:
    """int64 ``[N]``: each box's position among its image's boxes, in order."""
    order = np.argsort(box_image, kind="stable")
    sorted_images = box_image[order]
    starts = np.searchsorted(sorted_images, sorted_images, side="left")
    rank = np.empty(len(box_image), np.int64)
    rank[order] = np.arange(len(box_image)) - starts
    return rank


def _take(resized: ResizedBoxes, keep: np.ndarray) -> ResizedBoxes:
    return ResizedBoxes(resized.true_shape, resized.padded_shape, resized.box_image[keep],
                        resized.boxes[keep], resized.label[keep])


@dataclass(frozen=True)
class ParserAugmenter:
    """A family's parser augmentation (:class:`FamilyAugmentation`) as an
    :class:`~tfod_anchors.frameworks.base.Augmenter`."""

    family: str
    entry: FamilyAugmentation

    @property
    def changes_boxes(self) -> bool:
        return self.entry.random

    def __call__(self, boxset: BoxSet, *, draws: int, seed: int,
                 max_boxes: int | None) -> AugmentResult:
        """``draws`` draws of every image (seeded, keyed per image), each drawn image then
        cut to its first ``max_boxes`` boxes; the result's ``resized`` holds the boxes in
        network-input pixels and ``boxset`` the same boxes normalized to ``output_hw``.

        Raises:
            UsageError: ``draws`` or ``max_boxes`` below 1.
        """
        from tfod_anchors.augment import AugmentResult

        if isinstance(draws, bool) or int(draws) < 1:
            raise UsageError(f"augmentation draws must be a positive integer, got {draws!r}")
        if max_boxes is not None and int(max_boxes) < 1:
            raise UsageError(f"max_boxes must be positive, got {max_boxes!r}")
        draws = int(draws) if self.entry.random else 1
        drawn = self.entry.run(boxset, draws, int(seed))
        resized, origin = drawn.resized, drawn.origin
        # boxes the crop emptied: known when every drawn box has one source box
        dropped = {CROPPED: int(boxset.num_boxes * draws - resized.num_boxes)} \
            if origin is not None else {}
        dropped[TRUNCATED] = 0
        if max_boxes is not None:
            keep = _rank_in_image(resized.box_image) < int(max_boxes)
            dropped[TRUNCATED] = int((~keep).sum())
            resized = _take(resized, keep)
            origin = origin[keep] if origin is not None else None
        m = resized.true_shape.shape[0]
        image_major = m == boxset.num_images * draws
        return AugmentResult(
            boxset=self._as_boxset(boxset, resized, origin, draws if image_major else 0),
            source_image=(np.repeat(np.arange(boxset.num_images, dtype=np.int32), draws)
                          if image_major else np.full(m, -1, np.int32)),
            draw=(np.tile(np.arange(draws, dtype=np.int32), boxset.num_images)
                  if image_major else np.full(m, -1, np.int32)),
            source_box=origin if origin is not None else np.full(resized.num_boxes, -1,
                                                                 np.int64),
            steps=[], dropped=dropped, added={}, draws=draws, seed=int(seed),
            resized=resized, described=[dict(s) for s in self.entry.steps],
            note=self.entry.note)

    def _as_boxset(self, source: BoxSet, resized: ResizedBoxes, origin: np.ndarray | None,
                   draws: int) -> BoxSet:
        """The drawn boxes as a :class:`BoxSet` of output-size images (boxes normalized
        to ``output_hw``; flags from their source boxes when known)."""
        m, n = resized.true_shape.shape[0], resized.num_boxes
        h, w = self.entry.output_hw
        scale = np.array([h, w, h, w], np.float64)
        keys = np.repeat(source.image_key, draws) if draws else \
            np.array([f"drawn#{i}" for i in range(m)], object)

        def flag(values: np.ndarray) -> np.ndarray:
            return values[origin] if origin is not None else np.zeros(n, bool)

        return BoxSet(
            image_height=np.full(m, h, np.int32), image_width=np.full(m, w, np.int32),
            image_key=keys, box_image=resized.box_image.astype(np.int32),
            boxes=(resized.boxes / scale).astype(np.float32), label=resized.label,
            difficult=flag(source.difficult), group_of=flag(source.group_of),
            is_crowd=flag(source.is_crowd), skipped=dict(source.skipped),
            sources=list(source.sources), skip_examples=dict(source.skip_examples))


def static_findings(family: str, augmenter: ParserAugmenter | None) -> list[Finding]:
    """``mg_augmentation_static`` (info) when the family has no augmenter, else none."""
    from tfod_anchors.rules.findings import finding

    if augmenter is not None:
        return []
    return [finding("mg_augmentation_static", f"{family}'s training augmentation is not "
                    "reproduced: coverage measures the static boxes")]


def parser_augmenter(params: Mapping, family: str) -> ParserAugmenter | None:
    """The experiment's training augmentation, or None when its family's is not
    reproduced (coverage then measures the static boxes and says so)."""
    entry = family_augmentation(params, family)
    return ParserAugmenter(family, entry) if entry is not None else None
