"""The TensorFlow Object Detection API's :class:`~tfod_anchors.frameworks.base.ModelSpec`.

A thin frozen class over the modules that already know a ``pipeline.config``:
:mod:`tfod_anchors.config.query` (fields), :mod:`tfod_anchors.anchors.model` (resizer +
extractor + generator -> layout), :mod:`tfod_anchors.fitting.params` (the generator's
fittable fields), :mod:`tfod_anchors.rules.config` (``check``'s rules) and
:mod:`tfod_anchors.config.patch` (the minimal text patch). No logic lives here; each
method is one call. The anchors value is an ``AnchorGenerator`` message.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tfod_anchors.config import query as cq
from tfod_anchors.config.query import PipelineLike
from tfod_anchors.frameworks.base import CentroidMapping, MatcherRule, ModelInputs, TextPatch

if TYPE_CHECKING:
    from tfod_anchors.anchors.layout import AnchorLayout
    from tfod_anchors.augment import AugmentResult
    from tfod_anchors.boxes import BoxSet
    from tfod_anchors.fitting.params import ParamSpace
    from tfod_anchors.matcher import MatcherSpec
    from tfod_anchors.resize import Resizer
    from tfod_anchors.rules.findings import Finding


@dataclass(frozen=True)
class TfodAugmenter:
    """``train_config.data_augmentation_options`` (possibly empty), run by
    :func:`tfod_anchors.augment.augment`."""

    steps: Any

    @property
    def changes_boxes(self) -> bool:
        from tfod_anchors.augment import needs_augmentation

        return needs_augmentation(self.steps)

    def __call__(self, boxset: BoxSet, *, draws: int, seed: int,
                 max_boxes: int | None) -> AugmentResult:
        from tfod_anchors.augment import augment

        return augment(boxset, self.steps, draws=draws, seed=seed, max_boxes=max_boxes)


@dataclass(frozen=True, eq=False)
class TfodSpec:
    """A ``TrainEvalPipelineConfig`` resolved once (see :func:`tfod_spec`).

    Attributes:
        config: the ``TrainEvalPipelineConfig`` (either schema); read, never changed.
        path: the file it was read from, or None.
        family: the ``DetectionModel`` oneof (``"ssd"``, ``"faster_rcnn"``, ...), ``""``
            without a model.
        kind: the ``anchor_generator_oneof`` name, or None without a generator.
    """

    config: Any
    path: str | None = None
    family: str = ""
    kind: str | None = None
    framework: str = "tfod"
    _memo: dict = field(default_factory=dict, repr=False)

    @property
    def checks_too_large(self) -> bool:
        """True: ``check`` reports ``anchor_too_large`` for TFOD configs."""
        return True

    # --- inputs -----------------------------------------------------------------------------
    @property
    def inputs(self) -> ModelInputs:
        train = cq.train_input_paths(self.config)
        return ModelInputs(tuple(train.paths), train.reader, cq.label_map_path(self.config),
                           cq.max_number_of_boxes(self.config))

    @property
    def augmenter(self) -> TfodAugmenter:
        """Always an augmenter (with no steps when the config has none)."""
        return TfodAugmenter(cq.augmentation_steps(self.config))

    def keep_trained_boxes(self, boxset: BoxSet) -> BoxSet:
        """TFOD's own input filtering is applied by the readers: nothing more here."""
        return boxset

    @property
    def anchors(self) -> Any:
        return cq.anchor_generator(self.config)

    def resizer(self) -> Resizer:
        from tfod_anchors.errors import ConfigError
        from tfod_anchors.resize import build_resizer

        message = cq.image_resizer(self.config)
        if message is None:
            raise ConfigError(f"model {self.family or '(none)'} has no image_resizer")
        return build_resizer(message)

    # --- anchors and matching -----------------------------------------------------------------
    def matcher(self) -> MatcherSpec:
        return cq.matcher_spec(self.config)

    def matcher_rule(self) -> MatcherRule:
        m = self.matcher()
        return MatcherRule.iou(m.matched_threshold, force_match=m.force_match, source=m.source)

    def layout_for(self, padded_hw: tuple[int, int]) -> AnchorLayout:
        """:func:`tfod_anchors.anchors.model.model_anchor_layout`, memoised per padded
        shape (datasets with many image sizes share a few padded shapes)."""
        from tfod_anchors.anchors.model import model_anchor_layout

        key = (int(padded_hw[0]), int(padded_hw[1]))
        layouts = self._memo.setdefault("layouts", {})
        if key not in layouts:
            layouts[key] = model_anchor_layout(self.config, key)
        return layouts[key]

    def layout_function(self) -> Callable[[tuple[int, int]], AnchorLayout]:
        return self.layout_for

    def param_space(self, *, num_scales: int | None = None,
                    num_aspect_ratios: int | None = None,
                    size_range: tuple[float, float] = (4.0, 2048.0)) -> ParamSpace:
        from tfod_anchors.fitting.params import param_space

        return param_space(self.anchors, num_scales=num_scales,
                           num_aspect_ratios=num_aspect_ratios, size_range=size_range)

    def anchor_counts(self, n: int) -> tuple[int | None, int | None]:
        """:func:`tfod_anchors.whatif.counts.counts_for` of the config's generator."""
        from tfod_anchors.whatif.counts import counts_for

        return counts_for(self.config, n)

    def anchor_count_note(self, before: list[int], after: list[int]) -> Any:
        """What TFOD's trainers do with ``fine_tune_checkpoint`` when the count changes
        (:func:`tfod_anchors.rules.checkpoint.anchor_count_note`)."""
        from tfod_anchors.rules.checkpoint import anchor_count_note

        return anchor_count_note(self.config, before, after)

    def shape_unit(self, padded_hw: tuple[int, int]) -> tuple[float, float]:
        from tfod_anchors.fitting.params import shape_unit

        return shape_unit(self.anchors, padded_hw)

    def resized_shapes(self, image_size: tuple[int, int]
                       ) -> tuple[tuple[int, int], tuple[int, int]]:
        """``(true, padded)`` ``(h, w)`` the resizer gives an original image size."""
        from tfod_anchors.anchors.model import resized_shapes

        return resized_shapes(self.config, image_size)

    def rule_metrics(self, resized: Any) -> dict[str, Any]:
        """Metrics of a matcher rule the IoU coverage does not give: none for TFOD."""
        return {}

    def default_image_size(self) -> tuple[int, int]:
        """The original size the ``anchors`` command shows by default."""
        from tfod_anchors.anchors.describe import default_image_size

        return default_image_size(self.config, self.family)

    def anchor_boxes(self, padded_hw: tuple[int, int]) -> Any:
        """TFOD's own anchor list for a padded input (``anchors --export``)."""
        from tfod_anchors.anchors.model import model_anchors

        return model_anchors(self.config, padded_hw).tfod_anchors()

    def describe(self, image_size: tuple[int, int]) -> dict[str, Any]:
        """The ``anchors`` command's JSON object for one original image size."""
        from tfod_anchors.anchors.describe import describe_anchors

        return describe_anchors(self.config, image_size)

    def with_anchors(self, anchors: Any) -> TfodSpec:
        return TfodSpec(cq.with_anchor_generator(self.config, anchors), self.path,
                        self.family, anchors.WhichOneof("anchor_generator_oneof"))

    def anchors_key(self, anchors: Any) -> bytes:
        return bytes(anchors.SerializeToString(deterministic=True))

    def anchors_changes(self, old: Any, new: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        from tfod_anchors.fitting.result import generator_diff

        return generator_diff(old, new, str(self.kind))

    def copy_anchors(self, anchors: Any) -> Any:
        from tfod_anchors.fitting.result import copy_message

        return copy_message(anchors)

    # --- rules and writing ------------------------------------------------------------------
    def check_rules(self, image_size: tuple[int, int] = (480, 640)) -> list[Finding]:
        from tfod_anchors.rules import check_rules

        return check_rules(self, image_size)

    def config_findings(self) -> list[Finding]:
        from tfod_anchors.rules import config_findings

        return config_findings(self)

    def anchor_value_findings(self) -> list[Finding]:
        from tfod_anchors.rules import anchor_value_findings

        if self.kind is None:
            return []
        return anchor_value_findings(self.kind, getattr(self.anchors, self.kind))

    def text_patch(self, text: str, anchors: Any, path: str | None = None) -> TextPatch:
        from tfod_anchors.config.patch import patch_anchor_generator

        patch = patch_anchor_generator(text, self.config, anchors, path)
        return TextPatch(patch.text, patch.warning)

    def config_with(self, anchors: Any) -> Any:
        return cq.with_anchor_generator(self.config, anchors)

    def centroid_anchors(self, centroids: Any, padded_shape: tuple[int, int]
                         ) -> CentroidMapping:
        """Through the generator's record (:func:`.tfod_generators.centroid_mapping`)."""
        from tfod_anchors.frameworks.tfod_generators import centroid_mapping

        return CentroidMapping(*centroid_mapping(self.anchors, centroids, padded_shape))

    def anchors_block(self, anchors: Any) -> str:
        """The generator in the block the config holds it in, as textproto."""
        from tfod_anchors.cluster.proposal import config_block

        return config_block(self.config, anchors)

    def anchors_override(self, anchors: Any) -> str | None:
        """None: TFOD's trainer takes no anchor override on its command line."""
        return None


def tfod_spec(config: PipelineLike, path: str | None = None) -> TfodSpec:
    """A :class:`TfodSpec` from a ``TrainEvalPipelineConfig`` (either schema) or TFOD's
    configs dict; ``path``: where it was read from.

    Raises:
        UsageError: anything else.
    """
    if isinstance(config, TfodSpec):
        return config
    pipeline = cq.as_pipeline(config)
    return TfodSpec(pipeline, path, cq.model_kind(pipeline) or "",
                    cq.anchor_generator_kind(pipeline))
