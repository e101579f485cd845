"""Small helpers shared by the command modules: config loading, stderr text, JSON."""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np

from tfod_anchors.config.files import LoadedConfig, load_config

FLOAT_DIGITS = 6


def say(args: Any, text: str = "") -> None:
    """Human text on stderr, unless ``--quiet``."""
    if not getattr(args, "quiet", False):
        print(text, file=sys.stderr)


def load(path: str) -> LoadedConfig:
    """Read and strictly parse a pipeline.config (ConfigError on any problem)."""
    return load_config(path)


def jsonable(value: Any) -> Any:
    """``value`` with numpy types turned into Python ones and floats rounded to
    ``FLOAT_DIGITS`` decimals, so the JSON is stable across platforms; NaN -> None."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return None if not math.isfinite(value) else round(value, FLOAT_DIGITS)
    return value


def fmt(value: Any, digits: int = 3) -> str:
    """A metric for a text table (``-`` when missing)."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def table(rows: list[list[str]]) -> str:
    """Left-aligned first column, right-aligned others."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for r in rows:
        cells = [r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:])]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def skipped_lines(skipped: dict[str, int], examples: dict[str, str]) -> list[str]:
    """One line per skip reason with its count and first example."""
    out = []
    for key, count in skipped.items():
        if not count:
            continue
        example = examples.get(key)
        out.append(f"  {key}: {count}" + (f" (first: {example})" if example else ""))
    return out
