"""Command line: ``tfod-anchors {fit,check,anchors,stats,cluster}``.

A thin registry: each module of :mod:`tfod_anchors.commands` owns its flags
(``add_arguments``) and its work (``run``). This module builds the parser from
them, dispatches, and turns errors into the exit codes of
:mod:`tfod_anchors.errors` (0 done / config OK, 1 ``check`` failed, 2 bad usage
or bad input). Human text goes to stderr; ``--json`` prints exactly one JSON
document on stdout.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Sequence

from tfod_anchors import __version__
from tfod_anchors.errors import EXIT_BAD_INPUT, TfodAnchorsError, UsageError

#: Command name -> module, in ``--help`` order.
COMMANDS = {
    "fit": "tfod_anchors.commands.fit",
    "check": "tfod_anchors.commands.check",
    "anchors": "tfod_anchors.commands.anchors",
    "stats": "tfod_anchors.commands.stats",
    "cluster": "tfod_anchors.commands.cluster",
}


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors on one line with exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        where = self.prog.replace("tfod-anchors", "").strip()
        raise UsageError(f"{where + ': ' if where else ''}{message} (see --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tfod-anchors",
                     description="Fit and check TensorFlow Object Detection API anchors.")
    parser.add_argument("--version", action="version", version=f"tfod-anchors {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        module.add_arguments(sub.add_parser(name, help=module.HELP))
    return parser


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
            *others, last = COMMANDS
            raise UsageError(f"a command is required: {', '.join(others)} or {last} "
                             "(see --help)")
        module = importlib.import_module(COMMANDS[args.command])
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
