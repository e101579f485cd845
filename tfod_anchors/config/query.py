"""Read the parts of a TrainEvalPipelineConfig that anchor fitting needs.

Every function takes a ``TrainEvalPipelineConfig`` of either schema (bundled or
TFOD's own classes), or the dict returned by TFOD's
``config_util.get_configs_from_pipeline_file``; fields are read by name only.
Defaults are the proto defaults, i.e. what TFOD would use.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Union

from google.protobuf.message import Message

from tfod_anchors.config.schema import PIPELINE, _class_for
from tfod_anchors.errors import ConfigError, UsageError
from tfod_anchors.matcher import FASTER_RCNN_FIRST_STAGE, MatcherSpec

# TFOD config_util dict keys -> TrainEvalPipelineConfig fields (singular ones).
_DICT_FIELDS = {
    "model": "model",
    "train_config": "train_config",
    "train_input_config": "train_input_reader",
    "eval_config": "eval_config",
    "graph_rewriter_config": "graph_rewriter",
}
#: Where each anchored meta-architecture keeps its anchor generator.
ANCHOR_GENERATOR_FIELD = {"ssd": "anchor_generator", "faster_rcnn": "first_stage_anchor_generator"}
#: The meta-architectures that use anchors.
ANCHORED = tuple(ANCHOR_GENERATOR_FIELD)

#: What every config-taking function accepts: a ``TrainEvalPipelineConfig`` of either
#: schema, or the dict TFOD's ``config_util.get_configs_from_pipeline_file`` returns.
PipelineLike = Union[Message, Mapping[str, Any]]
_PLACEHOLDER = re.compile(r"PATH_TO_BE+_CONFIGURED|PATH_TO_|<[^<>]*>|TO_BE_CONFIGURED")


def _copy(dst: Message, src: Any, key: str) -> None:
    if not isinstance(src, Message) or src.DESCRIPTOR.full_name != dst.DESCRIPTOR.full_name:
        raise UsageError(
            f"configs[{key!r}] must be a {dst.DESCRIPTOR.full_name} message, "
            f"got {type(src).__name__}"
        )
    if not src.ByteSize():
        return  # leave empty sections unset, as in the parsed file
    if src.DESCRIPTOR is dst.DESCRIPTOR:
        dst.CopyFrom(src)
    else:  # same message from another pool (bundled vs installed)
        dst.ParseFromString(src.SerializeToString())


def _pipeline_class_like(configs: Mapping[str, Any]) -> type:
    for value in configs.values():
        if isinstance(value, Message):
            return _class_for(value.DESCRIPTOR.file.pool.FindMessageTypeByName(PIPELINE))
    from tfod_anchors.config.schema import get_schema

    return get_schema().TrainEvalPipelineConfig


def as_pipeline(obj: Any) -> Message:
    """A ``TrainEvalPipelineConfig`` from a config proto or a TFOD ``configs`` dict.

    A proto is returned as is. A dict (keys ``model``, ``train_config``,
    ``train_input_config``, ``eval_config``, ``eval_input_configs`` /
    ``eval_input_config``, ``graph_rewriter_config``) is assembled into a new
    message of the same schema as its values, like TFOD's
    ``create_pipeline_proto_from_configs``.

    Raises:
        UsageError: anything else.
    """
    if isinstance(obj, Message):
        if obj.DESCRIPTOR.full_name != PIPELINE:
            raise UsageError(f"expected a {PIPELINE}, got {obj.DESCRIPTOR.full_name}")
        return obj
    if not isinstance(obj, Mapping):
        raise UsageError(f"expected a {PIPELINE} or a TFOD configs dict, got {type(obj).__name__}")
    pipeline = _pipeline_class_like(obj)()
    for key, field in _DICT_FIELDS.items():
        if obj.get(key) is not None:
            _copy(getattr(pipeline, field), obj[key], key)
    evals = obj.get("eval_input_configs")
    if evals is None and obj.get("eval_input_config") is not None:
        evals = [obj["eval_input_config"]]
    for index, reader in enumerate(evals or []):
        _copy(pipeline.eval_input_reader.add(), reader, f"eval_input_configs[{index}]")
    return pipeline


def model_kind(cfg: PipelineLike) -> str | None:
    """The ``DetectionModel`` oneof: ``"faster_rcnn"``, ``"ssd"``, ``"center_net"``... or None."""
    return as_pipeline(cfg).model.WhichOneof("model")


def _meta(cfg: PipelineLike) -> Any:
    """The meta-architecture message (``model.faster_rcnn``, ``model.ssd``...), or None
    without a model (callers check :func:`model_kind` first)."""
    pipeline = as_pipeline(cfg)
    kind = pipeline.model.WhichOneof("model")
    return getattr(pipeline.model, kind) if kind else None


def _has(msg: Message, field: str) -> bool:
    return field in msg.DESCRIPTOR.fields_by_name and msg.HasField(field)


def image_resizer(cfg: PipelineLike) -> Message | None:
    """The model's ``ImageResizer`` message, or None when the model has none set."""
    meta = _meta(cfg)
    return meta.image_resizer if meta is not None and _has(meta, "image_resizer") else None


