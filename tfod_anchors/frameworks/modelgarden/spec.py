"""The TF Model Garden's :class:`~tfod_anchors.frameworks.base.ModelSpec`.

A thin frozen class over a resolved experiment (the nested dict of ``params.as_dict()``):
:mod:`.resize` (the training parser's resize), :mod:`.geometry` (the anchors),
:mod:`.matching` (the family's rule), :mod:`.params` (the fittable fields), :mod:`.rules`
(``check``) and :mod:`.yaml_patch` (the minimal YAML edit). The anchors value is a change
(dotted key -> value) in :mod:`.yaml_patch`'s vocabulary.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from tfod_anchors.errors import ConfigError
from tfod_anchors.frameworks.base import CentroidMapping, MatcherRule, ModelInputs, TextPatch
from tfod_anchors.frameworks.modelgarden import experiment as mgx
from tfod_anchors.frameworks.modelgarden import geometry, matching
from tfod_anchors.frameworks.modelgarden import params as mgp
from tfod_anchors.frameworks.modelgarden.resize import parser_resizer

if TYPE_CHECKING:
    from tfod_anchors.anchors.layout import AnchorLayout
    from tfod_anchors.boxes import BoxSet
    from tfod_anchors.fitting.params import ParamSpace
    from tfod_anchors.matcher import MatcherSpec
    from tfod_anchors.resize import Resizer
    from tfod_anchors.rules.findings import Finding

YOLO_FAMILIES = (mgx.YOLO, mgx.YOLOV7)


@dataclass(frozen=True, eq=False)
class ModelGardenSpec:
    """A resolved Model Garden experiment (see :func:`model_garden_spec`).

    Attributes:
        experiment: the resolved experiment (read, never changed).
        path: the YAML file it was read from, or None (``--experiment`` alone).
        name: the registered experiment name, or None (a ``params.yaml``).
        family: :data:`~.experiment.FAMILIES` (``retinanet``, ``mask_rcnn``, ``yolo``...).
        kind: ``"multilevel"`` (``task.model.anchor``) or ``"yolo_boxes"``.
        origin: for a candidate (:meth:`with_anchors`), the experiment as read: the
            ``check`` rules compare the two (``mg_checkpoint_head_shape``).
    """

    experiment: dict
    path: str | None = None
    name: str | None = None
    family: str = ""
    kind: str | None = None
    framework: str = "model_garden"
    _memo: dict = field(default_factory=dict, repr=False)
    origin: dict | None = field(default=None, repr=False)

    @property
    def checks_too_large(self) -> bool:
        """False: the Model Garden's ``check`` rules have no ``anchor_too_large``."""
        return False

    @property
    def config(self) -> dict:
        """The protocol's framework config object: the resolved experiment dict."""
        return self.experiment

    @property
    def is_yolo(self) -> bool:
        return self.family in YOLO_FAMILIES

    def _anchor_block(self) -> geometry.MultilevelAnchors | geometry.YoloAnchors:
        if "block" not in self._memo:
            self._memo["block"] = (geometry.yolo_anchors(self.experiment) if self.is_yolo
                                   else geometry.multilevel_anchors(self.experiment))
        return self._memo["block"]

    def rule(self) -> matching.MatchRule:
        """The family's own rule (named in outputs)."""
        block = self._anchor_block()
        return matching.matching_rule(self.experiment, self.family,
                                      block if isinstance(block, geometry.YoloAnchors) else None)

    # --- inputs -----------------------------------------------------------------------------
    @property
    def inputs(self) -> ModelInputs:
        """``task.train_data.input_path`` split as the Model Garden splits it
        (:func:`.inputs.input_patterns`; TF Example records, reader
        ``tf_record_input_reader``), or its ``tfds_name`` as a ``tfds:NAME:SPLIT`` source
        (reader ``tfds``). No ``max_boxes``: the parsers label anchors on every box
        (``max_num_instances`` pads only what the anchor labellers do not read)."""
        from tfod_anchors.frameworks.modelgarden.inputs import input_patterns
        from tfod_anchors.sources.tfds import tfds_spec

        data = self.experiment["task"].get("train_data", {}) or {}
        paths = input_patterns(data.get("input_path") or "")
        if paths:
            return ModelInputs(paths, "tf_record_input_reader", None, None)
        if data.get("tfds_name"):
            spec = tfds_spec(data["tfds_name"], data.get("tfds_split") or "",
                             data.get("tfds_data_dir") or "")
            return ModelInputs((spec,), "tfds", None, None)
        return ModelInputs((), None, None, None)

    @property
    def augmenter(self) -> Any:
        """The training parser's augmentation (:mod:`.augmenter`: RetinaNet and R-CNN
        flips and scale jitter; YOLO when its module is present), or None when the
        family's is not reproduced (coverage is then static, and ``check`` says so)."""
        if "augmenter" not in self._memo:
            from tfod_anchors.frameworks.modelgarden.augmenter import parser_augmenter

            self._memo["augmenter"] = parser_augmenter(self.experiment, self.family)
        return self._memo["augmenter"]

    def keep_trained_boxes(self, boxset: BoxSet) -> BoxSet:
        """``boxset`` without the boxes the decoder and parser never train on
        (:func:`.inputs.apply_parser_drops`: ``is_crowd`` boxes for RetinaNet and R-CNN
        with ``skip_crowd_during_training``; ids outside COCO's 80 for YOLO's
        ``coco91_to_80``, where the ids are the dataset's own: :func:`.inputs.drops_for`),
        counted in ``skipped``."""
        from tfod_anchors.frameworks.modelgarden.inputs import apply_parser_drops, drops_for

        return apply_parser_drops(boxset, drops_for(boxset, self.experiment))

    @property
    def anchors(self) -> dict[str, Any]:
        block = self._anchor_block()
        if isinstance(block, geometry.YoloAnchors):
            return mgp.yolo_change(block)
        return mgp.multilevel_change(block)

    def resizer(self) -> Resizer:
        return parser_resizer(self.experiment, self.family)

    def resized_shapes(self, image_size: tuple[int, int]
                       ) -> tuple[tuple[int, int], tuple[int, int]]:
        """``(true, padded)`` ``(h, w)`` the parser gives an original image size."""
        true, padded = self.resizer().shapes([int(image_size[0])], [int(image_size[1])])
        return ((int(true[0, 0]), int(true[0, 1])), (int(padded[0, 0]), int(padded[0, 1])))

    # --- anchors and matching -----------------------------------------------------------------
    def matcher(self) -> MatcherSpec:
        """The IoU rules' thresholds; the YOLO rules as a shape-only rule
        (``MatcherSpec.shape_rule``), which coverage and the fit measure exactly (as
        :func:`.matching.yolo_match` and the labeler compute it): the ratio rule's
        ``recall_matched`` is the share of boxes with a target at all, ``yolo_darknet``'s
        the share whose best width-height IoU reaches ``anchor_thresh``. The positioned
        IoU metrics beside them use IoU ``>= 1 / t**2`` (1/16 at ``t`` = 4, the IoU at
        which a box and an anchor of its own aspect reach the ratio bound) without a
        forced match for the ratio rule, and ``anchor_thresh`` forced for darknet."""
        from tfod_anchors.matcher import RATIO, WH_IOU, MatcherSpec, ShapeRule

        rule = self.rule()
        if rule.name == matching.RATIO_RULE:
            proxy = 1.0 / rule.threshold ** 2
            return MatcherSpec(proxy, proxy, False,
                               source=f"{rule.source} (w/h ratio < {rule.threshold:g}: boxes "
                                      "with a target)",
                               shape_rule=ShapeRule(RATIO, rule.threshold))
        spec = rule.matcher_spec()
        if rule.name == matching.DARKNET_RULE:
            return replace(spec, source=f"{rule.source} (width-height IoU >= "
                                        f"{rule.threshold:g})",
                           shape_rule=ShapeRule(WH_IOU, rule.threshold))
        return spec

    def matcher_rule(self) -> MatcherRule:
        rule = self.rule()
        if rule.name == matching.RATIO_RULE:
            return MatcherRule.yolo_ratio(rule.threshold, source=rule.source)
        return MatcherRule.iou(rule.threshold, force_match=rule.force_match, source=rule.source)

    def layout_function(self) -> Callable[[tuple[int, int]], AnchorLayout]:
        """Memoised per padded shape (the parsers give one static shape)."""
        if "layout" not in self._memo:
            block = self._anchor_block()
            cache: dict[tuple[int, int], AnchorLayout] = {}

            def layout(padded_hw: tuple[int, int]) -> AnchorLayout:
                key = (int(padded_hw[0]), int(padded_hw[1]))
                if key not in cache:
                    cache[key] = block.layout(key)
                return cache[key]

            self._memo["layout"] = layout
        return self._memo["layout"]

    def layout_for(self, padded_hw: tuple[int, int]) -> AnchorLayout:
        return self.layout_function()(padded_hw)

    def param_space(self, *, num_scales: int | None = None,
                    num_aspect_ratios: int | None = None,
                    size_range: tuple[float, float] = (4.0, 2048.0)) -> ParamSpace:
        """RetinaNet / R-CNN: ``num_scales`` x ``num_aspect_ratios`` anchors per location;
        YOLO: ``num_scales`` is the boxes per level (``anchors_per_scale``), written with
        the boxes when it changes. A changed count that ``init_checkpoint_modules: all``
        cannot restore is refused here (UsageError)."""
        from tfod_anchors.errors import UsageError
        from tfod_anchors.frameworks.modelgarden import counts

        block = self._anchor_block()
        if isinstance(block, geometry.YoloAnchors):
            if num_aspect_ratios:
                raise UsageError("YOLO anchor boxes have no aspect ratios to count: set the "
                                 "boxes per level with --anchors-per-location N")
            per_level = int(num_scales or block.anchors_per_scale)
            counts.refuse_head_change(self.experiment, block.anchors_per_scale, per_level)
            start = block if per_level == block.anchors_per_scale else \
                counts.with_per_level(block, per_level)
            space = mgp.yolo_space(start, (min(2.0, size_range[0]), size_range[1]))
            if per_level == block.anchors_per_scale:
                return space
            write = space.write
            return replace(space, write=lambda template, values: {
                **write(template, values), counts.ANCHORS_PER_SCALE: per_level})
        space = mgp.multilevel_space(block, num_scales, num_aspect_ratios)
        now = len(space.shapes_of(space.x0)[0])
        counts.refuse_head_change(self.experiment, block.anchors_per_location, now)
        return space

    def anchor_counts(self, n: int) -> tuple[int | None, int | None]:
        """:func:`.counts.counts_for` (YOLO: ``(n, None)``, boxes per level)."""
        from tfod_anchors.frameworks.modelgarden.counts import counts_for

        return counts_for(self._anchor_block(), n)

    def anchor_count_note(self, before: list[int], after: list[int]) -> Any:
        """:func:`.counts.checkpoint_note` (``init_checkpoint_modules``)."""
        from tfod_anchors.frameworks.modelgarden.counts import checkpoint_note

        return checkpoint_note(self.experiment, before, after)

    def shape_unit(self, padded_hw: tuple[int, int]) -> tuple[float, float]:
        return 1.0, 1.0

    def with_anchors(self, anchors: Any) -> ModelGardenSpec:
        return ModelGardenSpec(mgx.with_change(self.experiment, anchors), self.path, self.name,
                               self.family, self.kind,
                               origin=self.experiment if self.origin is None else self.origin)

    def rule_metrics(self, resized: Any) -> dict[str, Any]:
        """The YOLO rules' own metrics of resized boxes (:func:`.matching.yolo_metrics`:
        recall under the rule, share of boxes with no target at all, targets per box);
        empty for the IoU rules, which the coverage metrics measure already."""
        block = self._anchor_block()
        if not isinstance(block, geometry.YoloAnchors) or resized.num_boxes == 0:
            return {}
        rule = self.rule()
        hw = geometry.input_hw(self.experiment)
        return matching.yolo_metrics(matching.yolo_match(resized.boxes, hw, block, rule), rule)

    def default_image_size(self) -> tuple[int, int]:
        """The original size the ``anchors`` command shows by default: the input size."""
        return geometry.input_hw(self.experiment)

    def anchor_boxes(self, padded_hw: tuple[int, int]) -> np.ndarray:
        """float64 ``[N, 4]`` ``(ymin, xmin, ymax, xmax)`` pixels, the Model Garden's order
        (``anchors --export``)."""
        return self.layout_for(padded_hw).boxes()

    def describe(self, image_size: tuple[int, int]) -> dict[str, Any]:
        """The ``anchors`` command's JSON object for one original image size ``(h, w)``,
        with the keys of the TFOD description (``image_size``, ``resized_shape``,
        ``padded_shape``, ``feature_map_shapes``, ``anchors_per_location``, ``num_anchors``,
        ``levels``, ``per_location``, ``units``, ``window_policy``, ``notes``...) plus
        ``framework``, ``family``, ``experiment``, ``resizer`` and ``match_rule``. The
        anchors are in the Model Garden's order: levels min to max, cells row-major,
        scale-major then ratio (YOLO: the boxes of the level in order)."""
        true, padded = self.resized_shapes(image_size)
        layout = self.layout_for(padded)
        rule = self.rule()
        levels, per_location = [], []
        for level in layout.levels:
            levels.append({"level": level.level, "feature_map_shape": list(level.grid_shape),
                           "stride": [round(v, 4) for v in level.stride],
                           "offset": [round(v, 4) for v in level.offset],
                           "anchors_per_location": int(level.sizes.shape[0]),
                           "num_anchors": level.num_anchors})
            per_location += [{"level": level.level, "height": round(float(h), 2),
                              "width": round(float(w), 2),
                              "scale": round(float(np.sqrt(h * w)) / 2 ** level.level, 4),
                              "pixel_aspect_ratio": round(float(w / h), 4)}
                             for h, w in level.sizes]
        boxes = layout.boxes()
        outside = int(((boxes[:, :2] < 0) | (boxes[:, 2:] > np.array(padded))).any(axis=1).sum())
        model = self.experiment["task"]["model"]
        backbone = model.get("backbone", {}).get("type", "?")
        decoder = (model.get("decoder") or {}).get("type")
        forced = "best anchor of every box forced" if rule.force_match else "no forced match"
        return {"image_size": [int(image_size[0]), int(image_size[1])],
                "resized_shape": list(true), "padded_shape": list(padded),
                "feature_map_shapes": [list(lv.grid_shape) for lv in layout.levels],
                "anchors_per_location": [int(lv.sizes.shape[0]) for lv in layout.levels],
                "num_anchors": layout.num_anchors, "framework": self.framework,
                "family": self.family, "meta_architecture": self.family,
                "feature_extractor": f"{backbone}/{decoder}" if decoder else backbone,
                "anchor_generator": "anchor_boxes" if self.is_yolo else "anchor",
                "experiment": self.name or self.path, "resizer": self.resizer().describe(),
                "units": "pixels of the padded input (Model Garden order)",
                "window_policy": layout.window_policy, "num_anchors_outside_image": outside,
                "match_rule": {"name": rule.name, "threshold": rule.threshold,
                               "force_match": rule.force_match, "source": rule.source},
                "notes": [f"Model Garden {self.family}: {rule.name}, threshold "
                          f"{rule.threshold:g} ({rule.source}), {forced}"],
                "levels": levels, "per_location": per_location}

    def anchors_key(self, anchors: Any) -> bytes:
        """A deterministic identity of a change (sorted JSON)."""
        import json

        return json.dumps(anchors, sort_keys=True).encode()

    def anchors_changes(self, old: Any, new: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """``(changed, previous)``: the dotted keys whose values differ."""
        keys = [k for k in dict.fromkeys([*old, *new]) if old.get(k) != new.get(k)]
        return {k: new.get(k) for k in keys}, {k: old.get(k) for k in keys}

    def copy_anchors(self, anchors: Any) -> Any:
        import copy

        return copy.deepcopy(dict(anchors))

    # --- rules and writing ------------------------------------------------------------------
    def check_rules(self, image_size: tuple[int, int] = (480, 640)) -> list[Finding]:
        from tfod_anchors.frameworks.modelgarden.rules import experiment_findings

        return experiment_findings(self.experiment, before=self.origin)

    def config_findings(self) -> list[Finding]:
        """:meth:`check_rules`, plus ``mg_augmentation_static`` when the family's training
        augmentation is not reproduced (:func:`.augmenter.static_findings`)."""
        from tfod_anchors.frameworks.modelgarden.augmenter import static_findings

        return self.check_rules() + static_findings(self.family, self.augmenter)

    def anchor_value_findings(self) -> list[Finding]:
        from tfod_anchors.frameworks.modelgarden.rules import value_findings

        return value_findings(self.experiment)

    def text_patch(self, text: str, anchors: Any, path: str | None = None) -> TextPatch:
        from tfod_anchors.frameworks.modelgarden.yaml_patch import patch_text

        return TextPatch(patch_text(text, anchors, path))

    def config_with(self, anchors: Any) -> dict:
        return mgx.with_change(self.experiment, anchors)

    def centroid_anchors(self, centroids: Any, padded_shape: tuple[int, int]
                         ) -> CentroidMapping:
        """:mod:`.centroids`: RetinaNet / R-CNN ``anchor_size`` and ``aspect_ratios`` on
        the experiment's levels and ``num_scales``; YOLO the boxes, by area. The padded
        shape is not needed: the anchors are in pixels of the model input."""
        from tfod_anchors.errors import UsageError
        from tfod_anchors.frameworks.modelgarden import centroids as mgc

        block = self._anchor_block()
        try:
            change = (mgc.yolo_from_centroids(block, centroids)
                      if isinstance(block, geometry.YoloAnchors)
                      else mgc.multilevel_from_centroids(block, centroids))
        except UsageError as err:
            return CentroidMapping({"kind": self.kind, "note": f"no mapping: {err.message}"})
        return CentroidMapping({"kind": self.kind, **change}, change)

    def anchors_block(self, anchors: Any) -> str:
        """The anchor keys as nested block YAML (what to paste into the experiment file)."""
        from tfod_anchors.frameworks.modelgarden.yaml_patch import normalize_change
        from tfod_anchors.frameworks.modelgarden.yaml_text import block, nested

        return block(nested(normalize_change(anchors)), 0).rstrip("\n")

    def anchors_override(self, anchors: Any) -> str | None:
        """The ``--params_override`` string of ``train.py``."""
        from tfod_anchors.frameworks.modelgarden.yaml_patch import params_override

        return params_override(anchors)


def model_garden_spec(experiment: dict, path: str | None = None,
                      name: str | None = None) -> ModelGardenSpec:
    """A :class:`ModelGardenSpec` of a resolved experiment, validated here (the edge).

    Raises:
        ConfigError: no anchors of a known family, or anchor values that build nothing.
    """
    family = mgx.detect_family(experiment)
    spec = ModelGardenSpec(experiment, path, name, family,
                           mgp.YOLO_BOXES if family in YOLO_FAMILIES else mgp.MULTILEVEL)
    spec._anchor_block()  # raises ConfigError on values the Model Garden cannot build
    data = experiment["task"].get("train_data") or {}
    if data.get("input_path") and data.get("tfds_name"):
        raise ConfigError("task.train_data sets both input_path and tfds_name; the Model "
                          "Garden accepts at most one", path=path)
    if not spec.is_yolo:
        geometry.input_hw(experiment)
    return spec
