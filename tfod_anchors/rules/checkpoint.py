"""What a change of anchors per location does to ``fine_tune_checkpoint``, as TFOD restores.

The box predictor's last layers have one output group per anchor per location, so
their shapes follow the anchor count. Whether that matters depends on the trainer:

* TF2 (``model_lib_v2``, object-based checkpoints, ``fine_tune_checkpoint_version:
  V2``; Keras feature extractors): ``restore_from_objects`` restores, for
  ``classification``, the extractor's classification backbone; for ``detection``,
  the feature extractor(s) only (Faster R-CNN: both stages' extractors; SSD: the
  extractor with its FPN layers), never the box predictor; for ``full``, the whole
  model, and a changed predictor shape then fails the restore (``ValueError:
  Received incompatible tensor with shape ...``).
* TF1 (``model_lib``, name-based checkpoints): ``restore_map`` variables whose shape
  differs from the checkpoint's are skipped (logged), so the predictor trains from
  its initialiser.

An empty ``fine_tune_checkpoint_type`` is ``detection`` when the deprecated
``from_detection_checkpoint`` is set and ``classification`` otherwise, as TFOD's
``config_util.update_fine_tune_checkpoint_type`` decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tfod_anchors.config.query import as_pipeline, is_placeholder_path

WARNING, INFO = "warning", "info"


@dataclass(frozen=True)
class CheckpointNote:
    """``level`` (``warning``: the restore fails; ``info``: it does not) and ``message``."""

    level: str
    message: str


def checkpoint_type(train_config: Any) -> str:
    """``fine_tune_checkpoint_type`` as TFOD resolves an empty one."""
    if train_config.fine_tune_checkpoint_type:
        return str(train_config.fine_tune_checkpoint_type)
    return "detection" if train_config.from_detection_checkpoint else "classification"


def is_tf2(cfg: Any) -> bool:
    """Whether TFOD's TF2 trainer restores this config's checkpoint: a ``V2``
    checkpoint version, or a Keras feature extractor (TF2 builds only those)."""
    pipeline = as_pipeline(cfg)
    if pipeline.train_config.fine_tune_checkpoint_version == 2:  # CheckpointVersion.V2
        return True
    kind = pipeline.model.WhichOneof("model")
    extractor = getattr(pipeline.model, kind).feature_extractor.type if kind else ""
    return "keras" in extractor


def anchor_count_note(cfg: Any, before: list[int], after: list[int]) -> CheckpointNote | None:
    """What the change of anchors per location ``before`` -> ``after`` does to the
    config's ``fine_tune_checkpoint`` (None when the count does not change or there
    is no checkpoint)."""
    pipeline = as_pipeline(cfg)
    path = pipeline.train_config.fine_tune_checkpoint
    if before == after or not path:
        return None
    change = (f"anchors per location change from {before} to {after}: the box predictor's "
              "shapes change")
    named = (f"fine_tune_checkpoint {path!r} (a template placeholder: set the real path)"
             if is_placeholder_path(path) else f"fine_tune_checkpoint {path!r}")
    kind = checkpoint_type(pipeline.train_config)
    if not is_tf2(pipeline):
        return CheckpointNote(INFO, f"{change}; TFOD's TF1 trainer skips checkpoint variables "
                                    f"whose shapes differ, so the box predictor's output layers "
                                    f"start from their initialiser instead of {named}")
    if kind == "full":
        return CheckpointNote(WARNING, f"{change}, and fine_tune_checkpoint_type 'full' restores "
                                       f"the box predictor too: restoring {named} will fail "
                                       "(incompatible tensor shape); use "
                                       "fine_tune_checkpoint_type 'detection', or keep the count")
    restored = "the classification backbone" if kind == "classification" else \
        "the feature extractor(s)"
    return CheckpointNote(INFO, f"{change}; with fine_tune_checkpoint_type {kind!r} TFOD's TF2 "
                                f"trainer restores only {restored} from {named}, never the box "
                                "predictor, so the anchors per location are free to change "
                                "(`fit --anchors-per-location N` shows what a count buys)")
