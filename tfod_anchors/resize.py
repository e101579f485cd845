"""Stage 2 of the data flow: the config's ``image_resizer``, reproduced exactly.

TFOD trains on boxes in pixels of the *resized* image. This module turns the
``ImageResizer`` proto of a pipeline config into a :class:`Resizer` that computes,
for every original image size, the two shapes TFOD works with:

* the **true shape** - size of the resized content (what the resizer returns as
  ``true_image_shape``);
* the **padded shape** - size of the tensor given to the network (bigger than the
  true shape only for ``pad_to_max_dimension`` and ``pad_to_multiple_resizer``;
  padding is always added at the bottom and right).

The arithmetic mirrors TFOD/TensorFlow to the pixel (see ``docs/fidelity.md`` §2):
``keep_aspect_ratio_resizer`` uses a float32 scale and round-half-to-even (it
delegates to ``tf.image.resize(..., preserve_aspect_ratio=True)``);
``conditional_shape_resizer`` uses a float32 ratio and *truncates*;
``pad_to_multiple_resizer`` keeps the original size as the true shape.

The builder reads proto fields by name only, so it accepts the bundled schema's
messages and TFOD's own ``image_resizer_pb2.ImageResizer`` alike. Dispatch is one
table from the ``image_resizer_oneof`` name to a small builder function, as in
TFOD's ``builders/image_resizer_builder.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from tfod_anchors.boxes import BoxSet, ResizedBoxes
from tfod_anchors.errors import ConfigError, InputError, UsageError

ONEOF = "image_resizer_oneof"


def _as_sizes(heights: Any, widths: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validate original image sizes: int ``[M]`` each, all positive."""
    h = np.asarray(heights)
    w = np.asarray(widths)
    if h.shape != w.shape or h.ndim != 1:
        raise UsageError(f"image heights and widths must be 1-D arrays of one length, "
                         f"got shapes {h.shape} and {w.shape}")
    integer = np.issubdtype(h.dtype, np.integer) and np.issubdtype(w.dtype, np.integer)
    if h.size and not integer:
        raise UsageError("image heights and widths must be integers (pixels)")
    h = h.astype(np.int64)
    w = w.astype(np.int64)
    if h.size and (h.min() <= 0 or w.min() <= 0):
        raise UsageError("image heights and widths must be positive")
    return h, w


def _stack(h: np.ndarray, w: np.ndarray) -> np.ndarray:
    """int32 ``[M, 2]`` ``(height, width)`` pairs."""
    return np.stack([h, w], axis=1).astype(np.int32)


