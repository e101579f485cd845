"""``data_dropped``: every image or box that was read but not measured, said out loud.

Coverage describes the boxes that reached it. Anything the readers skipped (bad
records under ``--skip-bad``), TFOD's input filtering dropped (classes the label map
does not know, NaN/infinite boxes, boxes beyond ``max_number_of_boxes``) or the
augmentation's truncation removed is missing from those numbers. :func:`dropped_summary`
gathers it as one JSON-ready block (counts, shares, class names, files) and
:func:`data_dropped_findings` turns it into the ``data_dropped`` warning that
``check``, ``fit`` and ``stats`` all print.
"""

from __future__ import annotations

from typing import Any

from tfod_anchors.rules.findings import Finding, finding

#: Skip reasons that lose whole files, records or images (unit, what it means).
RECORD_DROPS = {
    "corrupt_files": ("file(s)", "corrupt or truncated: the records after the damage were "
                                 "not read"),
    "malformed_records": ("record(s)", "malformed"),
    "missing_image_size": ("image(s)", "without a usable image size"),
    "not_normalized_records": ("image(s)", "with coordinates > 1.1 (absolute pixels?)"),
}
#: Skip reasons that drop single boxes (what it means).
BOX_DROPS = {
    "unknown_class_boxes": "of classes the label map does not know",
    "boxes_without_class": "without a class",
    "nan_boxes": "with a NaN coordinate",
    "infinite_boxes": "with an infinite coordinate",
    "inverted_boxes": "inverted (ymax < ymin or xmax < xmin)",
    "boxes_over_max": "beyond max_number_of_boxes in their image",
    "zero_size_boxes": "of zero size in the COCO json",
    "out_of_image_boxes": "past the image edge in the COCO json",
    "orphan_annotations": "annotating image ids the COCO json does not list",
}
#: Dropped on request (``--drop-difficult``): reported, not warned about.
REQUESTED = ("difficult_boxes",)
#: Boxes the model's own input pipeline never trains on (the Model Garden's decoder and
#: parser, :meth:`~tfod_anchors.frameworks.ModelSpec.keep_trained_boxes`): measured as
#: training sees them, so reported as information (``parser_dropped``), not warned about.
PARSER_DROPS = {
    "crowd_dropped": "marked is_crowd, which the parser skips in training "
                     "(task.train_data.parser.skip_crowd_during_training)",
    "coco91_to_80_dropped": "of class ids outside COCO's 80, which the decoder drops "
                            "(coco91_to_80)",
}
#: ``augmentation.dropped`` key of the truncation TFOD applies after augmenting.
AUGMENTED_TRUNCATION = "max_number_of_boxes"


def _share(count: int, total: int) -> float | None:
    return count / total if total > 0 else None


def dropped_summary(skipped: dict[str, int], examples: dict[str, str], *, boxes_kept: int,
                    images_kept: int, augmentation: dict[str, Any] | None = None,
                    unknown_classes: dict[str, int] | None = None,
                    label_map: str | None = None) -> dict[str, Any] | None:
    """The ``data_dropped`` JSON block, or None when nothing was dropped.

    Args:
        skipped: the read's skip counts (``BoxSet.skipped``; static truncation
            included as ``boxes_over_max``).
        examples: where each reason was first seen (``BoxSet.skip_examples``).
        boxes_kept, images_kept: boxes and images the read handed on (before any
            augmentation).
        augmentation: the ``augmentation`` block when the boxes were drawn; its
            ``dropped["max_number_of_boxes"]`` is the truncation after augmenting.
        unknown_classes: ``{class name: boxes}`` the label map does not know, if known.
        label_map: the label map's path (messages only).
    Returns:
        ``{boxes_read, boxes_dropped, box_share, images_measured, reasons: [{reason,
        count, unit, share, meaning, first}], unknown_classes, label_map, files,
        requested, parser}``; shares are of the boxes read (kept + dropped) and None
        for whole files or records, whose boxes were never counted; ``parser``: the
        boxes the model's input pipeline drops (:data:`PARSER_DROPS`), not counted in
        ``boxes_dropped`` (training never sees them either).
    """
    box_drops = {k: int(skipped.get(k, 0)) for k in BOX_DROPS if skipped.get(k, 0)}
    record_drops = {k: int(skipped.get(k, 0)) for k in RECORD_DROPS if skipped.get(k, 0)}
    truncated = int(((augmentation or {}).get("dropped") or {}).get(AUGMENTED_TRUNCATION, 0))
    requested = {k: int(skipped.get(k, 0)) for k in REQUESTED if skipped.get(k, 0)}
    parser = {k: int(skipped.get(k, 0)) for k in PARSER_DROPS if skipped.get(k, 0)}
    if not box_drops and not record_drops and not truncated and not parser:
        return None
    read = boxes_kept + sum(box_drops.values()) + sum(requested.values()) + sum(parser.values())
    reasons: list[dict[str, Any]] = [
        {"reason": k, "count": n, "unit": unit, "share": None, "meaning": meaning,
         "first": examples.get(k)}
        for k, (unit, meaning) in RECORD_DROPS.items() if (n := record_drops.get(k))]
    reasons += [{"reason": k, "count": n, "unit": "box(es)", "share": _share(n, read),
                 "meaning": BOX_DROPS[k], "first": examples.get(k)}
                for k, n in box_drops.items()]
    if truncated:
        drawn = (augmentation or {}).get("draws", 1)
        reasons.append({"reason": "augmented_boxes_over_max", "count": truncated,
                        "unit": "augmented box(es)", "share": None,
                        "meaning": f"beyond max_number_of_boxes after augmenting ({drawn} "
                                   "draw(s) per image)", "first": None})
    files = sorted({e.split(" (", 1)[0] for k in record_drops
                    if (e := examples.get(k))})
    dropped = sum(box_drops.values())
    return {"boxes_read": read, "boxes_dropped": dropped, "box_share": _share(dropped, read),
            "images_measured": images_kept, "reasons": reasons,
            "unknown_classes": unknown_classes if box_drops.get("unknown_class_boxes") else None,
            "label_map": label_map, "files": files, "requested": requested, "parser": parser}


