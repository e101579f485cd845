"""Coverage rules for ``check`` with boxes: recall too low overall, or in a size band."""

from __future__ import annotations

from typing import Any

from tfod_anchors.rules.findings import ERROR, Finding, finding

#: ``low_recall`` is a warning below this recall at the matched threshold ...
LOW_RECALL_WARNING = 0.5
#: ... and an error below this one (``--min-recall R`` puts the error bar at R instead).
LOW_RECALL_ERROR = 0.1
#: ``band_recall_collapse``: a COCO size band holding at least this share of the boxes ...
BAND_MIN_SHARE = 0.05
#: ... whose recall at the matched threshold is below this.
BAND_RECALL_ERROR = 0.05
#: ``degenerate_boxes`` (info): more than this share of the boxes have a side under 2 px.
DEGENERATE_SHARE = 0.05

_BAND_AREAS = {"small": "area < 32²", "medium": "32² <= area < 96²", "large": "area >= 96²"}


FIT_FIX = "run `tfod-anchors fit` on this config"


def coverage_findings(metrics: dict[str, Any], min_recall: float | None = None,
                      fix: str | None = None) -> list[Finding]:
    """Findings on measured coverage (``check`` with boxes); thresholds above.

    ``low_recall``: recall at the matched threshold below :data:`LOW_RECALL_WARNING`
    (warning), or below the error bar, :data:`LOW_RECALL_ERROR` or ``min_recall`` when
    given (error). ``band_recall_collapse`` (error): a COCO size band (resized pixels)
    holding at least :data:`BAND_MIN_SHARE` of the boxes has recall below
    :data:`BAND_RECALL_ERROR`.

    Args:
        metrics: coverage metrics (``recall_matched``, ``matched_threshold``,
            ``num_boxes``, ``by_size``), as :func:`~tfod_anchors.coverage.metrics.evaluate`
            gives them.
        min_recall: ``--min-recall``, in ``[0, 1]``, or None.
        fix: what to do, when known (``check`` says whether a fit gains at least the
            minimum gain, else points at its advice); None: run ``fit``.
    """
    out: list[Finding] = []
    recall, t = metrics.get("recall_matched"), metrics.get("matched_threshold")
    band_fix = fix or ("give them anchors of their size, or a finer feature map where the "
                       "stride is too coarse for them")
    fix = fix or FIT_FIX
    if recall is not None:
        bar = LOW_RECALL_ERROR if min_recall is None else min_recall
        what = f"recall at the matched threshold {t:g} is {recall:.4f}"
        if recall < bar:
            source = "--min-recall" if min_recall is not None else "the error bar"
            out.append(Finding("low_recall", ERROR, f"{what} < {source} {bar:g}: most boxes "
                               f"never get a positive anchor; {fix}"))
        elif recall < LOW_RECALL_WARNING:
            out.append(finding("low_recall", f"{what} < {LOW_RECALL_WARNING:g}: fewer than "
                               f"half of the boxes get a positive anchor; {fix}"))
    out += degenerate_findings(metrics)
    total = metrics.get("num_boxes") or 0
    for band, entry in (metrics.get("by_size") or {}).items():
        count, band_recall = entry.get("count", 0), entry.get("recall_matched")
        if not total or band_recall is None or count / total < BAND_MIN_SHARE:
            continue
        if band_recall < BAND_RECALL_ERROR:
            out.append(finding(
                "band_recall_collapse",
                f"{band} boxes ({_BAND_AREAS.get(band, band)} px², {count} of {total}, "
                f"{count / total:.0%}) have recall {band_recall:.4f} < {BAND_RECALL_ERROR:g} at "
                f"the matched threshold {t:g}: almost none of them gets a positive anchor; "
                f"{band_fix}"))
    return out


def degenerate_findings(metrics: dict[str, Any]) -> list[Finding]:
    """``degenerate_boxes`` (info): more than :data:`DEGENERATE_SHARE` of the measured
    boxes have a side under 2 px in the model's input (``metrics["degenerate"]``)."""
    deg = metrics.get("degenerate") or {}
    share = float(deg.get("share") or 0.0)
    if share <= DEGENERATE_SHARE:
        return []
    recall = deg.get("recall_matched")
    got = f"; {recall:.1%} of them reach the matched threshold" if recall is not None else ""
    return [finding("degenerate_boxes", (
        f"{deg['count']} of {metrics.get('num_boxes')} boxes ({share:.1%}) have a side under "
        f"{deg.get('under_px', 2):g} px in the model's input{got}: training uses them, so "
        "they stay in the recall denominator; crops of large boxes at image borders make "
        "most of them"))]
