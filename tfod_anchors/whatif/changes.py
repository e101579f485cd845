"""The changes worth trying when a config's anchors cannot reach the matcher's threshold.

Each :class:`Change` is a list of ``FIELD=VALUE`` assignments (the ``--what-if``
syntax, so every piece of advice can be re-run and pasted into the config):

* the resizer's size times 1.25, 1.5 and 2 (rounded to a multiple of 32, which every
  extractor's padding and FPN accept);
* a finer feature map: Faster R-CNN ``first_stage_features_stride`` 8 with a grid
  stride to match, where the extractor accepts it; a pyramid (FPN) whose first level
  is one lower (its anchor generator's ``min_level`` with it), where it goes down to 2;
  otherwise marked as not supported by this extractor, with the reason;
* for two-stage models on a ResNet Keras backbone, TFOD's own FPN Faster R-CNN
  (``faster_rcnn_resnet*_fpn_keras``, levels 2-6, the anchor generator of TFOD's
  ``faster_rcnn_resnet50_v1_fpn_640x640`` sample config): an estimate, as its
  second stage and training differ beyond the anchors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from tfod_anchors.anchors import GridAnchorGenerator, MultiscaleAnchorGenerator
from tfod_anchors.anchors.extractors import lookup
from tfod_anchors.config import query as cq

#: Input-size factors tried.
SIZE_FACTORS = (1.25, 1.5, 2.0)
#: Sizes are rounded to this multiple.
SIZE_MULTIPLE = 32
#: TFOD's sample FPN Faster R-CNN anchors (faster_rcnn_resnet50_v1_fpn_640x640_coco17).
FPN_GENERATOR = ("{min_level: 2 max_level: 6 anchor_scale: 4.0 aspect_ratios: [1.0, 2.0, 0.5] "
                 "scales_per_octave: 2 normalize_coordinates: false}")


@dataclass(frozen=True)
class Change:
    """One change to evaluate.

    Attributes:
        name: short label (``"input x1.5"``).
        kind: ``input_size``, ``finer_stride``, ``fpn`` or ``what_if``.
        assignments: ``FIELD=VALUE`` texts (empty when not supported).
        supported: False when this extractor/resizer cannot make the change.
        note: why not supported, or what the numbers are (``estimate``).
    """

    name: str
    kind: str
    assignments: tuple[str, ...]
    supported: bool = True
    note: str = ""


def _round(value: float) -> int:
    return max(SIZE_MULTIPLE, int(round(value / SIZE_MULTIPLE)) * SIZE_MULTIPLE)


def size_changes(cfg: Any) -> list[Change]:
    """The resizer at :data:`SIZE_FACTORS` times its size."""
    meta = cq.model_kind(cfg)
    kind = cq.image_resizer_kind(cfg)
    resizer = cq.image_resizer(cfg)
    base = f"model.{meta}.image_resizer.{kind}"
    fields = {"keep_aspect_ratio_resizer": ("min_dimension", "max_dimension"),
              "fixed_shape_resizer": ("height", "width")}.get(kind or "")
    if fields is None or kind is None:
        return [Change("larger input", "input_size", (), False,
                       f"{kind or 'no resizer'} has no size to scale")]
    sub = getattr(resizer, kind)
    out = []
    for factor in SIZE_FACTORS:
        values = [_round(getattr(sub, f) * factor) for f in fields]
        sizes = "x".join(str(v) for v in values)
        out.append(Change(f"input x{factor:g} ({fields[0]}/{fields[1]} {sizes.replace('x', '/')})",
                          "input_size",
                          tuple(f"{base}.{f}={v}" for f, v in zip(fields, values))))
    return out


def _frcnn_stride(cfg: Any, spec: Any) -> Change:
    meta = cq.as_pipeline(cfg).model.faster_rcnn
    stride = meta.feature_extractor.first_stage_features_stride or 16
    finer = [s for s in spec.allowed_strides if s < stride]
    gen_kind = meta.first_stage_anchor_generator.WhichOneof("anchor_generator_oneof")
    if not finer or spec.fixed_stride is not None or gen_kind != GridAnchorGenerator.kind:
        allowed = "/".join(str(s) for s in spec.allowed_strides)
        return Change("finer stride", "finer_stride", (), False,
                      f"not supported by this extractor: {spec.type} builds its feature map at "
                      f"stride {spec.fixed_stride or stride} (first_stage_features_stride "
                      f"{allowed})")
    new = max(finer)
    grid = meta.first_stage_anchor_generator.grid_anchor_generator
    base = "model.faster_rcnn.first_stage_anchor_generator.grid_anchor_generator"
    assignments = [f"model.faster_rcnn.feature_extractor.first_stage_features_stride={new}",
                   f"{base}.height_stride={new}", f"{base}.width_stride={new}"]
    for name in ("height_offset", "width_offset"):
        if grid.HasField(name):
            assignments.append(f"{base}.{name}={getattr(grid, name) * new / stride:g}")
    return Change(f"finer stride ({stride} -> {new})", "finer_stride", tuple(assignments))


def _lower_level(cfg: Any, spec: Any) -> Change:
    meta_kind = cq.model_kind(cfg) or ""
    meta = getattr(cq.as_pipeline(cfg).model, meta_kind)
    field = "first_stage_anchor_generator" if meta_kind == "faster_rcnn" else "anchor_generator"
    gen = getattr(meta, field)
    if gen.WhichOneof("anchor_generator_oneof") != MultiscaleAnchorGenerator.kind:
        return Change("lower first level", "finer_stride", (), False,
                      "not supported here: the anchors are not a multiscale_anchor_generator")
    ms = gen.multiscale_anchor_generator
    lo = ms.min_level
    if lo - 1 < 2:
        return Change("lower first level", "finer_stride", (), False,
                      f"not supported by this extractor: {spec.type}'s pyramid starts at level "
                      "2 at the lowest")
    ext = f"model.{meta_kind}.feature_extractor.fpn"
    return Change(f"first level {lo} -> {lo - 1} (stride {2 ** lo} -> {2 ** (lo - 1)})",
                  "finer_stride",
                  (f"{ext}.min_level={lo - 1}", f"{ext}.max_level={ms.max_level}",
                   f"model.{meta_kind}.{field}.multiscale_anchor_generator.min_level={lo - 1}"))


def finer_changes(cfg: Any) -> list[Change]:
    """A finer first feature map where the extractor supports it (else one unsupported
    entry saying why)."""
    extractor = cq.feature_extractor(cfg)
    spec = lookup(extractor.type) if extractor is not None else None
    if spec is None:
        return [Change("finer stride", "finer_stride", (), False,
                       "not supported: unknown feature extractor")]
    if spec.family == "frcnn":
        return [_frcnn_stride(cfg, spec)]
    if spec.family in ("fpn", "frcnn_fpn"):
        return [_lower_level(cfg, spec)]
    first = spec.base_strides[0] if spec.base_strides else None
    return [Change("finer stride", "finer_stride", (), False,
                   f"not supported by this extractor: {spec.type} ({spec.family}) takes its "
                   f"first feature map at a fixed stride" + (f" ({first})" if first else ""))]


def fpn_changes(cfg: Any) -> list[Change]:
    """For Faster R-CNN without a pyramid: TFOD's FPN extractor of the same ResNet."""
    if cq.model_kind(cfg) != "faster_rcnn":
        return []
    extractor = cq.feature_extractor(cfg)
    spec = lookup(extractor.type) if extractor is not None else None
    if spec is None or spec.family != "frcnn":
        return []
    match = re.fullmatch(r"faster_rcnn_resnet(50|101|152)_keras", spec.type)
    if match is None:
        return [Change("FPN levels 2-6", "fpn", (), False,
                       f"not supported: TFOD has no FPN Faster R-CNN extractor for {spec.type} "
                       "(only faster_rcnn_resnet50/101/152_fpn_keras)")]
    fe = "model.faster_rcnn.feature_extractor"
    return [Change("FPN levels 2-6 (estimate)", "fpn",
                   (f"{fe}.type='faster_rcnn_resnet{match[1]}_fpn_keras'",
                    f"{fe}.fpn={{min_level: 2 max_level: 6}}",
                    f"model.faster_rcnn.first_stage_anchor_generator."
                    f"multiscale_anchor_generator={FPN_GENERATOR}"),
                   note="estimate: anchors and feature maps of TFOD's FPN Faster R-CNN; its "
                        "RoI pooling and training differ beyond the anchors")]


def candidate_changes(cfg: Any) -> list[Change]:
    """Every change of this module for ``cfg``, in the order they are reported."""
    return [*size_changes(cfg), *finer_changes(cfg), *fpn_changes(cfg)]
