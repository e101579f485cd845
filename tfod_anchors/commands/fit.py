"""``tfod-anchors fit``: fit the config's own anchor generator and patch the config.

Writes only when the objective improves by at least the minimum gain within the
guard (or ``--force``, which always writes): to ``--output`` or, with
``--in-place``, over the config (atomic, ``.bak`` kept). Without either flag the
unified diff is printed and nothing is written. The patched config is re-checked with
the ``check`` rules first: a new error finding blocks the write (exit 1), a new
warning is reported.

When the config has a ``data_augmentation_options`` step that changes boxes, the fit is
on the augmented distribution (``--augment N`` draws per image, seeded by ``--augment-seed``,
not by the search's ``--seed``;
``--no-augment`` for the static boxes): ``before``/``after`` are measured on it, and the
guard holds on the static boxes too (``static_before``/``static_after``).

stdout: what was read, the before/after table, the guard, the new values, the verdict
and the dry-run diff; stderr: progress, ``wrote FILE`` notes, warnings and errors.
"""

from __future__ import annotations

import argparse
from typing import Any

from tfod_anchors import api, pipeline
from tfod_anchors.commands._common import (
    add_augment_arguments,
    add_model_arguments,
    add_output_arguments,
    add_source_arguments,
    augment_options,
    augment_value,
    degenerate_line,
    emit_json,
    fmt,
    load,
    model_ref,
    out,
    say,
    skipped_lines,
    source_options,
    table,
    warn,
)
from tfod_anchors.coverage.metrics import METRIC_KEYS, SIZE_BANDS, ordered_metrics
from tfod_anchors.errors import EXIT_CHECK_FAILED, EXIT_OK, UsageError
from tfod_anchors.fitting import OBJECTIVES
from tfod_anchors.fitting.effort import parse_effort
from tfod_anchors.fitting.giveaways import band_giveaways, thin_ratio_slots
from tfod_anchors.fitting.objective import describe_metric
from tfod_anchors.frameworks import as_spec
from tfod_anchors.pipeline import anchor_shapes_hw
from tfod_anchors.rules.checkpoint import anchor_count_note
from tfod_anchors.rules.dropped import data_dropped_findings

HELP = "fit the config's own anchor generator to the boxes"
TABLE_KEYS = (*METRIC_KEYS, "num_unreachable")
UNREACHABLE_NOTE = ("num_unreachable: boxes an anchor shape would match if centred on them "
                    "but no anchor at a grid position does (stride, border); not lost recall")
#: ``fit`` warns when it fits fewer boxes than this.
FEW_BOXES = 100


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--output", "-o", metavar="PATH",
                     help="write the patched config here (with --experiment and no CONFIG: "
                          "an override YAML for train.py --config_file, only the anchor keys)")
    out.add_argument("--in-place", action="store_true",
                     help="rewrite CONFIG atomically, keeping CONFIG.bak")
    parser.add_argument("--no-backup", action="store_true", help="with --in-place: keep no .bak")
    parser.add_argument("--objective", default="recall", metavar="O",
                        help=f"what to maximise: {', '.join(OBJECTIVES)}, or weights "
                             "w:RECALL,MEAN_IOU,RECALL_0.5 (a point on the trade-off front). "
                             "Default: recall at the matcher's threshold, guarded")
    parser.add_argument("--guard", metavar="SPEC",
                        help="relax or tighten the guard: KEY=VALUE[,...] with KEY mean_iou, "
                             "recall_0.5, recall_matched, recall_0.7, bands, classes "
                             "(tolerances, or off; 'classes' alone: each class with >= 1%% of "
                             "the boxes keeps its recall within 0.05, off by default), "
                             "band_share, stride and kmeans (on/off); METRIC>=VALUE adds "
                             "an absolute floor; 'off' drops it all. Default: whole-set "
                             "metrics 0.01, recall@0.7 0.01 below a 0.7 matched threshold, "
                             "every size band with >= 5%% of the boxes 0.05, stride on, and "
                             "for a one-layer flexible grid the IoU k-means set's mean IoU "
                             "and recall@0.5")
    parser.add_argument("--force", action="store_true",
                        help="with --output/--in-place: always write (the best candidate "
                             "found, even if it is not better)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the search (its samples and random starts)")
    parser.add_argument("--effort", default="normal", metavar="E",
                        help="how much search: low, normal (the default budget), high (about "
                             "3x: more random starts, more candidates polished and measured "
                             "exactly) or a number in (0, 20]")
    parser.add_argument("--by-class", action="store_true",
                        help="print recall per class before and after (always in --json)")
    parser.add_argument("--num-scales", type=int, metavar="N",
                        help="change the number of scales (changes anchors per location)")
    parser.add_argument("--anchors-per-location", type=int, metavar="N",
                        help="what if the anchors per location were N: fit with the counts "
                             "that give N (the config's number of aspect ratios when N allows "
                             "it); shows the recall it buys and the extra anchors")
    parser.add_argument("--num-aspect-ratios", type=int, metavar="N",
                        help="change the number of aspect ratios (changes anchors per location)")
    parser.add_argument("--report", metavar="DIR",
                        help="write PNG plots here: before/after shapes, IoU CDF, recall by "
                             "size and by class, and front.png, the trade-off front (a few "
                             "extra fits) with the config, the fit, IoU k-means and any "
                             "--peer-sets marked")
    parser.add_argument("--peer-sets", metavar="FILE.json",
                        help="with --report: mark these anchor sets on the front plot: a JSON "
                             "object {name: [[w, h], ...]} in resized pixels (e.g. what "
                             "another anchor tool produced; single-map configs only)")
    add_source_arguments(parser)
    add_augment_arguments(parser, default_on=True, seed=False)
    add_output_arguments(parser)


