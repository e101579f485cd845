"""``tfod-anchors check``: config rules, plus coverage of the boxes when there are any.

Exit codes (DESIGN.md): 0 the config is consistent (and coverage meets
``--min-recall``); 1 an error-level finding or coverage below ``--min-recall``;
2 the config or the data cannot be read.
"""

from __future__ import annotations

from typing import Any

from tfod_anchors import api, workflow
from tfod_anchors.commands._common import fmt, jsonable, say


def run(args: Any) -> int:
    options = workflow.SourceOptions.from_args(args)
    outcome = api.check(
        args.config, list(options.inputs) or None, min_recall=args.min_recall,
        compression=options.compression, label_map=options.label_map,
        max_boxes=options.max_boxes, drop_difficult=options.drop_difficult,
        skip_bad=options.skip_bad, verify_sizes=options.verify_sizes,
        read_progress=options.progress, reader=options.reader,
    )
    findings, coverage = outcome.findings, outcome.coverage
    exit_code = 0 if outcome.ok else 1
    if args.json:
        from tfod_anchors.cli import emit_json

        emit_json(jsonable({"config": args.config, "ok": outcome.ok, "exit_code": exit_code,
                            "findings": findings, "coverage": coverage}))
    else:
        for f in findings:
            say(args, f"{f['severity'].upper():7s} {f['code']}: {f['message']}")
        if coverage is not None:
            say(args, f"coverage of {coverage['num_boxes']} boxes (matched threshold "
                      f"{coverage['matched_threshold']:g}): " + ", ".join(
                          f"{k} {fmt(coverage[k])}" for k in api.METRIC_KEYS))
        say(args, f"{args.config}: {'OK' if outcome.ok else 'FAILED'} "
                  f"({sum(f['severity'] == 'error' for f in findings)} error(s), "
                  f"{sum(f['severity'] == 'warning' for f in findings)} warning(s))")
    return exit_code
