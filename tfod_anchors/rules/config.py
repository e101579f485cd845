"""Config rules for ``check``: anchor settings TFOD accepts silently but gets wrong, or rejects.

TFOD checks little of the anchor geometry itself (``docs/fidelity.md`` §3):
nothing compares the grid stride with ``first_stage_features_stride``, the
multiscale levels with the FPN levels, or anchor sizes with the input. Each rule
here has a stable ``code``; severities are ``error`` (TFOD fails, or trains with
anchors that do not match the network), ``warning`` (legal but almost surely
unintended) and ``info``.

Rules that depend on the input size use the padded shape the config's resizer
gives a typical image (``image_size``, default 480x640); for resizers with a
fixed output (``fixed_shape_resizer``, ``pad_to_max_dimension``) that is the only
shape there is.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tfod_anchors.anchors import (
    AnchorLayout,
    GridAnchorGenerator,
    MultiscaleAnchorGenerator,
    SsdAnchorGenerator,
)
from tfod_anchors.anchors.builder import DEFAULT_GENERATOR, AnchorGenerator
from tfod_anchors.anchors.extractors import ExtractorGeometry, extractor_geometry
from tfod_anchors.anchors.model import build_model_generator, pipeline_of, resized_shapes
from tfod_anchors.config.query import (
    ANCHOR_GENERATOR_FIELD,
    ANCHORED,
    anchor_generator,
    augmentation_steps,
    ignored_train_config_max_boxes,
    max_number_of_boxes,
)
from tfod_anchors.errors import ConfigError
from tfod_anchors.frameworks import as_spec
from tfod_anchors.rules.findings import ERROR, SEVERITY, Finding, finding

# An anchor side longer than this many times the padded input side is "far beyond" it.
TOO_LARGE_FACTOR = 2.0


def config_findings(cfg: Any) -> list[Finding]:
    """:func:`check_rules` plus the input-pipeline notes (``max_boxes_ignored``,
    :func:`augmentation_findings`); ``cfg``: a TFOD spec or config."""
    pipeline = pipeline_of(cfg)
    found = check_rules(cfg)
    if anchor_generator(pipeline) is not None:
        found += augmentation_findings(pipeline)
    ignored = ignored_train_config_max_boxes(pipeline)
    effective = max_number_of_boxes(pipeline)
    if ignored is not None and ignored != effective:
        found.append(finding(
            "max_boxes_ignored",
            f"train_config.max_number_of_boxes: {ignored} is ignored by TFOD's input pipeline, "
            f"which keeps {effective} boxes per image (train_input_reader.max_number_of_boxes); "
            "set it there instead"))
    return found


def augmentation_findings(cfg: Any) -> list[Finding]:
    """Findings on ``train_config.data_augmentation_options``, whose boxes coverage measures.

    ``unknown_augmentation`` (warning): a step that is not reproduced, so coverage treats
    it as identity: a field unknown to :data:`tfod_anchors.augment.OPS` (status
    ``unknown``: a newer TFOD or a fork) or a known one that moves boxes but is not
    modelled (status ``unsupported``: ``autoaugment_image``). ``invalid_augmentation``
    (error): values TFOD's preprocessor builder rejects (coverage is then measured on the
    static boxes).
    """
    from tfod_anchors.augment import OPS, classify_ops, plan

    steps = augmentation_steps(pipeline_of(cfg))
    out = []
    for index, name, status in classify_ops(steps):
        if status == "unknown":
            out.append(finding(
                "unknown_augmentation",
                f"data_augmentation_options[{index}] {name} is not a preprocessing step "
                "tfod-anchors knows (a newer TFOD or a fork?): coverage treats it as identity, "
                "so if it moves or resizes boxes the measured distribution is off"))
        elif status == "unsupported":
            out.append(finding(
                "unknown_augmentation",
                f"data_augmentation_options[{index}] {name} is not reproduced ({OPS[name].effect}"
                "): coverage treats it as identity"))
    try:
        plan(steps)
    except ConfigError as err:
        out.append(finding("invalid_augmentation",
                           f"{err.message}: TFOD's preprocessor rejects this step, so training "
                           "fails; coverage (when measured) uses the static boxes"))
    return out


def check_rules(cfg: Any, image_size: tuple[int, int] = (480, 640)) -> list[Finding]:
    """All rule findings for a TFOD model (what ``TfodSpec.check_rules`` answers).

    Args:
        cfg: a TFOD model spec, or a ``TrainEvalPipelineConfig`` (either schema) or TFOD's
            configs dict (resolved into one).
        image_size: original ``(h, w)`` used when the padded input depends on the image.
    """
    spec = as_spec(cfg)
    pipeline = spec.config
    kind = pipeline.model.WhichOneof("model")
    if kind not in ANCHORED:
        return [finding("anchor_free_model",
                        f"model {kind or '(none)'} uses no anchor generator; there are no anchors "
                        "to check or fit (tfod-anchors works on ssd and faster_rcnn models)")]
    meta = getattr(pipeline.model, kind)
    field = ANCHOR_GENERATOR_FIELD[kind]
    gen_msg = getattr(meta, field)
    gen_kind = gen_msg.WhichOneof("anchor_generator_oneof")
    if gen_kind is None:
        return [finding("no_anchor_generator",
                        f"model.{kind}.{field} is not set (TFOD raises 'Empty anchor generator'); "
                        f"add one, e.g. {DEFAULT_GENERATOR[kind]} {{ ... }}")]
    findings = _proto_rules(gen_kind, getattr(gen_msg, gen_kind))
    values = anchor_value_findings(gen_kind, getattr(gen_msg, gen_kind))
    if values:
        return findings + values  # no geometry can be built from these values
    try:
        generator = build_model_generator(pipeline)
    except ConfigError as err:
        return findings + [finding("invalid_anchor_generator", err.message)]
    findings += _meta_rules(kind, generator)
    findings += _weight_shared_rule(kind, meta, generator)
    try:
        _, padded = resized_shapes(pipeline, image_size)
    except ConfigError as err:
        return findings + [finding("invalid_image_resizer", err.message)]
    geo = extractor_geometry(kind, meta.feature_extractor, padded)
    findings += [finding(p.code, p.message) for p in geo.problems]
    if not geo.known or any(SEVERITY[p.code] == ERROR for p in geo.problems):
        return findings  # TFOD would not build this model: later rules would only echo it
    level_findings = _level_rules(kind, generator, geo)
    findings += level_findings
    if any(f.severity == ERROR for f in level_findings) or any(
            f.code in ("generator_meta_mismatch", "frcnn_normalized_anchors") for f in findings):
        return findings
    try:
        layout = generator.layout(geo.feature_map_shapes, padded)
    except ConfigError as err:
        return findings + [finding("invalid_anchor_generator", err.message)]
    policy = "none"
    if kind == "faster_rcnn":
        policy = "clip" if meta.clip_anchors_to_image else "prune"
    findings += _size_rules(layout, policy, _matched_threshold(spec))
    return findings


def _matched_threshold(spec: Any) -> float:
    try:
        return float(spec.matcher().matched_threshold)
    except ConfigError:
        return 0.5


# --- the generator block alone ----------------------------------------------------------

def _duplicates(values, tol: float = 1e-3) -> list[float]:
    """Finite values repeated within ``tol`` (relative); non-finite ones are another rule's."""
    seen: list[float] = []
    dups: list[float] = []
    for v in (float(x) for x in values if math.isfinite(x)):
        if any(abs(v - s) <= tol * max(abs(s), 1e-12) for s in seen):
            dups.append(v)
        else:
            seen.append(v)
    return dups