def comparison_table(fit: Any, after: dict | None = None, before: dict | None = None,
                     keys: tuple[str, ...] = TABLE_KEYS) -> str:
    """Before/after metrics, with the matcher's recall per COCO size band (and the
    band's box count) under it (``before``/``after``: the fit's by default)."""
    after = fit.after if after is None else after
    before = fit.before if before is None else before
    rows = [["metric", "before", "after", "change"]]

    def row(name: str, b: Any, a: Any) -> None:
        change = "" if b is None or a is None else (
            f"{a - b:+d}" if isinstance(b, int) else f"{a - b:+.3f}")
        rows.append([name, fmt(b), fmt(a), change])

    for key in keys:
        name = f"{key} (IoU >= {fit.matched_threshold:g})" if key == "recall_matched" else key
        row(name, before.get(key), after.get(key))
        if key == "recall_matched":
            for band, _, _ in SIZE_BANDS:
                sb = (before.get("by_size") or {}).get(band, {})
                sa = (after.get("by_size") or {}).get(band, {})
                if sb.get("count"):
                    row(f"  {band} ({sb['count']} boxes)", sb.get("recall_matched"),
                        sa.get("recall_matched"))
    return table(rows)


REASONS = {
    "no_candidate": "no candidate changed the written values",
    "rules": "every candidate would add a check error",
    "guard": "the best candidate breaks the guard",
    "static_guard": "the best candidate keeps the guard on the augmented boxes but breaks it "
                    "on the static boxes",
}


def verdict(outcome: api.FitOutcome, writes: bool) -> str:
    """One line: better, or why not (never "writing" when nothing is written)."""
    fit = outcome.fit
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


def _anchors_per_location(outcome: api.FitOutcome) -> tuple[list[int], list[int]]:
    before, after = outcome.fit.anchors_per_location
    if outcome.forced:
        from tfod_anchors.frameworks import as_spec

        shape = outcome.boxes.most_common_shape()
        after = [int(lv.sizes.shape[0]) for lv in as_spec(outcome.config).layout_for(shape).levels]
    return before, after


def _changed_fields(outcome: api.FitOutcome) -> tuple[dict, dict]:
    """``(changed, previous)`` of what is written: the fit's, or with ``--force`` the
    best candidate's (``fit.generator`` is the config's own when nothing improved)."""
    fit = outcome.fit
    if not outcome.forced:
        return fit.changed, fit.previous
    from tfod_anchors.fitting import generator_diff

    return generator_diff(fit.generator, fit.best_generator, fit.kind)