def image_resizer_kind(cfg: PipelineLike) -> str | None:
    """``"keep_aspect_ratio_resizer"``, ``"fixed_shape_resizer"``... or None."""
    resizer = image_resizer(cfg)
    return resizer.WhichOneof("image_resizer_oneof") if resizer is not None else None


def anchor_generator_path(cfg: PipelineLike) -> list[str] | None:
    """Field path of the anchor generator for this model kind, whether set or not.

    ``["model", "faster_rcnn", "first_stage_anchor_generator"]`` or
    ``["model", "ssd", "anchor_generator"]``; None for models without anchors
    (CenterNet, experimental models, no model).
    """
    kind = model_kind(cfg)
    field = ANCHOR_GENERATOR_FIELD.get(kind or "")
    return ["model", str(kind), field] if field else None


def anchor_generator(cfg: PipelineLike) -> Message | None:
    """The ``AnchorGenerator`` message, or None if unset.

    For Faster R-CNN this is ``first_stage_anchor_generator``.
    """
    path = anchor_generator_path(cfg)
    if path is None:
        return None
    meta = _meta(cfg)
    return getattr(meta, path[2]) if meta.HasField(path[2]) else None


def anchor_generator_kind(cfg: PipelineLike) -> str | None:
    """``"grid_anchor_generator"``, ``"ssd_anchor_generator"``, ``"multiscale_anchor_generator"``,
    ``"flexible_grid_anchor_generator"``, or None."""
    generator = anchor_generator(cfg)
    return generator.WhichOneof("anchor_generator_oneof") if generator is not None else None


@dataclass(frozen=True)
class FeatureExtractorInfo:
    """What anchor geometry needs from ``feature_extractor`` (proto defaults filled in).

    Attributes:
        model_kind: ``"faster_rcnn"`` / ``"ssd"`` / other.
        type: the extractor ``type`` string (e.g. ``"ssd_mobilenet_v2_keras"``).
        first_stage_features_stride: FRCNN backbone output stride in pixels (default 16);
            None for other models.
        pyramid: ``"fpn"``, ``"bifpn"`` or None when no pyramid message is set.
        min_level, max_level: the pyramid's levels (proto defaults 3 and 7) or None.
        pad_to_multiple: the extractor's ``pad_to_multiple`` (SSD default 1, FRCNN 32,
            which TFOD's FRCNN builder does not forward).
        num_layers: SSD ``num_layers`` (default 6); None for other models.
        use_explicit_padding: SSD ``use_explicit_padding``; None for other models.
    """

    model_kind: str | None
    type: str
    first_stage_features_stride: int | None = None
    pyramid: str | None = None
    min_level: int | None = None
    max_level: int | None = None
    pad_to_multiple: int | None = None
    num_layers: int | None = None
    use_explicit_padding: bool | None = None


