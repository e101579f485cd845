"""Every SSD and Faster R-CNN feature extractor TFOD registers, and its feature maps.

TFOD generates anchors for the feature maps the extractor really produces, so
the anchor layout depends on each network's strides and padding. Most networks
use SAME padding, where a stride-``s`` map of an ``H``-pixel input has
``ceil(H / s)`` cells; Inception v3 and the NASNet/PNASNet stems start with
VALID convolutions and are smaller. Extractors fall into families:

* ``multires`` (SSD): two or three maps taken from the backbone, then extra
  stride-2 layers (``ceil(x / 2)``) up to 6 maps (5 for embedded MobileNet);
  ``num_layers`` cuts the list where the extractor accepts it.
* ``ppn`` (SSD): one stride-16 map, then stride-2 max pools.
* ``fpn`` / ``bifpn`` / ``mnasfpn`` (SSD) and ``frcnn_fpn``: one map per pyramid
  level ``l`` (stride ``2**l``); levels come from the config's ``fpn``/``bifpn``
  block, else the class defaults. The top-down path adds a 2x upsampled map to
  the next finer one, so those sizes must be even (TFOD fails to build the graph
  otherwise) unless the extractor crops (``use_explicit_padding``).
* ``frcnn`` (Faster R-CNN): one map at ``first_stage_features_stride``.

SSD extractors pad their input internally to ``pad_to_multiple`` first; the
Keras FPN Faster R-CNN extractor always pads to 32 (the builder does not pass
the config's value). Sizes here were checked against TFOD's own extractors
built in TensorFlow for many input sizes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .grid import FASTER_RCNN, SSD


def ceil_div(x: int, s: int) -> int:
    return -(-int(x) // int(s))


def same_size(x: int, stride: int) -> int:
    """Cells of a stride-``stride`` map of a SAME-padded network."""
    return ceil_div(x, stride)


def nas_stem_size(x: int, stride: int) -> int:
    """NASNet/PNASNet: a VALID 3x3 stride-2 stem, then SAME stride-2 cells."""
    stem = (int(x) - 3) // 2 + 1
    return ceil_div(stem, stride // 2) if stem > 0 else 0


def _valid(x: int, k: int, s: int) -> int:
    return (x - k) // s + 1


def inception_v3_size(x: int, stride: int) -> int:
    """Inception v3 (VALID stem and reduction blocks): Mixed_5d (8), 6e (16), 7c (32)."""
    x = _valid(int(x), 3, 2) - 2          # Conv2d_1a_3x3 (s2), Conv2d_2a_3x3
    x = _valid(x, 3, 2) - 2               # MaxPool_3a_3x3 (s2), Conv2d_4a_3x3
    x = _valid(x, 3, 2)                   # MaxPool_5a_3x3 (s2): stride 8
    for _ in range({8: 0, 16: 1, 32: 2}[stride]):
        x = _valid(x, 3, 2)               # Mixed_6a / Mixed_7a
    return max(x, 0)


SIZE_RULES: dict[str, Callable[[int, int], int]] = {
    "same": same_size,
    "nas_stem": nas_stem_size,
    "inception_v3": inception_v3_size,
}


@dataclass(frozen=True)
class ExtractorSpec:
    """What TFOD's extractor class of one ``type`` does to the geometry.

    Attributes:
        type: the config's ``feature_extractor.type``.
        meta_architecture: ``"ssd"`` or ``"faster_rcnn"``.
        tf_version: 1 (slim, TF1 map) or 2 (Keras, TF2 map).
        family: ``multires``, ``ppn``, ``fpn``, ``bifpn``, ``mnasfpn``, ``spaghettinet``,
            ``frcnn`` or ``frcnn_fpn``.
        base_strides: multires/ppn: strides of the maps taken from the backbone.
        max_maps: multires/ppn/spaghettinet: maps of the full layout.
        num_layers_configurable: the class honours ``num_layers``.
        size_rule: key of :data:`SIZE_RULES`.
        min_input: TFOD's minimum input height/width (``check_min_image_dim``), 1 if none.
        exact_input: the only accepted input side (embedded MobileNet v1: 256).
        default_levels: pyramid levels used when the config has no ``fpn``/``bifpn`` block.
        fixed_levels: levels the class insists on (MnasFPN: 3..6).
        allowed_strides: Faster R-CNN ``first_stage_features_stride`` values accepted.
        fixed_stride: the map stride when the backbone ignores the configured one.
        internal_pad: padding multiple the class applies regardless of the config.
        crops_top_down: the FPN crops upsampled maps with ``use_explicit_padding``.
        explicit_padding_allowed: False when the class rejects ``use_explicit_padding``.
    """

    type: str
    meta_architecture: str
    tf_version: int
    family: str
    base_strides: tuple[int, ...] = ()
    max_maps: int = 0
    num_layers_configurable: bool = False
    size_rule: str = "same"
    min_input: int = 1
    exact_input: int | None = None
    default_levels: tuple[int, int] | None = None
    fixed_levels: tuple[int, int] | None = None
    allowed_strides: tuple[int, ...] = ()
    fixed_stride: int | None = None
    internal_pad: int | None = None
    crops_top_down: bool = False
    explicit_padding_allowed: bool = True


def _ssd_multires(type_: str, tf: int, strides=(16, 32), maps=6, layers=True,
                  rule="same", min_input=33, **kw) -> ExtractorSpec:
    return ExtractorSpec(type_, SSD, tf, "multires", base_strides=tuple(strides), max_maps=maps,
                         num_layers_configurable=layers, size_rule=rule, min_input=min_input,
                         **kw)


def _ssd_fpn(type_: str, tf: int, min_input: int, crops: bool = True) -> ExtractorSpec:
    return ExtractorSpec(type_, SSD, tf, "fpn", min_input=min_input, default_levels=(3, 7),
                         crops_top_down=crops, explicit_padding_allowed=crops)


def _frcnn(type_: str, tf: int, strides=(8, 16), fixed=None, rule="same",
           min_input=1) -> ExtractorSpec:
    return ExtractorSpec(type_, FASTER_RCNN, tf, "frcnn", allowed_strides=tuple(strides),
                         fixed_stride=fixed, size_rule=rule, min_input=min_input)


_SPECS: list[ExtractorSpec] = [
    # SSD, TF1 (slim)
    _ssd_multires("ssd_inception_v2", 1),
    _ssd_multires("ssd_inception_v3", 1, strides=(8, 16, 32), rule="inception_v3"),
    _ssd_multires("ssd_mobilenet_v1", 1),
    _ssd_multires("ssd_mobilenet_v2", 1),
    _ssd_multires("ssd_mobilenet_v3_large", 1, layers=False),
    _ssd_multires("ssd_mobilenet_v3_small", 1, layers=False),
    _ssd_multires("ssd_mobilenet_v3_small_pruned", 1, layers=False),
    _ssd_multires("ssd_mobilenet_edgetpu", 1, layers=False),
    _ssd_multires("ssd_mobiledet_cpu", 1, layers=False),
    _ssd_multires("ssd_mobiledet_dsp", 1, layers=False),
    _ssd_multires("ssd_mobiledet_edgetpu", 1, layers=False),
    _ssd_multires("ssd_mobiledet_gpu", 1, layers=False),
    _ssd_multires("ssd_pnasnet", 1, rule="nas_stem", min_input=1),
    _ssd_multires("embedded_ssd_mobilenet_v1", 1, maps=5, layers=False, min_input=256,
                  exact_input=256),
    ExtractorSpec("ssd_mobilenet_v1_ppn", SSD, 1, "ppn", base_strides=(16,), max_maps=6,
                  min_input=33),
    *[ExtractorSpec(f"ssd_resnet{d}_v1_ppn", SSD, 1, "ppn", base_strides=(16,), max_maps=6,
                    num_layers_configurable=True, min_input=129) for d in (50, 101, 152)],
    _ssd_fpn("ssd_mobilenet_v1_fpn", 1, 33),
    _ssd_fpn("ssd_mobilenet_v2_fpn", 1, 33),
    *[_ssd_fpn(f"ssd_resnet{d}_v1_fpn", 1, 129, crops=False) for d in (50, 101, 152)],
    ExtractorSpec("ssd_mobilenet_v2_mnasfpn", SSD, 1, "mnasfpn", min_input=33,
                  default_levels=(3, 6), fixed_levels=(3, 6)),
    ExtractorSpec("ssd_spaghettinet", SSD, 1, "spaghettinet", base_strides=(16, 32, 64, 128, 128),
                  max_maps=5, min_input=33),
    # SSD, TF2 (Keras)
    _ssd_multires("ssd_mobilenet_v1_keras", 2),
    _ssd_multires("ssd_mobilenet_v2_keras", 2),
    _ssd_fpn("ssd_mobilenet_v1_fpn_keras", 2, 33),
    _ssd_fpn("ssd_mobilenet_v2_fpn_keras", 2, 33),
    *[_ssd_fpn(f"ssd_resnet{d}_v1_fpn_keras", 2, 129, crops=False) for d in (50, 101, 152)],
    *[ExtractorSpec(f"ssd_efficientnet-b{i}_bifpn_keras", SSD, 2, "bifpn", min_input=129,
                    default_levels=(3, 7), explicit_padding_allowed=False) for i in range(8)],
    # Faster R-CNN, TF1 (slim)
    *[_frcnn(f"faster_rcnn_resnet{d}", 1, min_input=33) for d in (50, 101, 152)],
    _frcnn("faster_rcnn_inception_v2", 1, fixed=16, min_input=33),
    _frcnn("faster_rcnn_inception_resnet_v2", 1),
    _frcnn("faster_rcnn_nas", 1, strides=(16,), rule="nas_stem"),
    _frcnn("faster_rcnn_pnas", 1, strides=(16,), rule="nas_stem"),
    # Faster R-CNN, TF2 (Keras)
    *[_frcnn(f"faster_rcnn_resnet{d}_keras", 2, strides=(16,)) for d in (50, 101, 152)],
    _frcnn("faster_rcnn_inception_resnet_v2_keras", 2),
    *[ExtractorSpec(f"faster_rcnn_resnet{d}_fpn_keras", FASTER_RCNN, 2, "frcnn_fpn",
                    allowed_strides=(8, 16), default_levels=(2, 6), internal_pad=32)
      for d in (50, 101, 152)],
]

REGISTRY: dict[str, ExtractorSpec] = {spec.type: spec for spec in _SPECS}


def lookup(extractor_type: str) -> ExtractorSpec | None:
    """The spec of a ``feature_extractor.type``, or None when TFOD has no such extractor."""
    return REGISTRY.get(extractor_type)


@dataclass(frozen=True)
class ExtractorFinding:
    """Something about the extractor settings that TFOD rejects or mishandles."""

    code: str
    message: str


@dataclass
class ExtractorGeometry:
    """Feature maps of one extractor for one padded input.

    Attributes:
        type: ``feature_extractor.type`` as configured.
        spec: registry entry, None for an unknown type (then no maps).
        input_shape: ``(H, W)`` the extractor receives (resizer output).
        network_shape: ``(H, W)`` after the extractor's internal padding.
        feature_map_shapes: ``[(fh, fw)]`` in TFOD's order.
        strides: nominal stride of each map in pixels.
        levels: pyramid levels (``log2`` of the nominal stride).
        pyramid_levels: ``(min, max)`` of an FPN/BiFPN/MnasFPN, else None.
        problems: what TFOD would reject or mishandle (the rules report them).
    """

    type: str
    spec: ExtractorSpec | None
    input_shape: tuple[int, int]
    network_shape: tuple[int, int]
    feature_map_shapes: list[tuple[int, int]] = field(default_factory=list)
    strides: list[int] = field(default_factory=list)
    levels: list[int] = field(default_factory=list)
    pyramid_levels: tuple[int, int] | None = None
    problems: list[ExtractorFinding] = field(default_factory=list)

    @property
    def known(self) -> bool:
        return self.spec is not None


def _pad(x: int, multiple: int) -> int:
    return ceil_div(x, multiple) * multiple if multiple > 1 else int(x)


def _pyramid_levels(spec: ExtractorSpec, extractor: Any) -> tuple[int, int]:
    """Levels the class will build: the config's block when present, else class defaults."""
    field_name = "bifpn" if spec.family == "bifpn" else "fpn"
    if _has(extractor, field_name):
        block = getattr(extractor, field_name)
        return int(block.min_level), int(block.max_level)
    return spec.default_levels  # type: ignore[return-value]