def _reason_text(entry: dict[str, Any], summary: dict[str, Any]) -> str:
    share = f" ({entry['share']:.1%})" if entry["share"] is not None else ""
    text = f"{entry['count']} {entry['unit']}{share} {entry['meaning']}"
    if entry["reason"] == "unknown_class_boxes":
        names = summary.get("unknown_classes") or {}
        where = f" {summary['label_map']}" if summary.get("label_map") else ""
        if names:
            shown = ", ".join(f"{name!r} {n}" for name, n in list(names.items())[:6])
            more = ", ..." if len(names) > 6 else ""
            text += f" (unknown to{where}: {shown}{more})"
    elif entry["reason"] in RECORD_DROPS and entry["first"]:
        text += f" (first: {entry['first']})"
    return text


def data_dropped_findings(summary: dict[str, Any] | None) -> list[Finding]:
    """One ``data_dropped`` warning naming every reason with its count and share, or
    nothing when ``summary`` (:func:`dropped_summary`) is None."""
    if summary is None or not summary["reasons"]:
        return []
    parts = "; ".join(_reason_text(e, summary) for e in summary["reasons"])
    head = (f"{summary['boxes_dropped']} of {summary['boxes_read']} boxes read "
            f"({summary['box_share']:.1%}) were dropped"
            if summary["boxes_dropped"] else "data was dropped")
    return [finding("data_dropped",
                    f"{head} ({summary['images_measured']} images kept): {parts}; the "
                    "measured numbers describe only the rest (fix the input, the label map or "
                    "max_number_of_boxes, or accept the loss)")]


def parser_dropped_findings(summary: dict[str, Any] | None) -> list[Finding]:
    """One ``parser_dropped`` info naming the boxes the model's input pipeline drops
    (:data:`PARSER_DROPS`) with their counts and shares, or nothing."""
    parser = (summary or {}).get("parser") or {}
    if not parser:
        return []
    read = summary["boxes_read"] if summary else 0
    parts = "; ".join(f"{n} box(es) ({n / read:.1%}) {PARSER_DROPS[k]}" if read else
                      f"{n} box(es) {PARSER_DROPS[k]}" for k, n in parser.items())
    return [finding("parser_dropped", f"not measured, as training never sees them: {parts}")]


def class_filter_off_findings(label_map_path: str | None, given: bool) -> list[Finding]:
    """``class_filter_off`` (info) when the config's ``label_map_path`` is a template
    placeholder and no ``--label-map`` was given: no box is dropped for its class here,
    while training (with the real label map) drops the classes that map does not know."""
    if given or label_map_path is None:
        return []
    return [finding("class_filter_off",
                    f"label_map_path {label_map_path!r} is a template placeholder and no "
                    "--label-map was given: class filtering is off, so every box is measured; "
                    "training drops the boxes whose class the real label map does not know "
                    "(pass --label-map to measure those boxes alone)")]
