"""The trade-off front of a fit: recall at the matched threshold against mean IoU and
against recall@0.5, with named anchor sets marked (the config, the fit, reference or
peer sets).

Points are metric dicts with ``recall_matched`` (or ``recall_0.7``), ``mean_iou`` and
``recall_0.5`` (shares in [0, 1]); a front is a list of them (or of ``{"metrics": ...}``
rows), drawn as its non-dominated staircase.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tfod_anchors.plots._common import AFTER_COLOR, BEFORE_COLOR, figure, out_path, set_title

FRONT_COLORS = ("#1f77b4", "#2ca02c", "#9467bd", "#8c564b")
PEER_MARKERS = ("^", "v", "<", ">", "s", "D", "P", "X", "*", "h")


def _metrics(point: Any) -> dict[str, float]:
    m = point.get("metrics", point) if isinstance(point, dict) else point
    recall = m.get("recall_matched", m.get("recall_0.7"))
    return {"recall": float(recall), "mean_iou": float(m["mean_iou"]),
            "recall_0.5": float(m["recall_0.5"])}


def pareto(points: list[dict[str, float]], x: str) -> list[dict[str, float]]:
    """The points not dominated on ``(recall, x)``, sorted by ``x``."""
    keep = [p for p in points
            if not any(q["recall"] >= p["recall"] and q[x] >= p[x]
                       and (q["recall"] > p["recall"] or q[x] > p[x]) for q in points)]
    return sorted(keep, key=lambda p: p[x])


def front_figure(path: Any, *, fronts: dict[str, list[Any]], marks: dict[str, Any],
                 peers: dict[str, list[Any]] | None = None, title: str | None = None,
                 matched_threshold: float = 0.7) -> Path:
    """Write the two-panel front plot to ``path``.

    Args:
        fronts: ``{name: [points]}``, each drawn as its Pareto staircase.
        marks: ``{label: point}`` marked individually (the config, the fit, ...);
            labels containing "config" are grey, "fit" or "default" red.
        peers: ``{peer: [points]}`` (one per seed), one marker per peer.
        title: second title line.
    """
    path = out_path(path)
    with figure(path, figsize=(12.0, 5.6)) as fig:
        axes = fig.subplots(1, 2)
        for ax, x, xlabel in ((axes[0], "mean_iou", "mean IoU"),
                              (axes[1], "recall_0.5", "recall@0.5")):
            for i, (name, pts) in enumerate(fronts.items()):
                ms = [_metrics(p) for p in pts]
                if not ms:
                    continue
                color = FRONT_COLORS[i % len(FRONT_COLORS)]
                ax.scatter([m[x] for m in ms], [m["recall"] for m in ms], s=14, color=color,
                           alpha=0.5)
                stair = pareto(ms, x)
                ax.plot([m[x] for m in stair], [m["recall"] for m in stair], "-", color=color,
                        label=f"front: {name}")
            for j, (peer, pts) in enumerate((peers or {}).items()):
                ms = [_metrics(p) for p in pts]
                ax.scatter([m[x] for m in ms], [m["recall"] for m in ms], s=28,
                           marker=PEER_MARKERS[j % len(PEER_MARKERS)], facecolors="none",
                           edgecolors="black", linewidths=0.8, label=peer)
            for label, point in marks.items():
                m = _metrics(point)
                lowered = label.lower()
                color = BEFORE_COLOR if "config" in lowered else (
                    AFTER_COLOR if "fit" in lowered or "default" in lowered else "#ff7f0e")
                ax.scatter([m[x]], [m["recall"]], s=60, marker="o", color=color, zorder=5)
                ax.annotate(label, (m[x], m["recall"]), textcoords="offset points",
                            xytext=(5, 4), fontsize=7)
            ax.set_xlabel(xlabel)
            ax.set_ylabel(f"recall@{matched_threshold:g} (matched threshold)")
            ax.grid(True, alpha=0.3)
        axes[0].legend(fontsize=7, loc="lower left")
        set_title(axes[0], "Trade-off front: matched recall vs mean IoU / recall@0.5", title)
    return path
