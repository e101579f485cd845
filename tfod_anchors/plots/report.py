"""``fit --report DIR``: the box-shape scatter, the IoU CDF and recall by size, before/after."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tfod_anchors.errors import UsageError, WriteError
from tfod_anchors.plots.coverage import plot_iou_cdf, plot_recall_by_size
from tfod_anchors.plots.shapes import plot_box_shapes

REPORT_NAMES = ("shapes.png", "iou_cdf.png", "recall_by_size.png")


@dataclass(frozen=True)
class ReportSide:
    """One side of a report, before or after the fit.

    Attributes:
        anchors: ``[S, 2]`` anchor (height, width), resized px (None: nothing fitted).
        coverage: ``CoverageReport`` or ``[N]`` best IoU per box (None: not measured).
        metrics: coverage metrics dict; default: the report's ``metrics``.
    """

    anchors: Any = None
    coverage: Any = None
    metrics: dict | None = None

    def resolved_metrics(self) -> dict | None:
        """``metrics``, else those of ``coverage`` when it is a report."""
        if self.metrics is None and self.coverage is not None:
            return getattr(self.coverage, "metrics", None)
        return self.metrics


def write_report(dir, wh, before: ReportSide, after: ReportSide = ReportSide(), *,
                 title: str | None = None, seed: int = 0) -> list[Path]:
    """Write ``shapes.png``, ``iou_cdf.png`` and ``recall_by_size.png`` into ``dir`` (created).

    Args:
        dir: output directory.
        wh: ``[N, 2]`` box (width, height), resized px.
        before, after: the config's anchors and coverage, and the fitted ones (``after``
            empty when nothing was fitted); ``before`` needs metrics (or a
            ``CoverageReport``).
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
    metrics_before, metrics_after = before.resolved_metrics(), after.resolved_metrics()
    if not metrics_before:
        raise UsageError("write_report needs metrics_before (or a CoverageReport)")
    shapes, cdf, bands = (out / name for name in REPORT_NAMES)
    plot_box_shapes(wh, None, shapes, title=title, seed=seed,
                    anchors_before=before.anchors, anchors_after=after.anchors)
    plot_iou_cdf(before.coverage, after.coverage, cdf,
                 matched_threshold=metrics_before.get("matched_threshold"), title=title)
    plot_recall_by_size(metrics_before, metrics_after, bands, title=title)
    return [shapes, cdf, bands]