#: What a generator kind's structure rules return: the list fields left empty, and the
#: findings about repeated values.
Structure = tuple[list[str], list[Finding]]


def _ratio_rules(gen_kind: str, msg: Any, empty_ok: bool = False) -> Structure:
    """Empty or repeated ``aspect_ratios`` (grid, SSD, multiscale)."""
    empty, out = [], []
    if not len(msg.aspect_ratios) and not empty_ok:
        empty.append("aspect_ratios")
    if _duplicates(msg.aspect_ratios):
        out.append(finding("duplicate_aspect_ratios",
                           f"{gen_kind} lists aspect ratio(s) "
                           f"{', '.join(f'{v:g}' for v in _duplicates(msg.aspect_ratios))} "
                           "more than once, which makes identical anchors; remove the repeats"))
    return empty, out


def _scale_repeats(gen_kind: str, msg: Any) -> list[Finding]:
    if not _duplicates(msg.scales):
        return []
    return [finding("duplicate_scales",
                    f"{gen_kind} lists scale(s) "
                    f"{', '.join(f'{v:g}' for v in _duplicates(msg.scales))} more than "
                    "once; remove the repeats")]


def grid_structure(gen_kind: str, msg: Any) -> Structure:
    """``grid_anchor_generator``: ratios, then scales, present and distinct."""
    empty, out = _ratio_rules(gen_kind, msg)
    if not len(msg.scales):
        empty.append("scales")
    return empty, out + _scale_repeats(gen_kind, msg)


