"""The Model Garden parsers' resize of images and boxes, in numpy (static: no augmentation).

* RetinaNet and the R-CNNs (``official/vision/ops/preprocess_ops.py``
  ``resize_and_crop_image`` / ``resize_and_crop_boxes``): keep the aspect ratio with a float32
  scale ``k = min(Ho / H0, Wo / W0)``, scaled size ``round(k * (H0, W0))`` (round half to
  even), a per-axis image scale ``scaled / original``, the content at the top-left corner,
  boxes clipped to the output size, the image padded at the bottom/right to
  ``compute_padded_size(output, 2**max_level)`` (or not padded: RetinaNet ``pad: false``).
  With ``keep_aspect_ratio: false`` (RetinaNet only) the image is stretched to the output.
* YOLO (``official/projects/yolo/ops/preprocessing_ops.py`` ``resize_and_jitter_image`` at
  jitter 0, as the eval parser and the un-augmented train parser run it): the letterbox pads
  the original symmetrically to the input's aspect ratio, ``trunc(d)`` rows (or columns) on
  each side with ``d = (W0 * H / W - H0) / 2`` (or the transpose), then resizes to the input
  size; ``letter_box: false`` stretches.

Both are :class:`~tfod_anchors.resize.Resizer` subclasses (``shapes``, ``describe``,
``static_shape``) with their own :meth:`resize_boxes`, which the pipeline uses instead of the
TFOD rule ``normalized * true_shape`` (the letterbox also shifts boxes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tfod_anchors.boxes import BoxSet, ResizedBoxes
from tfod_anchors.errors import InputError
from tfod_anchors.resize import Resizer, _as_sizes, _stack


def scaled_sizes(heights: np.ndarray, widths: np.ndarray, output_hw: tuple[int, int],
                 keep_aspect_ratio: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``resize_and_crop_image``'s scaled size without jitter, float32 as TensorFlow does it.

    Args:
        heights, widths: int ``[M]`` original sizes (pixels).
        output_hw: the desired output ``(Ho, Wo)``.
    Returns:
        ``(sh, sw)`` int64 ``[M]``, the scaled image size (pixels of the output).
    """
    h = np.asarray(heights).astype(np.float32)
    w = np.asarray(widths).astype(np.float32)
    oh, ow = np.float32(output_hw[0]), np.float32(output_hw[1])
    if not keep_aspect_ratio:
        return (np.full(h.shape, int(output_hw[0]), np.int64),
                np.full(w.shape, int(output_hw[1]), np.int64))
    k = np.minimum(oh / h, ow / w).astype(np.float32)
    return np.round(h * k).astype(np.int64), np.round(w * k).astype(np.int64)


@dataclass(frozen=True)
class ResizeAndCrop(Resizer):
    """The RetinaNet / R-CNN parser's resize (static: ``aug_scale`` 1).

    Attributes:
        output_hw: ``task.model.input_size[:2]``.
        padded_hw: the padded network input (``compute_padded_size``), or ``output_hw``.
        keep_aspect_ratio: the parser's flag (always True for the R-CNNs).
    """

    output_hw: tuple[int, int]
    padded_hw: tuple[int, int]
    keep_aspect_ratio: bool = True
    kind = "resize_and_crop_image"

    def _true(self, h, w):
        return scaled_sizes(h, w, self.output_hw, self.keep_aspect_ratio)

    def _padded(self, h, w, true_h, true_w):
        return (np.full(h.shape, self.padded_hw[0], np.int64),
                np.full(w.shape, self.padded_hw[1], np.int64))

    @property
    def static_shape(self) -> tuple[int, int]:
        return (int(self.padded_hw[0]), int(self.padded_hw[1]))

    @property
    def pads(self) -> bool:
        return True

    def describe(self) -> str:
        how = "keep aspect" if self.keep_aspect_ratio else "stretch"
        pad = (f", padded to {self.padded_hw[0]}x{self.padded_hw[1]}"
               if tuple(self.padded_hw) != tuple(self.output_hw) else "")
        return (f"Model Garden resize_and_crop_image to {self.output_hw[0]}x"
                f"{self.output_hw[1]} ({how}, top-left{pad})")

    def resize_boxes(self, boxset: BoxSet) -> ResizedBoxes:
        """Boxes in pixels of the output: ``normalized * original * scale`` per axis,
        clipped to ``[0, Ho] x [0, Wo]`` (``resize_and_crop_boxes`` + ``clip_boxes``)."""
        true_shape, padded_shape = self.shapes(boxset.image_height, boxset.image_width)
        empty = (true_shape <= 0).any(axis=1)
        if empty.any():
            first = int(np.flatnonzero(empty)[0])
            raise InputError(
                f"{int(empty.sum())} image(s) resize to zero pixels with {self.describe()}; "
                f"first: {boxset.image_key[first]} ({boxset.image_height[first]}x"
                f"{boxset.image_width[first]}); the Model Garden parser fails on these - "
                "drop them")
        scale = true_shape.astype(np.float64)[boxset.box_image]
        boxes = boxset.boxes.astype(np.float64) * np.concatenate([scale, scale], axis=1)
        limit = np.array([self.output_hw[0], self.output_hw[1]] * 2, dtype=np.float64)
        boxes = np.clip(boxes, 0.0, limit)
        return ResizedBoxes(true_shape=true_shape, padded_shape=padded_shape,
                            box_image=boxset.box_image.astype(np.int32, copy=False),
                            boxes=boxes, label=boxset.label.astype(np.int32, copy=False))


