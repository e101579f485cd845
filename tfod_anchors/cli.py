"""Command line: ``tfod-anchors {fit,check,anchors,stats,cluster,extract}``.

A thin registry: each module of :mod:`tfod_anchors.commands` owns its flags
(``add_arguments``) and its work (``run``). This module builds the parser from
them, dispatches, and turns errors into the exit codes of
:mod:`tfod_anchors.errors` (0 done / config OK, 1 ``check`` failed, 2 bad usage
or bad input, 130 interrupted).

Results go to stdout, commentary (progress, notes, warnings, errors) to stderr; see
:mod:`tfod_anchors.commands._common`. With ``--json`` every exit writes exactly one
JSON document on stdout: the command's, or on an error
``{"error": {"code", "kind", "message", "file", "record"}}`` (the one-line message
goes to stderr as well); ``--help``/``--version`` give ``{"help": TEXT}`` and
``{"version": V}``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import os
import sys
import traceback
from collections.abc import Sequence

import numpy as np

from tfod_anchors._version import __version__
from tfod_anchors.commands._common import emit_json, json_emitted, json_streams
from tfod_anchors.errors import (
    EXIT_BAD_INPUT,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_STDOUT_CLOSED,
    ConfigError,
    TfodAnchorsError,
    UsageError,
    speaking,
)

#: Command name -> module, in ``--help`` order.
COMMANDS = {
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

    def parse_args(self, args=None, namespace=None):
        """As argparse, but arguments left over are reported by the command's name (a
        command whose positionals are all optional leaves them to the top parser)."""
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            where = getattr(parsed, "command", None) or ""
            raise UsageError(f"{where + ': ' if where else ''}unrecognized arguments: "
                             f"{' '.join(extras)} (see --help)")
        return parsed


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tfod-anchors",
                     description="Fit and check TensorFlow Object Detection API anchors.")
    parser.add_argument("--version", action="version", version=f"tfod-anchors {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        module.add_arguments(sub.add_parser(name, help=module.HELP))
    return parser


def _json_requested(argv: list[str]) -> bool:
    """``--json`` among the options (before a ``--`` separator), even when parsing fails."""
    head = argv[:argv.index("--")] if "--" in argv else argv
    return "--json" in head


def _error_kind(err: BaseException) -> str:
    """``usage``, ``config``, ``input``, ``write``, ``error`` (other user errors),
    ``interrupted`` or ``internal``: the ``kind`` of a JSON error document."""
    if isinstance(err, KeyboardInterrupt):
        return "interrupted"
    if not isinstance(err, TfodAnchorsError):
        return "internal"
    return err.kind


def _fail(code: int, err: BaseException, message: str, json_mode: bool,
          label: str = "error") -> int:
    """Report an error: ``tfod-anchors: LABEL: MESSAGE`` on stderr; with ``--json`` also the
    error document on stdout (unless the command already wrote its document). Returns
    ``code``."""
    print(f"tfod-anchors: {label}: {message}", file=sys.stderr)
    if json_mode and not json_emitted():
        path, record = None, None
        if isinstance(err, TfodAnchorsError):
            message, path, record = err.message, err.path, err.record
        emit_json({"error": {"code": code, "kind": _error_kind(err), "message": message,
                             "file": None if path is None else str(path), "record": record}})
    return code


def _parse(parser: argparse.ArgumentParser, argv: list[str],
           json_mode: bool) -> argparse.Namespace | None:
    """Parsed arguments, or None after ``--help``/``--version`` (printed; with ``--json``
    as ``{"help": TEXT}`` or ``{"version": V}``)."""
    if not json_mode:
        try:
            return parser.parse_args(argv)
        except SystemExit as stop:
            if stop.code not in (0, None):
                raise
            return None
    text = io.StringIO()
    try:
        with contextlib.redirect_stdout(text):
            return parser.parse_args(argv)
    except SystemExit as stop:
        if stop.code not in (0, None):
            raise
    printed = text.getvalue()
    if printed.strip() == f"tfod-anchors {__version__}":
        emit_json({"version": __version__})
    else:
        emit_json({"help": printed})
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns its exit code (see :mod:`tfod_anchors.errors`)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    json_mode = _json_requested(argv)
    # TensorFlow's C++ start-up chatter would drown the one-line messages; we only
    # use TF for record I/O, where oneDNN makes no difference.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    args: argparse.Namespace | None = None
    with json_streams(json_mode):
        try:
            args = _parse(build_parser(), argv, json_mode)
            if args is None:
                return EXIT_OK
            if not args.command:
                *others, last = COMMANDS
                raise UsageError(f"a command is required: {', '.join(others)} or {last} "
                                 "(see --help)")
            module = importlib.import_module(COMMANDS[args.command])
            # Floating-point overflow and 0/0 in numpy are handled where they matter (an
            # anchor too large to overlap anything has IoU 0); numpy's RuntimeWarnings about
            # them would only be noise on the user's terminal.
            with np.errstate(all="ignore"), speaking("cli"):
                return int(module.run(args))
        except TfodAnchorsError as err:
            if debug:
                traceback.print_exc()
            config = getattr(args, "config", None)
            if isinstance(err, ConfigError) and err.path is None and config:
                err.path = str(config)  # the command's one config: name it
            return _fail(err.exit_code, err, str(err), json_mode)
        except KeyboardInterrupt as err:
            return _fail(EXIT_INTERRUPTED, err, "stopped by Ctrl-C", json_mode,
                         label="interrupted")
        except BrokenPipeError:
            return _stdout_closed()
        except Exception as err:  # noqa: BLE001 - last line of defence, one line unless --debug
            if debug:
                traceback.print_exc()
            return _fail(EXIT_BAD_INPUT, err,
                         f"unexpected {type(err).__name__}: {err} "
                         "(rerun with --debug for a traceback)", json_mode)


def _stdout_closed() -> int:
    """The reader of stdout went away (``tfod-anchors anchors CFG | head``): stop quietly,
    without Python's "Exception ignored" message when stdout is flushed at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        pass
    return EXIT_STDOUT_CLOSED


if __name__ == "__main__":
    sys.exit(main())
