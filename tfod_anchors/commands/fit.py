"""``tfod-anchors fit``: fit the config's own anchor generator and patch the config.

Writes only when the objective improves (or ``--force``): to ``--output`` or, with
``--in-place``, over the config (atomic, ``.bak`` kept). Without either flag the
unified diff is printed and nothing is written.
"""

from __future__ import annotations

import sys
from typing import Any

from tfod_anchors import api, workflow
from tfod_anchors import config_query as cq
from tfod_anchors.commands._common import fmt, jsonable, say, table
from tfod_anchors.config_io import ensure_replaceable

TABLE_KEYS = ("mean_iou", "recall_matched", "recall_0.5", "recall_0.7", "num_unreachable")


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
    options = workflow.SourceOptions.from_args(args)
    if args.in_place:
        ensure_replaceable(args.config)  # fail before the work, not after it
    outcome = api.fit(
        args.config, list(options.inputs) or None, objective=args.objective, seed=args.seed,
        num_scales=args.num_scales, num_aspect_ratios=args.num_aspect_ratios,
        force=args.force, progress=progress,
        compression=options.compression, label_map=options.label_map,
        max_boxes=options.max_boxes, drop_difficult=options.drop_difficult,
        skip_bad=options.skip_bad, verify_sizes=options.verify_sizes,
        read_progress=options.progress, reader=options.reader,
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
    if not fit.improved and not args.force:
        verdict = "no better anchors found for the objective: nothing to write"
    elif not fit.improved:
        verdict = "--force: writing anchors that do not beat the config's on the objective"
    else:
        verdict = f"better on objective {fit.objective!r}"
    written = None
    if take and (args.output or args.in_place):
        written = api.write_fitted(outcome, output=args.output, in_place=args.in_place,
                                   backup=not args.no_backup)
    report_paths = []
    if args.report:
        report_paths = write_fit_report(args.report, outcome)
    if args.json:
        from tfod_anchors.cli import emit_json

        emit_json(jsonable({
            "config": args.config,
            "num_boxes": outcome.boxes.num_boxes,
            "matched_threshold": fit.matched_threshold,
            "objective": fit.objective,
            "improved": fit.improved,
            "before": api.ordered_metrics(fit.before),
            "after": api.ordered_metrics(fit.after),
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
        }))
        return 0
    say(args, f"{outcome.boxes.num_boxes} boxes; {fit.kind}; matcher: "
              f"{fit.before.get('matcher_source', '')}")
    say(args, comparison_table(fit))
    if take:
        say(args, "new values: " + ", ".join(f"{k}: {v}" for k, v in fit.changed.items()))
        resized_lists = [f"{k} {len(fit.previous[k])} -> {len(v)} values"
                         for k, v in fit.changed.items()
                         if isinstance(v, list) and isinstance(fit.previous.get(k), list)
                         and len(v) != len(fit.previous[k])]
        if resized_lists and apl_before == apl_after:
            say(args, f"split changed ({', '.join(resized_lists)}); anchors per location stay "
                      f"{apl_after}, so checkpoint shapes still match")
    say(args, verdict)
    for w in warnings:
        say(args, f"WARNING: {w}")
    if written:
        say(args, f"wrote {written}" + (f" (previous text kept in {written}.bak)"
                                         if args.in_place and not args.no_backup else ""))
    elif take:
        say(args, "dry run (no --output/--in-place): the patch would be")
        sys.stdout.write(outcome.diff)
    for path in report_paths:
        say(args, f"wrote {path}")
    return 0


def write_fit_report(directory: str, outcome: api.FitOutcome) -> list[Any]:
    """The before/after plots of a fit (``--report DIR``)."""
    import numpy as np

    from tfod_anchors.coverage import evaluate
    from tfod_anchors.matcher import MatcherSpec
    from tfod_anchors.plots import write_report

    resized = outcome.boxes
    cfg_before = outcome.loaded.config if outcome.loaded else outcome.config
    matcher: MatcherSpec = cq.matcher_spec(cfg_before)
    before = evaluate(resized, workflow.layout_function(cfg_before), matcher)
    after = evaluate(resized, workflow.layout_function(outcome.config), matcher)
    wh = np.stack([resized.widths, resized.heights], axis=1)
    return write_report(directory, wh=wh,
                        anchors_before=workflow.anchor_shapes_hw(cfg_before, resized),
                        anchors_after=workflow.anchor_shapes_hw(outcome.config, resized),
                        coverage_before=before, coverage_after=after,
                        title=f"{resized.num_boxes} boxes, {outcome.fit.kind}")
