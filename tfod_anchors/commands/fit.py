"""``tfod-anchors fit``: fit the config's own anchor generator and patch the config.

Writes only when the objective improves (or ``--force``): to ``--output`` or, with
``--in-place``, over the config (atomic, ``.bak`` kept). Without either flag the
unified diff is printed and nothing is written.

stdout: the before/after table, the new values, the verdict and the dry-run diff;
stderr: progress, ``wrote FILE`` notes and warnings.
"""

from __future__ import annotations

import argparse
from typing import Any

from tfod_anchors import api
from tfod_anchors.commands._common import (
    add_output_arguments,
    add_source_arguments,
    emit_json,
    fmt,
    out,
    say,
    source_options,
    table,
    warn,
)
from tfod_anchors.config import query as cq
from tfod_anchors.coverage.metrics import METRIC_KEYS, ordered_metrics
from tfod_anchors.errors import EXIT_OK
from tfod_anchors.fitting import OBJECTIVES
from tfod_anchors.pipeline import anchor_shapes_hw

HELP = "fit the config's own anchor generator to the boxes"
TABLE_KEYS = (*METRIC_KEYS, "num_unreachable")
#: ``fit`` warns when it fits fewer boxes than this.
FEW_BOXES = 100


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", metavar="CONFIG", help="pipeline.config (local or gs://)")
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--output", "-o", metavar="PATH", help="write the patched config here")
    out.add_argument("--in-place", action="store_true",
                     help="rewrite CONFIG atomically, keeping CONFIG.bak")
    parser.add_argument("--no-backup", action="store_true", help="with --in-place: keep no .bak")
    parser.add_argument("--objective", default="recall", choices=list(OBJECTIVES),
                        help="what to maximise (default: recall at the matcher's threshold, "
                             "guarded so mean IoU and recall@0.5 do not drop)")
    parser.add_argument("--force", action="store_true", help="write even if the fit is not better")
    parser.add_argument("--seed", type=int, default=0, help="seed for every random choice")
    parser.add_argument("--num-scales", type=int, metavar="N",
                        help="change the number of scales (changes anchors per location)")
    parser.add_argument("--num-aspect-ratios", type=int, metavar="N",
                        help="change the number of aspect ratios (changes anchors per location)")
    parser.add_argument("--report", metavar="DIR", help="write PNG plots of before/after here")
    add_source_arguments(parser)
    add_output_arguments(parser)


def comparison_table(fit: Any) -> str:
    rows = [["metric", "before", "after", "change"]]
    for key in TABLE_KEYS:
        b, a = fit.before.get(key), fit.after.get(key)
        name = f"{key} (IoU >= {fit.matched_threshold:g})" if key == "recall_matched" else key
        change = "" if b is None or a is None else (
            f"{a - b:+d}" if isinstance(b, int) else f"{a - b:+.3f}")
        rows.append([name, fmt(b), fmt(a), change])
    return table(rows)


def run(args: Any) -> int:
    progress = None if args.quiet or args.json else (lambda msg: say(args, f"  {msg}"))
    write_notes = api.check_writable(args.config, output=args.output,
                                     in_place=args.in_place)  # fail before the work
    outcome = api.fit(
        args.config, sources=source_options(args), objective=args.objective, seed=args.seed,
        num_scales=args.num_scales, num_aspect_ratios=args.num_aspect_ratios,
        force=args.force, progress=progress,
    )
    fit = outcome.fit
    warnings = []
    apl_before, apl_after = fit.anchors_per_location
    take = outcome.changed
    if take and apl_before != apl_after:
        checkpoint = cq.fine_tune_checkpoint(outcome.config)
        msg = (f"anchors per location change from {apl_before} to {apl_after}: the box "
               "predictor's shapes change")
        if checkpoint:
            msg += (f", so its weights will NOT restore from fine_tune_checkpoint "
                    f"{checkpoint!r}")
        warnings.append(msg)
    if outcome.patch_warning:
        warnings.append(outcome.patch_warning)
    if outcome.boxes.num_boxes < FEW_BOXES:
        warnings.append(f"only {outcome.boxes.num_boxes} box(es) were fitted: anchors fitted to "
                        f"fewer than {FEW_BOXES} boxes follow those boxes, not the objects the "
                        "model will meet; check the input or treat the result with care")
    if not fit.improved and not args.force:
        verdict = "no better anchors found for the objective: nothing to write"
    elif not fit.improved:
        verdict = "--force: writing anchors that do not beat the config's on the objective"
    else:
        verdict = f"better on objective {fit.objective!r}"
    written = backup = None
    if take and (args.output or args.in_place):
        details = api.write_fitted_details(outcome, output=args.output,
                                           in_place=args.in_place, backup=not args.no_backup)
        written, backup = details.path, details.backup
        write_notes += details.notes
    warnings += write_notes
    report_paths = []
    if args.report:
        report_paths = write_fit_report(args.report, outcome)
    if args.json:
        for w in warnings:
            warn(args, w)
        emit_json({
            "config": args.config,
            "num_boxes": outcome.boxes.num_boxes,
            "matched_threshold": fit.matched_threshold,
            "objective": fit.objective,
            "improved": fit.improved,
            "before": ordered_metrics(fit.before),
            "after": ordered_metrics(fit.after),
            "moved": fit.moved,
            "anchor_generator": {"kind": fit.kind, **fit.changed} if take else {},
            "previous": fit.previous if take else {},
            "anchors_per_location": {"before": apl_before, "after": apl_after},
            "guard": fit.guard,
            "warnings": warnings,
            "written": written,
            "diff": outcome.diff if take and not written else "",
            "report": [str(p) for p in report_paths],
            # wall-clock timing would make the output differ between identical runs
            "diagnostics": {k: v for k, v in fit.diagnostics.items()
                            if "seconds" not in k},
        })
        return EXIT_OK
    out(args, f"{outcome.boxes.num_boxes} boxes; {fit.kind}; matcher: "
              f"{fit.before.get('matcher_source', '')}")
    out(args, comparison_table(fit))
    if take:
        out(args, "new values: " + ", ".join(f"{k}: {v}" for k, v in fit.changed.items()))
        resized_lists = [f"{k} {len(fit.previous[k])} -> {len(v)} values"
                         for k, v in fit.changed.items()
                         if isinstance(v, list) and isinstance(fit.previous.get(k), list)
                         and len(v) != len(fit.previous[k])]
        if resized_lists and apl_before == apl_after:
            out(args, f"split changed ({', '.join(resized_lists)}); anchors per location stay "
                      f"{apl_after}, so checkpoint shapes still match")
    out(args, verdict)
    for w in warnings:
        warn(args, w)
    if written:
        say(args, f"wrote {written}" + (f" (previous text kept in {backup})" if backup else ""))
    elif take:
        say(args, "dry run (no --output/--in-place): the patch would be")
        out(args, outcome.diff.rstrip("\n"))
    for path in report_paths:
        say(args, f"wrote {path}")
    return EXIT_OK


def write_fit_report(directory: str, outcome: api.FitOutcome) -> list[Any]:
    """The before/after plots of a fit (``--report DIR``), from the coverage reports
    the fit already computed."""
    import numpy as np

    from tfod_anchors.plots.report import write_report

    resized = outcome.boxes
    cfg_before = outcome.loaded.config if outcome.loaded else outcome.config
    fit = outcome.fit
    wh = np.stack([resized.widths, resized.heights], axis=1)
    return write_report(directory, wh=wh,
                        anchors_before=anchor_shapes_hw(cfg_before, resized),
                        anchors_after=anchor_shapes_hw(outcome.config, resized),
                        coverage_before=fit.report_before, coverage_after=fit.report_after,
                        title=f"{resized.num_boxes} boxes, {fit.kind}")