def feature_extractor(cfg: PipelineLike) -> FeatureExtractorInfo | None:
    """Summary of the model's feature extractor, or None if the model has no such field."""
    kind = model_kind(cfg)
    meta = _meta(cfg)
    if meta is None or "feature_extractor" not in meta.DESCRIPTOR.fields_by_name:
        return None
    fe = meta.feature_extractor
    fields = fe.DESCRIPTOR.fields_by_name
    pyramid = None
    if "feature_pyramid_oneof" in fe.DESCRIPTOR.oneofs_by_name:
        pyramid = fe.WhichOneof("feature_pyramid_oneof")
    elif "fpn" in fields and fe.HasField("fpn"):
        pyramid = "fpn"
    levels = getattr(fe, pyramid) if pyramid else None

    def value(name: str) -> Any:
        return getattr(fe, name) if name in fields else None

    return FeatureExtractorInfo(
        model_kind=kind,
        type=fe.type if "type" in fields else "",
        first_stage_features_stride=value("first_stage_features_stride"),
        pyramid=pyramid,
        min_level=levels.min_level if levels is not None else None,
        max_level=levels.max_level if levels is not None else None,
        pad_to_multiple=value("pad_to_multiple"),
        num_layers=value("num_layers") if kind == "ssd" else None,
        use_explicit_padding=value("use_explicit_padding") if kind == "ssd" else None,
    )


def matcher_kind(cfg: PipelineLike) -> str | None:
    """``"faster_rcnn_first_stage"``, ``"argmax_matcher"``, ``"bipartite_matcher"`` or None."""
    kind = model_kind(cfg)
    if kind == "faster_rcnn":
        return "faster_rcnn_first_stage"
    meta = _meta(cfg)
    if kind == "ssd" and meta.HasField("matcher"):
        return meta.matcher.WhichOneof("matcher_oneof")
    return None


def matcher_spec(cfg: PipelineLike) -> MatcherSpec:
    """The matcher that decides positive anchors.

    * Faster R-CNN: the first-stage RPN matcher, fixed in TFOD (0.7 / 0.3, forced).
    * SSD ``argmax_matcher``: the config's values with proto defaults filled in
      (float32 thresholds as TFOD reads them).
    * SSD ``bipartite_matcher``: no thresholds exist; approximated as "each box
      takes its best anchor, nothing else is positive" (``force_match``, both
      thresholds 1.0), and ``source`` says so.

    Raises:
        ConfigError: model without a matcher (CenterNet...) or SSD with none set.
    """
    kind = matcher_kind(cfg)
    if kind == "faster_rcnn_first_stage":
        return FASTER_RCNN_FIRST_STAGE
    if kind == "argmax_matcher":
        m = _meta(cfg).matcher.argmax_matcher
        return MatcherSpec(
            matched_threshold=float(m.matched_threshold),
            unmatched_threshold=float(m.unmatched_threshold),
            force_match=bool(m.force_match_for_each_row),
            ignore_thresholds=bool(m.ignore_thresholds),
            negatives_lower_than_unmatched=bool(m.negatives_lower_than_unmatched),
            source="ssd.matcher.argmax_matcher",
        )
    if kind == "bipartite_matcher":
        return MatcherSpec(
            matched_threshold=1.0,
            unmatched_threshold=1.0,
            force_match=True,
            source="ssd.matcher.bipartite_matcher (no IoU thresholds: one best anchor per box)",
        )
    model = model_kind(cfg)
    if model == "ssd":
        raise ConfigError("model.ssd.matcher is not set (TFOD needs one)")
    raise ConfigError(f"model {model or '(none)'} has no anchor matcher")


def clip_anchors_to_image(cfg: PipelineLike) -> bool:
    """FRCNN ``clip_anchors_to_image`` (default false: outside anchors are pruned).

    Always False for other models (SSD anchors are never clipped).
    """
    meta = _meta(cfg)
    if (
        model_kind(cfg) == "faster_rcnn"
        and "clip_anchors_to_image" in meta.DESCRIPTOR.fields_by_name
    ):
        return bool(meta.clip_anchors_to_image)
    return False


