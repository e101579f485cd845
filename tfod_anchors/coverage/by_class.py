"""Coverage per class: how many boxes each class has, how many get a positive anchor.

Positioned IoU is a property of one box and the anchors, so a class's numbers are
the dataset's per-box results restricted to that class: the same as measuring a
label map holding that class alone (as long as ``max_number_of_boxes`` truncates
nothing, which would keep other boxes in each image).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def class_metrics(best_iou: np.ndarray, label: np.ndarray, matched_threshold: float,
                  names: dict[int, str] | None = None, matched: np.ndarray | None = None
                  ) -> dict[str, dict[str, Any]]:
    """Per-class coverage, keyed by the class id as a string, ids ascending.

    Args:
        best_iou: float64 ``[N]`` best positioned IoU per box.
        label: int ``[N]`` class id per box (as read: label-map ids, or ids numbered
            from the sorted names when there is no label map).
        matched_threshold: the matcher's threshold (IoU, in ``(0, 1]``).
        names: class id -> name, where known.
        matched: bool ``[N]`` boxes matched, when the matcher is not ``best_iou >=
            matched_threshold`` (a shape rule: ``CoverageReport.matched``).
    Returns:
        ``{id: {name, count, share, mean_iou, recall_matched}}``; ``share`` of all boxes.
    """
    names = names or {}
    total = int(best_iou.shape[0])
    out: dict[str, dict[str, Any]] = {}
    if total == 0:
        return out
    ids, inverse, counts = np.unique(label, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=best_iou, minlength=ids.size)
    hit = best_iou >= matched_threshold if matched is None else np.asarray(matched, dtype=bool)
    hits = np.bincount(inverse, weights=hit.astype(np.float64), minlength=ids.size)
    for i, cid in enumerate(ids.tolist()):
        n = int(counts[i])
        out[str(cid)] = {"name": names.get(int(cid)), "count": n, "share": n / total,
                         "mean_iou": float(sums[i] / n), "recall_matched": float(hits[i] / n)}
    return out


def label_names(label_map: Any) -> dict[int, str]:
    """id -> name of a :class:`~tfod_anchors.sources.labelmap.LabelMap` (the ``name``
    field; ``display_name`` where an id has no name)."""
    if label_map is None:
        return {}
    names = {i: n for n, i in label_map.by_display_name.items() if n}
    names.update({i: n for n, i in label_map.by_name.items()})
    return names
