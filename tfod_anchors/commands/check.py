"""``tfod-anchors check``: config rules, plus coverage of the boxes when there are any.

Exit codes (:mod:`tfod_anchors.errors`): 0 the config is consistent and its coverage
passes; 1 an error-level finding (rules, or coverage: ``low_recall`` below 0.1 or
``--min-recall``, ``band_recall_collapse``), or with ``--strict`` any warning;
2 the config or the data cannot be read.

Coverage is measured on the boxes TFOD trains on: drawn through the config's
``data_augmentation_options`` when a step changes boxes (``--augment N`` draws,
``--seed S``), the static boxes with ``--no-augment`` or when no step does.

The findings, the coverage line and the verdict are the result (stdout).
"""

from __future__ import annotations

import argparse
from typing import Any

from tfod_anchors import api
from tfod_anchors.commands._common import (
    add_augment_arguments,
    add_model_arguments,
    add_output_arguments,
    add_source_arguments,
    augment_options,
    augment_value,
    degenerate_line,
    emit_json,
    fmt,
    model_line,
    model_ref,
    out,
    source_options,
    table,
)
from tfod_anchors.coverage.metrics import METRIC_KEYS
from tfod_anchors.errors import EXIT_CHECK_FAILED, EXIT_OK

HELP = "validate a config (and its coverage of the boxes)"


def fraction(text: str) -> float:
    """A number in ``[0, 1]`` (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    parser.add_argument("--min-recall", type=fraction, metavar="R",
                        help="fail (exit 1) when recall at the matched threshold is below R "
                             "(default bar: 0.1; below 0.5 is a warning)")
    parser.add_argument("--strict", action="store_true",
                        help="fail (exit 1) on warnings too")
    parser.add_argument("--by-class", action="store_true",
                        help="print coverage per class (box count, mean IoU, recall at the "
                             "matched threshold); always in --json")
    parser.add_argument("--what-if", action="append", default=[], metavar="FIELD=VALUE",
                        help="evaluate a config change without writing anything: a field path "
                             "as in the config (e.g. model.faster_rcnn.image_resizer."
                             "keep_aspect_ratio_resizer.min_dimension=960) and a text-format "
                             "value; repeat to change several fields together")
    parser.add_argument("--no-advice", action="store_true",
                        help="when coverage fails, do not fit the anchors in memory nor "
                             "evaluate larger inputs, finer strides or pyramid levels (faster)")
    add_source_arguments(parser)
    add_augment_arguments(parser, default_on=True)
    add_output_arguments(parser)


def distribution_text(coverage: dict[str, Any], augmentation: dict[str, Any] | None) -> str:
    """Which boxes the coverage line is about: ``"8 static boxes"``, or ``"27 augmented
    boxes (4 draw(s) of 4 images through 0:random_horizontal_flip, 1:ssd_random_crop;
    seed 0)"``."""
    if augmentation is None:
        return f"{coverage['num_boxes']} static boxes"
    ops = ", ".join(f"{s['index']}:{s['op']}" for s in augmentation["steps"]
                    if s["modelled"]) or "no step that changes boxes"
    return (f"{coverage['num_boxes']} augmented boxes ({augmentation['draws']} draw(s) of "
            f"{coverage['num_images']} images through {ops}; seed {augmentation['seed']})")


def class_table(by_class: dict[str, dict[str, Any]], matched_threshold: float) -> str:
    """Coverage per class, one row per class id: name, boxes, share, mean IoU, recall."""
    rows = [["class", "boxes", "share", "mean_iou", f"recall (IoU >= {matched_threshold:g})"]]
    for cid, e in by_class.items():
        rows.append([f"{cid} {e['name'] or ''}".rstrip(), str(e["count"]), f"{e['share']:.1%}",
                     fmt(e["mean_iou"]), fmt(e["recall_matched"], 4)])
    return table(rows)


def _recalls(metrics: dict[str, Any]) -> str:
    """Overall recall, then per band of the boxes as banded at the current input size."""
    by = metrics.get("by_current_size") or metrics.get("by_size") or {}
    bands = ", ".join(f"{band} {fmt(e['recall_matched'])}" for band, e in by.items()
                      if e.get("count"))
    where = "boxes by their band now: " if metrics.get("by_current_size") else ""
    return f"recall {fmt(metrics['recall_matched'])} ({where}{bands})" if bands else \
        f"recall {fmt(metrics['recall_matched'])}"


def advice_lines(entries: list[dict[str, Any]]) -> list[str]:
    """Two lines per evaluated change: what it is and what it predicts (or why not)."""
    lines = []
    for e in entries:
        lines.append(f"  {e['change']}" + (f" [{e['note']}]" if e["note"] and e["supported"]
                                           else ""))
        if not e["supported"]:
            lines.append(f"    {e['note']}")
            continue
        cost = e["cost"]
        lines.append(f"    predicted {_recalls(e['predicted'])}; cost: pixels "
                     f"x{cost['pixels']:.2f}, anchors x{cost['anchors']:.2f}")
        lines.append("    set: " + " ".join(e["assignments"]))
    return lines


def run(args: Any) -> int:
    augmentation = augment_options(args, default_on=True)
    ref = model_ref(args)
    outcome = api.check(ref, sources=source_options(args), min_recall=args.min_recall,
                        strict=args.strict, augment=augment_value(augmentation),
                        seed=augmentation.seed)
    if not args.no_advice or args.what_if:
        outcome = api.advise(outcome, what_if=args.what_if, advice=not args.no_advice)
    findings, coverage = outcome.findings, outcome.coverage
    exit_code = EXIT_OK if outcome.ok else EXIT_CHECK_FAILED
    if args.json:
        emit_json(outcome.to_json())
        return exit_code
    for f in findings:
        out(args, f"{f['severity'].upper():7s} {f['code']}: {f['message']}")
    if coverage is not None:
        out(args, f"coverage of {distribution_text(coverage, outcome.augmentation)} "
                  f"(matched threshold {coverage['matched_threshold']:g}): " + ", ".join(
                      f"{k} {fmt(coverage[k])}" for k in METRIC_KEYS))
        note = (outcome.augmentation or {}).get("note")
        if note:
            out(args, f"note: {note}")
        deg = coverage.get("degenerate") or {}
        if deg.get("count"):
            out(args, degenerate_line(deg, "boxes measured"))
    if args.by_class and outcome.by_class and coverage is not None:
        out(args, class_table(outcome.by_class, coverage["matched_threshold"]))
    for title, entries in (("advice", outcome.advice), ("what-if", outcome.what_if)):
        if entries:
            out(args, f"{title} (coverage after a fit of the anchors at that geometry, as "
                      "`fit` would report it; cost: input pixels and anchors):")
            for line in advice_lines(entries):
                out(args, line)
    errors = sum(f["severity"] == "error" for f in findings)
    warnings = sum(f["severity"] == "warning" for f in findings)
    why = " (--strict: warnings fail)" if args.strict and warnings and not errors else ""
    rule = (outcome.coverage or {}).get("rule")
    if rule:
        out(args, f"{rule['rule']} (threshold {rule['threshold']:g}, {rule['source']}): "
                  f"recall {fmt(rule['recall_matched'])}, boxes with no target at all "
                  f"{fmt(rule['no_target_share'])}, targets per box {fmt(rule['mean_targets'])}")
    out(args, model_line(outcome.model))
    out(args, f"{ref}: {'OK' if outcome.ok else 'FAILED'} "
              f"({errors} error(s), {warnings} warning(s)){why}")
    return exit_code