def _target(args: Any) -> tuple[Any, str | None, list[str]]:
    """The model reference, its config file (None: ``--experiment`` alone) and the notes
    of :func:`api.check_writable`, which refuses before the work what writing would."""
    ref = model_ref(args)
    path = getattr(ref, "path", ref)
    if args.in_place and path is None:
        raise UsageError("--in-place needs a CONFIG file; with --experiment alone use "
                         "--output F.yaml (an override file)")
    return ref, path, api.check_writable(path or "", output=args.output, in_place=args.in_place)


def _write(args: Any, outcome: api.FitOutcome, path: str | None
           ) -> tuple[str | None, str | None, dict | None, list[str]]:
    """``(written, backup, override, notes)``: the patched config, or with ``--experiment``
    alone the override (``--output`` file and the ``--params_override`` string)."""
    if path is None:
        override = api.anchor_override(outcome, output=args.output)
        return override["file"], None, override, []
    if not (args.output or args.in_place):
        return None, None, None, []
    details = api.write_fitted_details(outcome, output=args.output, in_place=args.in_place,
                                       backup=not args.no_backup)
    return details.path, details.backup, None, list(details.notes)


def run(args: Any) -> int:
    progress = None if args.quiet or args.json else (lambda msg: say(args, f"  {msg}"))
    ref, path, write_notes = _target(args)
    num_scales, num_ratios = _counts(args)
    outcome = api.fit(
        ref, sources=source_options(args), objective=args.objective, seed=args.seed,
        num_scales=num_scales, num_aspect_ratios=num_ratios,
        force=args.force, guard=args.guard, progress=progress,
        augment=augment_value(augment_options(args, default_on=True)),
        effort=parse_effort(args.effort), augment_seed=args.augment_seed)
    fit = outcome.fit
    take = fit.improved or outcome.forced
    changed, previous = _changed_fields(outcome) if take else ({}, {})
    apl_before, apl_after = _anchors_per_location(outcome) if take else \
        fit.anchors_per_location
    warnings, notes, dropped = what_was_measured(args, outcome, take, apl_before, apl_after)
    if outcome.patch_warning:
        warnings.append(outcome.patch_warning)
    # a new error in what would be written, or errors that ruled out every candidate
    blocking = outcome.blocking_findings or (fit.rejected if fit.reason == "rules" else [])
    for f in outcome.new_findings:
        if f["severity"] == "warning":
            warnings.append(f"the fitted config adds check finding {f['code']}: {f['message']}")
    if outcome.boxes.num_boxes < FEW_BOXES:
        warnings.append(f"only {outcome.boxes.num_boxes} box(es) were fitted: anchors fitted to "
                        f"fewer than {FEW_BOXES} boxes follow those boxes, not the objects the "
                        "model will meet; check the input or treat the result with care")
    written = backup = override = None
    if take and not blocking:
        written, backup, override, more = _write(args, outcome, path)
        write_notes += more
    warnings += write_notes + [g["message"] for g in giveaways(outcome)]
    report_paths = []
    if args.report:
        report_paths = write_fit_report(args.report, outcome, seed=args.seed,
                                        peer_sets=read_peer_sets(args.peer_sets))
    line = verdict(outcome, written is not None)
    if blocking:
        line = (f"the fitted config would fail check "
                f"({', '.join(f['code'] for f in blocking)}): nothing written")
    code = EXIT_CHECK_FAILED if blocking else EXIT_OK
    after = fit.best_after if outcome.forced and fit.best_after else fit.after
    static_after = fit.static_best_after if outcome.forced and fit.static_best_after \
        else fit.static_after
    for f in blocking:
        warn(args, f"the fitted config would fail check: {f['code']}: {f['message']}")
    for w in warnings:
        warn(args, w)
    if args.json:
        emit_json({
            "config": str(ref),
            "model": api.model_names(outcome.model),
            "num_images": outcome.num_images,
            "num_boxes": outcome.boxes.num_boxes,
            "skipped": outcome.skipped,
            "skip_examples": outcome.skip_examples,
            "matched_threshold": fit.matched_threshold,
            "objective": fit.objective,
            "improved": fit.improved,
            "forced": outcome.forced,
            "verdict": line,
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
            "previous": previous if take else {},
            "anchors_per_location": {"before": apl_before, "after": apl_after},
            "guard": fit.guard,
            "static_guard": fit.static_guard if outcome.augmentation is not None else None,
            "guard_spec": fit.guard_spec,
            "guard_blocked": fit.blocked, **said_out_loud(outcome),
            "new_findings": outcome.new_findings or blocking,
            "warnings": warnings,
            "notes": notes, "data_dropped": dropped, "by_class": by_class_before_after(outcome),
            "written": written,
            "override": override,
            "diff": outcome.diff if take and not written else "",
            "report": [str(p) for p in report_paths],
            # wall-clock timing would make the output differ between identical runs
            "diagnostics": {k: v for k, v in fit.diagnostics.items()
                            if "seconds" not in k},
        })
        return code
    for text in human_lines(outcome, after, changed, previous, apl_before, apl_after,
                            static_after):
        out(args, text)
    by_class_and_notes(args, outcome, notes)
    out(args, line)
    if written:
        say(args, f"wrote {written}" + (f" (previous text kept in {backup})" if backup else ""))
    elif override is not None:
        say(args, "for train.py: --params_override (nothing written without --output)")
        out(args, override["params_override"])
    elif take and not blocking and outcome.diff:
        say(args, "dry run (no --output/--in-place), nothing written; the patch would be")
        out(args, outcome.diff.rstrip("\n"))
    for path in report_paths:
        say(args, f"wrote {path}")
    return code


