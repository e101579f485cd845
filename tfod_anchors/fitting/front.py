"""The trade-off front of one config and dataset, for ``fit --report``.

Recall at the matched threshold trades against mean IoU and recall@0.5 (a box whose
best anchor misses the threshold is still force-matched to it by TFOD's first stage
and most SSD configs, so its IoU matters too). :func:`trade_off_front` fits the
config's generator for a few weights ``w:R,M,F`` without any guard, on a smaller
search sample than the real fit (the points are measured exactly on all boxes, but
searched more cheaply), and :func:`free_set_metrics` scores free ``(w, h)`` sets
(IoU k-means, or the sets other tools produced) as a one-layer
``flexible_grid_anchor_generator`` on the config's single feature map.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tfod_anchors.boxes import ResizedBoxes
from tfod_anchors.coverage.metrics import METRIC_KEYS, evaluate
from tfod_anchors.frameworks import as_spec

#: Weights (recall at the matched threshold, mean IoU, recall@0.5) of the front points.
FRONT_WEIGHTS = ("w:1,0,0", "w:2,1,0", "w:1,1,0", "w:1,1,1", "w:1,2,2", "w:0,1,0", "w:0,0,1")
FRONT_SEARCH_BOXES = 4_000


def trade_off_front(resized: ResizedBoxes, cfg: Any, *, seed: int = 0,
                    weights: tuple[str, ...] = FRONT_WEIGHTS) -> list[dict]:
    """``[{"objective", "metrics", "guardable", "findings"}]``: one unguarded fit per
    weight, measured exactly; ``guardable`` holds the values the guard's floors are on
    (``band:NAME`` included), ``findings`` the codes of the ``check`` findings its values
    add (e.g. ``anchor_below_stride``, which the stride guard refuses)."""
    from tfod_anchors.fitting.fit import fit_generator
    from tfod_anchors.fitting.guard import Guard
    from tfod_anchors.fitting.objective import flat_metrics

    out = []
    for name in weights:
        fit = fit_generator(resized, cfg, objective=name, seed=seed, guard=Guard.off(),
                            max_boxes_exact=FRONT_SEARCH_BOXES, unguarded_report=False)
        after = fit.after if fit.improved else (fit.best_after or fit.after)
        codes = sorted({f["code"] if isinstance(f, dict) else f.code for f in fit.findings})
        out.append({"objective": name, "metrics": {k: float(after[k]) for k in METRIC_KEYS},
                    "guardable": flat_metrics(after), "findings": codes})
    return out


def dominates(a: dict, b: dict, keys: tuple[str, ...] = METRIC_KEYS) -> bool:
    """Whether metrics ``a`` are at least ``b``'s on every key and better on one."""
    return all(a[k] >= b[k] for k in keys) and any(a[k] > b[k] for k in keys)


def why_not_taken(point: dict, fit: Any) -> str:
    """Why the guarded fit (a :class:`~tfod_anchors.fitting.FitResult`) did not take an
    unguarded front ``point`` that beats it: no gain on the fit's objective (``recall``
    already at its best), the check findings the stride guard refuses, the guard floors
    it breaks, or none of these (then the guarded search did not reach it, or the
    static boxes' guard holds it)."""
    from tfod_anchors.fitting.objective import describe_metric

    matched, guard = fit.matched_threshold, fit.guard or {}
    if fit.objective == "recall":
        mine, theirs = float(fit.after["recall_matched"]), point["metrics"]["recall_matched"]
        if theirs < mine + fit.min_gain:
            return (f"no gain on the objective 'recall' (recall@{matched:g} {theirs:.3f} vs "
                    f"{mine:.3f}); an --objective weighing mean IoU (e.g. w:1,1,0) takes it")
    reasons = []
    if "anchor_below_stride" in point.get("findings", ()):
        reasons.append("an anchor below its stride (stride guard)")
    values = point.get("guardable", {})
    broken = [describe_metric(k, matched) for k, floor in guard.items()
              if k in values and values[k] < floor - 1e-12]
    if broken:
        reasons.append("guard floor(s) broken: " + ", ".join(broken))
    return "; ".join(reasons) or ("no floor broken on these boxes: the guarded search did "
                                  "not reach it, or the static boxes' guard holds it")


def free_set_generator(cfg: Any, wh: np.ndarray) -> Any | None:
    """A one-layer ``flexible_grid_anchor_generator`` of free ``(w, h)`` shapes (resized
    pixels) on the config's grid, for Faster R-CNN's single-map grid generator (the
    stride and offsets kept); None where a free set has no single map to sit on.
    ``cfg``: a model spec or a TFOD config."""
    from tfod_anchors.frameworks.tfod_generators import free_set_generator as free_set

    return free_set(as_spec(cfg).anchors, wh)


def holds_free_shapes(cfg: Any) -> bool:
    """Whether the model's anchors can hold a free ``(w, h)`` set (a flexible grid can;
    scales x ratios grids, SSD and multiscale generators cannot). ``cfg``: a model spec
    or a TFOD config."""
    return bool(as_spec(cfg).param_space().free_shapes)


def free_set_metrics(resized: ResizedBoxes, cfg: Any, wh: np.ndarray) -> dict | None:
    """Exact metrics of free ``(w, h)`` shapes in the config (None where they cannot sit)."""
    model = as_spec(cfg)
    gen = free_set_generator(model, wh)
    if gen is None:
        return None
    new = model.with_anchors(gen)
    m = evaluate(resized, new.layout_function(), new.matcher()).metrics
    return {k: float(m[k]) for k in METRIC_KEYS}


def kmeans_set(resized: ResizedBoxes, k: int, seed: int = 0) -> np.ndarray | None:
    """IoU k-means ``(w, h)`` of the boxes (what k-means anchor tools answer), or None."""
    from tfod_anchors.cluster.kmeans import iou_kmeans
    from tfod_anchors.errors import TfodAnchorsError

    wh = np.stack([resized.widths, resized.heights], axis=1)
    wh = wh[(wh > 0).all(axis=1)]
    try:
        return iou_kmeans(wh, k, seed=seed, n_init=3).centroids
    except (TfodAnchorsError, ValueError):
        return None
