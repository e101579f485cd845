"""``tfod-anchors stats``: box statistics in the pixels the model sees.

The statistics are the result (stdout); progress and ``wrote FILE`` go to stderr.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from tfod_anchors import pipeline
from tfod_anchors.boxes import BoxSet, ResizedBoxes
from tfod_anchors.commands._common import (
    add_output_arguments,
    add_source_arguments,
    emit_json,
    fmt,
    load,
    out,
    say,
    skipped_lines,
    source_options,
    table,
)
from tfod_anchors.coverage.metrics import SIZE_BANDS
from tfod_anchors.errors import EXIT_OK
from tfod_anchors.sources.raw import SKIP_KEYS

HELP = "box statistics in resized pixels"
PERCENTILES = (1, 5, 25, 50, 75, 95, 99)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="CONFIG",
                        help="use this config's resizer (otherwise original pixels)")
    parser.add_argument("--plot", metavar="FILE.png", help="write a w/h scatter plot")
    add_source_arguments(parser, required=True)
    add_output_arguments(parser)


def original_pixels(boxset: BoxSet) -> ResizedBoxes:
    """Boxes in pixels of the original images (no resizer: the 'identity' view)."""
    shape = np.stack([boxset.image_height, boxset.image_width], axis=1).astype(np.int32)
    scale = shape.astype(np.float64)[boxset.box_image]
    boxes = boxset.boxes.astype(np.float64) * np.concatenate([scale, scale], axis=1)
    return ResizedBoxes(shape, shape, boxset.box_image, boxes, boxset.label)


def distribution(values: np.ndarray) -> dict[str, float | None]:
    """min / mean / percentiles / max of a 1-D array (None when empty)."""
    if values.size == 0:
        return {"min": None, "mean": None, **{f"p{p}": None for p in PERCENTILES}, "max": None}
    pct = np.percentile(values, PERCENTILES)
    return {"min": float(values.min()), "mean": float(values.mean()),
            **{f"p{p}": float(v) for p, v in zip(PERCENTILES, pct)}, "max": float(values.max())}


def box_statistics(boxset: BoxSet, resized: ResizedBoxes, space: str) -> dict[str, Any]:
    """The ``stats --json`` document (``num_images``, ``num_boxes``, ``skipped``, ...)."""
    w, h = resized.widths, resized.heights
    area = w * h
    positive = (w > 0) & (h > 0)
    ratio = np.divide(w, h, out=np.full_like(w, np.nan), where=h > 0)
    bands = {name: int(((area >= lo) & (area < hi)).sum()) for name, lo, hi in SIZE_BANDS}
    num_shapes = len(np.unique(resized.padded_shape, axis=0)) if resized.padded_shape.size else 0
    return {
        "num_images": boxset.num_images,
        "num_boxes": boxset.num_boxes,
        # every reason, zeros included, so CI scripts can rely on the keys
        "skipped": {**{k: 0 for k in SKIP_KEYS}, **boxset.skipped},
        "skip_examples": dict(boxset.skip_examples),
        "sources": list(boxset.sources),
        "space": space,
        "num_padded_shapes": int(num_shapes),
        "width": distribution(w),
        "height": distribution(h),
        "sqrt_area": distribution(np.sqrt(area)),
        "aspect_ratio_w_over_h": distribution(ratio[positive]),
        "size_bands": bands,
        "zero_size_boxes": int((~positive).sum()),
    }


def run(args: Any) -> int:
    cfg = None
    if args.config:
        loaded = load(args.config)
        cfg = loaded.config
    boxset = pipeline.read_config_boxes(cfg, args.config, source_options(args))
    if cfg is not None:
        resized = pipeline.resize_for_config(boxset, cfg)
        space = "resized pixels (" + pipeline.resizer_description(cfg) + ")"
    else:
        resized = original_pixels(boxset)
        space = "original pixels"
    doc = box_statistics(boxset, resized, space)
    if args.plot:
        from tfod_anchors.plots.shapes import plot_box_shapes

        anchors = pipeline.anchor_shapes_hw(cfg, resized) if cfg is not None else None
        plot_box_shapes(np.stack([resized.widths, resized.heights], axis=1), anchors, args.plot,
                        title=f"{boxset.num_boxes} boxes in {space}")
        doc["plot"] = args.plot
    if args.json:
        emit_json(doc)
    else:
        out(args, f"{doc['num_images']} images, {doc['num_boxes']} boxes, in {space}")
        rows = [["", "min", "p5", "p50", "p95", "max"]]
        for key in ("width", "height", "sqrt_area", "aspect_ratio_w_over_h"):
            d = doc[key]
            rows.append([key] + [fmt(d[k], 2) for k in ("min", "p5", "p50", "p95", "max")])
        out(args, table(rows))
        bands = ", ".join(f"{k} {v}" for k, v in doc["size_bands"].items())
        out(args, f"size bands (area): {bands}")
        lines = skipped_lines(doc["skipped"], doc["skip_examples"])
        if lines:
            out(args, "skipped or noted:")
            for line in lines:
                out(args, line)
        if args.plot:
            say(args, f"wrote {args.plot}")
    return EXIT_OK
