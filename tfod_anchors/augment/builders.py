"""From a ``PreprocessingStep`` message to a numpy step, as TFOD's
``builders/preprocessor_builder.py`` reads it.

One table, :data:`BUILDERS`, maps the oneof field name to a small function that
reads the step's fields (by name, so messages of the bundled schema and of TFOD's
own ``preprocessor_pb2`` both work) and returns a :data:`Step`:
``step(state, streams, inst, key)`` transforms instances ``inst`` in place.

Where TFOD's builder and the proto disagree, TFOD's builder wins, because that is
what trains:

* steps passed through ``_get_dict_from_proto`` see only the fields that are
  *set*; unset ones take the Python function's default, e.g.
  ``random_downscale_to_target_pixels`` has ``max_target_pixels`` 800000 when
  unset (the proto says 500000);
* ``random_absolute_pad_image`` turns a padding of 0 into 1;
* the ``ssd_*`` steps without ``operations`` use the function defaults (7
  settings, or 6 for ``ssd_random_crop_pad``);
* ``ssd_random_crop_fixed_aspect_ratio`` always clips in its aspect-ratio crop.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..errors import ConfigError
from . import basic, crops, pads
from .crops import CropSettings, crop_settings
from .state import State
from .streams import Streams

Step = Callable[[State, Streams, np.ndarray, object], None]

_SSD_COVERED = (0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0)


def _set_or(msg: Any, name: str, default: Any) -> Any:
    """A field's value when set, else the Python function's default (TFOD's
    ``_get_dict_from_proto`` passes set fields only)."""
    return getattr(msg, name) if msg.HasField(name) else default


def _flip(fn: Callable[..., None]) -> Callable[[Any], Step]:
    def build(msg: Any) -> Step:
        probability = float(msg.probability)
        return lambda state, streams, inst, key: fn(state, streams, inst, probability, key)
    return build


def _image_scale(msg: Any) -> Step:
    lo = float(_set_or(msg, "min_scale_ratio", 0.5))
    hi = float(_set_or(msg, "max_scale_ratio", 2.0))
    return lambda s, r, i, k: basic.image_scale(s, r, i, lo, hi, k)


def _crop_row(op: Any, aspect: tuple[float, float] | None = None) -> dict:
    lo, hi = aspect if aspect is not None else (op.min_aspect_ratio, op.max_aspect_ratio)
    return {"min_object_covered": op.min_object_covered, "min_aspect_ratio": lo,
            "max_aspect_ratio": hi, "min_area": op.min_area, "max_area": op.max_area,
            "overlap_thresh": op.overlap_thresh, "clip_boxes": bool(op.clip_boxes),
            "random_coef": op.random_coef}


def _default_rows(covered: tuple[float, ...], aspect: tuple[float, float],
                  **extra: Any) -> list[dict]:
    return [{"min_object_covered": c, "min_aspect_ratio": aspect[0],
             "max_aspect_ratio": aspect[1], "min_area": 0.1, "max_area": 1.0,
             "overlap_thresh": c, "clip_boxes": True, "random_coef": 0.15, **extra}
            for c in covered]


def _random_crop_image(msg: Any) -> Step:
    settings = crop_settings([_crop_row(msg)])

    def step(state: State, streams: Streams, inst: np.ndarray, key: object) -> None:
        crops.random_crop(state, streams, inst, settings,
                          np.zeros(inst.size, dtype=np.int64), key)
    return step


def _pair(values: Any, default: tuple[float, float], what: str) -> tuple[float, float]:
    values = list(values)
    if not values:
        return default
    if len(values) != 2:
        raise ConfigError(f"{what} should have 2 elements if set, got {len(values)} "
                          "(TFOD's builder rejects it)")
    return (float(values[0]), float(values[1]))


def _random_crop_pad_image(msg: Any) -> Step:
    row = _crop_row(msg)
    row["min_padded_size_ratio"] = _pair(msg.min_padded_size_ratio, (1.0, 1.0),
                                         "min_padded_size_ratio")
    row["max_padded_size_ratio"] = _pair(msg.max_padded_size_ratio, (2.0, 2.0),
                                         "max_padded_size_ratio")
    settings = crop_settings([row], with_pad=True)

    def step(state: State, streams: Streams, inst: np.ndarray, key: object) -> None:
        crops.crop_pad(state, streams, inst, settings, np.zeros(inst.size, dtype=np.int64), key)
    return step


def _both_or_none(msg: Any, first: str, second: str) -> tuple[int, int] | None:
    if msg.HasField(first) != msg.HasField(second):
        raise ConfigError(f"random_pad_image: {first} and {second} should be either both "
                          "set or both unset (TFOD's builder rejects it)")
    if not msg.HasField(first):
        return None
    return (int(getattr(msg, first)), int(getattr(msg, second)))


def _random_pad_image(msg: Any) -> Step:
    lo = _both_or_none(msg, "min_image_height", "min_image_width")
    hi = _both_or_none(msg, "max_image_height", "max_image_width")

    def step(state: State, streams: Streams, inst: np.ndarray, key: object) -> None:
        def sizes(pair):
            return None if pair is None else np.tile(np.array([pair], np.int64), (inst.size, 1))
        pads.pad_image(state, streams, inst, sizes(lo), sizes(hi), key)
    return step


def _random_absolute_pad_image(msg: Any) -> Step:
    extra = np.array([int(msg.max_height_padding) or 1, int(msg.max_width_padding) or 1],
                     dtype=np.int64)

    def step(state: State, streams: Streams, inst: np.ndarray, key: object) -> None:
        size = np.stack([state.height[inst], state.width[inst]], axis=1)
        pads.pad_image(state, streams, inst, size, size + extra, key)
    return step


def _random_crop_to_aspect_ratio(msg: Any) -> Step:
    ar = float(_set_or(msg, "aspect_ratio", 1.0))
    overlap = float(_set_or(msg, "overlap_thresh", 0.3))
    clip = bool(_set_or(msg, "clip_boxes", True))
    return lambda s, r, i, k: crops.crop_to_aspect_ratio(s, r, i, ar, overlap, clip, k)


def _resize(fields: tuple[str, str]) -> Callable[[Any], Step]:
    def build(msg: Any) -> Step:
        h, w = int(getattr(msg, fields[0])), int(getattr(msg, fields[1]))
        if h <= 0 or w <= 0:
            raise ConfigError(f"{msg.DESCRIPTOR.name}: {fields[0]} and {fields[1]} must be "
                              f"positive, got {h}x{w} (TFOD cannot resize to zero pixels)")
        return lambda s, r, i, k: basic.resize_to(s, i, h, w)
    return build


def _scale_to_pixels(msg: Any) -> Step:
    del msg
    return lambda s, r, i, k: basic.scale_to_pixels(s, i)


def _ssd_settings(msg: Any, default_covered: tuple[float, ...],
                  aspect: tuple[float, float] | None = None) -> CropSettings:
    if msg.operations:
        return crop_settings([_crop_row(op, aspect) for op in msg.operations])
    return crop_settings(_default_rows(default_covered, aspect or (0.5, 2.0)))


def _ssd_random_crop(msg: Any) -> Step:
    settings = _ssd_settings(msg, _SSD_COVERED)
    return lambda s, r, i, k: crops.ssd_crop(s, r, i, settings, k)


def _ssd_random_crop_pad(msg: Any) -> Step:
    if msg.operations:
        rows = []
        for op in msg.operations:
            row = _crop_row(op)
            row["min_padded_size_ratio"] = _pair(op.min_padded_size_ratio, (1.0, 1.0),
                                                 "min_padded_size_ratio")
            row["max_padded_size_ratio"] = _pair(op.max_padded_size_ratio, (2.0, 2.0),
                                                 "max_padded_size_ratio")
            rows.append(row)
    else:
        rows = _default_rows(_SSD_COVERED[1:], (0.5, 2.0), min_padded_size_ratio=(1.0, 1.0),
                             max_padded_size_ratio=(2.0, 2.0))
    settings = crop_settings(rows, with_pad=True)
    return lambda s, r, i, k: crops.ssd_crop_pad(s, r, i, settings, k)


def _ssd_random_crop_fixed_aspect_ratio(msg: Any) -> Step:
    ar = float(msg.aspect_ratio) if msg.operations else 1.0
    settings = _ssd_settings(msg, _SSD_COVERED, aspect=(ar, ar))

    def step(state: State, streams: Streams, inst: np.ndarray, key: object) -> None:
        crops.ssd_crop(state, streams, inst, settings, key)
        crops.crop_to_aspect_ratio(state, streams, inst, ar, 0.3, True, (key, "aspect"))
    return step


def _ssd_random_crop_pad_fixed_aspect_ratio(msg: Any) -> Step:
    ar = float(msg.aspect_ratio) if msg.aspect_ratio else 1.0
    lo = _pair(msg.min_padded_size_ratio, (1.0, 1.0), "min_padded_size_ratio")
    hi = _pair(msg.max_padded_size_ratio, (2.0, 2.0), "max_padded_size_ratio")
    settings = _ssd_settings(msg, _SSD_COVERED)

    def step(state: State, streams: Streams, inst: np.ndarray, key: object) -> None:
        crops.ssd_crop(state, streams, inst, settings, key)
        pads.pad_to_aspect_ratio(state, streams, inst, ar, lo, hi, (key, "pad"))
    return step


def _random_jitter_boxes(msg: Any) -> Step:
    field = msg.DESCRIPTOR.fields_by_name["jitter_mode"]
    value = field.enum_type.values_by_number.get(int(msg.jitter_mode))
    mode = value.name.lower() if value is not None else str(msg.jitter_mode)
    if mode not in basic.JITTER_RANGES:
        raise ConfigError(f"random_jitter_boxes: unknown jitter_mode {mode!r}")
    ratio = float(msg.ratio)
    return lambda s, r, i, k: basic.jitter_boxes(s, r, i, ratio, mode, k)


def _random_self_concat_image(msg: Any) -> Step:
    pv, ph = float(msg.concat_vertical_probability), float(msg.concat_horizontal_probability)
    return lambda s, r, i, k: basic.self_concat(s, r, i, pv, ph, k)


def _drop_label(msg: Any) -> Step:
    label, p = int(msg.label), float(msg.drop_probability)
    return lambda s, r, i, k: basic.drop_label(s, r, i, label, p, k)


def _remap_labels(msg: Any) -> Step:
    original, new = [int(v) for v in msg.original_labels], int(msg.new_label)
    return lambda s, r, i, k: basic.remap_labels(s, i, original, new)


def _downscale(msg: Any) -> Step:
    coef = float(_set_or(msg, "random_coef", 0.0))
    lo = int(_set_or(msg, "min_target_pixels", 300000))
    hi = int(_set_or(msg, "max_target_pixels", 800000))
    if lo <= 0 or hi <= 0 or hi <= lo:
        raise ConfigError("random_downscale_to_target_pixels: need 0 < min_target_pixels < "
                          f"max_target_pixels, got {lo} and {hi}")
    return lambda s, r, i, k: basic.downscale_to_target_pixels(s, r, i, coef, lo, hi, k)


def _square_crop_by_scale(msg: Any) -> Step:
    border, lo, hi, n = (int(msg.max_border), float(msg.scale_min), float(msg.scale_max),
                         int(msg.num_scales))
    if n <= 0 or border <= 0:
        raise ConfigError("random_square_crop_by_scale: num_scales and max_border must be "
                          f"positive, got {n} and {border}")
    return lambda s, r, i, k: crops.square_crop_by_scale(s, r, i, border, lo, hi, n, k)


def _scale_crop_pad_square(msg: Any) -> Step:
    out, lo, hi = int(msg.output_size), float(msg.scale_min), float(msg.scale_max)
    if out <= 0:
        raise ConfigError(f"random_scale_crop_and_pad_to_square: output_size must be "
                          f"positive, got {out}")
    return lambda s, r, i, k: crops.scale_crop_pad_square(s, r, i, out, lo, hi, k)


#: oneof field name -> builder, for every step that changes the boxes or the image size.
BUILDERS: dict[str, Callable[[Any], Step]] = {
    "random_horizontal_flip": _flip(basic.horizontal_flip),
    "random_vertical_flip": _flip(basic.vertical_flip),
    "random_rotation90": _flip(basic.rotation90),
    "random_image_scale": _image_scale,
    "random_jitter_boxes": _random_jitter_boxes,
    "random_crop_image": _random_crop_image,
    "random_pad_image": _random_pad_image,
    "random_crop_pad_image": _random_crop_pad_image,
    "random_crop_to_aspect_ratio": _random_crop_to_aspect_ratio,
    "random_resize_method": _resize(("target_height", "target_width")),
    "scale_boxes_to_pixel_coordinates": _scale_to_pixels,
    "resize_image": _resize(("new_height", "new_width")),
    "ssd_random_crop": _ssd_random_crop,
    "ssd_random_crop_pad": _ssd_random_crop_pad,
    "ssd_random_crop_fixed_aspect_ratio": _ssd_random_crop_fixed_aspect_ratio,
    "ssd_random_crop_pad_fixed_aspect_ratio": _ssd_random_crop_pad_fixed_aspect_ratio,
    "random_absolute_pad_image": _random_absolute_pad_image,
    "random_self_concat_image": _random_self_concat_image,
    "drop_label_probabilistically": _drop_label,
    "remap_labels": _remap_labels,
    "random_downscale_to_target_pixels": _downscale,
    "random_square_crop_by_scale": _square_crop_by_scale,
    "random_scale_crop_and_pad_to_square": _scale_crop_pad_square,
}
