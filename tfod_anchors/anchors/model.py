"""Stage 3 of the data flow: every anchor a config's model generates, and where.

Puts together the three pieces TFOD combines in its meta-architectures: the
image resizer (padded input shape), the feature extractor (feature-map shapes,
:mod:`tfod_anchors.anchors.extractors`) and the anchor generator
(:mod:`tfod_anchors.anchors`). Faster R-CNN prunes anchors that leave the padded
image at training time, or clips them with ``clip_anchors_to_image: true``; SSD
keeps them all.

The ``anchors`` command's description and export live in :mod:`.describe`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from tfod_anchors.anchors import AnchorLayout, MultiscaleAnchorGenerator, build_anchor_generator
from tfod_anchors.anchors.builder import AnchorGenerator
from tfod_anchors.anchors.extractors import ExtractorGeometry, extractor_geometry
from tfod_anchors.anchors.grid import FASTER_RCNN, SSD
from tfod_anchors.config.query import ANCHOR_GENERATOR_FIELD, ANCHORED
from tfod_anchors.errors import ConfigError
from tfod_anchors.resize import build_resizer


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


def pipeline_of(model: Any) -> Any:
    """The ``TrainEvalPipelineConfig`` of a TFOD model spec, or of a TFOD config (a
    message of either schema, or TFOD's configs dict) resolved into one."""
    from tfod_anchors.frameworks import as_spec

    return as_spec(model).config


def meta_architecture(cfg: Any) -> tuple[str, Any]:
    """``(kind, message)`` of the model, e.g. ``("ssd", cfg.model.ssd)`` (``cfg``: a TFOD
    spec or config, as :func:`pipeline_of` takes).

    Raises:
        ConfigError: the model is not SSD or Faster R-CNN (no anchors).
    """
    model = pipeline_of(cfg).model
    kind = model.WhichOneof("model")
    if kind not in ANCHORED:
        raise ConfigError(
            f"model {kind or '(none)'} has no anchor generator; tfod-anchors works on ssd "
            "and faster_rcnn models")
    return kind, getattr(model, kind)


def build_model_generator(cfg: Any) -> AnchorGenerator:
    """The config's anchor generator, set up the way its meta-architecture calls it.

    Multiscale anchors in SSD depend on whether the input size is known when the
    graph is built; that is the case for resizers with a static output shape.
    """
    kind, meta = meta_architecture(cfg)
    generator = build_anchor_generator(getattr(meta, ANCHOR_GENERATOR_FIELD[kind]), kind)
    if kind == SSD and isinstance(generator, MultiscaleAnchorGenerator):
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
    if kind == FASTER_RCNN:
        policy = "clip" if meta.clip_anchors_to_image else "prune"
    layout = dataclasses.replace(layout, window_policy=policy)
    return ModelAnchors(kind, generator, geo, layout)


def model_anchor_layout(cfg: Any, padded_shape: tuple[int, int]) -> AnchorLayout:
    """:class:`AnchorLayout` TFOD uses for a padded input ``(H, W)`` (see :func:`model_anchors`)."""
    return model_anchors(cfg, padded_shape).layout


def resized_shapes(
    cfg: Any, image_size: tuple[int, int]
) -> tuple[tuple[int, int], tuple[int, int]]:
    """``(true, padded)`` ``(h, w)`` the config's resizer gives an original image size."""
    _, meta = meta_architecture(cfg)
    true, padded = build_resizer(meta.image_resizer).shapes([int(image_size[0])],
                                                           [int(image_size[1])])
    return (int(true[0, 0]), int(true[0, 1])), (int(padded[0, 0]), int(padded[0, 1]))
