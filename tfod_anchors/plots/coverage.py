"""Coverage plots: the best-IoU distribution and recall by COCO size band, before/after.

Inputs are ``[N]`` best IoUs (or :class:`~tfod_anchors.coverage.metrics.CoverageReport`)
and the metrics dicts of :mod:`tfod_anchors.coverage.metrics`; conventions in
:mod:`._common`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tfod_anchors.errors import UsageError
from tfod_anchors.plots._common import (
    AFTER_COLOR,
    BEFORE_COLOR,
    figure,
    ious,
    out_path,
    set_title,
)

SIZE_BAND_LABELS = (("small", "small\narea < 32²"), ("medium", "medium\n32² – 96²"),
                    ("large", "large\narea ≥ 96²"))


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
    path = out_path(path)
    before = ious(best_iou_before, "best_iou_before")
    if before is None:
        raise UsageError("best_iou_before is required")
    after = ious(best_iou_after, "best_iou_after")
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
    with figure(path, figsize=(7.5, 5.2)) as fig:
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
        # the boxes (how many, static or augmented) are the caller's title line
        set_title(ax, "Best-IoU distribution (curve further right = better coverage)",
                  title if title else f"{before.size:,} boxes")
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
    path = out_path(path)
    series = [("before" if metrics_after is not None else "config anchors", BEFORE_COLOR,
               *_band_values(metrics_before, "metrics_before"))]
    if metrics_after is not None:
        series.append(("after", AFTER_COLOR, *_band_values(metrics_after, "metrics_after")))
    t = metrics_before.get("matched_threshold")
    counts = series[0][3]
    x = np.arange(len(SIZE_BAND_LABELS), dtype=np.float64)
    width = 0.8 / len(series)
    with figure(path, figsize=(7.0, 5.0)) as fig:
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
        set_title(ax, "Recall by box size", title)
        ax.legend(loc="upper left", fontsize=9, ncol=2, framealpha=0.9)
    return path
