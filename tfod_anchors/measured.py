"""What a measurement covered and what it did not: the ``data_dropped`` block, the
label map's classes (``num_classes``, placeholder maps) and coverage per class.

``check``, ``fit`` and ``stats`` share these so that all three say the same thing about
the same read; each function takes what the pipeline already produced (skip counts,
the coverage report) and reads a file only to name dropped classes. ``model`` is a model
spec or a TFOD config (resolved with :func:`~tfod_anchors.frameworks.as_spec`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from tfod_anchors import pipeline
from tfod_anchors.config.query import is_placeholder_path
from tfod_anchors.errors import InputError, UsageError
from tfod_anchors.frameworks import ModelSpec, as_spec
from tfod_anchors.pipeline import SourceOptions


@dataclass(frozen=True)
class LabelMapInfo:
    """The label map a read uses: its resolved ``path`` (None: no class filtering),
    the parsed ``label_map`` (None when absent or unreadable), and ``placeholder``,
    the config's template path when that turned filtering off."""

    path: str | None
    label_map: Any
    placeholder: str | None


def _spec(model: Any) -> ModelSpec | None:
    return None if model is None else as_spec(model)


def label_map_info(model: Any, config_path: str | None,
                   options: SourceOptions) -> LabelMapInfo:
    """The label map ``--label-map`` or the config names, resolved as the read does."""
    from tfod_anchors.sources.labelmap import load_label_map

    spec = _spec(model)
    placeholder = None
    if spec is not None and options.label_map is None:
        named = spec.inputs.label_map
        if named is not None and is_placeholder_path(named):
            placeholder = named
    # the label map alone: the inputs do not matter here (and may be the config's
    # placeholder), so resolve with a stand-in input
    stand_in = replace(options, inputs=options.inputs or ("-",))
    path = pipeline.resolve_inputs(spec, config_path, stand_in).label_map
    parsed = None
    if path:
        try:
            parsed = load_label_map(path)
        except (InputError, OSError):
            parsed = None
    return LabelMapInfo(path, parsed, placeholder)


def label_findings(model: Any, info: LabelMapInfo) -> list[Any]:
    """``num_classes`` against the label map (:mod:`tfod_anchors.rules.classes`)."""
    from tfod_anchors.rules.classes import num_classes, num_classes_findings

    if info.label_map is None:
        return []
    ids = [*info.label_map.by_name.values(), *info.label_map.by_display_name.values()]
    spec = _spec(model)
    declared = num_classes(spec.config) if spec is not None else None
    return num_classes_findings(declared, ids, info.path or "")


def dropped_block(skipped: dict[str, int], examples: dict[str, str], *, boxes_kept: int,
                  images_kept: int, augmentation: dict[str, Any] | None,
                  specs: list[str] | None, info: LabelMapInfo | None,
                  compression: str = "auto") -> dict[str, Any] | None:
    """:func:`~tfod_anchors.rules.dropped.dropped_summary` for one read, with the
    names of the classes the label map dropped when the files can be read again."""
    from tfod_anchors.rules.dropped import dropped_summary
    from tfod_anchors.sources.class_census import unknown_class_counts

    names = None
    label_map = info.label_map if info is not None else None
    if skipped.get("unknown_class_boxes") and label_map is not None and specs:
        names = unknown_class_counts(list(specs), label_map,
                                     None if compression == "auto" else compression)
    return dropped_summary(skipped, examples, boxes_kept=boxes_kept, images_kept=images_kept,
                           augmentation=augmentation, unknown_classes=names,
                           label_map=info.path if info is not None else None)


def read_dropped(model: Any, config_path: str | None, options: SourceOptions,
                 skipped: dict[str, int], examples: dict[str, str], *, boxes_kept: int,
                 images_kept: int, augmentation: dict[str, Any] | None
                 ) -> tuple[dict[str, Any] | None, list[str]]:
    """``fit``'s read: its :func:`dropped_block` (``boxes_kept``: the static boxes
    kept), and the ``class_filter_off`` note when a placeholder label map turned class
    filtering off."""
    from tfod_anchors.rules.dropped import class_filter_off_findings

    info = label_map_info(model, config_path, options)
    notes = [f"{f.code}: {f.message}"
             for f in class_filter_off_findings(info.placeholder, given=False)]
    block = dropped_block(skipped, examples, boxes_kept=boxes_kept, images_kept=images_kept,
                          augmentation=augmentation,
                          specs=input_specs(model, config_path, options), info=info,
                          compression=options.compression)
    return block, notes


def training_dropped(training: pipeline.TrainingBoxes, model: Any,
                     config_path: str | None, options: SourceOptions,
                     info: LabelMapInfo | None) -> dict[str, Any] | None:
    """:func:`dropped_block` for what :func:`~tfod_anchors.pipeline.training_boxes`
    read (the static truncation, or the augmentation's)."""
    specs = input_specs(model, config_path, options)
    read = training.static_boxset if training.static_boxset is not None else training.read
    return dropped_block(training.skipped, training.skip_examples, boxes_kept=read.num_boxes,
                         images_kept=training.num_images,
                         augmentation=pipeline.augmentation_summary(training.augmentation),
                         specs=specs, info=info, compression=options.compression)


def input_specs(model: Any, config_path: str | None,
                options: SourceOptions) -> list[str] | None:
    """The box sources a read used (``--input`` or the config's), None if none."""
    try:
        return pipeline.resolve_inputs(_spec(model), config_path, options).specs
    except UsageError:
        return None


def per_class(report: Any, resized: Any, matched_threshold: float,
              info: LabelMapInfo | None, specs: list[str] | None = None
              ) -> dict[str, dict[str, Any]]:
    """Coverage per class (:func:`~tfod_anchors.coverage.by_class.class_metrics`) of a
    coverage report over ``resized`` boxes; names from the label map or, for CSV/VOC
    ``specs`` read without one, from the sorted class names that numbered them."""
    from tfod_anchors.coverage.by_class import class_metrics, label_names
    from tfod_anchors.sources.class_census import sorted_name_ids

    names = label_names(info.label_map if info is not None else None)
    if not names and specs and (info is None or info.path is None):
        names = sorted_name_ids(list(specs)) or {}
    return class_metrics(np.asarray(report.best_iou), np.asarray(resized.label),
                         matched_threshold, names, getattr(report, "matched", None))
