"""Model frameworks behind one protocol (:mod:`.base`): a config resolved once into a spec.

:mod:`.tfod` is the TensorFlow Object Detection API's implementation.
"""

from tfod_anchors.frameworks.base import (
    IOU,
    YOLO_RATIO,
    Augmenter,
    MatcherRule,
    ModelInputs,
    ModelSpec,
    TextPatch,
    spec_names,
)

__all__ = ["IOU", "YOLO_RATIO", "Augmenter", "MatcherRule", "ModelInputs", "ModelSpec",
           "TextPatch", "spec_names"]
