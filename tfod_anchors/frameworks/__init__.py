"""Model frameworks behind one protocol (:mod:`.base`): a config resolved once into a spec.

:mod:`.tfod` is the TensorFlow Object Detection API's implementation.
"""

from typing import Any

from tfod_anchors.frameworks.base import (
    IOU,
    YOLO_RATIO,
    Augmenter,
    CentroidMapping,
    MatcherRule,
    ModelInputs,
    ModelSpec,
    TextPatch,
    spec_names,
)


def as_spec(model: Any, path: str | None = None) -> ModelSpec:
    """``model`` if it is already a spec, else the TFOD spec of a ``TrainEvalPipelineConfig``
    or TFOD configs dict (``path``: where it was read from). The API edge's one resolution.

    Raises:
        UsageError: neither.
    """
    if isinstance(getattr(model, "framework", None), str) and hasattr(model, "layout_for"):
        return model
    if isinstance(model, dict) and "task" in model:  # a resolved Model Garden experiment
        from tfod_anchors.frameworks.modelgarden.spec import model_garden_spec

        return model_garden_spec(model, path)
    from tfod_anchors.frameworks.tfod import tfod_spec

    return tfod_spec(model, path)

__all__ = ["IOU", "YOLO_RATIO", "Augmenter", "CentroidMapping", "MatcherRule", "ModelInputs",
           "ModelSpec", "TextPatch", "as_spec", "spec_names"]
