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

from tfod_anchors import api
from tfod_anchors import outcome as results
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
    load_model,
    model_ref,
    out,
    say,
    skipped_lines,
    source_options,
    table,
    warn,
)
from tfod_anchors.coverage.metrics import METRIC_KEYS, SIZE_BANDS
from tfod_anchors.errors import EXIT_CHECK_FAILED, EXIT_OK, UsageError
from tfod_anchors.fitting import OBJECTIVES
from tfod_anchors.fitting.effort import parse_effort
from tfod_anchors.fitting.objective import describe_metric, describe_objective

HELP = "fit the config's own anchor generator to the boxes"
#: The text table's rows: the matcher's metrics, then YOLOv5's best possible recall and
#: the mean number of positive anchors per box (``num_unreachable`` with ``--verbose``).
TABLE_KEYS = (*METRIC_KEYS, "bpr_yolov5", "mean_positives")
BPR_NOTE = ("bpr_yolov5: YOLOv5's best possible recall (an anchor within 4x of the box's "
            "width and height); mean_positives: anchors per box at IoU >= the matched "
            "threshold (few means few training targets per object)")
UNREACHABLE_NOTE = ("num_unreachable: boxes an anchor shape would match if centred on them "
                    "but no anchor at a grid position does (stride, border): no anchor shape "
                    "reaches them; only a finer stride (an earlier feature map) would")


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
                             "size and by class, and front.png: the config, the fit, IoU "
                             "k-means and any --peer-sets on matched recall vs mean IoU and "
                             "another recall")
    parser.add_argument("--report-front", action="store_true",
                        help="with --report: also draw the trade-off front on front.png "
                             "(seven unguarded fits: several times the fit's own time)")
    parser.add_argument("--peer-sets", metavar="FILE.json",
                        help="with --report: mark these anchor sets on the front plot: a JSON "
                             "object {name: [[w, h], ...]} in resized pixels (e.g. what "
                             "another anchor tool produced; single-map configs only)")
    parser.add_argument("--verbose", "-v", action="store_true",
                        help="also show num_unreachable: boxes a shape would match but no "
                             "anchor position reaches (stride, border)")
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
        test = before.get("matched_rule") or f"IoU >= {fit.matched_threshold:g}"
        name = f"{key} ({test})" if key == "recall_matched" else key
        row(name, before.get(key), after.get(key))
        if key == "recall_matched":
            for band, _, _ in SIZE_BANDS:
                sb = (before.get("by_size") or {}).get(band, {})
                sa = (after.get("by_size") or {}).get(band, {})
                if sb.get("count"):
                    row(f"  {band} ({sb['count']} boxes)", sb.get("recall_matched"),
                        sa.get("recall_matched"))
    return table(rows)


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
    blocking = results.blocking(outcome)
    written = backup = override = None
    if results.takes(outcome) and not blocking:
        written, backup, override, more = _write(args, outcome, path)
        write_notes += more
    report_paths = []
    if args.report:
        from tfod_anchors.plots.report import write_fit_report

        report_paths = write_fit_report(args.report, outcome, seed=args.seed,
                                        peer_sets=read_peer_sets(args.peer_sets),
                                        front=args.report_front)
    doc = outcome.to_json(written=written, notes=write_notes, report=report_paths,
                          override=override)
    for f in blocking:
        warn(args, f"the fitted config would fail check: {f['code']}: {f['message']}")
    for w in doc["warnings"]:
        warn(args, w)
    code = EXIT_CHECK_FAILED if blocking else EXIT_OK
    if args.json:
        emit_json(doc)
        return code
    for text in human_lines(outcome, doc["thin_aspect_ratios"], verbose=args.verbose):
        out(args, text)
    by_class_and_notes(args, outcome, doc["notes"])
    out(args, doc["verdict"])
    if written:
        say(args, f"wrote {written}" + (f" (previous text kept in {backup})" if backup else ""))
    elif override is not None:
        say(args, "for train.py: --params_override (nothing written without --output)")
        out(args, override["params_override"])
    elif results.takes(outcome) and not blocking and outcome.diff:
        say(args, "dry run (no --output/--in-place), nothing written; the patch would be")
        out(args, outcome.diff.rstrip("\n"))
    for plot in report_paths:
        say(args, f"wrote {plot}")
    return code


def by_class_and_notes(args: Any, outcome: api.FitOutcome, notes: list[str]) -> None:
    """The text output's ``--by-class`` table (stdout) and the notes (stderr)."""
    if getattr(args, "by_class", False):
        out(args, class_comparison_table(results.by_class_before_after(outcome),
                                         outcome.fit.matched_threshold))
    for text in notes:
        say(args, f"note: {text}")


def _counts(args: Any) -> tuple[int | None, int | None]:
    """``(num_scales, num_aspect_ratios)`` from the flags (``--anchors-per-location N``
    resolved for the config's generator, :mod:`tfod_anchors.whatif.counts`)."""
    from tfod_anchors.errors import UsageError

    n = getattr(args, "anchors_per_location", None)
    if n is None:
        return args.num_scales, args.num_aspect_ratios
    if args.num_scales is not None or args.num_aspect_ratios is not None:
        raise UsageError("--anchors-per-location sets the counts itself: drop --num-scales "
                         "and --num-aspect-ratios")
    return load_model(args)[0].anchor_counts(n)


