"""Recall per class, before/after a fit (``fit --report``: ``recall_by_class.png``).

Input is the ``fit --json`` ``by_class`` block (``{id: {count, before, after}}``,
:func:`tfod_anchors.outcome.by_class_before_after`); conventions in :mod:`._common`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tfod_anchors.plots._common import AFTER_COLOR, BEFORE_COLOR, figure, out_path, set_title

#: Classes drawn at most (the most boxes first).
MAX_CLASSES = 30


def plot_recall_by_class(by_class: dict[str, dict[str, Any]], path: Any, *,
                         matched_threshold: float, names: dict[str, str] | None = None,
                         title: str | None = None) -> Path:
    """Horizontal bars: recall at the matched threshold per class, before and after, for
    the :data:`MAX_CLASSES` classes with the most boxes (most first).

    Args:
        by_class: ``{id: {count, before: {recall_matched}, after: {recall_matched}}}``.
        path: PNG to write.
        matched_threshold: for the axis label.
        names: class id -> name, where known.
        title: second title line.
    """
    path = out_path(path)
    names = names or {}
    rows = sorted(by_class.items(), key=lambda kv: (-kv[1]["count"], kv[0]))[:MAX_CLASSES]
    y = np.arange(len(rows), dtype=np.float64)
    height = 0.4
    with figure(path, figsize=(7.0, 1.2 + 0.28 * max(len(rows), 1))) as fig:
        ax = fig.add_subplot()
        for offset, key, color in ((-height / 2, "before", BEFORE_COLOR),
                                   (height / 2, "after", AFTER_COLOR)):
            ax.barh(y + offset, [e[key]["recall_matched"] for _, e in rows], height * 0.92,
                    color=color, label=key, zorder=2)
        ax.set_yticks(y)
        ax.set_yticklabels([f"{names.get(cid, cid)} ({e['count']:,})" for cid, e in rows],
                           fontsize=8)
        ax.invert_yaxis()
        ax.set_xlim(0.0, 1.0)
        ax.grid(True, axis="x", color="0.9", lw=0.6, zorder=0)
        ax.set_xlabel(f"recall at the matched threshold (best IoU ≥ {matched_threshold:g})")
        more = len(by_class) - len(rows)
        set_title(ax, "Recall by class" + (f" ({more} smaller classes not shown)" if more
                                           else ""), title)
        ax.legend(loc="lower right", fontsize=9, framealpha=0.9)
    return path
