"""``tfod-anchors check``: config rules, plus coverage of the boxes when there are any.

Exit codes (:mod:`tfod_anchors.errors`): 0 the config is consistent and its coverage
passes; 1 an error-level finding (rules, or coverage: ``low_recall`` below 0.1 or
``--min-recall``, ``band_recall_collapse``), or with ``--strict`` any warning;
2 the config or the data cannot be read.

The findings, the coverage line and the verdict are the result (stdout).
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
    source_options,
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
    parser.add_argument("config", metavar="CONFIG")
    parser.add_argument("--min-recall", type=fraction, metavar="R",
                        help="fail (exit 1) when recall at the matched threshold is below R "
                             "(default bar: 0.1; below 0.5 is a warning)")
    parser.add_argument("--strict", action="store_true",
                        help="fail (exit 1) on warnings too")
    add_source_arguments(parser)
    add_output_arguments(parser)


def run(args: Any) -> int:
    outcome = api.check(args.config, sources=source_options(args), min_recall=args.min_recall,
                         strict=args.strict)
    findings, coverage = outcome.findings, outcome.coverage
    exit_code = EXIT_OK if outcome.ok else EXIT_CHECK_FAILED
    if args.json:
        emit_json({"config": args.config, "ok": outcome.ok, "exit_code": exit_code,
                   "strict": args.strict, "findings": findings, "coverage": coverage})
        return exit_code
    for f in findings:
        out(args, f"{f['severity'].upper():7s} {f['code']}: {f['message']}")
    if coverage is not None:
        out(args, f"coverage of {coverage['num_boxes']} boxes (matched threshold "
                  f"{coverage['matched_threshold']:g}): " + ", ".join(
                      f"{k} {fmt(coverage[k])}" for k in METRIC_KEYS))
    errors = sum(f["severity"] == "error" for f in findings)
    warnings = sum(f["severity"] == "warning" for f in findings)
    why = " (--strict: warnings fail)" if args.strict and warnings and not errors else ""
    out(args, f"{args.config}: {'OK' if outcome.ok else 'FAILED'} "
              f"({errors} error(s), {warnings} warning(s)){why}")
    return exit_code