def giveaways(outcome: api.FitOutcome) -> list[dict[str, Any]]:
    """Size bands the written (or forced) anchors give away (:mod:`.giveaways`), on the
    fitted boxes and, for an augmented fit, on the static boxes."""
    fit = outcome.fit
    forced = outcome.forced
    if not (fit.improved or forced):
        return []
    after = fit.best_after if forced and fit.best_after else fit.after
    where = "augmented boxes" if outcome.augmentation is not None else "boxes"
    out = band_giveaways(fit.before, after, fit.matched_threshold, fit.guard_spec, where)
    static_after = fit.static_best_after if forced and fit.static_best_after \
        else fit.static_after
    if outcome.augmentation is not None and fit.static_before and static_after:
        out += band_giveaways(fit.static_before, static_after, fit.matched_threshold,
                              fit.guard_spec, "static boxes")
    return out


def said_out_loud(outcome: api.FitOutcome) -> dict[str, Any]:
    """The JSON keys of what the fit says about its search: ``could_do_better``,
    ``search`` (how much was done) and ``thin_aspect_ratios``."""
    fit = outcome.fit
    return {"could_do_better": fit.could_do_better, "search": fit.diagnostics.get("effort"),
            "thin_aspect_ratios": thin_slots(outcome)}


def thin_slots(outcome: api.FitOutcome) -> list[dict[str, Any]]:
    """Aspect-ratio slots of the written generator that are the best anchor of fewer than
    1 % of the fitted boxes (:func:`~tfod_anchors.fitting.giveaways.thin_ratio_slots`)."""
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


def what_was_measured(args: Any, outcome: api.FitOutcome, take: bool, apl_before: list[int],
                      apl_after: list[int]) -> tuple[list[str], list[str], dict | None]:
    """``(warnings, notes, data_dropped)``: what a new anchor count does to the checkpoint
    (:mod:`tfod_anchors.rules.checkpoint`) and to the anchors per image, what the read
    dropped, and a placeholder label map's note."""
    warnings: list[str] = []
    notes: list[str] = []
    tfod = outcome.model is None or outcome.model.framework == "tfod"  # its checkpoints
    note = anchor_count_note(outcome.config, apl_before, apl_after) if take and tfod else None
    if note is not None:
        (warnings if note.level == "warning" else notes).append(note.message)
    elif take and apl_before != apl_after:
        warnings.append(f"anchors per location change from {apl_before} to {apl_after}: the "
                        "box predictor's shapes change")
    dropped, filter_notes = fit_dropped(args, outcome)
    notes += filter_notes + anchor_total_notes(outcome, apl_before, apl_after)
    warnings += [f"{f.code}: {f.message}" for f in data_dropped_findings(dropped)]
    return warnings, notes, dropped