def ssd_structure(gen_kind: str, msg: Any) -> Structure:
    """``ssd_anchor_generator``: ratios (or the interpolated one) and distinct scales."""
    empty, out = _ratio_rules(gen_kind, msg, msg.interpolated_scale_aspect_ratio > 0)
    return empty, out + _scale_repeats(gen_kind, msg)


def multiscale_structure(gen_kind: str, msg: Any) -> Structure:
    """``multiscale_anchor_generator``: ratios, and at least one scale per octave."""
    empty, out = _ratio_rules(gen_kind, msg)
    if msg.scales_per_octave < 1:
        empty.append("scales_per_octave")
    return empty, out


def flexible_structure(gen_kind: str, msg: Any) -> Structure:
    """``flexible_grid_anchor_generator``: grids with base sizes, no repeated pairs."""
    empty: list[str] = []
    out: list[Finding] = []
    if not len(msg.anchor_grid):
        empty.append("anchor_grid")
    for index, grid in enumerate(msg.anchor_grid):
        if not len(grid.base_sizes):
            empty.append(f"anchor_grid[{index}].base_sizes")
        pairs = list(zip(grid.base_sizes, grid.aspect_ratios))
        if len(set(pairs)) < len(pairs):
            out.append(finding("duplicate_aspect_ratios",
                               f"{gen_kind} anchor_grid {index} repeats a (base_size, "
                               "aspect_ratio) pair; remove the repeats"))
    return empty, out


def _proto_rules(gen_kind: str, msg: Any) -> list[Finding]:
    from tfod_anchors.frameworks.tfod_generators import GENERATORS

    record = GENERATORS.get(gen_kind)
    empty, out = record.structure_rules(gen_kind, msg) if record is not None else ([], [])
    if empty:
        out.append(finding("zero_anchors",
                           f"{gen_kind} has no {' / '.join(empty)}, so some feature maps get no "
                           "anchors at all; list at least one value"))
    return out


# --- anchor values TFOD cannot build or use ------------------------------------------------

def _bad(values: Any) -> list[float]:
    """The values that are NaN, infinite, zero or negative."""
    return [float(v) for v in values if not (math.isfinite(v) and v > 0)]


def _fmt_values(values: list[float]) -> str:
    return ", ".join(f"{v:g}" for v in values)


def anchor_value_findings(gen_kind: str, msg: Any) -> list[Finding]:
    """``invalid_aspect_ratio`` / ``invalid_anchor_scale`` for values no anchor can be built
    from: aspect ratios and scales (and the sizes they multiply) must be finite and
    positive. TFOD does not check them; it takes square roots and products of them and
    trains with NaN or infinite anchors (or none that can ever match)."""
    from tfod_anchors.frameworks.tfod_generators import GENERATORS

    record = GENERATORS.get(gen_kind)
    ratios, scales = record.value_fields(msg) if record is not None else ([], [])
    out = []
    bad_ratios = [(name, vals) for name, vals in ratios if vals]
    if bad_ratios:
        out.append(finding("invalid_aspect_ratio", f"{gen_kind} " + "; ".join(
            f"{name} {_fmt_values(vals)}" for name, vals in bad_ratios) + ": aspect ratios must "
            "be finite and > 0 (TFOD takes their square root, so 0 gives infinite and a "
            "negative value NaN anchors); remove or fix them"))
    bad_scales = [(name, vals) for name, vals in scales if vals]
    if bad_scales:
        out.append(finding("invalid_anchor_scale", f"{gen_kind} " + "; ".join(
            f"{name} {_fmt_values(vals)}" for name, vals in bad_scales) + ": anchor scales and "
            "sizes must be finite and > 0 (NaN, infinite, zero or negative ones give anchors "
            "that can never match a box); remove or fix them"))
    return out


#: What a generator kind's value fields are: ``(ratios, scales)``, each a list of
#: ``(field name, its bad values)``.
ValueFields = tuple[list[tuple[str, list[float]]], list[tuple[str, list[float]]]]