def _has(msg: Any, name: str) -> bool:
    try:
        return bool(msg.HasField(name))
    except ValueError:
        return False


def _odd_upsample_levels(side: int, lo: int, hi: int) -> list[int]:
    """Levels ``l`` in ``[lo, hi)`` whose map is odd, so ``2 * size(l + 1) != size(l)``."""
    return [lv for lv in range(lo, hi) if same_size(side, 2**lv) % 2]


def extractor_geometry(
    meta_architecture: str, extractor: Any, input_shape: tuple[int, int]
) -> ExtractorGeometry:
    """Feature maps TFOD's extractor produces for an input of ``input_shape``.

    Args:
        meta_architecture: ``"ssd"`` or ``"faster_rcnn"``.
        extractor: the ``SsdFeatureExtractor`` / ``FasterRcnnFeatureExtractor`` message.
        input_shape: ``(H, W)`` of the resizer output (padded image).
    """
    type_ = str(extractor.type)
    spec = REGISTRY.get(type_)
    h, w = int(input_shape[0]), int(input_shape[1])
    geo = ExtractorGeometry(type_, None, (h, w), (h, w))
    if spec is None or spec.meta_architecture != meta_architecture:
        geo.problems.append(_unknown(type_, meta_architecture, spec))
        return geo
    geo.spec = spec
    if spec.exact_input is not None and (h, w) != (spec.exact_input, spec.exact_input):
        geo.problems.append(ExtractorFinding(
            "input_size_not_accepted",
            f"{type_} accepts only {spec.exact_input}x{spec.exact_input} inputs, got {h}x{w}; "
            f"use fixed_shape_resizer {{ height: {spec.exact_input} width: {spec.exact_input} }}"))
    elif min(h, w) < spec.min_input:
        geo.problems.append(ExtractorFinding(
            "input_below_extractor_minimum",
            f"{type_} needs inputs of at least {spec.min_input} pixels per side, got {h}x{w}; "
            "make the image resizer produce larger images"))
    if meta_architecture == SSD:
        _ssd_maps(spec, extractor, geo)
    else:
        _frcnn_maps(spec, extractor, geo)
    if any(min(s) <= 0 for s in geo.feature_map_shapes) and not any(
            p.code.startswith("input_") for p in geo.problems):
        geo.problems.append(ExtractorFinding(
            "input_below_extractor_minimum",
            f"{type_} has an empty feature map for a {h}x{w} input; use larger inputs"))
    return geo