def by_class_and_notes(args: Any, outcome: api.FitOutcome, notes: list[str]) -> None:
    """The text output's ``--by-class`` table (stdout) and the notes (stderr)."""
    if getattr(args, "by_class", False):
        out(args, class_comparison_table(by_class_before_after(outcome),
                                         outcome.fit.matched_threshold))
    for text in notes:
        say(args, f"note: {text}")


def _counts(args: Any) -> tuple[int | None, int | None]:
    """``(num_scales, num_aspect_ratios)`` from the flags (``--anchors-per-location N``
    resolved for the config's generator, :mod:`tfod_anchors.whatif.counts`)."""
    from tfod_anchors.errors import UsageError
    from tfod_anchors.whatif.counts import counts_for

    n = getattr(args, "anchors_per_location", None)
    if n is None:
        return args.num_scales, args.num_aspect_ratios
    if args.num_scales is not None or args.num_aspect_ratios is not None:
        raise UsageError("--anchors-per-location sets the counts itself: drop --num-scales "
                         "and --num-aspect-ratios")
    return counts_for(load(args.config).config, n)


def anchor_total_notes(outcome: api.FitOutcome, before: list[int],
                       after: list[int]) -> list[str]:
    """When the anchors per location change: how many anchors the most common input gets
    before and after (the box predictor's extra outputs)."""
    from tfod_anchors.pipeline import layout_function

    if before == after or not take_written(outcome) or outcome.loaded is None:
        return []
    shape = outcome.boxes.most_common_shape()
    n0 = layout_function(outcome.loaded.config)(shape).num_anchors
    n1 = layout_function(outcome.config)(shape).num_anchors
    return [f"anchors per image ({shape[0]}x{shape[1]} input): {n0} -> {n1} ({n1 - n0:+d}); "
            f"the box predictor outputs {sum(after) - sum(before):+d} boxes per location "
            "summed over levels"]


def fit_dropped(args: Any, outcome: api.FitOutcome) -> tuple[dict[str, Any] | None, list[str]]:
    """The ``data_dropped`` block of the fit's read (:mod:`tfod_anchors.measured`), and
    the ``class_filter_off`` note when a placeholder label map turned filtering off."""
    from tfod_anchors import measured
    from tfod_anchors.rules.dropped import class_filter_off_findings

    options = source_options(args)
    path = outcome.loaded.path if outcome.loaded else None
    cfg = outcome.loaded.config if outcome.loaded else outcome.config
    info = measured.label_map_info(cfg, path, options)
    static = outcome.static_boxes if outcome.static_boxes is not None else outcome.boxes
    specs = measured.input_specs(cfg, path, options)
    notes = [f"{f.code}: {f.message}"
             for f in class_filter_off_findings(info.placeholder, given=False)]
    return measured.dropped_block(outcome.skipped, outcome.skip_examples,
                                  boxes_kept=static.num_boxes, images_kept=outcome.num_images,
                                  augmentation=outcome.augmentation, specs=specs, info=info,
                                  compression=options.compression), notes


def by_class_before_after(outcome: api.FitOutcome) -> dict[str, dict[str, Any]]:
    """Per-class coverage before and after the fit, on the boxes fitted:
    ``{id: {name, count, share, before: {mean_iou, recall_matched}, after: {...}}}``."""
    from tfod_anchors.coverage.by_class import class_metrics

    fit = outcome.fit
    if fit.report_before is None:
        return {}
    labels = outcome.boxes.label
    t = fit.matched_threshold
    before = class_metrics(fit.report_before.best_iou, labels, t)
    after_report = fit.report_after if fit.report_after is not None else fit.report_before
    after = class_metrics(after_report.best_iou, labels, t)
    return {cid: {"count": e["count"], "share": e["share"],
                  "before": {k: e[k] for k in ("mean_iou", "recall_matched")},
                  "after": {k: after[cid][k] for k in ("mean_iou", "recall_matched")}}
            for cid, e in before.items()}