def grid_values(msg: Any) -> ValueFields:
    """``grid_anchor_generator``: ratios; scales and the base height and width."""
    return [("aspect_ratios", _bad(msg.aspect_ratios))], [
        ("scales", _bad(msg.scales)), ("height", _bad([msg.height])),
        ("width", _bad([msg.width]))]


def ssd_values(msg: Any) -> ValueFields:
    """``ssd_anchor_generator``: ratios and the interpolated one; scales (or min/max) and
    the base anchor size."""
    ratios = [("aspect_ratios", _bad(msg.aspect_ratios))]
    if not math.isfinite(msg.interpolated_scale_aspect_ratio):
        ratios.append(("interpolated_scale_aspect_ratio",
                       [float(msg.interpolated_scale_aspect_ratio)]))
    if len(msg.scales):
        scales = [("scales", _bad(msg.scales))]
    else:
        scales = [("min_scale", _bad([msg.min_scale])), ("max_scale", _bad([msg.max_scale]))]
    scales += [("base_anchor_height", _bad([msg.base_anchor_height])),
               ("base_anchor_width", _bad([msg.base_anchor_width]))]
    return ratios, scales


def multiscale_values(msg: Any) -> ValueFields:
    """``multiscale_anchor_generator``: ratios and ``anchor_scale``."""
    return [("aspect_ratios", _bad(msg.aspect_ratios))], [
        ("anchor_scale", _bad([msg.anchor_scale]))]


def flexible_values(msg: Any) -> ValueFields:
    """``flexible_grid_anchor_generator``: every grid's ratios and base sizes."""
    ratios, scales = [], []
    for index, grid in enumerate(msg.anchor_grid):
        ratios.append((f"anchor_grid[{index}].aspect_ratios", _bad(grid.aspect_ratios)))
        scales.append((f"anchor_grid[{index}].base_sizes", _bad(grid.base_sizes)))
    return ratios, scales


# --- generator vs meta-architecture -----------------------------------------------------

def _meta_rules(kind: str, generator: AnchorGenerator) -> list[Finding]:
    g = generator.kind
    if kind == "ssd" and isinstance(generator, GridAnchorGenerator):
        return [finding("generator_meta_mismatch",
                        "SSD cannot use grid_anchor_generator (TFOD's SSD passes the image "
                        "size, which it rejects); use ssd_anchor_generator or "
                        "multiscale_anchor_generator")]
    if kind == "faster_rcnn" and isinstance(generator, SsdAnchorGenerator):
        return [finding("generator_meta_mismatch",
                        "Faster R-CNN passes no image size to ssd_anchor_generator, so its anchors "
                        "come out at most 1 pixel wide; use grid_anchor_generator (or "
                        "multiscale_anchor_generator with an FPN extractor)")]
    normalized = getattr(generator, "normalize_coordinates", None)
    if kind == "faster_rcnn" and normalized:
        return [finding("frcnn_normalized_anchors",
                        f"{g} with normalize_coordinates true fails in Faster R-CNN (TFOD raises: "
                        "no image size is passed); set normalize_coordinates: false")]
    if kind == "ssd" and normalized is False:
        return [finding("ssd_unnormalized_anchors",
                        f"{g} with normalize_coordinates false gives SSD anchors in pixels while "
                        "its boxes are normalized, so nothing matches; set normalize_coordinates: "
                        "true")]
    return []


def _weight_shared_rule(kind: str, meta: Any, generator: AnchorGenerator) -> list[Finding]:
    if kind != "ssd" or meta.box_predictor.WhichOneof(
            "box_predictor_oneof") != "weight_shared_convolutional_box_predictor":
        return []
    counts = generator.num_anchors_per_location()
    if len(set(counts)) <= 1:
        return []
    hint = ""
    if isinstance(generator, SsdAnchorGenerator):
        hint = " (set reduce_boxes_in_lowest_layer: false)"
    return [finding("weight_shared_anchors_differ",
                    f"weight_shared_convolutional_box_predictor needs the same number of anchors "
                    f"per location on every feature map, but {generator.kind} gives {counts}; "
                    f"make them equal{hint} or use convolutional_box_predictor")]


# --- generator vs feature maps ------------------------------------------------------------

