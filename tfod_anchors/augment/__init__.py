"""Stage 1b of the data flow: the config's ``data_augmentation_options``, reproduced.

TFOD trains on augmented boxes: in ``inputs.py`` the augmentation steps run on the
decoded image and its normalized boxes *before* the image resizer; afterwards
inverted boxes are pruned and each image keeps its first ``max_number_of_boxes``.
This package draws N augmented samples of every image with the distributions and
roundings of TFOD's ``core/preprocessor.py`` (and of TensorFlow's
``sample_distorted_bounding_box`` kernel), in vectorised numpy, seeded.

Public API::

    from tfod_anchors.augment import augment, classify_ops, needs_augmentation

    classify_ops(steps) -> list[tuple[int, str, str]]
        # (index, op_name, status) per step; status in geometric | label |
        # photometric | unsupported | unknown. "unknown" (and "unsupported") steps
        # are the check command's ``unknown_augmentation`` findings; both are
        # treated as identity.
    needs_augmentation(steps) -> bool
        # any reproduced step that changes boxes (geometric, drop_label_probabilistically)
    augment(boxset, steps, draws=1, seed=0, max_boxes=None) -> AugmentResult
        # result.boxset: a BoxSet with one image per draw (image-major), post-
        # augmentation sizes, surviving normalized boxes, pruned and truncated;
        # feed it to tfod_anchors.resize.resize_boxes(result.boxset, resizer).
        # result.source_image / result.draw: int32 [M * draws];
        # result.source_box: int64 [N'] index into the input boxes;
        # result.dropped / result.added: {"<i>:<op>": count, ...,
        #   "invalid_boxes": n, "max_number_of_boxes": n}.
    describe_steps(result.steps) -> list[dict]   # JSON-ready step list
    OPS: dict[str, OpInfo]                        # the catalogue, by oneof field name

``steps`` is the repeated ``PreprocessingStep`` list itself
(``pipeline.train_config.data_augmentation_options``), bundled schema or TFOD's own.
The input BoxSet must *not* be truncated to ``max_number_of_boxes`` beforehand
(TFOD truncates after augmentation); pass the limit as ``max_boxes``.

Randomness: every draw is keyed by the image's content (size, boxes, labels), its
occurrence among identical images, the draw index and the seed, so results do not
depend on the order of the images. Only the generator differs from TF's; the
distributions are TFOD's. Discrete choices (flips, rotation, ssd operation) are
sampled, not enumerated.

Not reproduced: ``autoaugment_image`` (status ``unsupported``, identity here). TFOD's
implementation needs ``tf.contrib`` and raises NameError under TF 2, so no TF 2 training
runs it; under TF 1 its translate/shear/rotate sub-policies move boxes.
"""

from __future__ import annotations

from .catalogue import OPS, OpInfo, classify_ops, needs_augmentation
from .engine import AugmentResult, PlannedStep, augment, describe_steps, plan

__all__ = ["OPS", "AugmentResult", "OpInfo", "PlannedStep", "augment", "classify_ops",
           "describe_steps", "needs_augmentation", "plan"]
