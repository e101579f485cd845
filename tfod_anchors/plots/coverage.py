"""PNG plots for ``--plot`` and ``--report DIR``: best-IoU CDF, recall by size, elbow, report.

The box-shape scatter lives in :mod:`tfod_anchors.plots.shapes` (``plot_box_shapes``).

Every function takes plain numpy arrays or the metrics dicts of
:mod:`tfod_anchors.coverage.metrics`,
writes one PNG and returns its path. Sizes are in pixels of the resized image (the image the
model sees); anchor shapes are ``(height, width)`` like TFOD's, box shapes ``(width, height)``
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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tfod_anchors.errors import UsageError, WriteError

MISSING_MATPLOTLIB = "--plot needs matplotlib: pip install 'tfod-anchors[plot]'"
SIZE_BAND_LABELS = (("small", "small\narea < 32²"), ("medium", "medium\n32² – 96²"),
                    ("large", "large\narea ≥ 96²"))
REPORT_NAMES = ("shapes.png", "iou_cdf.png", "recall_by_size.png")
FIGSIZE = (7.5, 6.0)
DPI = 110
BEFORE_COLOR, AFTER_COLOR = "#6c6c6c", "#d62728"


# ---------------------------------------------------------------- matplotlib plumbing

def _matplotlib():
    """``(Figure, FigureCanvasAgg, style)`` or :class:`UsageError` when matplotlib is missing."""
    try:
        from matplotlib import style
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as err:
        raise UsageError(MISSING_MATPLOTLIB) from err
    return Figure, FigureCanvasAgg, style


@contextlib.contextmanager
def _figure(path, figsize=FIGSIZE):
    """Yield a constrained-layout Figure; on normal exit save it to ``path`` as PNG."""
    Figure, FigureCanvasAgg, style = _matplotlib()
    with style.context("default"):
        fig = Figure(figsize=figsize, dpi=DPI, layout="constrained")
        FigureCanvasAgg(fig)
        yield fig
        try:
            fig.savefig(os.fspath(path), format="png", dpi=DPI, metadata={"Software": None})
        except OSError as err:
            raise WriteError(f"cannot write plot: {err.strerror or err}", path=str(path)) from err


def _title(ax, what: str, title: str | None) -> None:
    """Plot kind on the first line, the caller's title (wrapped) below it."""
    lines = [what] + (textwrap.wrap(title, 80) if title else [])
    ax.set_title("\n".join(lines), fontsize=11, loc="left")


def _out_path(path) -> Path:
    if path is None or str(path) == "":
        raise UsageError("plot path must not be empty")
    return Path(path)


# ---------------------------------------------------------------- input checks

def _pairs(value, name: str, allow_none: bool = True) -> np.ndarray | None:
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


def _ious(value, name: str) -> np.ndarray | None:
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


# ---------------------------------------------------------------- 1. best-IoU CDF