def _level_rules(kind: str, generator: AnchorGenerator, geo: ExtractorGeometry) -> list[Finding]:
    n_maps = len(geo.feature_map_shapes)
    n_levels = len(generator.num_anchors_per_location())
    g = generator.kind
    where = f"{geo.type} gives {n_maps} feature map(s)"
    if geo.strides:
        where += f" (strides {', '.join(str(s) for s in geo.strides)})"
    if isinstance(generator, MultiscaleAnchorGenerator):
        want = list(range(generator.min_level, generator.max_level + 1))
        if want == geo.levels or not geo.levels:
            return []
        source = "its fpn/bifpn levels" if geo.pyramid_levels else "its feature maps"
        return [finding(
            "multiscale_levels_mismatch",
            f"multiscale_anchor_generator levels {generator.min_level}..{generator.max_level} "
            f"(strides {2**generator.min_level}..{2**generator.max_level}) do not match "
            f"{source}: {where}, i.e. levels {geo.levels[0]}..{geo.levels[-1]}; set "
            f"min_level: {geo.levels[0]} max_level: {geo.levels[-1]}")]
    if n_levels != n_maps:
        if isinstance(generator, SsdAnchorGenerator):
            return [finding("num_layers_mismatch",
                            f"ssd_anchor_generator makes anchors for {n_levels} layer(s) but "
                            f"{where}; set num_layers: {n_maps} (and as many scales, strides "
                            "and offsets as layers where given)")]
        if isinstance(generator, GridAnchorGenerator) and n_maps > 1:
            return [finding("feature_map_count_mismatch",
                            f"grid_anchor_generator covers one feature map but {where}; use "
                            f"multiscale_anchor_generator with min_level: {geo.levels[0]} "
                            f"max_level: {geo.levels[-1]} and normalize_coordinates: false")]
        return [finding("feature_map_count_mismatch",
                        f"{g} has {n_levels} level(s) but {where}; give one per feature map")]
    if isinstance(generator, GridAnchorGenerator) and kind == "faster_rcnn":
        stride = geo.strides[0]
        if tuple(generator.stride) != (float(stride), float(stride)):
            sy, sx = (int(v) if float(v).is_integer() else v for v in generator.stride)
            return [finding(
                "grid_stride_mismatch",
                f"grid_anchor_generator height_stride/width_stride {sy}/{sx} differ from the "
                f"feature-map stride {stride} of {geo.type} (first_stage_features_stride), so "
                f"anchors drift away from their cells (TFOD does not check this); set "
                f"height_stride: {stride} width_stride: {stride}")]
    return []


# --- sizes -----------------------------------------------------------------------------------

def _size_rules(layout: AnchorLayout, policy: str, matched: float) -> list[Finding]:
    out: list[Finding] = []
    H, W = layout.padded_shape
    useless = []
    for level in layout.levels:
        for h, w in level.sizes:
            if policy == "prune" and (h > H or w > W):
                useless.append((level.level, float(h), float(w), 0.0))
            elif policy == "none":
                reach = min(h, H) * min(w, W) / (h * w) if h > 0 and w > 0 else 0.0
                if reach < matched - 1e-6:
                    useless.append((level.level, float(h), float(w), float(reach)))
    if useless:
        lv, h, w, reach = max(useless, key=lambda t: t[1] * t[2])
        if policy == "prune":
            what = "never fits inside the image, so TFOD prunes it at every position"
        else:
            what = (f"cannot reach IoU {matched:g} with any box inside the image (at best "
                    f"{reach:.2f}), so it is never a positive")
        out.append(finding(
            "anchor_too_large",
            f"{len(useless)} anchor shape(s) are too large for the {H}x{W} padded input; the "
            f"largest, {h:.0f}x{w:.0f} px on level {lv}, {what}; reduce the largest scales"))
    candidates = [(float(np.sqrt(h * w)), level, float(h), float(w))
                  for level in layout.levels for h, w in level.sizes if h > 0 and w > 0]
    if candidates:
        _, level, h, w = min(candidates, key=lambda t: t[0])
        (fh, fw), (sy, sx) = level.grid_shape, level.stride
        if (fh > 1 and h < sy) or (fw > 1 and w < sx):
            out.append(finding(
                "anchor_below_stride",
                f"the smallest anchor, {h:.1f}x{w:.1f} px on level {level.level}, is narrower "
                f"than its feature-map stride ({sy:g}x{sx:g} px), so a box of that size centred "
                "between cells reaches IoU < 1/3; raise the smallest scales or use a finer "
                "feature map"))
    return out
