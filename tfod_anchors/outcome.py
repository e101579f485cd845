"""What a fit or a check says, as text lines and as the one JSON document.

The CLI prints these and the API's :meth:`~tfod_anchors.api.FitOutcome.to_json` and
:meth:`~tfod_anchors.api.CheckOutcome.to_json` return them, so a pipeline step calling
the API gets the document ``fit --json`` / ``check --json`` prints, key for key.
Nothing here reads or writes files.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from tfod_anchors.coverage.metrics import METRIC_KEYS, ordered_metrics

#: Decimals kept for floats in the JSON documents (stable across platforms).
FLOAT_DIGITS = 6
#: ``fit`` warns when it fits fewer boxes than this.
FEW_BOXES = 100

REASONS = {
    "no_candidate": "no candidate changed the written values",
    "rules": "every candidate would add a check error",
    "guard": "the best candidate breaks the guard",
    "static_guard": "the best candidate keeps the guard on the augmented boxes but breaks it "
                    "on the static boxes",
}


def jsonable(value: Any) -> Any:
    """``value`` with numpy types turned into Python ones and floats rounded to
    ``FLOAT_DIGITS`` decimals, so the JSON is stable across platforms; NaN -> None."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return None if not math.isfinite(value) else round(value, FLOAT_DIGITS)
    return value


def takes(outcome: Any) -> bool:
    """Whether the fit has values to write: an improvement, or ``force``."""
    return bool(outcome.fit.improved or outcome.forced)


def blocking(outcome: Any) -> list[dict[str, str]]:
    """The check errors that stop the write: new ones in the patched config, or those
    that ruled out every candidate."""
    fit = outcome.fit
    return outcome.blocking_findings or (list(fit.rejected) if fit.reason == "rules" else [])


def verdict(outcome: Any, writes: bool) -> str:
    """One line: better, or why not (never "writing" when nothing is written)."""
    fit = outcome.fit
    stop = blocking(outcome)
    if stop:
        return (f"the fitted config would fail check "
                f"({', '.join(f['code'] for f in stop)}): nothing written")
    gain = f"{fit.gain:+.4f} vs minimum gain {fit.min_gain:.4f}"
    if fit.improved:
        return f"better on objective {fit.objective!r} ({gain})"
    why = REASONS.get(fit.reason)
    if why is None:
        why = (f"no meaningful improvement on objective {fit.objective!r} ({gain})"
               if fit.reason == "min_gain" else
               f"no better anchors found for objective {fit.objective!r}")
    if outcome.forced and writes:
        return f"{why}; --force: writing the best candidate anyway"
    return f"{why}: nothing written"


def anchors_per_location(outcome: Any) -> tuple[list[int], list[int]]:
    """Anchors per location before and in what would be written."""
    before, after = outcome.fit.anchors_per_location
    if outcome.forced:
        from tfod_anchors.frameworks import as_spec

        shape = outcome.boxes.most_common_shape()
        after = [int(lv.sizes.shape[0]) for lv in as_spec(outcome.config).layout_for(shape).levels]
    return list(before), list(after)


def written_fields(outcome: Any) -> tuple[dict, dict]:
    """``(changed, previous)`` of what would be written: the fit's, or with ``force``
    the best candidate's (``fit.generator`` is the config's own when nothing improved);
    empty when nothing would be."""
    fit = outcome.fit
    if not takes(outcome):
        return {}, {}
    if not outcome.forced:
        return fit.changed, fit.previous
    from tfod_anchors.frameworks import as_spec

    model = getattr(outcome, "model", None)
    spec = as_spec(outcome.config) if model is None else model
    return spec.anchors_changes(fit.generator, fit.best_generator)


def written_metrics(outcome: Any) -> tuple[dict, dict | None]:
    """Metrics of what would be written, on the fitted boxes and on the static boxes
    (the best candidate's with ``force``)."""
    fit = outcome.fit
    after = fit.best_after if outcome.forced and fit.best_after else fit.after
    static_after = fit.static_best_after if outcome.forced and fit.static_best_after \
        else fit.static_after
    return after, static_after


def _anchor_count_messages(outcome: Any) -> tuple[list[str], list[str]]:
    """``(warnings, notes)`` about a changed count of anchors per location: what it does
    to the checkpoint as the framework's trainer restores it
    (:meth:`~tfod_anchors.frameworks.ModelSpec.anchor_count_note`)."""
    from tfod_anchors.frameworks import as_spec

    if not takes(outcome):
        return [], []
    apl_before, apl_after = anchors_per_location(outcome)
    model = getattr(outcome, "model", None)
    spec = as_spec(outcome.config) if model is None else model
    note = spec.anchor_count_note(apl_before, apl_after)
    if note is not None:
        return ([note.message], []) if note.level == "warning" else ([], [note.message])
    if apl_before != apl_after:
        return [f"anchors per location change from {apl_before} to {apl_after}: the box "
                "predictor's shapes change"], []
    return [], []


