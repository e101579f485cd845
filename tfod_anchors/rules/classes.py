"""Class rules for ``check``: ``num_classes`` against the label map, and classes the
anchors serve much worse than the dataset as a whole."""

from __future__ import annotations

from typing import Any

from tfod_anchors.rules.findings import Finding, finding

#: ``class_low_recall``: a class holding at least this share of the boxes ...
CLASS_MIN_SHARE = 0.01
#: ... whose recall at the matched threshold is below this fraction of the dataset's.
CLASS_RECALL_RATIO = 0.5


def num_classes(cfg: Any) -> int | None:
    """``model.<meta>.num_classes``, or None for a model without one."""
    from tfod_anchors.config.query import as_pipeline

    model = as_pipeline(cfg).model
    kind = model.WhichOneof("model")
    meta = getattr(model, kind) if kind else None
    if meta is None or not hasattr(meta, "num_classes"):
        return None
    return int(meta.num_classes)


def num_classes_findings(declared: int | None, label_ids: list[int],
                         label_map_path: str) -> list[Finding]:
    """``num_classes_too_small`` (error): label-map ids above ``num_classes`` (TFOD's
    one-hot encoding has no column for them, so those boxes train as background);
    ``num_classes_too_large`` (warning): ``num_classes`` above the largest id, so the
    classification head carries classes no box has (e.g. the sample configs' 90 left in).

    Args:
        declared: the config's ``num_classes`` (None: no rule).
        label_ids: every id of the label map (0, TFOD's background, is ignored).
        label_map_path: for the messages.
    """
    ids = sorted({i for i in label_ids if i > 0})
    if declared is None or not ids:
        return []
    top = ids[-1]
    if top > declared:
        over = [i for i in ids if i > declared]
        shown = ", ".join(str(i) for i in over[:8]) + (", ..." if len(over) > 8 else "")
        return [finding("num_classes_too_small",
                        f"label map {label_map_path} has id(s) {shown} above num_classes "
                        f"{declared}: TFOD's one-hot class targets have no column for them, so "
                        f"their boxes train as background; set num_classes: {top}")]
    if declared > top:
        return [finding("num_classes_too_large",
                        f"num_classes is {declared} but label map {label_map_path} needs only "
                        f"{top} ({len(ids)} class(es), largest id {top}): the classification "
                        f"head trains {declared - top} class(es) no box has (was it left from "
                        f"a sample config?); set num_classes: {top}")]
    return []


def class_low_recall_findings(by_class: dict[str, dict[str, Any]],
                              recall: float | None, matched_threshold: float
                              ) -> list[Finding]:
    """``class_low_recall`` (warning): a class holding at least :data:`CLASS_MIN_SHARE`
    of the boxes whose recall at the matched threshold is below
    :data:`CLASS_RECALL_RATIO` times the dataset's (one finding naming them all)."""
    if recall is None or recall <= 0:
        return []
    bar = CLASS_RECALL_RATIO * recall
    low = [(cid, e) for cid, e in by_class.items()
           if e["share"] >= CLASS_MIN_SHARE and e["recall_matched"] < bar]
    if not low:
        return []
    listed = "; ".join(
        f"{e['name'] or 'class ' + cid} (id {cid}, {e['count']} boxes, {e['share']:.1%}): "
        f"{e['recall_matched']:.4f}" for cid, e in low)
    return [finding("class_low_recall",
                    f"recall at the matched threshold {matched_threshold:g} per class falls "
                    f"below half of the dataset's {recall:.4f} for {listed}; these classes are "
                    "mostly of sizes or shapes the anchors do not reach (see `check --by-class` "
                    "and the advice)")]
