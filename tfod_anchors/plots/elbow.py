"""The elbow plot of ``cluster --k KMIN:KMAX``: mean IoU against the number of clusters."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tfod_anchors.errors import UsageError
from tfod_anchors.plots._common import AFTER_COLOR, figure, out_path, set_title


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
    path = out_path(path)
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
    with figure(path, figsize=(7.0, 4.8)) as fig:
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
        set_title(ax, "Elbow: mean IoU vs number of clusters", title)
    return path