def fit_warnings(outcome: Any) -> list[str]:
    """What a user must know before using the result: a checkpoint the changed box
    predictor will not restore from, data the read dropped, a whole-file rewrite, new
    check warnings, too few boxes."""
    from tfod_anchors.rules.dropped import data_dropped_findings

    warnings = _anchor_count_messages(outcome)[0]
    warnings += [f"{f.code}: {f.message}" for f in data_dropped_findings(outcome.data_dropped)]
    if outcome.patch_warning:
        warnings.append(outcome.patch_warning)
    for f in outcome.new_findings:
        if f["severity"] == "warning":
            warnings.append(f"the fitted config adds check finding {f['code']}: {f['message']}")
    if outcome.boxes.num_boxes < FEW_BOXES:
        warnings.append(f"only {outcome.boxes.num_boxes} box(es) were fitted: anchors fitted to "
                        f"fewer than {FEW_BOXES} boxes follow those boxes, not the objects the "
                        "model will meet; check the input or treat the result with care")
    return warnings


def anchor_total_notes(outcome: Any) -> list[str]:
    """When the anchors per location change: how many anchors the most common input gets
    before and after (the box predictor's extra outputs)."""
    from tfod_anchors.pipeline import layout_function

    if not takes(outcome) or outcome.loaded is None:
        return []
    before, after = anchors_per_location(outcome)
    if before == after:
        return []
    shape = outcome.boxes.most_common_shape()
    n0 = layout_function(outcome.loaded.config)(shape).num_anchors
    n1 = layout_function(outcome.config)(shape).num_anchors
    return [f"anchors per image ({shape[0]}x{shape[1]} input): {n0} -> {n1} ({n1 - n0:+d}); "
            f"the box predictor outputs {sum(after) - sum(before):+d} boxes per location "
            "summed over levels"]


def fit_notes(outcome: Any) -> list[str]:
    """What is worth knowing but changes nothing: a checkpoint that leaves the box
    predictor untouched, a placeholder label map that turned class filtering off, the
    anchors per image a new count gives."""
    return [*_anchor_count_messages(outcome)[1], *outcome.read_notes,
            *anchor_total_notes(outcome)]


def by_class_before_after(outcome: Any) -> dict[str, dict[str, Any]]:
    """Per-class coverage before and after the fit, on the boxes fitted:
    ``{id: {count, share, before: {mean_iou, recall_matched}, after: {...}}}``."""
    from tfod_anchors.coverage.by_class import class_metrics

    fit = outcome.fit
    if fit.report_before is None:
        return {}
    labels = outcome.boxes.label
    t = fit.matched_threshold
    before = class_metrics(fit.report_before.best_iou, labels, t,
                           matched=fit.report_before.matched)
    after_report = fit.report_after if fit.report_after is not None else fit.report_before
    after = class_metrics(after_report.best_iou, labels, t, matched=after_report.matched)
    return {cid: {"count": e["count"], "share": e["share"],
                  "before": {k: e[k] for k in ("mean_iou", "recall_matched")},
                  "after": {k: after[cid][k] for k in ("mean_iou", "recall_matched")}}
            for cid, e in before.items()}


def giveaways(outcome: Any) -> list[dict[str, Any]]:
    """Size bands the written (or forced) anchors give away
    (:mod:`tfod_anchors.fitting.giveaways`), on the fitted boxes and, for an augmented
    fit, on the static boxes."""
    from tfod_anchors.fitting.giveaways import band_giveaways

    fit = outcome.fit
    if not takes(outcome):
        return []
    after, static_after = written_metrics(outcome)
    where = "augmented boxes" if outcome.augmentation is not None else "boxes"
    out = band_giveaways(fit.before, after, fit.matched_threshold, fit.guard_spec, where)
    if outcome.augmentation is not None and fit.static_before and static_after:
        out += band_giveaways(fit.static_before, static_after, fit.matched_threshold,
                              fit.guard_spec, "static boxes")
    return out


def said_out_loud(outcome: Any) -> dict[str, Any]:
    """The JSON keys of what the fit says about its search: ``could_do_better``,
    ``search`` (how much was done) and ``thin_aspect_ratios``."""
    fit = outcome.fit
    return {"could_do_better": fit.could_do_better, "search": fit.diagnostics.get("effort"),
            "thin_aspect_ratios": thin_slots(outcome)}


