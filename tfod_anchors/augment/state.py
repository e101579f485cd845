"""The data every step transforms: all drawn images and their boxes, flat.

A drawn image is an *instance* (``K = images x draws`` of them). Boxes are stored
flat, grouped by instance in TFOD's order (``box_inst`` non-decreasing; within an
instance, the order TFOD keeps, which decides what ``max_number_of_boxes``
truncates). Boxes stay normalized to the instance's current image, float32, as in
TFOD's preprocessor.

The box helpers restate ``box_list_ops`` semantics (float32 arithmetic):
``change_frame`` is ``change_coordinate_frame``, ``outside`` is the violation
test of ``prune_completely_outside_window``, ``covered_fraction`` is the IOA of
``prune_non_overlapping_boxes`` (intersection over the box's own area).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

F32 = np.float32


@dataclass
class State:
    """Drawn images and their boxes during augmentation.

    Attributes:
        height, width: int64 ``[K]``, current image size per instance (pixels).
        box_inst: int64 ``[B]``, instance per box, non-decreasing.
        boxes: float32 ``[B, 4]``, ``[ymin, xmin, ymax, xmax]`` normalized to the
            instance's current image.
        label: int32 ``[B]``, class id per box.
        origin: int64 ``[B]``, index of the source box in the input BoxSet.
    """

    height: np.ndarray
    width: np.ndarray
    box_inst: np.ndarray
    boxes: np.ndarray
    label: np.ndarray
    origin: np.ndarray

    @property
    def num_instances(self) -> int:
        return int(self.height.shape[0])

    @property
    def num_boxes(self) -> int:
        return int(self.box_inst.shape[0])

    def keep(self, mask: np.ndarray) -> int:
        """Keep the boxes where ``mask`` (bool ``[B]``) is true; returns how many went."""
        dropped = int(mask.size - np.count_nonzero(mask))
        if dropped:
            self.box_inst = self.box_inst[mask]
            self.boxes = self.boxes[mask]
            self.label = self.label[mask]
            self.origin = self.origin[mask]
        return dropped

    def starts(self) -> np.ndarray:
        """int64 ``[K + 1]``: boxes of instance ``k`` are ``starts[k]:starts[k+1]``."""
        return np.searchsorted(self.box_inst, np.arange(self.num_instances + 1), side="left")

    def rank(self) -> np.ndarray:
        """int64 ``[B]``: position of each box within its instance (0-based)."""
        if not self.num_boxes:
            return np.zeros(0, dtype=np.int64)
        return np.arange(self.num_boxes, dtype=np.int64) - self.starts()[self.box_inst]

    def boxes_of(self, inst_mask: np.ndarray) -> np.ndarray:
        """bool ``[B]``: boxes whose instance is selected by ``inst_mask`` (bool ``[K]``)."""
        return inst_mask[self.box_inst]


def window_from_pixels(y0, x0, y1, x1, height, width) -> np.ndarray:
    """float32 ``[k, 4]`` window ``[y0/h, x0/w, y1/h, x1/w]`` (float32 divisions)."""
    h = np.asarray(height).astype(F32)
    w = np.asarray(width).astype(F32)
    with np.errstate(divide="ignore", invalid="ignore"):  # zero-size images: TFOD fails too
        return np.stack([np.asarray(y0).astype(F32) / h, np.asarray(x0).astype(F32) / w,
                         np.asarray(y1).astype(F32) / h, np.asarray(x1).astype(F32) / w],
                        axis=1).astype(F32)


def change_frame(boxes: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Boxes ``[B, 4]`` re-expressed relative to per-box windows ``[B, 4]`` (float32):
    ``(box - [wy0, wx0, wy0, wx0]) * (1 / wh, 1 / ww)``."""
    win = window.astype(F32, copy=False)
    inv_h = F32(1.0) / (win[:, 2] - win[:, 0])
    inv_w = F32(1.0) / (win[:, 3] - win[:, 1])
    out = np.empty_like(boxes, dtype=F32)
    with np.errstate(divide="ignore", invalid="ignore"):
        out[:, 0] = (boxes[:, 0] - win[:, 0]) * inv_h
        out[:, 2] = (boxes[:, 2] - win[:, 0]) * inv_h
        out[:, 1] = (boxes[:, 1] - win[:, 1]) * inv_w
        out[:, 3] = (boxes[:, 3] - win[:, 1]) * inv_w
    return out


def outside(boxes: np.ndarray, window: np.ndarray) -> np.ndarray:
    """bool ``[B]``: box lies completely outside its window (touching counts as outside)."""
    return ((boxes[:, 0] >= window[:, 2]) | (boxes[:, 1] >= window[:, 3])
            | (boxes[:, 2] <= window[:, 0]) | (boxes[:, 3] <= window[:, 1]))


def covered_fraction(boxes: np.ndarray, window: np.ndarray) -> np.ndarray:
    """float32 ``[B]``: area of box inside its window over the box's area (NaN for
    zero-area boxes, which then fail every ``>=`` test, as in TF)."""
    ih = np.maximum(F32(0), np.minimum(boxes[:, 2], window[:, 2])
                    - np.maximum(boxes[:, 0], window[:, 0]))
    iw = np.maximum(F32(0), np.minimum(boxes[:, 3], window[:, 3])
                    - np.maximum(boxes[:, 1], window[:, 1]))
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    with np.errstate(divide="ignore", invalid="ignore"):
        return ((ih * iw) / area).astype(F32, copy=False)


def clip01(boxes: np.ndarray) -> np.ndarray:
    """Boxes clipped to ``[0, 1]`` (float32)."""
    return np.clip(boxes, F32(0), F32(1)).astype(F32, copy=False)


@dataclass
class Selection:
    """The boxes of a subset of instances.

    Attributes:
        inst: int64 ``[k]``, the selected instances (increasing).
        box: int64 ``[b]``, indices of their boxes in the state (increasing).
        row: int64 ``[b]``, for each of those boxes, its instance's row in ``inst``.
    """

    inst: np.ndarray
    box: np.ndarray
    row: np.ndarray


def select(state: State, inst: np.ndarray) -> Selection:
    """The boxes of instances ``inst`` (int64 ``[k]``, increasing, distinct)."""
    pos = np.full(state.num_instances, -1, dtype=np.int64)
    pos[inst] = np.arange(inst.shape[0], dtype=np.int64)
    row_all = pos[state.box_inst]
    box = np.flatnonzero(row_all >= 0)
    return Selection(inst=inst, box=box, row=row_all[box])


def drop_boxes(state: State, box_indices: np.ndarray) -> int:
    """Remove the boxes at ``box_indices``; returns how many were removed."""
    if box_indices.size == 0:
        return 0
    mask = np.ones(state.num_boxes, dtype=bool)
    mask[box_indices] = False
    return state.keep(mask)