def class_comparison_table(rows_in: dict[str, dict[str, Any]], matched: float) -> str:
    """``fit --by-class``: recall at the matched threshold per class, before and after."""
    rows = [["class", "boxes", f"recall (IoU >= {matched:g}) before", "after", "change"]]
    for cid, e in rows_in.items():
        b, a = e["before"]["recall_matched"], e["after"]["recall_matched"]
        rows.append([cid, str(e["count"]), fmt(b, 4), fmt(a, 4), f"{a - b:+.4f}"])
    return table(rows)


def _guard_line(where: str, floors: dict[str, float], matched: float,
                rule: str | None = None) -> str:
    return f"guard ({where}): " + ", ".join(
        f"{describe_metric(k, matched, rule)} >= {v:.3f}" for k, v in floors.items())


def _read_lines(outcome: api.FitOutcome) -> list[str]:
    """What was read (static or augmented) and what was skipped or dropped."""
    fit = outcome.fit
    aug = outcome.augmentation
    what = f"{outcome.boxes.num_boxes} boxes in {outcome.num_images} images"
    if aug is not None:
        ops = ", ".join(f"{s['index']}:{s['op']}" for s in aug["steps"] if s["modelled"])
        static_n = outcome.static_boxes.num_boxes if outcome.static_boxes is not None else 0
        what = (f"{outcome.boxes.num_boxes} augmented boxes ({aug['draws']} draw(s) of "
                f"{outcome.num_images} images through {ops}; augment seed {aug['seed']}; "
                f"{static_n} static boxes)")
    lines = [f"{what}; {fit.kind}; matcher: {fit.before.get('matcher_source', '')}"]
    if aug is not None and aug.get("note"):
        lines.append(f"note: {aug['note']}")
    skips = skipped_lines(outcome.skipped, outcome.skip_examples)
    lines += ["skipped or dropped while reading (as `stats` reports them):", *skips] if skips \
        else ["nothing skipped or dropped while reading"]
    return lines


def human_lines(outcome: api.FitOutcome, thin_slots: list[dict[str, Any]], *,
                verbose: bool = False) -> list[str]:
    """The text report above the verdict: what was read and dropped, the table (and
    which boxes it is about; ``num_unreachable`` with ``verbose``), the guard, the new
    values. ``thin_slots``: the JSON document's ``thin_aspect_ratios`` (worked out once)."""
    fit = outcome.fit
    aug = outcome.augmentation
    after, static_after = results.written_metrics(outcome)
    lines = _read_lines(outcome)
    if aug is not None:
        lines.append("on the augmented boxes (the distribution fitted; --no-augment for the "
                     "static boxes):")
    keys = (*TABLE_KEYS, "num_unreachable") if verbose else TABLE_KEYS
    lines.append(comparison_table(fit, after, keys=keys))
    rule = fit.before.get("matched_rule")
    lines.append(BPR_NOTE if rule is None else BPR_NOTE.replace(
        "at IoU >= the matched threshold", f"that pass the rule ({rule})"))
    if verbose:
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
    if fit.guard:
        where = "all augmented boxes" if aug is not None else "all boxes"
        lines.append(_guard_line(where, fit.guard, fit.matched_threshold,
                                 fit.before.get("matched_rule")))
    if aug is not None and fit.static_guard:
        lines.append(_guard_line("all static boxes", fit.static_guard, fit.matched_threshold,
                                 fit.before.get("matched_rule")))
    if fit.could_do_better:
        lines.append(fit.could_do_better["message"])
    search = fit.diagnostics.get("effort")
    if search:
        lines.append(search_line(search, describe_objective(
            fit.objective, fit.matched_threshold, fit.before.get("matched_rule"))))
    if fit.blocked:
        lines.append(f"the guard held: {fit.blocked['message']} (measured on "
                     f"{fit.blocked['measured_on']}; relax with --guard)")
    lines += [f"aspect ratio {slot['aspect_ratio']:g} is the best anchor of only {slot['boxes']} "
              f"boxes ({slot['share']:.1%} of them, under 1%): a slot spent on a few boxes"
              for slot in thin_slots]
    return lines + _new_value_lines(outcome)


def _new_value_lines(outcome: api.FitOutcome) -> list[str]:
    """The values that would be written, and whether a changed split keeps the
    checkpoint's shapes."""
    changed, previous = results.written_fields(outcome)
    if not changed:
        return []
    lines = ["new values: " + ", ".join(f"{k}: {v}" for k, v in changed.items())]
    apl_before, apl_after = results.anchors_per_location(outcome)
    resized_lists = [f"{k} {len(previous[k])} -> {len(v)} values"
                     for k, v in changed.items()
                     if isinstance(v, list) and isinstance(previous.get(k), list)
                     and len(v) != len(previous[k])]
    if resized_lists and apl_before == apl_after:
        lines.append(f"split changed ({', '.join(resized_lists)}); anchors per location "
                     f"stay {apl_after}, so checkpoint shapes still match")
    return lines


def search_line(search: dict[str, Any], primary: str) -> str:
    """One line: how much search was done, the best start (coarse sample) and what was
    written; ``primary``: the objective's value in words (``describe_objective``)."""
    text = (f"search (--effort {search['effort']}): {search['starts']} starts, "
            f"{search['refined_on_coarse']} refined, {search['polished']} polished, "
            f"{search['measured_exactly']} measured on all boxes")
    best = search.get("best_start")
    if best:
        text += (f"; best start {best['origin']} {primary} "
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
