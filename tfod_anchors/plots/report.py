"""``fit --report DIR``: the box-shape scatter, the IoU CDF, recall by size and by class,
before/after, and the trade-off plot."""

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
                 title: str | None = None, seed: int = 0,
                 strides: tuple[float, ...] = ()) -> list[Path]:
    """Write ``shapes.png``, ``iou_cdf.png`` and ``recall_by_size.png`` into ``dir`` (created).

    Args:
        dir: output directory.
        wh: ``[N, 2]`` box (width, height), resized px.
        before, after: the config's anchors and coverage, and the fitted ones (``after``
            empty when nothing was fitted); ``before`` needs metrics (or a
            ``CoverageReport``).
        title: second title line of every plot.
        seed: subsampling seed of the shape plot.
        strides: feature-map strides (px) drawn on the shape plot.
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
    plot_box_shapes(wh, after.anchors if after.anchors is not None else before.anchors,
                    shapes, title=title, seed=seed, strides=strides,
                    before=before.anchors if after.anchors is not None else None)
    plot_iou_cdf(before.coverage, after.coverage, cdf,
                 matched_threshold=metrics_before.get("matched_threshold"), title=title)
    plot_recall_by_size(metrics_before, metrics_after, bands, title=title)
    return [shapes, cdf, bands]


def fit_report_title(outcome: Any) -> str:
    """The second title line of every fit plot: which boxes (how many, static or
    augmented draws) and the generator."""
    n, kind = outcome.boxes.num_boxes, outcome.fit.kind
    aug = outcome.augmentation
    if aug is None:
        return f"{n:,} static boxes ({outcome.num_images:,} images), {kind}"
    return (f"{n:,} augmented boxes ({aug['draws']} draw(s) of {outcome.num_images:,} "
            f"images, seed {aug['seed']}), {kind}")


def _front_marks(outcome: Any, seed: int) -> tuple[dict[str, Any], list[str]]:
    """The named points of front.png (config, fit, IoU k-means) and the notes saying
    why a point that beats the fit on every axis was not taken."""
    from tfod_anchors import outcome as results
    from tfod_anchors.fitting import front

    fit, resized = outcome.fit, outcome.boxes
    cfg_before = outcome.loaded.config if outcome.loaded else outcome.config
    after, _ = results.written_metrics(outcome)
    fit_label = "fit (written)" if results.takes(outcome) else "fit (not written)"
    marks: dict[str, Any] = {"config": fit.before, fit_label: after}
    notes = []
    k = int(sum(fit.anchors_per_location[0]))
    ref = front.kmeans_set(resized, k, seed)
    ref_m = front.free_set_metrics(resized, cfg_before, ref) if ref is not None else None
    if ref_m is not None:
        label = f"IoU k-means ({k} free shapes)"
        marks[label] = ref_m
        if not front.holds_free_shapes(cfg_before) and front.dominates(ref_m, after):
            notes.append(f"{label} beats the fit but is not a {fit.kind} set: {k} free "
                         "shapes need a flexible grid generator (a new box predictor)")
    return marks, notes


def write_fit_report(directory: Any, outcome: Any, *, seed: int = 0,
                     peer_sets: dict[str, Any] | None = None,
                     front: bool = False) -> list[Path]:
    """The plots of a fit (``fit --report DIR``): shapes, IoU CDF, recall by size and
    recall by class from the coverage the fit already measured, and ``front.png`` (the
    config, the fit, IoU k-means and ``peer_sets`` on the trade-off axes; with ``front``
    also the trade-off front of :func:`tfod_anchors.fitting.front.trade_off_front`, seven
    unguarded fits).
    """
    import numpy as np

    from tfod_anchors import outcome as results
    from tfod_anchors import pipeline
    from tfod_anchors.fitting import front as fitting_front
    from tfod_anchors.frameworks import as_spec
    from tfod_anchors.plots.classes import plot_recall_by_class
    from tfod_anchors.plots.front import front_figure

    resized, fit = outcome.boxes, outcome.fit
    cfg_before = outcome.loaded.config if outcome.loaded else outcome.config
    title = fit_report_title(outcome)
    model_before, model_after = as_spec(cfg_before), as_spec(outcome.config)
    layout = model_before.layout_for(resized.most_common_shape())
    strides = (min(float(level.stride[1]) for level in layout.levels),) if layout.levels \
        else ()
    paths = write_report(directory, np.stack([resized.widths, resized.heights], axis=1),
                         ReportSide(pipeline.anchor_shapes_hw(model_before, resized),
                                    fit.report_before),
                         ReportSide(pipeline.anchor_shapes_hw(model_after, resized),
                                    fit.report_after),
                         title=title, strides=strides)
    classes = plot_recall_by_class(results.by_class_before_after(outcome),
                                   Path(directory) / "recall_by_class.png",
                                   matched_threshold=fit.matched_threshold, title=title)
    marks, notes = _front_marks(outcome, seed)
    peers = {}
    for name, shapes in (peer_sets or {}).items():
        m = fitting_front.free_set_metrics(resized, cfg_before, shapes)
        if m is not None:
            peers[name] = [m]
    fronts: dict[str, list[Any]] = {}
    if front:
        points = fitting_front.trade_off_front(resized, cfg_before, seed=seed)
        fronts[fit.kind] = points
        after, _ = results.written_metrics(outcome)
        for p in points:
            if fitting_front.dominates(p["metrics"], after):
                notes.append(f"front point {p['objective']} beats the fit but was not taken: "
                             + fitting_front.why_not_taken(p, fit))
    subtitle = title + ("; front: unguarded fits for weights "
                        + ", ".join(fitting_front.FRONT_WEIGHTS) if front else
                        "; the trade-off front is drawn with --report-front")
    path = front_figure(Path(directory) / "front.png", fronts=fronts, marks=marks,
                        peers=peers, matched_threshold=fit.matched_threshold,
                        title=subtitle, notes=tuple(notes))
    return [*paths, classes, path]