def class_comparison_table(rows_in: dict[str, dict[str, Any]], matched: float) -> str:
    """``fit --by-class``: recall at the matched threshold per class, before and after."""
    rows = [["class", "boxes", f"recall (IoU >= {matched:g}) before", "after", "change"]]
    for cid, e in rows_in.items():
        b, a = e["before"]["recall_matched"], e["after"]["recall_matched"]
        rows.append([cid, str(e["count"]), fmt(b, 4), fmt(a, 4), f"{a - b:+.4f}"])
    return table(rows)


def _metrics_or_none(metrics: dict | None) -> dict | None:
    return ordered_metrics(metrics) if metrics is not None else None


def _guard_line(where: str, floors: dict[str, float], matched: float) -> str:
    return f"guard ({where}): " + ", ".join(
        f"{describe_metric(k, matched)} >= {v:.3f}" for k, v in floors.items())


def human_lines(outcome: api.FitOutcome, after: dict, changed: dict, previous: dict,
                apl_before: list[int], apl_after: list[int],
                static_after: dict | None = None) -> list[str]:
    """The text report above the verdict: what was read and dropped, the table (and
    which boxes it is about), the guard, the gain, the new values."""
    fit = outcome.fit
    aug = outcome.augmentation
    lines = [f"{outcome.boxes.num_boxes} boxes in {outcome.num_images} images; {fit.kind}; "
             f"matcher: {fit.before.get('matcher_source', '')}"]
    if aug is not None:
        ops = ", ".join(f"{s['index']}:{s['op']}" for s in aug["steps"] if s["modelled"])
        static_n = outcome.static_boxes.num_boxes if outcome.static_boxes is not None else 0
        lines[0] = (f"{outcome.boxes.num_boxes} augmented boxes ({aug['draws']} draw(s) of "
                    f"{outcome.num_images} images through {ops}; augment seed {aug['seed']}; "
                    f"{static_n} static boxes); {fit.kind}; matcher: "
                    f"{fit.before.get('matcher_source', '')}")
    skips = skipped_lines(outcome.skipped, outcome.skip_examples)
    lines += ["skipped or dropped while reading (as `stats` reports them):", *skips] if skips \
        else ["nothing skipped or dropped while reading"]
    if aug is not None:
        lines.append("on the augmented boxes (the distribution fitted; --no-augment for the "
                     "static boxes):")
    lines.append(comparison_table(fit, after))
    lines.append(UNREACHABLE_NOTE)
    deg = fit.before.get("degenerate") or {}
    if deg.get("count"):
        lines.append(degenerate_line(deg, "augmented boxes" if aug is not None else "boxes"))
    static_deg = (fit.static_before or {}).get("degenerate") or {}
    if aug is not None and static_deg.get("count"):
        lines.append(degenerate_line(static_deg, "static boxes"))
    if aug is not None and fit.static_before is not None:
        lines.append("on the static boxes (the guard holds here too):")
        lines.append(comparison_table(fit, static_after or fit.static_before,
                                      fit.static_before, METRIC_KEYS))
    where = "all augmented boxes" if aug is not None else "all boxes"
    if fit.guard:
        lines.append(_guard_line(where, fit.guard, fit.matched_threshold))
    if aug is not None and fit.static_guard:
        lines.append(_guard_line("all static boxes", fit.static_guard, fit.matched_threshold))
    if fit.could_do_better:
        lines.append(fit.could_do_better["message"])
    search = fit.diagnostics.get("effort")
    if search:
        lines.append(search_line(search, fit.matched_threshold))
    if fit.blocked:
        lines.append(f"the guard held: {fit.blocked['message']} (measured on "
                     f"{fit.blocked['measured_on']}; relax with --guard)")
    lines += [f"aspect ratio {slot['aspect_ratio']:g} is the best anchor of only {slot['boxes']} "
              f"boxes ({slot['share']:.1%} of them, under 1%): a slot spent on a few boxes"
              for slot in thin_slots(outcome)]
    if changed:
        lines.append("new values: " + ", ".join(f"{k}: {v}" for k, v in changed.items()))
        resized_lists = [f"{k} {len(previous[k])} -> {len(v)} values"
                         for k, v in changed.items()
                         if isinstance(v, list) and isinstance(previous.get(k), list)
                         and len(v) != len(previous[k])]
        if resized_lists and apl_before == apl_after:
            lines.append(f"split changed ({', '.join(resized_lists)}); anchors per location "
                         f"stay {apl_after}, so checkpoint shapes still match")
    return lines


