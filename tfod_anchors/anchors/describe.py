"""What the ``anchors`` command shows and exports for one original image size.

:func:`describe_anchors` puts the resizer, the feature maps and the generator of
:mod:`.model` into one JSON-ready description; :func:`export_anchors` writes TFOD's
own anchor list as ``.npy`` or ``.csv``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tfod_anchors.anchors.model import model_anchors, resized_shapes
from tfod_anchors.errors import UsageError, WriteError


def _outside(boxes: np.ndarray, padded: tuple[int, int]) -> int:
    """Anchors with any corner outside ``[0, 0, H, W]`` (TFOD's strict prune test)."""
    out = ((boxes[:, 0] < 0) | (boxes[:, 1] < 0) | (boxes[:, 2] > padded[0])
           | (boxes[:, 3] > padded[1]))
    return int(out.sum())


FALLBACK_IMAGE_SIZE = (640, 640)


def default_image_size(cfg: Any, family: str = "") -> tuple[int, int]:
    """An original size that shows the config's usual input: the resizer's fixed
    output, ``min x max`` for keep-aspect resizers, else 640x640."""
    from tfod_anchors.config import query as cq
    from tfod_anchors.errors import ConfigError
    from tfod_anchors.resize import build_resizer

    resizer_msg = cq.image_resizer(cfg)
    if resizer_msg is None:
        raise ConfigError(f"model {family or '(none)'} has no image_resizer")
    resizer = build_resizer(resizer_msg)
    static = resizer.static_shape
    if static is not None:
        return int(static[0]), int(static[1])
    if resizer_msg.WhichOneof("image_resizer_oneof") == "keep_aspect_ratio_resizer":
        keep = resizer_msg.keep_aspect_ratio_resizer
        return int(keep.min_dimension), int(keep.max_dimension)
    return FALLBACK_IMAGE_SIZE


def describe_anchors(model: Any, image_size: tuple[int, int]) -> dict[str, Any]:
    """The ``anchors`` command's JSON object for one original image size ``(h, w)``.

    Keys: ``image_size``, ``resized_shape`` (true), ``padded_shape``,
    ``feature_map_shapes``, ``anchors_per_location``, ``num_anchors``, plus
    ``meta_architecture``, ``anchor_generator``, ``feature_extractor``, ``units``,
    ``window_policy``, ``num_anchors_outside_image``, ``levels`` (per feature map:
    shape, stride, offset, count) and ``per_location`` (one row per anchor shape:
    ``level``, ``height``/``width`` in pixels, ``scale``, ``aspect_ratio`` as
    configured and ``pixel_aspect_ratio`` = width / height), and ``notes``.
    """
    from tfod_anchors.frameworks import as_spec

    cfg = as_spec(model).config  # a TFOD spec or config: this description is TFOD's
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


def export_anchors(arr: np.ndarray, path: str | Path, what: str = "anchors") -> Path:
    """Write anchors ``[A, 4]`` (``ymin, xmin, ymax, xmax``) as float32 ``.npy`` or ``.csv``
    (``stats --export`` writes boxes the same way; ``what`` names them in errors).

    Raises:
        UsageError: not an ``[A, 4]`` array, or a suffix other than .npy/.csv.
        WriteError: the file could not be written.
    """
    arr = np.asarray(arr, dtype=np.float32)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise UsageError(f"{what} must be an [A, 4] array, got shape {arr.shape}")
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
        raise WriteError(f"cannot write {what}: {err.strerror or err}", path=str(path)) from None
    return path
