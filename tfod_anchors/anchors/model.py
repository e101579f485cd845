"""Stage 3 of the data flow: every anchor a config's model generates, and where.

Puts together the three pieces TFOD combines in its meta-architectures: the
image resizer (padded input shape), the feature extractor (feature-map shapes,
:mod:`tfod_anchors.anchors.extractors`) and the anchor generator
(:mod:`tfod_anchors.anchors`). Faster R-CNN prunes anchors that leave the padded
image at training time, or clips them with ``clip_anchors_to_image: true``; SSD
keeps them all.

Also the data of the ``anchors`` command (:func:`describe_anchors`) and the
``--export`` writer (:func:`export_anchors`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tfod_anchors.anchors import AnchorLayout, build_anchor_generator
from tfod_anchors.anchors.builder import AnchorGenerator
from tfod_anchors.anchors.extractors import ExtractorGeometry, extractor_geometry
from tfod_anchors.config.query import as_pipeline
from tfod_anchors.errors import ConfigError, UsageError, WriteError
from tfod_anchors.resize import build_resizer

ANCHORED = ("ssd", "faster_rcnn")
GENERATOR_FIELD = {"ssd": "anchor_generator", "faster_rcnn": "first_stage_anchor_generator"}


@dataclass
class ModelAnchors:
    """Everything about one model's anchors for one padded input.

    Attributes:
        meta_architecture: ``"ssd"`` or ``"faster_rcnn"``.
        generator: our numpy generator.
        extractor: feature-map geometry (shapes, strides, problems).
        layout: anchors in pixels of the padded input, with TFOD's window policy.
    """

    meta_architecture: str
    generator: AnchorGenerator
    extractor: ExtractorGeometry
    layout: AnchorLayout

    def tfod_anchors(self) -> np.ndarray:
        """float32 ``[A, 4]`` in TFOD's order and units (before pruning/clipping)."""
        return self.generator.tfod_anchors(self.extractor.feature_map_shapes,
                                           self.layout.padded_shape)


def meta_architecture(cfg: Any) -> tuple[str, Any]:
    """``(kind, message)`` of the config's model, e.g. ``("ssd", cfg.model.ssd)``.

    Raises:
        ConfigError: the model is not SSD or Faster R-CNN (no anchors).
    """
    model = as_pipeline(cfg).model
    kind = model.WhichOneof("model")
    if kind not in ANCHORED:
        raise ConfigError(
            f"model {kind or '(none)'} has no anchor generator; tfod-anchors works on ssd "
            "and faster_rcnn models")
    return kind, getattr(model, kind)


def anchor_generator_message(cfg: Any) -> Any:
    """The ``AnchorGenerator`` message of an SSD or Faster R-CNN config."""
    kind, meta = meta_architecture(cfg)
    return getattr(meta, GENERATOR_FIELD[kind])


def build_model_generator(cfg: Any) -> AnchorGenerator:
    """The config's anchor generator, set up the way its meta-architecture calls it.

    Multiscale anchors in SSD depend on whether the input size is known when the
    graph is built; that is the case for resizers with a static output shape.
    """
    kind, meta = meta_architecture(cfg)
    generator = build_anchor_generator(getattr(meta, GENERATOR_FIELD[kind]), kind)
    if kind == "ssd" and generator.kind == "multiscale_anchor_generator":
        try:
            static = build_resizer(meta.image_resizer).static_shape is not None
        except ConfigError:
            return generator  # the resizer's own error is reported where shapes are needed
        generator = dataclasses.replace(generator, image_size_known=static)
    return generator


def model_anchors(cfg: Any, padded_shape: tuple[int, int]) -> ModelAnchors:
    """Generator, feature maps and layout of the config's model for a padded input.

    Raises:
        ConfigError: no anchors (not SSD/Faster R-CNN, or no generator), an
            extractor whose feature maps are unknown, or a generator that does not
            fit the maps (as TFOD would raise).
    """
    kind, meta = meta_architecture(cfg)
    generator = build_model_generator(cfg)
    geo = extractor_geometry(kind, meta.feature_extractor, padded_shape)
    if not geo.known:
        raise ConfigError(geo.problems[0].message)
    layout = generator.layout(geo.feature_map_shapes, padded_shape)
    policy = "none"
    if kind == "faster_rcnn":
        policy = "clip" if meta.clip_anchors_to_image else "prune"
    layout = dataclasses.replace(layout, window_policy=policy)
    return ModelAnchors(kind, generator, geo, layout)


def model_anchor_layout(cfg: Any, padded_shape: tuple[int, int]) -> AnchorLayout:
    """:class:`AnchorLayout` TFOD uses for a padded input ``(H, W)`` (see :func:`model_anchors`)."""
    return model_anchors(cfg, padded_shape).layout


def layout_function(cfg: Any) -> Callable[[tuple[int, int]], AnchorLayout]:
    """``(H, W) -> AnchorLayout`` of ``cfg`` (see :func:`model_anchor_layout`), memoised
    per padded shape: datasets with many image sizes share a few padded shapes."""
    memo: dict[tuple[int, int], AnchorLayout] = {}

    def layout_for(shape: tuple[int, int]) -> AnchorLayout:
        key = (int(shape[0]), int(shape[1]))
        if key not in memo:
            memo[key] = model_anchor_layout(cfg, key)
        return memo[key]

    return layout_for


