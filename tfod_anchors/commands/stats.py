"""``tfod-anchors stats``: box statistics in the pixels the model sees.

With ``--augment N`` (and ``--config``), the statistics are those of N augmented draws
of every image through the config's ``data_augmentation_options`` (``--seed S``), the
boxes TFOD trains on; ``--export FILE.npy`` writes the boxes measured.

The statistics are the result (stdout); progress and ``wrote FILE`` go to stderr.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from tfod_anchors import pipeline
from tfod_anchors.boxes import BoxSet, ResizedBoxes
from tfod_anchors.commands._common import (
    add_augment_arguments,
    add_experiment_arguments,
    add_output_arguments,
    add_source_arguments,
    augment_options,
    degenerate_line,
    emit_json,
    fmt,
    load_model,
    model_ref,
    out,
    say,
    skipped_lines,
    source_options,
    table,
    warn,
)
from tfod_anchors.coverage.metrics import SIZE_BANDS, degenerate_mask, degenerate_summary
from tfod_anchors.errors import EXIT_OK, UsageError
from tfod_anchors.rules.dropped import data_dropped_findings
from tfod_anchors.sources.raw import SKIP_KEYS

HELP = "box statistics in resized pixels"
PERCENTILES = (1, 5, 25, 50, 75, 95, 99)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="CONFIG",
                        help="use this config's resizer (otherwise original pixels); a "
                             "pipeline.config or a Model Garden YAML")
    add_experiment_arguments(parser)
    parser.add_argument("--plot", metavar="FILE.png", help="write a w/h scatter plot")
    parser.add_argument("--export", metavar="FILE.npy",
                        help="write the boxes measured as float32 [M, 4] (ymin, xmin, ymax, "
                             "xmax) in pixels of the padded resized image (.npy or .csv)")
    add_source_arguments(parser, required=True)
    add_augment_arguments(parser, default_on=False)
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
    padded = np.asarray(resized.padded_shape, dtype=np.int64).reshape(-1, 2)
    num_shapes = len(np.unique((padded[:, 0] << 32) + padded[:, 1]))  # one int per (H, W)
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


def augmented_statistics(doc: dict[str, Any], resized: ResizedBoxes,
                         augmentation: dict[str, Any] | None) -> dict[str, Any]:
    """``doc`` with the keys of the augmented view: ``num_boxes`` counts the boxes seen
    over all draws, ``draws`` (None when static) and the ``augmentation`` block."""
    doc["num_boxes"] = resized.num_boxes
    doc["draws"] = augmentation["draws"] if augmentation is not None else None
    doc["augmentation"] = augmentation
    return doc


def _dropped(args: Any, cfg: Any, training: pipeline.TrainingBoxes | None,
             boxset: BoxSet) -> tuple[dict[str, Any] | None, list[str]]:
    """The ``data_dropped`` block of this read (:mod:`tfod_anchors.measured`), and the
    ``class_filter_off`` note when a placeholder label map turned filtering off."""
    from tfod_anchors import measured
    from tfod_anchors.rules.dropped import class_filter_off_findings

    options = source_options(args)
    info = measured.label_map_info(cfg, args.config, options)
    notes = [f"{f.code}: {f.message}"
             for f in class_filter_off_findings(info.placeholder, given=False)]
    if training is not None:
        return measured.training_dropped(training, cfg, args.config, options, info), notes
    return measured.dropped_block(boxset.skipped, boxset.skip_examples,
                                  boxes_kept=boxset.num_boxes, images_kept=boxset.num_images,
                                  augmentation=None, specs=list(options.inputs), info=info,
                                  compression=options.compression), notes


def run(args: Any) -> int:
    model = None
    augmentation = augment_options(args, default_on=False)
    ref = model_ref(args, required=False)
    if augmentation.mode != pipeline.OFF and not ref:
        raise UsageError("stats --augment needs --config: the augmentation steps and the "
                         "resizer are the config's")
    if args.export and Path(args.export).suffix.lower() not in (".npy", ".csv"):
        raise UsageError(f"{args.export}: export format must be .npy or .csv")
    if ref:
        model, _ = load_model(args)
    if model is not None:
        training = pipeline.training_boxes(model, model.path, source_options(args),
                                           augmentation)
        boxset, resized = training.read, training.resized
        space = "resized pixels (" + pipeline.resizer_description(model) + ")"
        summary = pipeline.augmentation_summary(training.augmentation)
    else:
        boxset = pipeline.read_config_boxes(model, args.config, source_options(args))
        resized = original_pixels(boxset)
        space = "original pixels"
        summary = None
    doc = augmented_statistics(box_statistics(boxset, resized, space), resized, summary)
    doc["degenerate"] = degenerate_summary(degenerate_mask(resized.boxes))
    doc["data_dropped"], doc["notes"] = _dropped(args, model, training if model is not None
                                                 else None, boxset)
    for f in data_dropped_findings(doc["data_dropped"]):
        warn(args, f"{f.code}: {f.message}")
    for note in doc["notes"]:
        say(args, f"note: {note}")
    what = f"{resized.num_boxes} boxes" if summary is None else (
        f"{resized.num_boxes} augmented boxes ({summary['draws']} draw(s) per image)")
    if args.export:
        from tfod_anchors.anchors.describe import export_anchors

        export_anchors(resized.boxes, args.export, what="boxes")
        doc["export"] = args.export
    if args.plot:
        from tfod_anchors.plots.shapes import plot_box_shapes

        anchors = pipeline.anchor_shapes_hw(model, resized) if model is not None else None
        plot_box_shapes(np.stack([resized.widths, resized.heights], axis=1), anchors, args.plot,
                        title=f"{what} in {space}")
        doc["plot"] = args.plot
    if args.json:
        emit_json(doc)
    else:
        out(args, f"{doc['num_images']} images, {what}, in {space}")
        if summary is not None:
            steps = ", ".join(
                f"{s['index']}:{s['op']} ({s['status']}"
                + ("" if s["modelled"] or s["status"] == "photometric" else ", identity here")
                + ")" for s in summary["steps"])
            out(args, "augmentation: " + (steps or "no data_augmentation_options (identical "
                                                   "draws)") + f"; seed {summary['seed']}")
            gone = {k: v for k, v in summary["dropped"].items() if v}
            born = {k: v for k, v in summary["added"].items() if v}
            out(args, "boxes dropped: " + (", ".join(f"{k} {v}" for k, v in gone.items())
                                           or "none")
                + ("; added: " + ", ".join(f"{k} {v}" for k, v in born.items()) if born else ""))
        rows = [["", "min", "p5", "p50", "p95", "max"]]
        for key in ("width", "height", "sqrt_area", "aspect_ratio_w_over_h"):
            d = doc[key]
            rows.append([key] + [fmt(d[k], 2) for k in ("min", "p5", "p50", "p95", "max")])
        out(args, table(rows))
        bands = ", ".join(f"{k} {v}" for k, v in doc["size_bands"].items())
        out(args, f"size bands (area): {bands}")
        out(args, degenerate_line(doc["degenerate"], "boxes"))
        lines = skipped_lines(doc["skipped"], doc["skip_examples"])
        if lines:
            out(args, "skipped or noted:")
            for line in lines:
                out(args, line)
        for path in (args.export, args.plot):
            if path:
                say(args, f"wrote {path}")
    return EXIT_OK