def _unknown(type_: str, meta: str, spec: ExtractorSpec | None) -> ExtractorFinding:
    if spec is not None:
        return ExtractorFinding("extractor_wrong_meta_architecture",
                       f"feature extractor {type_!r} belongs to {spec.meta_architecture}, not "
                       f"{meta}; pick one of the {meta} extractors")
    return ExtractorFinding("unknown_extractor",
                   f"feature extractor type {type_!r} is not one TFOD registers for {meta}; "
                   "anchor positions cannot be checked against its feature maps")


def _ssd_maps(spec: ExtractorSpec, extractor: Any, geo: ExtractorGeometry) -> None:
    pad = int(getattr(extractor, "pad_to_multiple", 1) or 1)
    explicit = bool(getattr(extractor, "use_explicit_padding", False))
    ph, pw = _pad(geo.input_shape[0], pad), _pad(geo.input_shape[1], pad)
    geo.network_shape = (ph, pw)
    size = SIZE_RULES[spec.size_rule]
    has_pyramid = _has(extractor, "fpn") or _has(extractor, "bifpn")
    if spec.family in ("multires", "ppn", "spaghettinet"):
        if has_pyramid:
            geo.problems.append(ExtractorFinding(
                "pyramid_not_supported",
                f"{spec.type} takes no fpn/bifpn block (TFOD fails to build it); remove it"))
        count = spec.max_maps
        if _has(extractor, "num_layers") and spec.num_layers_configurable:
            count = max(0, min(int(extractor.num_layers), spec.max_maps))
        strides = list(spec.base_strides)
        while len(strides) < spec.max_maps:
            strides.append(strides[-1] * 2)
        shapes = []
        for index, stride in enumerate(strides[:count]):
            if index < len(spec.base_strides):
                shapes.append((size(ph, stride), size(pw, stride)))
            else:
                prev = shapes[-1]
                shapes.append((ceil_div(prev[0], 2), ceil_div(prev[1], 2)))
        geo.feature_map_shapes = shapes
        geo.strides = strides[:count]
        geo.levels = [s.bit_length() - 1 for s in geo.strides]
        return
    lo, hi = _pyramid_levels(spec, extractor)
    if spec.fixed_levels is not None and (lo, hi) != spec.fixed_levels:
        geo.problems.append(ExtractorFinding(
            "pyramid_levels_not_accepted",
            f"{spec.type} only supports levels {spec.fixed_levels[0]}..{spec.fixed_levels[1]} "
            f"(got {lo}..{hi}); set fpn min_level/max_level to those"))
        lo, hi = spec.fixed_levels
    _pyramid(spec, geo, lo, hi, crops=spec.crops_top_down and explicit)
    if explicit and not spec.explicit_padding_allowed:
        geo.problems.append(ExtractorFinding(
            "explicit_padding_not_accepted",
            f"{spec.type} rejects use_explicit_padding: true; remove it"))


