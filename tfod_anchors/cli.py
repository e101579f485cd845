"""Command line: ``tfod-anchors {fit,check,anchors,stats,cluster,extract}``.

This module only parses arguments, dispatches to ``tfod_anchors.commands`` and
turns errors into the exit codes fixed in ``DESIGN.md``: 0 done / config OK,
1 ``check`` failed, 2 bad usage or bad input. Human text goes to stderr;
``--json`` prints exactly one JSON document on stdout.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any

from tfod_anchors import __version__
from tfod_anchors.errors import TfodAnchorsError, UsageError

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_BAD_INPUT = 2

_COMMANDS = {
    "fit": "tfod_anchors.commands.fit",
    "check": "tfod_anchors.commands.check",
    "anchors": "tfod_anchors.commands.anchors",
    "stats": "tfod_anchors.commands.stats",
    "cluster": "tfod_anchors.commands.cluster",
    "extract": "tfod_anchors.commands.extract",
}


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors on one line with exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        where = self.prog.replace("tfod-anchors", "").strip()
        raise UsageError(f"{where + ': ' if where else ''}{message} (see --help)")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true",
                        help="print exactly one JSON document on stdout (human text on stderr)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument("--quiet", "-q", action="store_true",
                        help="no progress or tables on stderr")


def _sources(parser: argparse.ArgumentParser, required: bool = False) -> None:
    group = parser.add_argument_group("box sources")
    group.add_argument("--input", "-i", dest="inputs", action="append", default=[],
                       required=required, metavar="SRC",
                       help="TFRecord path/glob (gs:// allowed), COCO .json, VOC .xml directory or "
                            ".csv; repeatable. Default: the config's train_input_reader paths")
    group.add_argument("--compression", choices=["auto", "none", "gzip", "zlib"], default="auto",
                       help="TFRecord compression (default: the config's, else detected)")
    group.add_argument("--label-map", metavar="PBTXT",
                       help="label map; boxes whose class text it does not know are dropped, "
                            "as in TFOD (default: the config's label_map_path)")
    group.add_argument("--max-boxes", type=int, metavar="N",
                       help="keep at most N boxes per image (default: the config's "
                            "max_number_of_boxes)")
    group.add_argument("--drop-difficult", action="store_true",
                       help="drop boxes flagged difficult (TFOD trains on them by default)")
    group.add_argument("--skip-bad", action="store_true",
                       help="skip and count bad records instead of stopping at the first one")
    group.add_argument("--verify-sizes", action="store_true",
                       help="check image/height and image/width against each encoded image header")


def _image_sizes(text: str) -> list[tuple[int, int]]:
    sizes = []
    for part in text.split(","):
        try:
            h, w = part.lower().split("x")
            sizes.append((int(h), int(w)))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected HxW[,HxW...], got {text!r}") from None
        if sizes[-1][0] <= 0 or sizes[-1][1] <= 0:
            raise argparse.ArgumentTypeError(f"image sizes must be positive, got {part!r}")
    return sizes


def _k_range(text: str) -> list[int]:
    try:
        if ":" in text:
            lo, hi = (int(v) for v in text.split(":"))
            ks = list(range(lo, hi + 1))
        else:
            ks = [int(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected K or KMIN:KMAX, got {text!r}") from None
    if not ks or min(ks) < 1:
        raise argparse.ArgumentTypeError(f"k must be >= 1, got {text!r}")
    return ks


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tfod-anchors",
                     description="Fit and check TensorFlow Object Detection API anchors.")
    parser.add_argument("--version", action="version", version=f"tfod-anchors {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    fit = sub.add_parser("fit", help="fit the config's own anchor generator to the boxes")
    fit.add_argument("config", metavar="CONFIG", help="pipeline.config (local or gs://)")
    out = fit.add_mutually_exclusive_group()
    out.add_argument("--output", "-o", metavar="PATH", help="write the patched config here")
    out.add_argument("--in-place", action="store_true",
                     help="rewrite CONFIG atomically, keeping CONFIG.bak")
    fit.add_argument("--no-backup", action="store_true", help="with --in-place: keep no .bak")
    fit.add_argument("--objective", default="recall",
                     choices=["recall", "mean_iou", "recall_0.5", "recall_0.7", "balanced"],
                     help="what to maximise (default: recall at the matcher's threshold, guarded "
                          "so mean IoU and recall@0.5 do not drop)")
    fit.add_argument("--force", action="store_true", help="write even if the fit is not better")
    fit.add_argument("--seed", type=int, default=0, help="seed for every random choice")
    fit.add_argument("--num-scales", type=int, metavar="N",
                     help="change the number of scales (changes anchors per location)")
    fit.add_argument("--num-aspect-ratios", type=int, metavar="N",
                     help="change the number of aspect ratios (changes anchors per location)")
    fit.add_argument("--report", metavar="DIR", help="write PNG plots of before/after here")
    _sources(fit)
    _common(fit)

    check = sub.add_parser("check", help="validate a config (and its coverage of the boxes)")
    check.add_argument("config", metavar="CONFIG")
    check.add_argument("--min-recall", type=_fraction, metavar="R",
                       help="fail (exit 1) when recall at the matched threshold is below R")
    _sources(check)
    _common(check)

    anchors = sub.add_parser("anchors", help="explain/export the anchors TFOD would generate")
    anchors.add_argument("config", metavar="CONFIG")
    anchors.add_argument("--image-size", type=_image_sizes, metavar="HxW[,HxW...]",
                         help="original image size(s) (default: the resizer's output size, or "
                              "1024x1024 for resizers that keep the input size)")
    anchors.add_argument("--export", metavar="FILE",
                         help="write the anchors as .npy (float32 [N,4]) or .csv")
    _common(anchors)

    stats = sub.add_parser("stats", help="box statistics in resized pixels")
    stats.add_argument("--config", metavar="CONFIG",
                       help="use this config's resizer (otherwise original pixels)")
    stats.add_argument("--plot", metavar="FILE.png", help="write a w/h scatter plot")
    _sources(stats, required=True)
    _common(stats)

    cluster = sub.add_parser("cluster", help="classic k-means anchor clustering")
    space = cluster.add_mutually_exclusive_group(required=True)
    space.add_argument("--config", metavar="CONFIG", help="cluster in this config's resized pixels")
    space.add_argument("--normalized", action="store_true",
                       help="cluster boxes normalized per image (the YOLO9000 protocol)")
    cluster.add_argument("--k", type=_k_range, required=True, metavar="K|KMIN:KMAX",
                         help="number of clusters, or a range for the elbow curve")
    cluster.add_argument("--metric", choices=["iou", "euclidean", "ratio-scale"], default="iou")
    cluster.add_argument("--seed", type=int, default=0)
    cluster.add_argument("--plot", metavar="FILE.png", help="write the elbow/scatter plot")
    _sources(cluster)
    _common(cluster)

    from tfod_anchors.commands import extract as extract_command

    extract_command.add_arguments(sub.add_parser("extract", help=extract_command.HELP))
    return parser


def emit_json(document: Any) -> None:
    """Print one JSON document on stdout, deterministically."""
    sys.stdout.write(json.dumps(document, indent=2, allow_nan=False) + "\n")
    sys.stdout.flush()


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    # TensorFlow's C++ start-up chatter would drown the one-line messages; we only
    # use TF for record I/O, where oneDNN makes no difference.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    try:
        args = build_parser().parse_args(argv)
        if not args.command:
            raise UsageError("a command is required: fit, check, anchors, stats, "
                             "cluster or extract (see --help)")
        module = importlib.import_module(_COMMANDS[args.command])
        return int(module.run(args))
    except TfodAnchorsError as err:
        if debug:
            traceback.print_exc()
        print(f"tfod-anchors: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("tfod-anchors: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - last line of defence, one line unless --debug
        if debug:
            traceback.print_exc()
        print(f"tfod-anchors: error: unexpected {type(err).__name__}: {err} "
              "(rerun with --debug for a traceback)", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
