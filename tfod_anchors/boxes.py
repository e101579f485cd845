"""Columnar box containers passed between the stages of the data flow.

Stage 1 (``tfod_anchors.sources``) produces a :class:`BoxSet`; stage 2
(``tfod_anchors.resize``) turns it into :class:`ResizedBoxes`. Everything is a
plain numpy array so later stages (geometry, coverage, fitting) stay pure.

Conventions (as in TFOD): boxes are ``[ymin, xmin, ymax, xmax]``, y first,
continuous coordinates (no +1), aspect ratio = width / height.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class BoxSet:
    """Boxes as read from a dataset, before any resizing.

    Images are indexed ``0..M-1``; boxes ``0..N-1``.

    Attributes:
        image_height: int32 ``[M]``, original (decoded) image height in pixels.
        image_width: int32 ``[M]``, original image width in pixels.
        image_key: object ``[M]``, a readable id per image (source_id, filename or
            ``"<file>#<record>"``), used in messages only.
        box_image: int32 ``[N]``, index into the image arrays for each box.
        boxes: float32 ``[N, 4]``, ``[ymin, xmin, ymax, xmax]`` normalized to the
            original image (TFOD's tf.Example convention).
        label: int32 ``[N]``, class id (1-based as in label maps); -1 when unknown.
        difficult, group_of, is_crowd: bool ``[N]``.
        skipped: counts of what was dropped or repaired, by reason (stable keys,
            reported as-is in ``stats --json``).
        sources: the paths that were read, in order.
        skip_examples: for each ``skipped`` key, where its first instance was found
            (e.g. ``"train.record (record 7) box 2: ..."``), for messages.
    """

    image_height: np.ndarray
    image_width: np.ndarray
    image_key: np.ndarray
    box_image: np.ndarray
    boxes: np.ndarray
    label: np.ndarray
    difficult: np.ndarray
    group_of: np.ndarray
    is_crowd: np.ndarray
    skipped: dict[str, int] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)
    skip_examples: dict[str, str] = field(default_factory=dict)

    @property
    def num_images(self) -> int:
        return int(self.image_height.shape[0])

    @property
    def num_boxes(self) -> int:
        return int(self.boxes.shape[0])


@dataclass
class ResizedBoxes:
    """Boxes in pixels of the image the model sees, after the config's resizer.

    Attributes:
        true_shape: int32 ``[M, 2]``, ``(height, width)`` of the resized content
            (TFOD's "true image shape").
        padded_shape: int32 ``[M, 2]``, ``(height, width)`` of the tensor given to
            the network (equal to ``true_shape`` unless the resizer pads).
        box_image: int32 ``[N]``, image index per box.
        boxes: float64 ``[N, 4]``, ``[ymin, xmin, ymax, xmax]`` in pixels of the
            resized image; padding only adds empty space at bottom/right, so the
            same numbers are pixels of the padded image too.
        label: int32 ``[N]``, carried through from the :class:`BoxSet`.
    """

    true_shape: np.ndarray
    padded_shape: np.ndarray
    box_image: np.ndarray
    boxes: np.ndarray
    label: np.ndarray

    @property
    def num_boxes(self) -> int:
        return int(self.boxes.shape[0])

    @property
    def heights(self) -> np.ndarray:
        """float64 ``[N]``, box heights in resized pixels."""
        return self.boxes[:, 2] - self.boxes[:, 0]

    @property
    def widths(self) -> np.ndarray:
        """float64 ``[N]``, box widths in resized pixels."""
        return self.boxes[:, 3] - self.boxes[:, 1]

    def padded_groups(self) -> tuple[np.ndarray, np.ndarray]:
        """The distinct padded shapes of the boxes' images, int64 ``[G, 2]`` in ascending
        ``(H, W)`` order, and each box's index into them, int64 ``[N]``."""
        padded = np.asarray(self.padded_shape, dtype=np.int64)
        if self.num_boxes == 0:
            return np.zeros((0, 2), np.int64), np.zeros(0, np.int64)
        code = (padded[:, 0] << 32) + padded[:, 1]  # one int per image, ordered like (H, W)
        # distinct shapes over the images first (fewer than boxes), then those with boxes
        shapes, of_image = np.unique(code, return_inverse=True)
        of_box = of_image.reshape(-1)[self.box_image]
        used = np.bincount(of_box, minlength=shapes.size) > 0
        uniq = shapes[used]
        inverse = (np.cumsum(used) - 1)[of_box]
        return np.stack([uniq >> 32, uniq & 0xFFFFFFFF], axis=1), inverse.astype(np.int64)

    def group_indices(self) -> list[tuple[tuple[int, int], np.ndarray]]:
        """``[((H, W), box indices int64 [n]), ...]`` per padded shape, shapes ascending,
        indices ascending within each."""
        shapes, group = self.padded_groups()
        if shapes.shape[0] == 1:
            return [((int(shapes[0, 0]), int(shapes[0, 1])), np.arange(self.num_boxes))]
        order = np.argsort(group, kind="stable")
        bounds = np.searchsorted(group[order], np.arange(shapes.shape[0] + 1))
        return [((int(h), int(w)), order[bounds[g]:bounds[g + 1]])
                for g, (h, w) in enumerate(shapes)]

    def most_common_shape(self) -> tuple[int, int]:
        """The padded ``(H, W)`` that holds the most boxes (ties: the smallest shape)."""
        shapes, group = self.padded_groups()
        h, w = shapes[int(np.argmax(np.bincount(group)))]
        return int(h), int(w)
