"""PNG plots for ``--plot`` and ``--report DIR`` (matplotlib, optional extra ``plot``).

One module per kind of plot: :mod:`.shapes` (box and anchor shapes), :mod:`.coverage`
(best-IoU CDF, recall by size), :mod:`.elbow` (k-means elbow) and :mod:`.report`
(the three plots of ``fit --report``); :mod:`._common` holds what they share.
"""

from tfod_anchors.plots._common import subsample
from tfod_anchors.plots.coverage import plot_iou_cdf, plot_recall_by_size
from tfod_anchors.plots.elbow import plot_elbow
from tfod_anchors.plots.report import REPORT_NAMES, ReportSide, write_report
from tfod_anchors.plots.shapes import plot_box_shapes

__all__ = ["REPORT_NAMES", "ReportSide", "plot_box_shapes", "plot_elbow", "plot_iou_cdf",
           "plot_recall_by_size", "subsample", "write_report"]