def _pyramid(spec: ExtractorSpec, geo: ExtractorGeometry, lo: int, hi: int, crops: bool) -> None:
    ph, pw = geo.network_shape
    geo.pyramid_levels = (lo, hi)
    if lo < 2 and spec.family in ("fpn", "frcnn_fpn"):
        geo.problems.append(ExtractorFinding(
            "pyramid_levels_not_accepted",
            f"{spec.type} builds its FPN from level 2 up (min_level {lo}); set min_level >= 2"))
        lo = 2
    if hi < lo:
        geo.problems.append(ExtractorFinding(
            "pyramid_levels_not_accepted",
            f"{spec.type}: fpn max_level {hi} is below min_level {lo}; fix the levels"))
        return
    levels = list(range(lo, hi + 1))
    geo.levels = levels
    geo.strides = [2**lv for lv in levels]
    backbone_top = 5
    shapes = []
    for lv in levels:
        if lv <= backbone_top or spec.family in ("mnasfpn", "bifpn"):
            shapes.append((same_size(ph, 2**lv), same_size(pw, 2**lv)))
        else:
            prev = shapes[-1]
            shapes.append((ceil_div(prev[0], 2), ceil_div(prev[1], 2)))
    geo.feature_map_shapes = shapes
    top = hi if spec.family in ("bifpn", "mnasfpn") else min(hi, backbone_top)
    if not crops:
        odd = sorted(set(_odd_upsample_levels(ph, lo, top) + _odd_upsample_levels(pw, lo, top)))
        if odd:
            geo.problems.append(ExtractorFinding(
                "pyramid_input_not_divisible",
                f"{spec.type} adds 2x-upsampled maps level by level, but for a {ph}x{pw} "
                f"network input the level-{odd[0]} map has an odd size, so TFOD fails to build "
                f"the model; make the input a multiple of {2**top} (pad_to_max_dimension, "
                f"fixed_shape_resizer or pad_to_multiple: {2**top})"))