def _below(values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Share of ``values`` strictly below each ``grid`` point (``values`` sorted), i.e.
    ``1 - recall`` at that IoU."""
    return np.searchsorted(values, grid, side="left") / max(values.size, 1)


def _recall_text(iou: np.ndarray, thresholds: Sequence[float]) -> str:
    if iou.size == 0:
        return "no boxes"
    parts = [f"mean IoU {iou.mean():.3f}"]
    parts += [f"recall@{t:g} {np.mean(iou >= t):.1%}" for t in thresholds]
    return ", ".join(parts)


def plot_iou_cdf(
    best_iou_before,
    best_iou_after,
    path,
    *,
    thresholds: Sequence[float] = (0.5, 0.7),
    matched_threshold: float | None = None,
    title: str | None = None,
) -> Path:
    """CDF of each box's best positioned IoU with any anchor, before (and after) fitting.

    The curve is the share of boxes whose best IoU is below x, so ``1 - curve(t)`` is the
    recall at IoU t (dots mark it at every threshold).

    Args:
        best_iou_before: ``[N]`` best IoU per box (or a ``CoverageReport``).
        best_iou_after: ``[N]`` after fitting, or None.
        path: PNG to write.
        thresholds: IoUs marked by vertical lines; recall (share of boxes with best IoU
            ``>=`` t) at each is given in the legend.
        matched_threshold: the matcher's matched threshold, marked and added to the legend.
        title: second title line.
    Returns:
        ``path`` as a :class:`Path`.
    """
    path = _out_path(path)
    before = _ious(best_iou_before, "best_iou_before")
    if before is None:
        raise UsageError("best_iou_before is required")
    after = _ious(best_iou_after, "best_iou_after")
    marks = sorted({float(t) for t in thresholds})
    if matched_threshold is not None:
        matched_threshold = float(matched_threshold)
        if not 0.0 < matched_threshold <= 1.0:
            raise UsageError(f"matched_threshold must be in (0, 1], got {matched_threshold!r}")
    if any(not 0.0 < t <= 1.0 for t in marks):
        raise UsageError(f"thresholds must be in (0, 1], got {list(thresholds)!r}")
    legend_t = sorted(set(marks) | ({matched_threshold} if matched_threshold else set()))
    grid = np.linspace(0.0, 1.0, 1001)
    curves = [(before, "before" if after is not None else "config anchors", BEFORE_COLOR)]
    if after is not None:
        curves.append((after, "after", AFTER_COLOR))
    with _figure(path, figsize=(7.5, 5.2)) as fig:
        ax = fig.add_subplot()
        sorted_curves = [np.sort(c[0]) for c in curves]
        for t in legend_t:
            matched = t == matched_threshold
            ax.axvline(t, color="black" if matched else "0.55", lw=1.1 if matched else 0.9,
                       ls="--" if matched else ":", zorder=1)
            # label beside the line where no curve passes: above the curves or below them
            at = [float(_below(c, np.array([t]))[0]) for c in sorted_curves]
            above = max(at) < 0.5
            y = max(at) + 0.06 if above else min(at) - 0.06
            text = f"matched threshold {t:g}" if matched else f"IoU {t:g}"
            ax.annotate(text, (t, y), xytext=(-3, 0), textcoords="offset points", ha="right",
                        va="bottom" if above else "top", fontsize=8, rotation=90,
                        color="black" if matched else "0.35")
        for (iou, name, color), ordered in zip(curves, sorted_curves):
            label = f"{name}: {_recall_text(iou, legend_t)}"
            ax.plot(grid, _below(ordered, grid), color=color, lw=2.0, label=label, zorder=3)
            marks_t = np.asarray(legend_t, dtype=np.float64)
            ax.plot(marks_t, _below(ordered, marks_t), ls="none", marker="o", ms=4,
                    color=color, zorder=4)
        ax.set_xlim(0.0, 1.0)
        ax.set_ylim(0.0, 1.02)
        ax.yaxis.set_major_formatter(_percent_formatter())
        ax.grid(True, color="0.92", lw=0.6, zorder=0)
        ax.set_xlabel("best IoU of a box with any anchor (at the anchors' real positions)")
        ax.set_ylabel("share of boxes with best IoU < x  (= 1 − recall at x)")
        _title(ax, f"Best-IoU distribution, {before.size:,} boxes "
                   "(curve further right = better coverage)", title)
        ax.legend(loc="upper left", fontsize=8, framealpha=0.9)
    return path


def _percent_formatter():
    from matplotlib.ticker import PercentFormatter
    return PercentFormatter(xmax=1.0, decimals=0)


# ---------------------------------------------------------------- 2. recall by size band

def _band_values(metrics: dict, name: str) -> tuple[list, list]:
    """``recall_matched`` and ``count`` per size band from a coverage metrics dict."""
    by_size = metrics.get("by_size") if isinstance(metrics, dict) else None
    if not isinstance(by_size, dict):
        raise UsageError(f"{name} must be a coverage metrics dict with 'by_size'")
    recalls, counts = [], []
    for band, _ in SIZE_BAND_LABELS:
        entry = by_size.get(band, {}) or {}
        counts.append(int(entry.get("count", 0) or 0))
        r = entry.get("recall_matched")
        recalls.append(None if r is None else float(r))
    return recalls, counts


def plot_recall_by_size(
    metrics_before: dict,
    metrics_after: dict | None,
    path,
    *,
    title: str | None = None,
) -> Path:
    """Grouped bars: recall at the matched threshold per size band (small/medium/large).

    Args:
        metrics_before, metrics_after: coverage metrics dicts (``by_size`` with ``count`` and
            ``recall_matched`` per band; ``matched_threshold``); ``metrics_after`` may be None.
        path: PNG to write.
        title: second title line.
    Returns:
        ``path`` as a :class:`Path`.
    """
    path = _out_path(path)
    series = [("before" if metrics_after is not None else "config anchors", BEFORE_COLOR,
               *_band_values(metrics_before, "metrics_before"))]
    if metrics_after is not None:
        series.append(("after", AFTER_COLOR, *_band_values(metrics_after, "metrics_after")))
    t = metrics_before.get("matched_threshold")
    counts = series[0][3]
    x = np.arange(len(SIZE_BAND_LABELS), dtype=np.float64)
    width = 0.8 / len(series)
    with _figure(path, figsize=(7.0, 5.0)) as fig:
        ax = fig.add_subplot()
        for i, (name, color, recalls, _) in enumerate(series):
            pos = x - 0.4 + width * (i + 0.5)
            heights = [0.0 if r is None else r for r in recalls]
            bars = ax.bar(pos, heights, width * 0.92, color=color, label=name, zorder=2)
            for bar, r in zip(bars, recalls):
                text = "no boxes" if r is None else f"{r:.1%}"
                ax.annotate(text, (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                            xytext=(0, 2), textcoords="offset points", ha="center",
                            va="bottom", fontsize=8)
        ax.set_xticks(x)
        ax.set_xticklabels([f"{label}\n{n:,} boxes" for (_, label), n in zip(SIZE_BAND_LABELS,
                                                                              counts)])
        ax.set_xlim(-0.6, len(SIZE_BAND_LABELS) - 0.4)
        ax.set_ylim(0.0, 1.1)
        ax.set_yticks(np.linspace(0.0, 1.0, 6))
        ax.yaxis.set_major_formatter(_percent_formatter())
        ax.grid(True, axis="y", color="0.9", lw=0.6, zorder=0)
        ax.set_xlabel("box size band (area in resized px²)")
        t_text = f" (best IoU ≥ {t:g})" if isinstance(t, (int, float)) else ""
        ax.set_ylabel(f"recall at the matched threshold{t_text}")
        _title(ax, "Recall by box size", title)
        ax.legend(loc="upper left", fontsize=9, ncol=2, framealpha=0.9)
    return path


# ---------------------------------------------------------------- 3. elbow

def plot_elbow(
    ks,
    mean_ious,
    path,
    *,
    chosen_k: int | None = None,
    title: str | None = None,
    ylabel: str = "mean IoU of each box with its nearest centroid",
) -> Path:
    """Elbow curve: mean IoU against the number of clusters k.

    Args:
        ks: ``[M]`` distinct integers ``>= 1``.
        mean_ious: ``[M]`` mean IoU for each k, in [0, 1].
        path: PNG to write.
        chosen_k: highlighted when it is one of ``ks``.
        title: second title line.
        ylabel: y axis label (what the mean IoU is over).
    Returns:
        ``path`` as a :class:`Path`.
    """
    path = _out_path(path)
    k = np.asarray(ks, dtype=np.float64).ravel()
    m = np.asarray(mean_ious, dtype=np.float64).ravel()
    if k.size == 0 or k.shape != m.shape:
        raise UsageError(f"ks and mean_ious must be non-empty and of equal length, got "
                         f"{k.size} and {m.size}")
    if np.any(k != np.round(k)) or np.any(k < 1) or np.unique(k).size != k.size:
        raise UsageError("ks must be distinct integers >= 1")
    if not np.all(np.isfinite(m)):
        raise UsageError("mean_ious must be finite")
    order = np.argsort(k)
    k, m = k[order].astype(np.int64), m[order]
    with _figure(path, figsize=(7.0, 4.8)) as fig:
        ax = fig.add_subplot()
        ax.plot(k, m, marker="o", color="#1f77b4", lw=1.8, ms=5, zorder=3)
        if chosen_k is not None and int(chosen_k) in set(k.tolist()):
            j = int(np.flatnonzero(k == int(chosen_k))[0])
            ax.scatter([k[j]], [m[j]], s=160, facecolors="none", edgecolors=AFTER_COLOR,
                       linewidths=2.0, zorder=4, label=f"chosen k = {k[j]}: {m[j]:.3f}")
            ax.legend(loc="lower right", fontsize=9)
        for kk, mm in zip(k, m):
            ax.annotate(f"{mm:.3f}", (kk, mm), xytext=(0, 7), textcoords="offset points",
                        ha="center", va="bottom", fontsize=7, color="0.3")
        ax.set_xticks(k if k.size <= 25 else np.unique(np.linspace(k[0], k[-1], 13).round()))
        pad = max(0.02, 0.08 * float(m.max() - m.min()))
        ax.set_ylim(float(m.min()) - pad, float(m.max()) + 2 * pad)
        if k.size == 1:
            ax.set_xlim(k[0] - 1, k[0] + 1)
        ax.grid(True, color="0.92", lw=0.6, zorder=0)
        ax.set_xlabel("number of clusters k")
        ax.set_ylabel(ylabel)
        _title(ax, "Elbow: mean IoU vs number of clusters", title)
    return path


# ---------------------------------------------------------------- 4. fit report

def write_report(
    dir,
    *,
    wh,
    anchors_before,
    anchors_after=None,
    coverage_before: Any,
    coverage_after: Any = None,
    metrics_before: dict | None = None,
    metrics_after: dict | None = None,
    title: str | None = None,
    seed: int = 0,
) -> list[Path]:
    """Write ``shapes.png``, ``iou_cdf.png`` and ``recall_by_size.png`` into ``dir`` (created).

    Args:
        dir: output directory.
        wh: ``[N, 2]`` box (width, height), resized px.
        anchors_before, anchors_after: ``[S, 2]`` anchor (height, width), resized px
            (``anchors_after`` None when nothing was fitted).
        coverage_before, coverage_after: ``CoverageReport`` or ``[N]`` best IoU per box.
        metrics_before, metrics_after: coverage metrics dicts; default to the reports'
            ``metrics``.
        title: second title line of every plot.
        seed: subsampling seed of the shape plot.
    Returns:
        the three paths, in the order above.
    """
    out = Path(dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise WriteError(f"cannot create report directory: {err.strerror or err}",
                         path=str(out)) from err
    if metrics_before is None:
        metrics_before = getattr(coverage_before, "metrics", None)
    if metrics_after is None and coverage_after is not None:
        metrics_after = getattr(coverage_after, "metrics", None)
    if not metrics_before:
        raise UsageError("write_report needs metrics_before (or a CoverageReport)")
    from tfod_anchors.plots.shapes import plot_box_shapes  # it imports this module

    shapes, cdf, bands = (out / name for name in REPORT_NAMES)
    plot_box_shapes(wh, None, shapes, title=title, seed=seed,
                    anchors_before=anchors_before, anchors_after=anchors_after)
    plot_iou_cdf(coverage_before, coverage_after, cdf,
                 matched_threshold=metrics_before.get("matched_threshold"), title=title)
    plot_recall_by_size(metrics_before, metrics_after, bands, title=title)
    return [shapes, cdf, bands]
