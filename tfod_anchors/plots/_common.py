"""What every plot shares: matplotlib set-up, figure saving, colours, input checks.

Conventions of all plots: sizes in pixels of the resized image (the image the model
sees); anchor shapes ``(height, width)`` like TFOD's, box shapes ``(width, height)``
like :func:`tfod_anchors.cluster.kmeans.resized_wh`; aspect ratio means ``w / h``.

matplotlib is optional (extra ``plot``) and imported only when a plot is drawn. Figures are
built with :class:`matplotlib.figure.Figure` on an Agg canvas (pyplot's global state and the
user's backend are left alone), under matplotlib's default style (the user's rcParams do not
leak in), and saved without the ``Software`` tag: the same inputs give the same bytes with the
same matplotlib version.
"""

from __future__ import annotations

import contextlib
import os
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from tfod_anchors.errors import UsageError, WriteError

MISSING_MATPLOTLIB = "--plot needs matplotlib: pip install 'tfod-anchors[plot]'"
FIGSIZE = (7.5, 6.0)
DPI = 110
BEFORE_COLOR, AFTER_COLOR = "#6c6c6c", "#d62728"


# ---------------------------------------------------------------- matplotlib plumbing

def matplotlib_parts() -> tuple[Any, Any, Any]:
    """``(Figure, FigureCanvasAgg, style)`` or :class:`UsageError` when matplotlib is missing."""
    try:
        from matplotlib import style
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as err:
        raise UsageError(MISSING_MATPLOTLIB) from err
    return Figure, FigureCanvasAgg, style


@contextlib.contextmanager
def figure(path: Any, figsize: tuple[float, float] = FIGSIZE) -> Iterator[Any]:
    """Yield a constrained-layout Figure; on normal exit save it to ``path`` as PNG."""
    Figure, FigureCanvasAgg, style = matplotlib_parts()
    with style.context("default"):
        fig = Figure(figsize=figsize, dpi=DPI, layout="constrained")
        FigureCanvasAgg(fig)
        yield fig
        try:
            fig.savefig(os.fspath(path), format="png", dpi=DPI, metadata={"Software": None})
        except OSError as err:
            raise WriteError(f"cannot write plot: {err.strerror or err}", path=str(path)) from err


def set_title(ax: Any, what: str, title: str | None) -> None:
    """Plot kind on the first line, the caller's title (wrapped) below it."""
    lines = [what] + (textwrap.wrap(title, 80) if title else [])
    ax.set_title("\n".join(lines), fontsize=11, loc="left")


def out_path(path: Any) -> Path:
    if path is None or str(path) == "":
        raise UsageError("plot path must not be empty")
    return Path(path)


# ---------------------------------------------------------------- input checks

def pairs(value: Any, name: str, allow_none: bool = True) -> np.ndarray | None:
    """float64 ``[N, 2]`` from array-like, or None."""
    if value is None:
        if allow_none:
            return None
        raise UsageError(f"{name} is required")
    arr = np.asarray(value, dtype=np.float64)
    if arr.size == 0:
        return np.zeros((0, 2), dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise UsageError(f"{name} must have shape [N, 2], got {list(arr.shape)}")
    return arr


def ious(value: Any, name: str) -> np.ndarray | None:
    """float64 ``[N]`` of IoUs in [0, 1] (a CoverageReport is taken by its ``best_iou``)."""
    if value is None:
        return None
    value = getattr(value, "best_iou", value)
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim != 1:
        raise UsageError(f"{name} must have shape [N], got {list(arr.shape)}")
    if arr.size and not (np.all(np.isfinite(arr)) and arr.min() >= 0.0 and arr.max() <= 1.0):
        raise UsageError(f"{name} must hold IoUs in [0, 1]")
    return arr


def subsample(n: int, max_points: int, seed: int = 0) -> np.ndarray:
    """int64 indices, sorted: all of ``range(n)`` or ``max_points`` of them drawn without
    replacement with ``numpy.random.default_rng(seed)``."""
    if max_points < 1:
        raise UsageError(f"max_points must be positive, got {max_points!r}")
    if n <= max_points:
        return np.arange(n, dtype=np.int64)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=max_points, replace=False)).astype(np.int64)