def search_line(search: dict[str, Any], matched: float) -> str:
    """One line: how much search was done, the best start (coarse sample) and what was
    written."""
    text = (f"search (--effort {search['effort']}): {search['starts']} starts, "
            f"{search['refined_on_coarse']} refined, {search['polished']} polished, "
            f"{search['measured_exactly']} measured on all boxes")
    best = search.get("best_start")
    if best:
        text += (f"; best start {best['origin']} recall@{matched:g} "
                 f"{best['coarse_score'][1]:.3f} on the coarse sample")
    polished = search.get("best_polished")
    if polished:
        text += (f", best polished {polished['origin']} "
                 f"{polished['search_score'][1]:.3f} on the search sample")
    return text


def read_peer_sets(path: str | None) -> dict[str, Any]:
    """``--peer-sets FILE.json``: ``{name: [[w, h], ...]}`` (UsageError when malformed)."""
    if not path:
        return {}
    import json

    import numpy as np

    from tfod_anchors.errors import UsageError
    from tfod_anchors.sources.fileio import read_bytes

    try:
        doc = json.loads(read_bytes(path))
        sets = {str(k): np.asarray(v, dtype=np.float64).reshape(-1, 2) for k, v in doc.items()}
    except (ValueError, TypeError, AttributeError) as err:
        raise UsageError(f"{path}: --peer-sets needs a JSON object {{name: [[w, h], ...]}} "
                         f"({err})") from None
    return sets


def write_fit_report(directory: str, outcome: api.FitOutcome, *, seed: int = 0,
                     peer_sets: dict[str, Any] | None = None) -> list[Any]:
    """The plots of a fit (``--report DIR``): before/after from the coverage reports
    the fit already computed, and ``front.png`` (see
    :mod:`tfod_anchors.fitting.front`)."""
    from pathlib import Path

    import numpy as np

    from tfod_anchors.fitting import front
    from tfod_anchors.plots.front import front_figure
    from tfod_anchors.plots.report import ReportSide, write_report

    resized = outcome.boxes
    cfg_before = outcome.loaded.config if outcome.loaded else outcome.config
    fit = outcome.fit
    wh = np.stack([resized.widths, resized.heights], axis=1)
    paths = write_report(directory, wh,
                         ReportSide(anchor_shapes_hw(as_spec(cfg_before), resized),
                                    fit.report_before),
                         ReportSide(anchor_shapes_hw(as_spec(outcome.config), resized),
                                    fit.report_after),
                         title=f"{resized.num_boxes} boxes, {fit.kind}")
    after = fit.best_after if outcome.forced and fit.best_after else fit.after
    marks: dict[str, Any] = {"config": fit.before,
                             "fit (written)" if take_written(outcome) else "fit": after}
    k = int(sum(fit.anchors_per_location[0]))
    ref = front.kmeans_set(resized, k, seed)
    ref_m = front.free_set_metrics(resized, cfg_before, ref) if ref is not None else None
    if ref_m is not None:
        marks[f"IoU k-means ({k} free shapes)"] = ref_m
    peers = {}
    for name, shapes in (peer_sets or {}).items():
        m = front.free_set_metrics(resized, cfg_before, shapes)
        if m is not None:
            peers[name] = [m]
    from tfod_anchors.plots.classes import plot_recall_by_class

    classes = plot_recall_by_class(by_class_before_after(outcome),
                                   Path(directory) / "recall_by_class.png",
                                   matched_threshold=fit.matched_threshold,
                                   title=f"{resized.num_boxes} boxes, {fit.kind}")
    points = front.trade_off_front(resized, cfg_before, seed=seed)
    path = front_figure(Path(directory) / "front.png", fronts={fit.kind: points},
                        marks=marks, peers=peers, matched_threshold=fit.matched_threshold,
                        title=f"{resized.num_boxes} boxes, {fit.kind}; front points fitted "
                              f"without a guard for weights {', '.join(front.FRONT_WEIGHTS)}")
    return [*paths, classes, path]


def take_written(outcome: api.FitOutcome) -> bool:
    return outcome.fit.improved or outcome.forced