@dataclass(frozen=True)
class TrainInput:
    """``train_input_reader`` source.

    Attributes:
        paths: ``tf_record_input_reader.input_path`` entries (globs allowed), in order.
        reader: the ``input_reader`` oneof (``"tf_record_input_reader"``,
            ``"external_input_reader"``) or None.
        input_type: ``InputType`` name (``"TF_EXAMPLE"`` by default,
            ``"TF_SEQUENCE_EXAMPLE"``, ``"INPUT_DEFAULT"``).
        compression: TFRecord compression; always ``""`` because TFOD's
            dataset builder opens records without a compression type.
        sample_weights: ``sample_from_datasets_weights`` (one per path, or empty).
    """

    paths: list[str]
    reader: str | None
    input_type: str
    compression: str = ""
    sample_weights: list[float] | None = None


def train_input_paths(cfg: PipelineLike) -> TrainInput:
    """Where the training records are, as TFOD's ``train_input_reader`` says."""
    reader = as_pipeline(cfg).train_input_reader
    fields = reader.DESCRIPTOR.fields_by_name
    which = (
        reader.WhichOneof("input_reader")
        if "input_reader" in reader.DESCRIPTOR.oneofs_by_name
        else None
    )
    paths = (
        list(reader.tf_record_input_reader.input_path) if which == "tf_record_input_reader" else []
    )
    input_type = "TF_EXAMPLE"
    if "input_type" in fields:
        enum = fields["input_type"].enum_type
        input_type = enum.values_by_number[reader.input_type].name
    weights = (
        list(reader.sample_from_datasets_weights)
        if "sample_from_datasets_weights" in fields
        else []
    )
    return TrainInput(paths=paths, reader=which, input_type=input_type, sample_weights=weights)


def label_map_path(cfg: PipelineLike) -> str | None:
    """``train_input_reader.label_map_path``, or None when empty."""
    return as_pipeline(cfg).train_input_reader.label_map_path or None


def max_number_of_boxes(cfg: PipelineLike) -> int:
    """Boxes per image TFOD keeps in training (it pads or truncates to this).

    TFOD's input pipeline (``inputs.py``) reads ``train_input_reader.max_number_of_boxes``
    (default 100); ``train_config.max_number_of_boxes``, which many sample configs
    set, is deprecated and ignored (see :func:`ignored_train_config_max_boxes`).
    """
    return int(as_pipeline(cfg).train_input_reader.max_number_of_boxes)


def augmentation_steps(cfg: PipelineLike) -> Any:
    """``train_config.data_augmentation_options``: the repeated ``PreprocessingStep``
    messages, in the order TFOD applies them (empty when none are configured)."""
    return as_pipeline(cfg).train_config.data_augmentation_options


def ignored_train_config_max_boxes(cfg: PipelineLike) -> int | None:
    """The deprecated ``train_config.max_number_of_boxes`` when set, else None (for warnings)."""
    train = as_pipeline(cfg).train_config
    if "max_number_of_boxes" in train.DESCRIPTOR.fields_by_name and train.HasField(
        "max_number_of_boxes"
    ):
        return int(train.max_number_of_boxes)
    return None


def fine_tune_checkpoint(cfg: PipelineLike) -> str | None:
    """``train_config.fine_tune_checkpoint``, or None when empty."""
    return as_pipeline(cfg).train_config.fine_tune_checkpoint or None


def is_placeholder_path(path: str | None) -> bool:
    """True for template paths such as ``PATH_TO_BE_CONFIGURED/train.record`` or ``<path>``.

    Empty strings and None are "unset", not placeholders: False.
    """
    return path is not None and _PLACEHOLDER.search(path) is not None


def with_anchor_generator(cfg: PipelineLike, generator: Any) -> Message:
    """A copy of the pipeline ``cfg`` whose anchor generator is ``generator`` (an
    ``AnchorGenerator`` message of either schema).

    Raises:
        ConfigError: the model has no anchor generator field.
    """
    pipeline = as_pipeline(cfg)
    out = type(pipeline)()
    out.CopyFrom(pipeline)
    path = anchor_generator_path(out)
    if path is None:
        raise ConfigError("this model has no anchor generator to replace")
    getattr(getattr(out.model, path[1]), path[2]).CopyFrom(generator)
    return out
