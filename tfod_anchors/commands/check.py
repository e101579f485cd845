"""``tfod-anchors check``: config rules, plus coverage of the boxes when there are any.

Exit codes (DESIGN.md): 0 the config is consistent (and coverage meets
``--min-recall``); 1 an error-level finding or coverage below ``--min-recall``;
2 the config or the data cannot be read.
"""

from __future__ import annotations

import glob
import os
from typing import Any

from tfod_anchors import config_query as cq
from tfod_anchors import workflow
from tfod_anchors.commands._common import fmt, jsonable, load, say
from tfod_anchors.errors import UsageError

METRIC_KEYS = ("mean_iou", "recall_matched", "recall_0.5", "recall_0.7")


def _finding(code: str, severity: str, message: str) -> dict[str, str]:
    return {"code": code, "severity": severity, "message": message}


def _data_available(cfg: Any, config_path: str) -> tuple[bool, str | None]:
    """Whether the config's own training input can be read here, and why not."""
    try:
        paths = workflow.config_sources(cfg, config_path)
    except UsageError as err:
        return False, err.message
    for path in paths:
        if "://" not in path and not glob.glob(path) and not os.path.exists(path):
            return False, f"train input {path!r} does not exist here"
    return True, None


def config_findings(cfg: Any) -> list[dict[str, str]]:
    """The rule findings of :mod:`tfod_anchors.rules` plus input-pipeline notes."""
    from tfod_anchors.rules import check_rules

    found = [_finding(f.code, f.severity, f.message) for f in check_rules(cfg)]
    ignored = cq.ignored_train_config_max_boxes(cfg)
    effective = cq.max_number_of_boxes(cfg)
    if ignored is not None and ignored != effective:
        found.append(_finding(
            "max_boxes_ignored", "warning",
            f"train_config.max_number_of_boxes: {ignored} is ignored by TFOD's input pipeline, "
            f"which keeps {effective} boxes per image (train_input_reader.max_number_of_boxes); "
            "set it there instead"))
    return found


def coverage_metrics(report_metrics: dict[str, Any]) -> dict[str, Any]:
    """The coverage block of the JSON: the design's four keys first, then the rest."""
    first = {k: report_metrics[k] for k in METRIC_KEYS}
    rest = {k: v for k, v in report_metrics.items() if k not in first}
    return {**first, **rest}


def run(args: Any) -> int:
    loaded = load(args.config)
    cfg = loaded.config
    findings = config_findings(cfg)
    coverage = None
    use_data = bool(args.inputs)
    if not use_data and cq.anchor_generator(cfg) is not None:
        use_data, why = _data_available(cfg, args.config)
        if not use_data:
            if args.min_recall is not None:
                raise UsageError(f"--min-recall needs boxes, but {why}; pass --input SRC")
            findings.append(_finding("coverage_skipped", "info",
                                     f"coverage not measured: {why}"))
    if use_data and cq.anchor_generator(cfg) is not None:
        options = workflow.SourceOptions.from_args(args)
        boxset = workflow.read_config_boxes(cfg, args.config, options)
        resized = workflow.resize_for_config(boxset, cfg)
        coverage = coverage_metrics(workflow.measure_coverage(resized, cfg).metrics)
        coverage["num_images"] = boxset.num_images
        coverage["skipped"] = dict(boxset.skipped)
        if args.min_recall is not None and coverage["recall_matched"] < args.min_recall:
            findings.append(_finding(
                "low_recall", "error",
                f"recall at the matched threshold {coverage['matched_threshold']:g} is "
                f"{coverage['recall_matched']:.4f} < --min-recall {args.min_recall:g}; run "
                "`tfod-anchors fit` on this config"))
    failed = any(f["severity"] == "error" for f in findings)
    exit_code = 1 if failed else 0
    if args.json:
        from tfod_anchors.cli import emit_json

        emit_json(jsonable({"config": args.config, "ok": not failed, "exit_code": exit_code,
                            "findings": findings, "coverage": coverage}))
    else:
        for f in findings:
            say(args, f"{f['severity'].upper():7s} {f['code']}: {f['message']}")
        if coverage is not None:
            say(args, f"coverage of {coverage['num_boxes']} boxes (matched threshold "
                      f"{coverage['matched_threshold']:g}): " + ", ".join(
                          f"{k} {fmt(coverage[k])}" for k in METRIC_KEYS))
        say(args, f"{args.config}: {'FAILED' if failed else 'OK'} "
                  f"({sum(f['severity'] == 'error' for f in findings)} error(s), "
                  f"{sum(f['severity'] == 'warning' for f in findings)} warning(s))")
    return exit_code
