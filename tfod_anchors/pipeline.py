"""Chains the stages for one config: sources -> resizer -> anchors -> coverage.

The commands and the Python API share these steps; each step is one call into
the module that owns the stage, so nothing here computes geometry itself.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from tfod_anchors.anchors.layout import AnchorLayout
from tfod_anchors.boxes import BoxSet, ResizedBoxes
from tfod_anchors.config import query as cq
from tfod_anchors.config.query import PipelineLike
from tfod_anchors.errors import ConfigError, UsageError


@dataclass(frozen=True)
class SourceOptions:
    """How to read boxes (the ``box sources`` flags of every command)."""

    inputs: tuple[str, ...] = ()
    compression: str = "auto"
    label_map: str | None = None
    max_boxes: int | None = None
    drop_difficult: bool = False
    skip_bad: bool = False
    verify_sizes: bool = False
    progress: bool = True
    reader: str = "auto"


def _resolve(path: str, config_path: str | None) -> str:
    """A config-relative path: as given if it exists from the working directory
    (TFOD's own rule) or is remote/glob-matched, else relative to the config's folder."""
    if "://" in path or os.path.isabs(path) or config_path is None or "://" in config_path:
        return path
    import glob

    if os.path.exists(path) or glob.glob(path):
        return path
    beside = os.path.join(os.path.dirname(os.path.abspath(config_path)), path)
    if os.path.exists(beside) or glob.glob(beside):
        return beside
    return path


def config_sources(cfg: PipelineLike, config_path: str | None) -> list[str]:
    """The config's ``train_input_reader`` TFRecord paths, resolved.

    Raises:
        UsageError: the config names no usable input (template placeholders such as
            ``PATH_TO_BE_CONFIGURED``, another reader type): pass ``--input``.
    """
    train = cq.train_input_paths(cfg)
    where = config_path or "config"
    if train.reader != "tf_record_input_reader" or not train.paths:
        raise UsageError(
            f"{where}: train_input_reader names no TFRecord input; pass --input SRC")
    if any(cq.is_placeholder_path(p) for p in train.paths):
        raise UsageError(
            f"{where}: train_input_reader.input_path is a template placeholder "
            f"({train.paths[0]!r}); pass --input SRC")
    return [_resolve(p, config_path) for p in train.paths]


@dataclass(frozen=True)
class ResolvedInputs:
    """What to read and how TFOD would filter it: the box sources, the label map and
    ``max_number_of_boxes`` (flags first, else the config's)."""

    specs: list[str]
    label_map: str | None
    max_boxes: int | None


def resolve_inputs(cfg: PipelineLike | None, config_path: str | None,
                   options: SourceOptions) -> ResolvedInputs:
    """``--input`` or, without it, the config's training input; the label map and
    ``max_number_of_boxes`` from the flags, else from the config (paths resolved as TFOD
    does, placeholders ignored).

    Raises:
        UsageError: no source at all, or a config whose input is a placeholder.
    """
    if options.inputs:
        specs = list(options.inputs)
    elif cfg is not None:
        specs = config_sources(cfg, config_path)
    else:
        raise UsageError("no box source: pass --input SRC")
    label_map = options.label_map
    max_boxes = options.max_boxes
    if cfg is not None:
        if label_map is None:
            label_map = cq.label_map_path(cfg)
            if label_map is not None and cq.is_placeholder_path(label_map):
                label_map = None
            elif label_map is not None:
                label_map = _resolve(label_map, config_path)
        if max_boxes is None:
            max_boxes = cq.max_number_of_boxes(cfg)
    return ResolvedInputs(specs, label_map, max_boxes)


def read_config_boxes(cfg: PipelineLike | None, config_path: str | None,
                      options: SourceOptions) -> BoxSet:
    """Boxes from ``--input`` or, without it, from the config's training input, filtered
    as TFOD's input pipeline would (label map, ``max_number_of_boxes``)."""
    from tfod_anchors.sources import read_boxes

    inputs = resolve_inputs(cfg, config_path, options)
    return read_boxes(
        inputs.specs,
        label_map_path=inputs.label_map,
        max_number_of_boxes=inputs.max_boxes,
        drop_difficult=options.drop_difficult,
        skip_bad=options.skip_bad,
        verify_sizes=options.verify_sizes,
        compression=None if options.compression == "auto" else options.compression,
        progress=None if options.progress else False,
        reader=options.reader,
    )


def resize_for_config(boxset: BoxSet, cfg: PipelineLike) -> ResizedBoxes:
    """Stage 2: the config's own image resizer applied to every image."""
    from tfod_anchors.resize import build_resizer, resize_boxes

    resizer_msg = cq.image_resizer(cfg)
    if resizer_msg is None:
        raise ConfigError(f"model {cq.model_kind(cfg) or '(none)'} has no image_resizer")
    return resize_boxes(boxset, build_resizer(resizer_msg))


def layout_function(cfg: PipelineLike) -> Callable[[tuple[int, int]], AnchorLayout]:
    """Stage 3: padded ``(H, W)`` -> every anchor TFOD generates for it (cached)."""
    from tfod_anchors.anchors import model as geometry

    require_anchors(cfg, None, "coverage")
    return geometry.layout_function(cfg)


def measure_coverage(resized: ResizedBoxes, cfg: PipelineLike) -> Any:
    """Stage 4: positioned coverage under the config's matcher."""
    from tfod_anchors.coverage.metrics import evaluate

    return evaluate(resized, layout_function(cfg), cq.matcher_spec(cfg))


def require_anchors(cfg: PipelineLike, config_path: str | None, command: str) -> None:
    """Refuse (exit 2) configs without an anchor generator for commands that need one, and
    anchor values no anchor can be built from (``check`` reports them as errors)."""
    from tfod_anchors.rules import anchor_value_findings

    generator = cq.anchor_generator(cfg)
    if generator is None:
        kind = cq.model_kind(cfg) or "(none)"
        raise ConfigError(
            f"model {kind} has no anchor generator, so `{command}` has nothing to work on "
            "(anchor-free models such as CenterNet are not supported)", path=config_path)
    kind = generator.WhichOneof("anchor_generator_oneof")
    bad = anchor_value_findings(kind, getattr(generator, kind)) if kind else []
    if bad:
        raise ConfigError(f"{bad[0].code}: {bad[0].message}", path=config_path)



def resizer_description(cfg: PipelineLike) -> str:
    """One line naming the config's resizer and its settings."""
    from tfod_anchors.resize import build_resizer

    return build_resizer(cq.image_resizer(cfg)).describe()


def anchor_shapes_hw(cfg: PipelineLike, resized: ResizedBoxes) -> np.ndarray | None:
    """float64 ``[S, 2]`` ``(height, width)`` in pixels of every anchor shape (all levels)
    for the most common padded shape, or None for models without anchors."""
    if cq.anchor_generator(cfg) is None or resized.num_boxes == 0:
        return None
    layout = layout_function(cfg)(resized.most_common_shape())
    if not layout.levels:
        return np.zeros((0, 2))
    return np.concatenate([level.sizes for level in layout.levels], axis=0)