def _frcnn_maps(spec: ExtractorSpec, extractor: Any, geo: ExtractorGeometry) -> None:
    stride = int(getattr(extractor, "first_stage_features_stride", 16))
    if stride not in spec.allowed_strides:
        allowed = " or ".join(str(s) for s in spec.allowed_strides)
        geo.problems.append(ExtractorFinding(
            "stride_not_allowed",
            f"{spec.type} accepts first_stage_features_stride {allowed}, not {stride}; "
            f"set it to {spec.allowed_strides[-1]}"))
    if spec.family == "frcnn_fpn":
        pad = spec.internal_pad or 1
        geo.network_shape = (_pad(geo.input_shape[0], pad), _pad(geo.input_shape[1], pad))
        lo, hi = _pyramid_levels(spec, extractor)
        _pyramid(spec, geo, lo, hi, crops=False)
        return
    if spec.fixed_stride is not None:
        if stride != spec.fixed_stride and stride in spec.allowed_strides:
            geo.problems.append(ExtractorFinding(
                "stride_ignored",
                f"{spec.type} accepts first_stage_features_stride {stride} but its feature map "
                f"stays at stride {spec.fixed_stride}; set it to {spec.fixed_stride} (and the "
                f"anchor stride to {spec.fixed_stride})"))
        stride = spec.fixed_stride
    elif stride not in spec.allowed_strides:
        stride = spec.allowed_strides[-1]
    size = SIZE_RULES[spec.size_rule]
    h, w = geo.network_shape
    geo.feature_map_shapes = [(size(h, stride), size(w, stride))]
    geo.strides = [stride]
    geo.levels = [stride.bit_length() - 1]


def known_types(meta_architecture: str | None = None) -> list[str]:
    """Registered types, optionally only those of one meta-architecture."""
    return sorted(t for t, s in REGISTRY.items()
                  if meta_architecture is None or s.meta_architecture == meta_architecture)
