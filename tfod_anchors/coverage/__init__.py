"""Stage 4 of the data flow: how well a config's anchors, at their real positions, cover boxes.

:mod:`.metrics` gives per-box and dataset metrics under the config's matcher
(:func:`evaluate`); :mod:`.best_iou` and :mod:`.positives` are the exact kernels
behind it (best IoU over every anchor position, positive-anchor counts); :mod:`.axis`
holds the per-axis candidate cells both best-IoU kernels use.
"""

from tfod_anchors.coverage.metrics import (
    METRIC_KEYS,
    SIZE_BANDS,
    CoverageReport,
    evaluate,
    ordered_metrics,
)

__all__ = ["METRIC_KEYS", "SIZE_BANDS", "CoverageReport", "evaluate", "ordered_metrics"]
