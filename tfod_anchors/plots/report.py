"""``fit --report DIR``: the box-shape scatter, the IoU CDF and recall by size, before/after."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tfod_anchors.errors import UsageError, WriteError
from tfod_anchors.plots.coverage import plot_iou_cdf, plot_recall_by_size
from tfod_anchors.plots.shapes import plot_box_shapes

REPORT_NAMES = ("shapes.png", "iou_cdf.png", "recall_by_size.png")


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
    shapes, cdf, bands = (out / name for name in REPORT_NAMES)
    plot_box_shapes(wh, None, shapes, title=title, seed=seed,
                    anchors_before=anchors_before, anchors_after=anchors_after)
    plot_iou_cdf(coverage_before, coverage_after, cdf,
                 matched_threshold=metrics_before.get("matched_threshold"), title=title)
    plot_recall_by_size(metrics_before, metrics_after, bands, title=title)
    return [shapes, cdf, bands]