def letterbox_padding(heights: np.ndarray, widths: np.ndarray,
                      input_hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Rows added above (and below) and columns added left (and right) by YOLO's letterbox.

    Returns:
        ``(pad_top, pad_left)`` int64 ``[M]``, ``trunc(d)`` of the half difference to the
        input's aspect ratio (0 on the other axis).
    """
    h = np.asarray(heights, dtype=np.float64)
    w = np.asarray(widths, dtype=np.float64)
    target = input_hw[1] / input_hw[0]
    wider = (w / h) / target > 1
    top = np.where(wider, np.trunc((w / target - h) / 2), 0.0)
    left = np.where(wider, 0.0, np.trunc((h * target - w) / 2))
    return top.astype(np.int64), left.astype(np.int64)


@dataclass(frozen=True)
class YoloResize(Resizer):
    """The YOLO parser's resize to ``input_hw``: letterbox (centred) or stretch."""

    input_hw: tuple[int, int]
    letter_box: bool = True
    kind = "yolo_letterbox"

    def _true(self, h, w):
        return (np.full(h.shape, self.input_hw[0], np.int64),
                np.full(w.shape, self.input_hw[1], np.int64))

    @property
    def static_shape(self) -> tuple[int, int]:
        return (int(self.input_hw[0]), int(self.input_hw[1]))

    def describe(self) -> str:
        how = "letterbox, centred" if self.letter_box else "stretch (letter_box: false)"
        return f"Model Garden YOLO resize to {self.input_hw[0]}x{self.input_hw[1]} ({how})"

    def resize_boxes(self, boxset: BoxSet) -> ResizedBoxes:
        """Boxes in pixels of the network input: ``(y * H0 + pad_top) * H / (H0 + 2 pad_top)``
        (and the same in x) with the letterbox, ``y_norm * H`` without it."""
        h0, w0 = _as_sizes(boxset.image_height, boxset.image_width)
        out_h, out_w = float(self.input_hw[0]), float(self.input_hw[1])
        norm = boxset.boxes.astype(np.float64)
        if self.letter_box:
            top, left = letterbox_padding(h0, w0, self.input_hw)
            i = boxset.box_image
            hp, wp = (h0 + 2 * top).astype(np.float64), (w0 + 2 * left).astype(np.float64)
            y = (norm[:, [0, 2]] * h0[i, None] + top[i, None]) * (out_h / hp[i])[:, None]
            x = (norm[:, [1, 3]] * w0[i, None] + left[i, None]) * (out_w / wp[i])[:, None]
            boxes = np.stack([y[:, 0], x[:, 0], y[:, 1], x[:, 1]], axis=1)
        else:
            boxes = norm * np.array([out_h, out_w, out_h, out_w])
        shape = _stack(*self._true(h0, w0))
        return ResizedBoxes(true_shape=shape, padded_shape=shape.copy(),
                            box_image=boxset.box_image.astype(np.int32, copy=False),
                            boxes=boxes, label=boxset.label.astype(np.int32, copy=False))


def parser_resizer(exp: dict, family: str) -> Resizer:
    """The training parser's resize for a resolved experiment of ``family``
    (:func:`~tfod_anchors.frameworks.modelgarden.experiment.detect_family`)."""
    from tfod_anchors.frameworks.modelgarden.experiment import YOLO, YOLOV7
    from tfod_anchors.frameworks.modelgarden.geometry import input_hw, padded_size

    parser = exp["task"]["train_data"]["parser"]
    out = input_hw(exp)
    if family in (YOLO, YOLOV7):
        return YoloResize(out, bool(parser.get("letter_box", True)))
    model = exp["task"]["model"]
    pad = bool(parser.get("pad", True))  # the R-CNN parser always pads (pad: false raises)
    padded = padded_size(out, int(model["max_level"])) if pad else out
    return ResizeAndCrop(out, padded, bool(parser.get("keep_aspect_ratio", True)))
