"""The code base stays ruff- and mypy-clean (both are in the ``test`` extra)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest
from conftest import ROOT


@pytest.mark.parametrize("tool", [["ruff", "check", "."], ["mypy"]], ids=["ruff", "mypy"])
def test_clean(tool):
    if importlib.util.find_spec(tool[0]) is None:  # run as ``python -m``, as below
        pytest.skip(f"{tool[0]} is not installed (pip install '.[test]')")
    proc = subprocess.run([sys.executable, "-m", *tool], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def test_no_merge_conflict_markers():
    """No tracked text file carries the markers an unfinished merge leaves behind."""
    markers = ("<" * 7 + " ", "=" * 7 + "\n", ">" * 7 + " ")
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True)
    if files.returncode != 0:
        pytest.skip("not a git checkout")
    found = []
    for name in files.stdout.splitlines():
        path = ROOT / name
        if path.suffix not in (".py", ".md", ".cfg", ".toml", ".txt", ".config", ".proto", ""):
            continue
        try:
            lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        except (OSError, UnicodeDecodeError):
            continue
        found += [f"{name}:{i}" for i, line in enumerate(lines, 1) if line.startswith(markers)]
    assert not found, found
