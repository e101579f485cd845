"""Every ``PreprocessingStep`` of TFOD's ``preprocessor.proto``, classified for anchors.

The question asked of each step is only: does it change what the matcher sees,
i.e. the image size or the boxes? The table :data:`OPS` is keyed by the name of
the field set in the ``preprocessing_step`` oneof (field numbers as in the proto):

* ``geometric`` - changes the image size, moves/resizes/drops/duplicates boxes;
  reproduced by :mod:`tfod_anchors.augment`.
* ``label`` - acts on class labels; ``drop_label_probabilistically`` removes
  boxes and is reproduced, the others leave the boxes alone.
* ``photometric`` - pixel values only (colour, noise, JPEG, patches); boxes and
  image size are untouched, so it is an identity here.
* ``unsupported`` - moves boxes but is not reproduced: ``autoaugment_image``, whose
  TFOD implementation imports ``tf.contrib`` and so fails on TF 2 (TF 1 only);
  reported like an unknown step and treated as identity.
* ``unknown`` - a field this table does not know (a newer TFOD, or a fork);
  reported (``unknown_augmentation``) and treated as identity.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

ONEOF = "preprocessing_step"

GEOMETRIC = "geometric"
LABEL = "label"
PHOTOMETRIC = "photometric"
UNSUPPORTED = "unsupported"
UNKNOWN = "unknown"

#: Statuses whose steps change the boxes the matcher sees (a config with one of
#: these should be measured on the augmented distribution by default).
REPRODUCED_STATUSES = (GEOMETRIC,)


@dataclass(frozen=True)
class OpInfo:
    """One row of the table.

    Attributes:
        number: the field number in ``PreprocessingStep``'s oneof.
        status: one of ``geometric``, ``label``, ``photometric``, ``unsupported``.
        effect: what the step does to the image size and boxes, in one line.
        changes_boxes: whether the boxes seen by the matcher can change.
    """

    number: int
    status: str
    effect: str
    changes_boxes: bool


OPS: dict[str, OpInfo] = {
    "normalize_image": OpInfo(1, PHOTOMETRIC, "rescales pixel values", False),
    "random_horizontal_flip": OpInfo(
        2, GEOMETRIC, "mirrors x with probability p (default 0.5)", True),
    "random_pixel_value_scale": OpInfo(3, PHOTOMETRIC, "multiplies pixel values", False),
    "random_image_scale": OpInfo(
        4, GEOMETRIC, "resizes the image by a uniform factor; normalized boxes unchanged", True),
    "random_rgb_to_gray": OpInfo(5, PHOTOMETRIC, "grayscale with probability p", False),
    "random_adjust_brightness": OpInfo(6, PHOTOMETRIC, "brightness", False),
    "random_adjust_contrast": OpInfo(7, PHOTOMETRIC, "contrast", False),
    "random_adjust_hue": OpInfo(8, PHOTOMETRIC, "hue", False),
    "random_adjust_saturation": OpInfo(9, PHOTOMETRIC, "saturation", False),
    "random_distort_color": OpInfo(10, PHOTOMETRIC, "brightness/saturation/hue/contrast", False),
    "random_jitter_boxes": OpInfo(
        11, GEOMETRIC, "moves each box edge by up to ratio x its size", True),
    "random_crop_image": OpInfo(
        12, GEOMETRIC, "crop window from sample_distorted_bounding_box; boxes pruned, "
        "re-framed, clipped", True),
    "random_pad_image": OpInfo(
        13, GEOMETRIC, "pads to a random larger size at a random offset", True),
    "random_crop_pad_image": OpInfo(
        14, GEOMETRIC, "random_crop_image, then random_pad_image", True),
    "random_crop_to_aspect_ratio": OpInfo(
        15, GEOMETRIC, "largest crop of the given aspect ratio at a random offset", True),
    "random_black_patches": OpInfo(16, PHOTOMETRIC, "blacks out square patches", False),
    "random_resize_method": OpInfo(
        17, GEOMETRIC, "resizes to target_height x target_width; normalized boxes "
        "unchanged", True),
    "scale_boxes_to_pixel_coordinates": OpInfo(
        18, GEOMETRIC, "multiplies boxes by the image size (boxes leave [0, 1])", True),
    "resize_image": OpInfo(
        19, GEOMETRIC, "resizes to new_height x new_width; normalized boxes unchanged", True),
    "subtract_channel_mean": OpInfo(20, PHOTOMETRIC, "subtracts channel means", False),
    "ssd_random_crop": OpInfo(
        21, GEOMETRIC, "one of several random_crop_image settings, chosen uniformly", True),
    "ssd_random_crop_pad": OpInfo(
        22, GEOMETRIC, "one of several random_crop_pad_image settings, chosen uniformly "
        "(TFOD's own run fails under TF 2.21: its v1 switch/merge selector returns no "
        "image; modelled as the TF 1 graph behaves)", True),
    "ssd_random_crop_fixed_aspect_ratio": OpInfo(
        23, GEOMETRIC, "ssd_random_crop at a fixed aspect ratio, then "
        "random_crop_to_aspect_ratio", True),
    "ssd_random_crop_pad_fixed_aspect_ratio": OpInfo(
        24, GEOMETRIC, "ssd_random_crop, then pads to the aspect ratio "
        "(random_pad_to_aspect_ratio)", True),
    "random_vertical_flip": OpInfo(
        25, GEOMETRIC, "mirrors y with probability p (default 0.5)", True),
    "random_rotation90": OpInfo(
        26, GEOMETRIC, "rotates 90 degrees counter-clockwise with probability p; swaps "
        "height and width", True),
    "rgb_to_gray": OpInfo(27, PHOTOMETRIC, "grayscale", False),
    "convert_class_logits_to_softmax": OpInfo(
        28, LABEL, "softmax of multiclass scores; boxes untouched", False),
    "random_absolute_pad_image": OpInfo(
        29, GEOMETRIC, "pads by up to max_height/width_padding pixels at a random offset",
        True),
    "random_self_concat_image": OpInfo(
        30, GEOMETRIC, "with probabilities, stacks the image with itself vertically "
        "and/or horizontally (boxes duplicated)", True),
    "autoaugment_image": OpInfo(
        31, UNSUPPORTED, "AutoAugment detection policy: needs tf.contrib, so TFOD fails on it "
        "under TF 2 (NameError); under TF 1 its translate/shear/rotate sub-policies move "
        "boxes; not reproduced (identity)", True),
    "drop_label_probabilistically": OpInfo(
        32, LABEL, "drops boxes of one label with a probability (reproduced)", True),
    "remap_labels": OpInfo(33, LABEL, "renames labels; boxes untouched", False),
    "random_jpeg_quality": OpInfo(34, PHOTOMETRIC, "JPEG re-encoding", False),
    "random_downscale_to_target_pixels": OpInfo(
        35, GEOMETRIC, "downscales large images to a random pixel count", True),
    "random_patch_gaussian": OpInfo(36, PHOTOMETRIC, "gaussian noise in a patch", False),
    "random_square_crop_by_scale": OpInfo(
        37, GEOMETRIC, "square crop of a random scale of the long side around a random "
        "centre (CenterNet)", True),
    "random_scale_crop_and_pad_to_square": OpInfo(
        38, GEOMETRIC, "rescales by a uniform factor, crops/pads to output_size squared "
        "(EfficientDet)", True),
    "adjust_gamma": OpInfo(39, PHOTOMETRIC, "gamma correction", False),
}


def step_name(step: Any) -> str | None:
    """The oneof field set in a ``PreprocessingStep`` message (None if none is set)."""
    try:
        return step.WhichOneof(ONEOF)
    except (AttributeError, ValueError, TypeError):
        return None


def _unknown_name(step: Any) -> str:
    """A readable name for a step the table does not know (its set fields)."""
    try:
        fields = [field.name for field, _ in step.ListFields()]
    except AttributeError:
        return type(step).__name__
    return ",".join(fields) if fields else "(empty step)"


def classify_ops(steps: Iterable[Any]) -> list[tuple[int, str, str]]:
    """Classify ``train_config.data_augmentation_options``.

    Args:
        steps: ``PreprocessingStep`` messages (bundled schema or TFOD's own), in order.
    Returns:
        one ``(index, op_name, status)`` per step, in order; ``status`` is one of
        ``geometric``, ``label``, ``photometric``, ``unsupported``, ``unknown``
        (a step with no field set, or a field missing from :data:`OPS`).
    """
    out: list[tuple[int, str, str]] = []
    for index, step in enumerate(steps):
        name = step_name(step)
        if name is None:
            out.append((index, _unknown_name(step), UNKNOWN))
        elif name not in OPS:
            out.append((index, name, UNKNOWN))
        else:
            out.append((index, name, OPS[name].status))
    return out


def needs_augmentation(steps: Iterable[Any]) -> bool:
    """Whether any step changes the boxes the matcher sees and is reproduced here
    (a geometric step, or ``drop_label_probabilistically``)."""
    for _, name, status in classify_ops(steps):
        if status == GEOMETRIC or name == "drop_label_probabilistically":
            return True
    return False
