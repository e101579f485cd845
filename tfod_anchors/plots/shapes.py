"""PNG scatter of box shapes (width vs height, log-log) with the anchor shapes on top.

Conventions (resized pixels, box shapes ``(width, height)``, anchor shapes
``(height, width)``, matplotlib imported only when drawing, byte-stable output) in
:mod:`._common`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tfod_anchors.plots._common import (
    AFTER_COLOR,
    BEFORE_COLOR,
    figure,
    out_path,
    pairs,
    set_title,
    subsample,
)

SCATTER_MAX = 2000          # below this many boxes: single points; above: hexbin density


def _positive(wh: np.ndarray) -> np.ndarray:
    """Rows with finite, strictly positive width and height (log axes)."""
    keep = np.all(np.isfinite(wh), axis=1) & np.all(wh > 0.0, axis=1)
    return wh[keep]


def _guides(ax, lo: float, hi: float) -> None:
    """Faint lines of constant aspect ratio (w/h = 1:2, 1:1, 2:1) and of the COCO size-band
    areas (32², 96²) on log-log axes spanning ``[lo, hi]`` px."""
    line = np.geomspace(lo, hi, 2)
    for ratio, text in ((0.5, "w/h = 1:2"), (1.0, "w/h = 1:1"), (2.0, "w/h = 2:1")):
        ax.plot(line, line / ratio, color="0.45", lw=0.8, ls="--", alpha=0.8, zorder=3)
        x = lo * 1.6 * max(1.0, ratio)
        ax.annotate(text, (x, x / ratio), xytext=(-5, 5), textcoords="offset points",
                    ha="left", va="bottom", fontsize=7.5, color="0.3", rotation=45,
                    rotation_mode="anchor", zorder=3)
    for side in (32.0, 96.0):
        area = side * side
        if not lo * lo < area < hi * hi:
            continue
        ax.plot(line, area / line, color="0.45", lw=0.8, ls=":", alpha=0.8, zorder=3)
        x = min(hi / 1.5, area / lo / 1.5)
        ax.annotate(f"area {side:g}²", (x, area / x), xytext=(4, 4), textcoords="offset points",
                    ha="right", va="bottom", fontsize=7.5, color="0.3", rotation=-45,
                    rotation_mode="anchor", zorder=3)


def _draw_anchors(ax, hw: np.ndarray, label: str, color: str, marker: str, filled: bool) -> None:
    shapes = np.unique(_positive(hw[:, ::-1]), axis=0)  # (w, h), duplicates across levels once
    if shapes.size == 0:
        return
    ax.scatter(shapes[:, 0], shapes[:, 1], s=70, marker=marker, linewidths=1.8, zorder=5,
               facecolors=color if filled else "none", edgecolors=color if not filled else "white",
               label=f"{label} ({len(shapes)} shapes)")


#: Box-size quantiles the axes span (with the anchors): degenerate boxes from augmented
#: crops (widths of 1e-5 px) would otherwise stretch log axes over ten decades.
AXIS_QUANTILES = (0.005, 0.995)


def axis_span(boxes: np.ndarray, anchor_sets: list[np.ndarray],
              strides: tuple[float, ...] = ()) -> tuple[float, float, int]:
    """``(lo, hi, outside)``: log-axis limits in px spanning the boxes' robust quantile
    range (:data:`AXIS_QUANTILES` of widths and heights), every anchor shape and the
    strides, with a margin; ``outside`` counts the boxes beyond them (left out)."""
    parts = [a for a in anchor_sets if a.size]
    if boxes.size:
        parts.append(np.quantile(boxes, AXIS_QUANTILES, axis=0).reshape(-1, 2))
    parts += [np.array([[s, s]]) for s in strides if s > 0]
    pool = np.concatenate(parts or [np.ones((1, 2))], axis=0)
    lo, hi = float(pool.min()) / 1.6, float(pool.max()) * 1.6
    inside = np.all((boxes >= lo) & (boxes <= hi), axis=1) if boxes.size else np.ones(0, bool)
    return lo, hi, int((~inside).sum())


def _draw_boxes(fig, ax, shown: np.ndarray, what: str, lo: float, hi: float) -> None:
    """Box shapes as points, or as a log hexbin density above :data:`SCATTER_MAX`."""
    if shown.shape[0] > SCATTER_MAX:
        hb = ax.hexbin(shown[:, 0], shown[:, 1], xscale="log", yscale="log", gridsize=70,
                       bins="log", mincnt=1, cmap="Blues", extent=np.log10([lo, hi, lo, hi]),
                       linewidths=0.0, zorder=2)
        fig.colorbar(hb, ax=ax, shrink=0.8, label="boxes per cell (log scale)")
        ax.scatter([], [], marker="h", color="#4a90c8", label=what)
    elif shown.shape[0]:
        ax.scatter(shown[:, 0], shown[:, 1], s=9, color="#1f77b4", alpha=0.35,
                   linewidths=0, zorder=2, label=what)
    else:
        ax.text(0.5, 0.5, "no boxes to show", transform=ax.transAxes, ha="center",
                va="center", color="0.3")


def _draw_strides(ax, strides: tuple[float, ...], hi: float) -> None:
    """The feature-map strides: an anchor narrower (lower) than its level's stride
    misses boxes centred between cells (``check``'s ``anchor_below_stride``)."""
    for i, stride in enumerate(sorted(set(strides))):
        ax.axvline(stride, color="#2ca02c", lw=0.9, ls="-.", alpha=0.8, zorder=3,
                   label="finest feature-map stride" if i == 0 else None)
        ax.axhline(stride, color="#2ca02c", lw=0.9, ls="-.", alpha=0.8, zorder=3)
        ax.annotate(f"stride {stride:.3g} px", (hi / 1.1, stride), xytext=(0, 2),
                    textcoords="offset points", fontsize=7.5, color="#2ca02c", ha="right",
                    va="bottom")


def _anchor_sets(anchor_hw, before) -> list[tuple[np.ndarray, str, str, str, bool]]:
    """``(hw, label, colour, marker, filled)`` per anchor set to draw."""
    after = pairs(anchor_hw, "anchor_hw")
    before = pairs(before, "before")
    if before is not None and after is not None:
        return [(before, "anchors before", BEFORE_COLOR, "o", False),
                (after, "anchors after", AFTER_COLOR, "X", True)]
    only = after if after is not None else before
    return [] if only is None else [(only, "anchors", AFTER_COLOR, "X", True)]


def plot_box_shapes(
    wh,
    anchor_hw,
    path,
    *,
    title: str | None = None,
    max_points: int = 50000,
    seed: int = 0,
    before=None,
    strides: tuple[float, ...] = (),
) -> Path:
    """Box width vs height (resized px, log-log) with the anchor shapes on top.

    The axes span the boxes' robust size range (:data:`AXIS_QUANTILES`) and every
    anchor shape; boxes beyond it, and empty ones, are counted in the legend.

    Args:
        wh: ``[N, 2]`` box (width, height) in resized pixels.
        anchor_hw: ``[S, 2]`` anchor (height, width) in resized pixels, or None: "anchors",
            or with ``before`` the fitted set, "anchors after" (red).
        path: PNG to write.
        title: second title line (e.g. config and data names).
        max_points: boxes drawn at most; more are subsampled with ``seed``.
        before: ``[S, 2]`` (height, width) of the config's own anchors, "anchors before"
            (grey rings), or None.
        strides: feature-map strides in px, drawn as lines (none when empty).
    Returns:
        ``path`` as a :class:`Path`.
    """
    path = out_path(path)
    wh_all = pairs(wh, "wh", allow_none=False)
    sets = _anchor_sets(anchor_hw, before)
    assert wh_all is not None  # required above
    boxes = _positive(wh_all)
    empty = wh_all.shape[0] - boxes.shape[0]
    lo, hi, outside = axis_span(boxes, [_positive(s[0][:, ::-1]) for s in sets],
                                tuple(strides))
    inside = boxes[np.all((boxes >= lo) & (boxes <= hi), axis=1)]
    shown = inside[subsample(inside.shape[0], int(max_points), seed)]
    what = f"{boxes.shape[0]:,} boxes"
    if shown.shape[0] < inside.shape[0]:
        what = f"{shown.shape[0]:,} of {boxes.shape[0]:,} boxes (random sample, seed {seed})"
    left_out = [f"{n:,} {why}" for n, why in ((outside, "beyond the axes"), (empty, "empty"))
                if n]
    if left_out:
        what += f"; left out: {', '.join(left_out)}"
    dense = shown.shape[0] > SCATTER_MAX
    with figure(path, figsize=(7.6, 6.2) if dense else (6.6, 6.2)) as fig:
        ax = fig.add_subplot()
        ax.set_xscale("log")
        ax.set_yscale("log")
        _guides(ax, lo, hi)
        _draw_boxes(fig, ax, shown, what, lo, hi)
        _draw_strides(ax, tuple(strides), hi)
        for hw, label, color, marker, filled in sets:
            _draw_anchors(ax, hw, label, color, marker, filled)
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_aspect("equal")
        ax.grid(True, which="major", color="0.9", lw=0.6, zorder=0)
        ax.set_xlabel("box width (resized px)")
        ax.set_ylabel("box height (resized px)")
        set_title(ax, "Box shapes and anchor shapes", title)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper left", fontsize=8, framealpha=0.9)
    return path
