"""Running the command line in-process: exit code, stdout and stderr (``capsys``)."""

from __future__ import annotations

import json

from tfod_anchors.cli import main


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    """``main(argv)`` in this process: ``(exit code, stdout, stderr)``."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys, *argv: str):
    """``main(argv + ["--json"])``: ``(exit code, the parsed document, stderr)``."""
    code, out, err = run_cli(capsys, *argv, "--json")
    return code, json.loads(out), err
