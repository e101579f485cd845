"""What the pipeline asks of a model config: the :class:`ModelSpec` protocol.

A model config (a TFOD ``pipeline.config``, a Model Garden experiment, ...) is resolved
once, at the API edge, into one frozen object that answers every question the stages
below ask. Nothing below the API reads the config itself: coverage, the fitting
kernels, the box containers and the readers take a spec (or the plain values it gives)
and stay framework-neutral. Each framework is one implementation in this package
(:mod:`tfod_anchors.frameworks.tfod` first); the protocol names no protobuf or YAML.

The vocabulary:

* **anchors value**: the framework's own representation of an anchor set (TFOD: an
  ``AnchorGenerator`` message; the Model Garden: its anchor fields). The pipeline never
  looks inside it; it passes it between :meth:`ModelSpec.param_space` (which builds one
  from a parameter vector), :meth:`ModelSpec.with_anchors` and :meth:`ModelSpec.text_patch`.
* **family**: the anchor family the spec fits (TFOD: the generator's oneof name such as
  ``"grid_anchor_generator"``; Model Garden: e.g. ``"multilevel"`` or ``"yolo"``); it keys
  the outputs (``kind`` in a :class:`~tfod_anchors.fitting.FitResult`).
* **padded shape**: ``(H, W)`` int pixels of the network input after the resizer's padding.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:  # only types: the protocol imports no stage
    from tfod_anchors.anchors.layout import AnchorLayout
    from tfod_anchors.augment import AugmentResult
    from tfod_anchors.boxes import BoxSet
    from tfod_anchors.fitting.params import ParamSpace
    from tfod_anchors.matcher import MatcherSpec
    from tfod_anchors.resize import Resizer
    from tfod_anchors.rules.findings import Finding

#: ``MatcherRule.kind`` values.
IOU, YOLO_RATIO = "iou", "yolo_ratio"


@dataclass(frozen=True)
class MatcherRule:
    """Which anchors become positives of a box, in framework-neutral terms.

    Attributes:
        kind: ``"iou"``: an anchor is positive when its IoU with the box is at least
            ``threshold``; ``"yolo_ratio"``: positive when ``max(w/w_a, w_a/w, h/h_a,
            h_a/h) < threshold`` (YOLO's ``anchor_t``, a ratio >= 1), no IoU involved.
        threshold: the IoU (``"iou"``, in [0, 1]) or the w/h ratio bound (``"yolo_ratio"``).
        force_match: ``"iou"`` only: every box also takes its best anchor whatever the
            IoU (TFOD ``force_match_for_each_row``, the RPN); False for ``"yolo_ratio"``.
        source: where the rule comes from, for reports.
    """

    kind: str
    threshold: float
    force_match: bool = False
    source: str = "default"

    @classmethod
    def iou(cls, threshold: float, *, force_match: bool, source: str = "default") -> MatcherRule:
        """``IoU >= threshold``, with or without a forced best match per box."""
        return cls(IOU, float(threshold), bool(force_match), source)

    @classmethod
    def yolo_ratio(cls, ratio: float, source: str = "default") -> MatcherRule:
        """YOLO's rule: every anchor whose w and h are within ``ratio`` of the box's."""
        return cls(YOLO_RATIO, float(ratio), False, source)


@dataclass(frozen=True)
class ModelInputs:
    """The training input a config names (unresolved: the pipeline resolves paths).

    Attributes:
        paths: record paths or globs, in the config's order (empty: none named).
        reader: the kind of reader named (TFOD: ``"tf_record_input_reader"``), or None.
        label_map: the label-map path, or None.
        max_boxes: boxes per image the trainer keeps (pads or truncates to), or None.
    """

    paths: tuple[str, ...] = ()
    reader: str | None = None
    label_map: str | None = None
    max_boxes: int | None = None


@runtime_checkable
class Augmenter(Protocol):
    """The config's training augmentation, reproduced on boxes."""

    @property
    def changes_boxes(self) -> bool:
        """True when some step moves, drops or adds boxes (so coverage must draw it)."""

    def __call__(self, boxset: BoxSet, *, draws: int, seed: int,
                 max_boxes: int | None) -> AugmentResult:
        """``draws`` draws of every image of ``boxset`` (seeded), then the trainer's
        truncation to ``max_boxes``.

        Raises:
            ConfigError: a step whose values the framework's builder rejects.
        """


@dataclass(frozen=True)
class TextPatch:
    """A config text with only the anchor block changed.

    Attributes:
        text: the new text.
        warning: set when a minimal patch was impossible and the file was rewritten whole.
    """

    text: str
    warning: str | None = None


@dataclass(frozen=True)
class CentroidMapping:
    """What k-means centroids imply for a config's anchors (``cluster --config``).

    Attributes:
        doc: JSON-ready: ``kind`` and the fields the centroids map to (or ``note``, saying
            why there is no mapping), in the framework's own field names.
        anchors: the config's anchors value with those fields, or None (no mapping).
    """

    doc: dict[str, Any]
    anchors: Any = None


@runtime_checkable
class ModelSpec(Protocol):
    """Everything the pipeline asks of one model config; frozen (a candidate is a new
    spec from :meth:`with_anchors`, the original is never changed).

    Implementations validate the config when they are built (the API edge) and raise
    ``ConfigError`` there; the methods below trust that.
    """

    @property
    def framework(self) -> str:
        """``"tfod"`` or ``"model_garden"``: names the framework in outputs."""

    @property
    def checks_too_large(self) -> bool:
        """Whether this framework's ``check`` reports anchors too large for the input
        (``anchor_too_large``), which the fit then keeps clear of."""

    @property
    def family(self) -> str:
        """The meta-architecture / model family (``"ssd"``, ``"faster_rcnn"``,
        ``"retinanet"``...)."""

    @property
    def kind(self) -> str | None:
        """The anchor family fitted (see the module docstring), or None without anchors."""

    @property
    def path(self) -> str | None:
        """Where the config was read from (relative input paths resolve beside it)."""

    @property
    def config(self) -> Any:
        """The framework's own config object, read only (TFOD: ``TrainEvalPipelineConfig``)."""

    @property
    def inputs(self) -> ModelInputs:
        """The training input the config names."""

    @property
    def augmenter(self) -> Augmenter | None:
        """The training augmentation, or None when the config has none."""

    def keep_trained_boxes(self, boxset: BoxSet) -> BoxSet:
        """``boxset`` (as read, from any source) without the boxes the framework's input
        pipeline never trains on, each drop counted in ``skipped`` (TFOD: none; the Model
        Garden: crowd boxes, ids outside COCO's 80 for YOLO); the same object when
        nothing is dropped, so applying it twice changes nothing."""

    @property
    def anchors(self) -> Any:
        """The config's own anchors value (never None for a fittable spec)."""

    def resizer(self) -> Resizer:
        """The image resizer, exact (``shapes``, ``describe``, ``static_shape``).

        Raises:
            ConfigError: the config has none, or values the framework rejects.
        """

    def matcher(self) -> MatcherSpec:
        """The matcher settings coverage measures with (IoU thresholds, forced match)."""

    def matcher_rule(self) -> MatcherRule:
        """:meth:`matcher` in framework-neutral terms (:class:`MatcherRule`)."""

    def layout_for(self, padded_hw: tuple[int, int]) -> AnchorLayout:
        """Every anchor the model generates for a padded input, with its window policy
        (memoised per shape; the same object for the same shape).

        Raises:
            ConfigError: no anchors, or anchors that do not fit the feature maps.
        """

    def layout_function(self) -> Callable[[tuple[int, int]], AnchorLayout]:
        """:meth:`layout_for` as a plain function (what coverage takes)."""

    def param_space(self, *, num_scales: int | None = None,
                    num_aspect_ratios: int | None = None,
                    size_range: tuple[float, float] = (4.0, 2048.0)) -> ParamSpace:
        """The fittable values of :attr:`anchors` as one log-space vector; its ``write``
        turns a vector into a new anchors value. ``num_*`` change the counts.

        Raises:
            ConfigError: nothing fittable; UsageError: a count that does not apply.
        """

    def anchor_counts(self, n: int) -> tuple[int | None, int | None]:
        """``(num_scales, num_aspect_ratios)`` for :meth:`param_space` giving ``n`` anchors
        per location (None: the config's own), for ``fit --anchors-per-location N``.

        Raises:
            UsageError: ``n`` below 1 or not reachable with these anchors.
        """

    def anchor_count_note(self, before: list[int], after: list[int]) -> Any:
        """What a change of anchors per location (per level, ``before`` -> ``after``) does
        to the checkpoint the trainer restores: a note with ``level`` (``warning``: the
        restore fails; ``info``: it does not) and ``message``, or None (no change, or no
        checkpoint)."""

    def shape_unit(self, padded_hw: tuple[int, int]) -> tuple[float, float]:
        """Pixels ``(y, x)`` per unit of :meth:`param_space` shapes for that input."""

    def resized_shapes(self, image_size: tuple[int, int]
                       ) -> tuple[tuple[int, int], tuple[int, int]]:
        """``(true, padded)`` ``(h, w)`` the resizer gives an original ``image_size``.

        Raises:
            ConfigError: as :meth:`resizer`.
        """

    def with_anchors(self, anchors: Any) -> ModelSpec:
        """The same model with another anchors value (a candidate)."""

    def anchors_key(self, anchors: Any) -> bytes:
        """A deterministic identity of an anchors value (equal values, equal keys)."""

    def anchors_changes(self, old: Any, new: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """``(changed, previous)``: JSON-ready field values of ``new`` that differ from
        ``old``, and ``old``'s values of those fields."""

    def copy_anchors(self, anchors: Any) -> Any:
        """An independent copy of an anchors value (results never share the config's)."""

    def rule_metrics(self, resized: Any) -> dict[str, Any]:
        """Metrics of the framework's own matcher rule that the IoU coverage does not give
        (YOLO's ratio rule: recall, boxes with no target, targets per box); empty if none."""

    def default_image_size(self) -> tuple[int, int]:
        """The original image size the ``anchors`` command shows by default."""

    def anchor_boxes(self, padded_hw: tuple[int, int]) -> Any:
        """float ``[N, 4]`` anchors in the framework's own order and units (``--export``)."""

    def describe(self, image_size: tuple[int, int]) -> dict[str, Any]:
        """The ``anchors`` command's JSON object for one original image size."""

    def check_rules(self, image_size: tuple[int, int] = (480, 640)) -> list[Finding]:
        """The framework's own config rules (``check``), for an original image size."""

    def config_findings(self) -> list[Finding]:
        """:meth:`check_rules` plus the notes about the input pipeline."""

    def anchor_value_findings(self) -> list[Finding]:
        """Anchor values no anchor can be built from (empty when all can)."""

    def text_patch(self, text: str, anchors: Any, path: str | None = None) -> TextPatch:
        """``text`` (this config's file) with only the anchor block set to ``anchors``.

        Raises:
            WriteError / ConfigError: the text cannot be patched safely.
        """

    def config_with(self, anchors: Any) -> Any:
        """A new framework config object (TFOD: ``TrainEvalPipelineConfig``) with
        ``anchors``, for the API's outputs; the spec's own config is not changed."""

    def centroid_anchors(self, centroids: Any, padded_shape: tuple[int, int]
                         ) -> CentroidMapping:
        """The anchors k-means centroids imply: float ``[K, 2]`` ``(w, h)`` pixels of the
        resized input, for inputs padded to ``padded_shape`` ``(H, W)`` (the most common);
        the counts the head's shape depends on are the config's own where ``K`` allows."""

    def anchors_block(self, anchors: Any) -> str:
        """``anchors`` as config text ready to paste (TFOD: the generator's textproto
        block; the Model Garden: the anchor keys as nested YAML)."""

    def anchors_override(self, anchors: Any) -> str | None:
        """``anchors`` as the trainer's command-line override (the Model Garden's
        ``--params_override``), or None where the trainer has none (TFOD)."""


def spec_names(spec: ModelSpec) -> dict[str, Any]:
    """``{"framework", "family", "kind"}`` of a spec, for JSON outputs and reports."""
    return {"framework": spec.framework, "family": spec.family, "kind": spec.kind}


__all__: Sequence[str] = ("IOU", "YOLO_RATIO", "Augmenter", "CentroidMapping", "MatcherRule",
                          "ModelInputs", "ModelSpec", "TextPatch", "spec_names")