def thin_slots(outcome: Any) -> list[dict[str, Any]]:
    """Aspect-ratio slots of the written generator that are the best anchor of fewer than
    1 % of the fitted boxes (:func:`~tfod_anchors.fitting.giveaways.thin_ratio_slots`)."""
    from tfod_anchors import pipeline
    from tfod_anchors.fitting.giveaways import thin_ratio_slots

    fit = outcome.fit
    if not fit.improved or fit.report_after is None:
        return []
    if outcome.model is not None and outcome.model.framework != "tfod":
        return []  # slots are read from a TFOD generator message
    # a list of numbers (the flexible grid's per-anchor lists are not slots)
    ratios = [float(r) for r in getattr(getattr(fit.generator, fit.kind), "aspect_ratios", [])]
    if not ratios:
        return []
    return thin_ratio_slots(fit.report_after.best_shape, outcome.boxes,
                            pipeline.layout_function(outcome.config), ratios)


def _metrics_or_none(metrics: dict | None) -> dict | None:
    return ordered_metrics(metrics) if metrics is not None else None


def fit_document(outcome: Any, *, written: str | None = None, notes: Sequence[str] = (),
                 report: Sequence[Any] = (), override: dict[str, Any] | None = None
                 ) -> dict[str, Any]:
    """The ``fit --json`` document (plain JSON types). ``written``: the path written, if
    any; ``notes``: the writer's notes (added to ``warnings``); ``report``: the plots;
    ``override``: the Model Garden override written or printed (``--experiment`` alone)."""
    from tfod_anchors.api import model_names

    fit = outcome.fit
    take = takes(outcome)
    changed, previous = written_fields(outcome)
    apl_before, apl_after = anchors_per_location(outcome) if take else \
        fit.anchors_per_location
    after, static_after = written_metrics(outcome)
    return jsonable({
        "config": outcome.config_path,
        "model": model_names(outcome.model) if outcome.model is not None else None,
        "num_images": outcome.num_images,
        "num_boxes": outcome.boxes.num_boxes,
        "skipped": outcome.skipped,
        "skip_examples": outcome.skip_examples,
        "matched_threshold": fit.matched_threshold,
        "objective": fit.objective,
        "improved": fit.improved,
        "forced": outcome.forced,
        "verdict": verdict(outcome, written is not None),
        "gain": fit.gain,
        "min_gain": fit.min_gain,
        "distribution": "static" if outcome.augmentation is None else "augmented",
        "before": ordered_metrics(fit.before),
        "after": ordered_metrics(after),
        "static_before": _metrics_or_none(fit.static_before),
        "static_after": _metrics_or_none(static_after),
        "augmentation": outcome.augmentation,
        "moved": {k: float(after[k]) - float(fit.before[k]) for k in METRIC_KEYS},
        "anchor_generator": {"kind": fit.kind, **changed} if take else {},
        "previous": previous,
        "anchors_per_location": {"before": apl_before, "after": apl_after},
        "guard": fit.guard,
        "static_guard": fit.static_guard if outcome.augmentation is not None else None,
        "guard_spec": fit.guard_spec,
        "guard_blocked": fit.blocked, **said_out_loud(outcome),
        "new_findings": outcome.new_findings or blocking(outcome),
        "warnings": [*fit_warnings(outcome), *notes,
                     *(g["message"] for g in giveaways(outcome))],
        "notes": fit_notes(outcome),
        "data_dropped": outcome.data_dropped,
        "by_class": by_class_before_after(outcome),
        "written": written,
        "override": override,
        "diff": outcome.diff,
        "report": [str(p) for p in report],
        # wall-clock timing would make the output differ between identical runs
        "diagnostics": {k: v for k, v in fit.diagnostics.items() if "seconds" not in k},
    })


def check_document(outcome: Any) -> dict[str, Any]:
    """The ``check --json`` document (plain JSON types)."""
    from tfod_anchors.errors import EXIT_CHECK_FAILED, EXIT_OK

    return jsonable({"config": outcome.config_path, "model": outcome.model, "ok": outcome.ok,
                     "exit_code": EXIT_OK if outcome.ok else EXIT_CHECK_FAILED,
                     "strict": outcome.strict, "findings": outcome.findings,
                     "coverage": outcome.coverage, "augmentation": outcome.augmentation,
                     "data_dropped": outcome.data_dropped, "by_class": outcome.by_class,
                     "fit": outcome.fit, "advice": outcome.advice, "what_if": outcome.what_if})