class Resizer:
    """Base class: what every TFOD image resizer computes, as numpy.

    Attributes:
        kind: the ``image_resizer_oneof`` field name this resizer comes from.
        convert_to_grayscale: TFOD's flag; changes channels only, never shapes.
    """

    kind = "resizer"
    convert_to_grayscale: bool = False

    def shapes(self, heights: Any, widths: Any) -> tuple[np.ndarray, np.ndarray]:
        """True and padded shapes for original sizes.

        Args:
            heights: int ``[M]``, original (decoded) image heights in pixels.
            widths: int ``[M]``, original image widths in pixels.
        Returns:
            ``(true_shape, padded_shape)``, each int32 ``[M, 2]`` as ``(height, width)``.
        Raises:
            UsageError: sizes not 1-D integer arrays of one length, or not positive.
        """
        h, w = _as_sizes(heights, widths)
        true_h, true_w = self._true(h, w)
        pad_h, pad_w = self._padded(h, w, true_h, true_w)
        return _stack(true_h, true_w), _stack(pad_h, pad_w)

    def _true(self, h: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _padded(self, h: np.ndarray, w: np.ndarray, true_h: np.ndarray,
                true_w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return true_h, true_w

    @property
    def static_shape(self) -> tuple[int, int] | None:
        """``(H, W)`` of the padded network input when it does not depend on the
        image (fixed shape, or keep-aspect with padding), else ``None``."""
        return None

    @property
    def pads(self) -> bool:
        """Whether the padded shape can differ from the true shape."""
        return False

    def describe(self) -> str:
        """One human-readable line for reports."""
        raise NotImplementedError

    def resize_boxes(self, boxset: BoxSet) -> ResizedBoxes:
        """Boxes in pixels of the model input (:func:`resize_boxes`: TFOD's rule,
        ``normalized * true shape``); a framework whose resize also moves boxes (the
        Model Garden's letterbox) overrides this."""
        return resize_boxes(boxset, self)

    def _gray(self) -> str:
        return ", grayscale" if self.convert_to_grayscale else ""


@dataclass(frozen=True)
class KeepAspectRatioResizer(Resizer):
    """``keep_aspect_ratio_resizer`` (TFOD ``preprocessor.resize_to_range``).

    The short side goes to ``min_dimension`` unless the long side would exceed
    ``max_dimension``; computed as TensorFlow does it: target box
    ``(min, max)`` for landscape (``h < w``), ``(max, min)`` otherwise (portrait and
    square), ``scale = min(float32(T_h)/float32(h), float32(T_w)/float32(w))`` and
    ``new = int32(round_half_even(float32(scale * float32(dim))))``.
    """

    min_dimension: int = 600
    max_dimension: int = 1024
    pad_to_max_dimension: bool = False
    convert_to_grayscale: bool = False
    kind = "keep_aspect_ratio_resizer"

    def __post_init__(self) -> None:
        if self.min_dimension > self.max_dimension:
            raise ConfigError(
                f"keep_aspect_ratio_resizer: min_dimension ({self.min_dimension}) > "
                f"max_dimension ({self.max_dimension}); TFOD's builder rejects this - "
                "make min_dimension <= max_dimension")
        if self.min_dimension <= 0:
            raise ConfigError(
                f"keep_aspect_ratio_resizer: min_dimension must be positive, got "
                f"{self.min_dimension} (TFOD would resize every image to zero pixels)")

    def _true(self, h: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        landscape = h < w
        lo = np.float32(self.min_dimension)
        hi = np.float32(self.max_dimension)
        target_h = np.where(landscape, lo, hi).astype(np.float32)
        target_w = np.where(landscape, hi, lo).astype(np.float32)
        h32 = h.astype(np.float32)
        w32 = w.astype(np.float32)
        scale = np.minimum(target_h / h32, target_w / w32)  # float32, as TF
        new_h = np.round(scale * h32).astype(np.int64)  # np.round: half to even, like tf.round
        new_w = np.round(scale * w32).astype(np.int64)
        return new_h, new_w

    def _padded(self, h, w, true_h, true_w):
        if not self.pad_to_max_dimension:
            return true_h, true_w
        full = np.full_like(true_h, self.max_dimension)
        return full, full.copy()

    @property
    def static_shape(self) -> tuple[int, int] | None:
        if self.pad_to_max_dimension:
            return (self.max_dimension, self.max_dimension)
        return None

    @property
    def pads(self) -> bool:
        return self.pad_to_max_dimension

    def describe(self) -> str:
        pad = (f", padded to {self.max_dimension}x{self.max_dimension}"
               if self.pad_to_max_dimension else "")
        return (f"keep_aspect_ratio_resizer: short side {self.min_dimension}, long side at most "
                f"{self.max_dimension}{pad}{self._gray()}")


@dataclass(frozen=True)
class FixedShapeResizer(Resizer):
    """``fixed_shape_resizer``: every image stretched to ``height x width``."""

    height: int = 300
    width: int = 300
    convert_to_grayscale: bool = False
    kind = "fixed_shape_resizer"

    def __post_init__(self) -> None:
        if self.height <= 0 or self.width <= 0:
            raise ConfigError(
                f"fixed_shape_resizer: height and width must be positive, got "
                f"{self.height}x{self.width}")

    def _true(self, h, w):
        return np.full_like(h, self.height), np.full_like(w, self.width)

    @property
    def static_shape(self) -> tuple[int, int] | None:
        return (self.height, self.width)

    def describe(self) -> str:
        return (f"fixed_shape_resizer: {self.height}x{self.width} "
                f"(aspect ratio not kept){self._gray()}")


@dataclass(frozen=True)
class IdentityResizer(Resizer):
    """``identity_resizer``: the image as decoded."""

    kind = "identity_resizer"

    def _true(self, h, w):
        return h, w

    def describe(self) -> str:
        return "identity_resizer: original image size"


@dataclass(frozen=True)
class ConditionalShapeResizer(Resizer):
    """``conditional_shape_resizer`` (TFOD ``resize_to_max_dimension`` /
    ``resize_to_min_dimension``).

    GREATER: images whose long side exceeds ``size_threshold`` shrink so it
    equals the threshold; SMALLER: images whose short side is below it grow so it
    equals the threshold. ``ratio = float32(target)/float32(side)`` and
    ``new = int32(float32(dim) * ratio)`` - truncation, so a side can end one
    pixel short (291x400 SMALLER 600 -> 599x824).
    """

    condition: str = "GREATER"
    size_threshold: int = 300
    convert_to_grayscale: bool = False
    kind = "conditional_shape_resizer"

    def __post_init__(self) -> None:
        if self.condition not in ("GREATER", "SMALLER"):
            raise ConfigError(
                f"conditional_shape_resizer: condition must be GREATER or SMALLER, got "
                f"{self.condition} (TFOD's builder rejects it)")
        if self.condition == "GREATER" and self.size_threshold <= 0:
            raise ConfigError(
                f"conditional_shape_resizer: size_threshold must be positive with "
                f"GREATER, got {self.size_threshold} (every image would become zero pixels)")

    def _true(self, h, w):
        if self.condition == "GREATER":
            side = np.maximum(h, w)
            target = np.minimum(side, self.size_threshold)
        else:
            side = np.minimum(h, w)
            target = np.maximum(side, self.size_threshold)
        ratio = target.astype(np.float32) / side.astype(np.float32)
        new_h = (h.astype(np.float32) * ratio).astype(np.int64)  # truncation, as TF's cast
        new_w = (w.astype(np.float32) * ratio).astype(np.int64)
        return new_h, new_w

    def describe(self) -> str:
        if self.condition == "GREATER":
            rule = f"long side shrunk to at most {self.size_threshold}"
        else:
            rule = f"short side grown to at least {self.size_threshold}"
        return f"conditional_shape_resizer: {rule} (truncating){self._gray()}"


@dataclass(frozen=True)
class PadToMultipleResizer(Resizer):
    """``pad_to_multiple_resizer``: no resampling; zero padding at the bottom and
    right up to ``ceil(dim / multiple) * multiple``. The true shape is the
    original size."""

    multiple: int = 1
    convert_to_grayscale: bool = False
    kind = "pad_to_multiple_resizer"

    def __post_init__(self) -> None:
        if self.multiple < 0:
            raise ConfigError(
                f"pad_to_multiple_resizer: multiple must be > 0, got {self.multiple} "
                "(TFOD's builder rejects negative values)")
        if self.multiple == 0:
            raise ConfigError(
                "pad_to_multiple_resizer: multiple must be > 0, got 0 "
                "(TFOD would divide by zero when padding)")

    def _true(self, h, w):
        return h, w

    def _padded(self, h, w, true_h, true_w):
        if self.multiple == 1:
            return true_h, true_w
        m = np.float32(self.multiple)
        pad_h = np.ceil(h.astype(np.float32) / m).astype(np.int64) * self.multiple
        pad_w = np.ceil(w.astype(np.float32) / m).astype(np.int64) * self.multiple
        return pad_h, pad_w

    @property
    def pads(self) -> bool:
        return self.multiple > 1

    def describe(self) -> str:
        return (f"pad_to_multiple_resizer: original size, padded to a multiple of "
                f"{self.multiple}{self._gray()}")


# --------------------------------------------------------------------------- builder


def _enum_name(msg: Any, field_name: str) -> str:
    """Name of an enum field's value, read through the descriptor."""
    value = getattr(msg, field_name)
    enum_type = msg.DESCRIPTOR.fields_by_name[field_name].enum_type
    found = enum_type.values_by_number.get(value)
    return found.name if found is not None else str(value)


def _build_keep_aspect(msg: Any) -> Resizer:
    pad_values = list(msg.per_channel_pad_value)
    if msg.pad_to_max_dimension and pad_values and len(pad_values) != 3:
        raise ConfigError(
            f"keep_aspect_ratio_resizer: per_channel_pad_value has {len(pad_values)} values "
            "but TFOD decodes 3-channel images and pads each channel; give 3 values "
            "or none")
    return KeepAspectRatioResizer(
        min_dimension=int(msg.min_dimension),
        max_dimension=int(msg.max_dimension),
        pad_to_max_dimension=bool(msg.pad_to_max_dimension),
        convert_to_grayscale=bool(msg.convert_to_grayscale),
    )


def _build_fixed(msg: Any) -> Resizer:
    return FixedShapeResizer(height=int(msg.height), width=int(msg.width),
                             convert_to_grayscale=bool(msg.convert_to_grayscale))


def _build_identity(msg: Any) -> Resizer:
    del msg
    return IdentityResizer()


def _build_conditional(msg: Any) -> Resizer:
    return ConditionalShapeResizer(condition=_enum_name(msg, "condition"),
                                   size_threshold=int(msg.size_threshold),
                                   convert_to_grayscale=bool(msg.convert_to_grayscale))


def _build_pad_to_multiple(msg: Any) -> Resizer:
    return PadToMultipleResizer(multiple=int(msg.multiple),
                                convert_to_grayscale=bool(msg.convert_to_grayscale))


BUILDERS: dict[str, Callable[[Any], Resizer]] = {
    "keep_aspect_ratio_resizer": _build_keep_aspect,
    "fixed_shape_resizer": _build_fixed,
    "identity_resizer": _build_identity,
    "conditional_shape_resizer": _build_conditional,
    "pad_to_multiple_resizer": _build_pad_to_multiple,
}


def build_resizer(image_resizer_msg: Any, path: str | None = None) -> Resizer:
    """The :class:`Resizer` for an ``ImageResizer`` proto message.

    Args:
        image_resizer_msg: an ``object_detection.protos.ImageResizer`` (bundled
            schema or TFOD's own class; only fields are read, by name).
        path: config path for error messages.
    Raises:
        ConfigError: no resizer set, a resizer this tool does not know, or values
            TFOD's builder rejects (e.g. ``min_dimension > max_dimension``).
    """
    try:
        which = image_resizer_msg.WhichOneof(ONEOF)
    except (AttributeError, ValueError, TypeError):
        raise ConfigError(
            f"expected an ImageResizer message, got {type(image_resizer_msg).__name__}",
            path=path) from None
    if which is None:
        raise ConfigError(
            "image_resizer sets no resizer; add one of "
            + ", ".join(f"{name} {{ ... }}" for name in BUILDERS), path=path)
    builder = BUILDERS.get(which)
    if builder is None:
        raise ConfigError(
            f"image_resizer {which} is not supported by tfod-anchors; supported: "
            + ", ".join(BUILDERS), path=path)
    try:
        return builder(getattr(image_resizer_msg, which))
    except ConfigError as err:
        if err.path is None and path is not None:
            raise ConfigError(err.message, path=path) from None
        raise


# ------------------------------------------------------------------------ boxes


def resize_boxes(boxset: BoxSet, resizer: Resizer) -> ResizedBoxes:
    """Boxes in pixels of the resized image, as TFOD's model sees them.

    ``pixels = normalized (original image) * true resized (height, width)``; the
    padding only adds empty space at the bottom/right, so these are also pixels of
    the padded image.

    Returns:
        :class:`ResizedBoxes` with float64 ``boxes [N, 4]`` and int32 shapes ``[M, 2]``.
    Raises:
        InputError: an image would be resized to zero pixels (TFOD cannot train
            on it), naming the first such image.
    """
    true_shape, padded_shape = resizer.shapes(boxset.image_height, boxset.image_width)
    empty = (true_shape <= 0).any(axis=1)
    if empty.any():
        first = int(np.flatnonzero(empty)[0])
        raise InputError(
            f"{int(empty.sum())} image(s) resize to zero pixels with {resizer.describe()}; "
            f"first: {boxset.image_key[first]} ({boxset.image_height[first]}x"
            f"{boxset.image_width[first]} -> {true_shape[first, 0]}x{true_shape[first, 1]}); "
            "TFOD cannot train on these - drop them or change the resizer")
    scale = true_shape.astype(np.float64)[boxset.box_image]  # [N, 2] (h, w)
    boxes = boxset.boxes.astype(np.float64) * np.concatenate([scale, scale], axis=1)
    return ResizedBoxes(true_shape=true_shape, padded_shape=padded_shape,
                        box_image=boxset.box_image.astype(np.int32, copy=False),
                        boxes=boxes, label=boxset.label.astype(np.int32, copy=False))
