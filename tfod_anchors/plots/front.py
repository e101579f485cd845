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


MARK_MARKERS = ("o", "D", "s", "P", "*", "h")


def _metrics(point: Any) -> dict[str, float]:
    m = point.get("metrics", point) if isinstance(point, dict) else point
    recall = m.get("recall_matched", m.get("recall_0.7"))
    out = {"recall": float(recall), "mean_iou": float(m["mean_iou"]),
           "recall_0.5": float(m["recall_0.5"])}
    if m.get("recall_0.7") is not None:
        out["recall_0.7"] = float(m["recall_0.7"])
    return out


def pareto(points: list[dict[str, float]], x: str) -> list[dict[str, float]]:
    """The points not dominated on ``(recall, x)``, sorted by ``x``."""
    keep = [p for p in points
            if not any(q["recall"] >= p["recall"] and q[x] >= p[x]
                       and (q["recall"] > p["recall"] or q[x] > p[x]) for q in points)]
    return sorted(keep, key=lambda p: p[x])


def panels(matched_threshold: float) -> tuple[tuple[str, str], tuple[str, str]]:
    """``((key, label), (key, label))`` of the two x axes: mean IoU, and the other
    recall (recall@0.5, or recall@0.7 when 0.5 is the matched threshold itself)."""
    other = "recall_0.7" if abs(matched_threshold - 0.5) < 1e-9 else "recall_0.5"
    return ("mean_iou", "mean IoU"), (other, other.replace("_", "@"))


def _mark_color(label: str) -> str:
    lowered = label.lower()
    if "config" in lowered:
        return BEFORE_COLOR
    return AFTER_COLOR if "fit" in lowered or "default" in lowered else "#ff7f0e"


def _draw_panel(ax: Any, x: str, fronts: dict[str, list[Any]], marks: dict[str, Any],
                peers: dict[str, list[Any]]) -> None:
    """One panel: the fronts' staircases, the peers' points, the marks (legend only,
    no text on the plot)."""
    for i, (name, pts) in enumerate(fronts.items()):
        ms = [_metrics(p) for p in pts]
        ms = [m for m in ms if x in m]
        if not ms:
            continue
        color = FRONT_COLORS[i % len(FRONT_COLORS)]
        ax.scatter([m[x] for m in ms], [m["recall"] for m in ms], s=14, color=color, alpha=0.5)
        stair = pareto(ms, x)
        ax.plot([m[x] for m in stair], [m["recall"] for m in stair], "-", color=color,
                label=f"front: {name} (unguarded fits)")
    for j, (peer, pts) in enumerate(peers.items()):
        ms = [m for m in (_metrics(p) for p in pts) if x in m]
        ax.scatter([m[x] for m in ms], [m["recall"] for m in ms], s=28,
                   marker=PEER_MARKERS[j % len(PEER_MARKERS)], facecolors="none",
                   edgecolors="black", linewidths=0.8, label=peer)
    for j, (label, point) in enumerate(marks.items()):
        m = _metrics(point)
        if x in m:
            color = _mark_color(label)
            hollow = color == BEFORE_COLOR   # the config: a ring, so a fit on it shows
            ax.scatter([m[x]], [m["recall"]], s=150 if hollow else 70,
                       marker=MARK_MARKERS[j % len(MARK_MARKERS)],
                       facecolors="none" if hollow else color,
                       edgecolors=color if hollow else "white", linewidths=1.8 if hollow else 0.8,
                       zorder=5, label=label)


def front_figure(path: Any, *, fronts: dict[str, list[Any]], marks: dict[str, Any],
                 peers: dict[str, list[Any]] | None = None, title: str | None = None,
                 matched_threshold: float = 0.7, notes: tuple[str, ...] = ()) -> Path:
    """Write the two-panel front plot to ``path``.

    Args:
        fronts: ``{name: [points]}``, each drawn as its Pareto staircase.
        marks: ``{label: point}`` marked individually (the config, the fit, ...);
            labels containing "config" are grey, "fit" or "default" red. Marks are
            named in the legend under the panels, never by text on them.
        peers: ``{peer: [points]}`` (one per seed), one marker per peer.
        title: second title line.
        matched_threshold: the y axis; the right panel's x axis is recall@0.5, or
            recall@0.7 when the matched threshold is 0.5 (never the y metric again).
        notes: lines printed under the plot (e.g. why a point beating the fit was not
            taken).
    """
    path = out_path(path)
    with figure(path, figsize=(12.0, 6.6 + 0.17 * len(notes))) as fig:
        grid = fig.add_gridspec(2, 2, height_ratios=[5.6, 0.55 + 0.17 * len(notes)])
        axes = [fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1])]
        for ax, (x, xlabel) in zip(axes, panels(matched_threshold)):
            _draw_panel(ax, x, fronts, marks, peers or {})
            ax.set_xlabel(xlabel)
            ax.set_ylabel(f"recall@{matched_threshold:g} (the matched threshold)")
            ax.grid(True, alpha=0.3)
        below = fig.add_subplot(grid[1, :])
        below.set_axis_off()
        handles, labels = axes[0].get_legend_handles_labels()
        if handles:
            below.legend(handles, labels, loc="upper center", ncol=min(4, len(labels)),
                         fontsize=8, frameon=False)
        if notes:
            below.text(0.0, 0.0, "\n".join(notes), fontsize=8, ha="left", va="bottom",
                       transform=below.transAxes)
        set_title(axes[0], "Trade-off front: matched recall vs mean IoU / another recall",
                  title)
    return path