def resized_shapes(
    cfg: Any, image_size: tuple[int, int]
) -> tuple[tuple[int, int], tuple[int, int]]:
    """``(true, padded)`` ``(h, w)`` the config's resizer gives an original image size."""
    _, meta = meta_architecture(cfg)
    true, padded = build_resizer(meta.image_resizer).shapes([int(image_size[0])],
                                                           [int(image_size[1])])
    return (int(true[0, 0]), int(true[0, 1])), (int(padded[0, 0]), int(padded[0, 1]))


def _outside(boxes: np.ndarray, padded: tuple[int, int]) -> int:
    """Anchors with any corner outside ``[0, 0, H, W]`` (TFOD's strict prune test)."""
    out = ((boxes[:, 0] < 0) | (boxes[:, 1] < 0) | (boxes[:, 2] > padded[0])
           | (boxes[:, 3] > padded[1]))
    return int(out.sum())


def describe_anchors(cfg: Any, image_size: tuple[int, int]) -> dict:
    """The ``anchors`` command's JSON object for one original image size ``(h, w)``.

    Keys: ``image_size``, ``resized_shape`` (true), ``padded_shape``,
    ``feature_map_shapes``, ``anchors_per_location``, ``num_anchors``, plus
    ``meta_architecture``, ``anchor_generator``, ``feature_extractor``, ``units``,
    ``window_policy``, ``num_anchors_outside_image``, ``levels`` (per feature map:
    shape, stride, offset, count) and ``per_location`` (one row per anchor shape:
    ``level``, ``height``/``width`` in pixels, ``scale``, ``aspect_ratio`` as
    configured and ``pixel_aspect_ratio`` = width / height), and ``notes``.
    """
    true, padded = resized_shapes(cfg, image_size)
    anchors = model_anchors(cfg, padded)
    layout, generator = anchors.layout, anchors.generator
    specs = generator.box_specs()
    per_location = []
    levels = []
    for level, level_specs in zip(layout.levels, specs):
        levels.append({
            "level": level.level,
            "feature_map_shape": list(level.grid_shape),
            "stride": [round(v, 4) for v in level.stride],
            "offset": [round(v, 4) for v in level.offset],
            "anchors_per_location": int(level.sizes.shape[0]),
            "num_anchors": level.num_anchors,
        })
        for (scale, aspect), (height, width) in zip(level_specs, level.sizes):
            per_location.append({
                "level": level.level,
                "height": round(float(height), 2),
                "width": round(float(width), 2),
                "scale": round(float(scale), 4),
                "aspect_ratio": round(float(aspect), 4),
                "pixel_aspect_ratio": round(float(width / height), 4) if height else None,
            })
    notes = []
    if generator.kind == "grid_anchor_generator":
        notes.append("grid anchors are the Cartesian product of scales x aspect_ratios "
                     "(aspect ratio outer, scale inner) at every cell; sizes are scale / "
                     "sqrt(aspect) x height and scale x sqrt(aspect) x width")
    if generator.kind == "ssd_anchor_generator":
        notes.append("ssd scales are fractions of min(H, W) of the padded input")
    if layout.window_policy == "prune":
        notes.append("Faster R-CNN drops anchors that leave the padded image during training "
                     "(clip_anchors_to_image: false)")
    boxes = layout.boxes()
    return {
        "image_size": [int(image_size[0]), int(image_size[1])],
        "resized_shape": list(true),
        "padded_shape": list(padded),
        "feature_map_shapes": [list(s) for s in anchors.extractor.feature_map_shapes],
        "anchors_per_location": generator.num_anchors_per_location(),
        "num_anchors": layout.num_anchors,
        "meta_architecture": anchors.meta_architecture,
        "anchor_generator": generator.kind,
        "feature_extractor": anchors.extractor.type,
        "units": "normalized" if layout.normalized else "pixels",
        "window_policy": layout.window_policy,
        "num_anchors_outside_image": _outside(boxes, padded),
        "levels": levels,
        "per_location": per_location,
        "notes": notes,
    }


def export_anchors(arr: np.ndarray, path: str | Path) -> Path:
    """Write anchors ``[A, 4]`` (``ymin, xmin, ymax, xmax``) as float32 ``.npy`` or ``.csv``.

    Raises:
        UsageError: not an ``[A, 4]`` array, or a suffix other than .npy/.csv.
        WriteError: the file could not be written.
    """
    arr = np.asarray(arr, dtype=np.float32)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise UsageError(f"anchors must be an [A, 4] array, got shape {arr.shape}")
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".npy", ".csv"):
        raise UsageError(f"{path}: export format must be .npy or .csv")
    try:
        if suffix == ".npy":
            with open(path, "wb") as handle:
                np.save(handle, arr, allow_pickle=False)
        else:
            np.savetxt(path, arr, fmt="%.9g", delimiter=",", header="ymin,xmin,ymax,xmax",
                       comments="")
    except OSError as err:
        raise WriteError(f"cannot write anchors: {err.strerror or err}", path=str(path)) from None
    return path
