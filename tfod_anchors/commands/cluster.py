"""``tfod-anchors cluster``: the classic k-means view of a dataset's box shapes.

Boxes are clustered either in the config's resized pixels (what the model sees)
or normalized per image (the YOLO9000 protocol, ``--normalized``). With a config,
the boxes are those ``fit`` and ``check`` measure: drawn through the config's
``data_augmentation_options`` when a step changes boxes (``--augment N`` draws,
``--no-augment`` for the static boxes), and when the config has anchors the spec maps the
centroids to its own fields (:meth:`~tfod_anchors.frameworks.ModelSpec.centroid_anchors`: a
TFOD generator's, or a Model Garden experiment's anchor keys), printed as a block ready to
paste (and the Model Garden's ``--params_override`` string), with the boxes' mean shape IoU
with the mapped shapes beside the centroids' and the positioned coverage the config's anchors
and the mapped ones give (the model's own matcher), checked with ``check``'s rules, and written
with ``--output``/``--in-place`` exactly as ``fit`` writes (atomic, change check, backup;
with ``--experiment`` alone, ``--output`` writes an override file), unless the rules find a
new error. ``fit`` optimises the same parameters directly and is usually better.

The clustering is the result (stdout); progress and ``wrote FILE`` go to stderr.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from tfod_anchors import api, pipeline
from tfod_anchors.cluster import baselines, kmeans
from tfod_anchors.cluster.proposal import Proposal, propose
from tfod_anchors.commands._common import (
    add_augment_arguments,
    add_experiment_arguments,
    add_output_arguments,
    add_source_arguments,
    augment_options,
    emit_json,
    fmt,
    load_model,
    model_line,
    model_ref,
    out,
    say,
    source_options,
    table,
    warn,
)
from tfod_anchors.errors import EXIT_CHECK_FAILED, EXIT_OK, UsageError
from tfod_anchors.frameworks import CentroidMapping, ModelSpec

HELP = "classic k-means anchor clustering"


def k_range(text: str) -> list[int]:
    """``K`` or ``KMIN:KMAX`` (argparse type)."""
    try:
        if ":" in text:
            lo, hi = (int(v) for v in text.split(":"))
            ks = list(range(lo, hi + 1))
        else:
            lo = hi = int(text)
            ks = [lo]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected K or KMIN:KMAX, got {text!r}") from None
    if lo > hi:
        raise argparse.ArgumentTypeError(f"KMIN:KMAX needs KMIN <= KMAX, got {text!r} "
                                         f"(did you mean {hi}:{lo}?)")
    if not ks or min(ks) < 1:
        raise argparse.ArgumentTypeError(f"k must be >= 1, got {text!r}")
    return ks


def add_arguments(parser: argparse.ArgumentParser) -> None:
    space = parser.add_mutually_exclusive_group()
    space.add_argument("--config", metavar="CONFIG",
                       help="cluster the boxes fit measures: this config's training boxes "
                            "(its training inputs unless --input), augmented as in training, "
                            "in its resized pixels (a pipeline.config or a Model Garden YAML; "
                            "or --experiment)")
    space.add_argument("--normalized", action="store_true",
                       help="cluster boxes normalized per image (the YOLO9000 protocol)")
    add_experiment_arguments(parser)
    parser.add_argument("--k", type=k_range, required=True, metavar="K|KMIN:KMAX",
                        help="number of clusters, or a range for the elbow curve")
    parser.add_argument("--metric", choices=["iou", "euclidean", "ratio-scale"], default="iou",
                        help="k-means distance: iou (1 - IoU of shapes, YOLOv2), euclidean "
                             "(on w, h), ratio-scale (log aspect ratios and log scales clustered "
                             "apart, K of each); default: iou")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the k-means starts and of the augmentation draws "
                             "(default 0)")
    parser.add_argument("--plot", metavar="FILE.png", help="write the elbow/scatter plot")
    write = parser.add_mutually_exclusive_group()
    write.add_argument("--output", "-o", metavar="PATH",
                       help="with --config and one K: write the config with the clustered "
                            "anchors here (as fit --output does; with --experiment alone, an "
                            "override YAML for train.py --config_file)")
    write.add_argument("--in-place", action="store_true",
                       help="with --config and one K: rewrite CONFIG atomically, keeping "
                            "CONFIG.bak (as fit --in-place does)")
    parser.add_argument("--no-backup", action="store_true", help="with --in-place: keep no .bak")
    add_source_arguments(parser)
    add_augment_arguments(parser, default_on=True, seed=False)
    add_output_arguments(parser)


def cluster_once(wh: np.ndarray, k: int, metric: str, seed: int) -> dict[str, Any]:
    """Centroids ``[w, h]`` (sorted by area) and the mean best IoU for one ``k``."""
    if metric in ("iou", "euclidean"):
        fit = kmeans.iou_kmeans if metric == "iou" else baselines.euclidean_kmeans
        res = fit(wh, k, seed=seed)
        return {"k": k, "centroids": res.centroids, "mean_iou": res.mean_iou}
    split = baselines.ratio_scale_kmeans(wh, k, k, seed=seed)
    return {"k": k, "centroids": split.centroids, "mean_iou": split.mean_iou,
            "aspect_ratios": split.ratios, "scales": split.scales}


def generator_mapping(model: ModelSpec, resized: Any, centroids: np.ndarray
                      ) -> CentroidMapping | None:
    """The config's anchor fields implied by the centroids (resized pixels), through the
    spec's own mapping; None when the config has no anchors."""
    if model.anchors is None:
        return None
    return model.centroid_anchors(centroids, resized.most_common_shape())


def mapped_shapes_iou(model: ModelSpec, anchors: Any, resized: Any,
                      wh: np.ndarray) -> float | None:
    """The boxes' mean best shape IoU (centred, positions ignored) against every anchor
    shape the mapped ``anchors`` lay out on the most common padded input: what the
    mapping keeps of the centroids' fit (compare with their ``mean_iou``); None when the
    mapped anchors lay out nothing there (``check``'s findings say why)."""
    from tfod_anchors.errors import ConfigError

    try:
        layout = model.with_anchors(anchors).layout_for(resized.most_common_shape())
    except ConfigError:
        return None
    shapes = np.unique(np.concatenate([lv.sizes for lv in layout.levels])[:, ::-1], axis=0)
    return kmeans.mean_best_iou(wh, shapes)


#: Positioned metrics ``cluster`` shows for the config's anchors and the mapped ones.
COVERAGE_KEYS = ("recall_matched", "mean_iou", "recall_0.7")


def proposal_coverage(model: ModelSpec, anchors: Any, resized: Any) -> dict[str, Any] | None:
    """Positioned coverage of the clustered boxes under the model's own matcher by the
    config's anchors (``before``) and by the mapped ones (``after``): what k-means on shapes
    alone does not see (strides, cell positions); with the framework's rule metrics (YOLO:
    ``no_target_share``). None when the mapped anchors lay out nothing."""
    from tfod_anchors.errors import ConfigError

    mapped = model.with_anchors(anchors)
    out: dict[str, Any] = {"matched_threshold": float(model.matcher().matched_threshold)}
    try:
        for name, spec in (("before", model), ("after", mapped)):
            metrics = pipeline.measure_coverage(resized, spec).metrics
            rule = spec.rule_metrics(resized)
            out[name] = {**{k: metrics[k] for k in COVERAGE_KEYS},
                         **({"no_target_share": rule["no_target_share"]}
                            if "no_target_share" in rule else {})}
    except ConfigError:
        return None
    return out


def _boxes(args: Any, model: ModelSpec | None
           ) -> tuple[np.ndarray, Any, str, dict[str, Any] | None]:
    """``(wh [N, 2] of positive size, resized boxes or None, space, augmentation)``:
    with a config the boxes ``fit`` measures, else normalized per image."""
    if model is None:
        boxset = pipeline.read_config_boxes(None, None, source_options(args))
        wh = kmeans.normalized_wh(boxset)
        return wh, None, "normalized per image (YOLO9000 protocol)", None
    augmentation = augment_options(args, default_on=True)
    training = pipeline.training_boxes(model, model.path, source_options(args), augmentation)
    summary = pipeline.augmentation_summary(training.augmentation)
    space = "resized pixels (" + pipeline.resizer_description(model) + ")"
    if summary is not None:
        space = f"augmented boxes ({summary['draws']} draw(s) per image), {space}"
    return kmeans.resized_wh(training.resized), training.resized, space, summary


def _validate(args: Any, ref: Any) -> list[str]:
    """Refuse flag combinations before any work; the writer's early notes."""
    if ref and args.normalized:
        raise UsageError("--normalized clusters in normalized units: it takes no config")
    if not ref and not args.normalized:
        raise UsageError("cluster needs --config CONFIG, --experiment NAME or --normalized")
    if not ref and not args.inputs:
        raise UsageError("cluster --normalized needs --input SRC")
    wants_file = bool(args.output or args.in_place)
    path = getattr(ref, "path", ref)
    if wants_file and not ref:
        raise UsageError("cluster --output/--in-place need --config (the config to patch)")
    if args.in_place and path is None:
        raise UsageError("cluster --in-place needs --config FILE; with --experiment alone "
                         "use --output F.yaml (an override file)")
    if wants_file and len(args.k) > 1:
        raise UsageError("cluster --output/--in-place need one K, not a range")
    if not ref and (args.augment or args.no_augment):
        raise UsageError("cluster --augment/--no-augment need --config (its augmentation)")
    return api.check_writable(path or "", output=args.output, in_place=args.in_place) \
        if wants_file else []


def run(args: Any) -> int:
    ref = model_ref(args, required=False)
    notes = _validate(args, ref)
    model, loaded = load_model(args) if ref else (None, None)
    wh, resized, space, summary = _boxes(args, model)
    keep = (wh > 0).all(axis=1)
    wh = wh[keep]
    runs = [cluster_once(wh, k, args.metric, args.seed) for k in args.k]
    chosen = runs[-1]
    doc: dict[str, Any] = {
        "model": api.model_names(model) if model is not None else None,
        "num_boxes": int(wh.shape[0]),
        "zero_size_boxes_ignored": int((~keep).sum()),
        "space": space,
        "metric": args.metric,
        "seed": args.seed,
        "distribution": "static" if summary is None else "augmented",
        "augmentation": summary,
        "mapped_mean_iou": None,
        "coverage": None,
    }
    if len(runs) > 1:
        doc["elbow"] = [{"k": r["k"], "mean_iou": r["mean_iou"]} for r in runs]
    doc.update({"k": chosen["k"], "centroids": chosen["centroids"],
                "mean_iou": chosen["mean_iou"]})
    proposal = None
    if model is not None:
        mapping = generator_mapping(model, resized, chosen["centroids"])
        doc["generator"] = mapping.doc if mapping is not None else None
        if mapping is not None and mapping.anchors is not None:
            proposal = propose(model, loaded, mapping.anchors)
            doc["mapped_mean_iou"] = mapped_shapes_iou(model, mapping.anchors, resized, wh)
            doc["coverage"] = proposal_coverage(model, mapping.anchors, resized)
    doc.update(_proposal_doc(proposal))
    code = EXIT_OK
    if proposal is not None and (args.output or args.in_place):
        code, written, notes = _write(args, proposal, loaded, notes)
        doc["written"] = written
    doc["warnings"] = notes
    if args.plot:
        _plot(args, runs, wh, space)
        doc["plot"] = args.plot
    for note in notes:
        warn(args, note)
    if args.json:
        emit_json(doc)
        return code
    _print(args, doc, runs, model is not None, proposal)
    if doc.get("written"):
        say(args, f"wrote {doc['written']}")
    if args.plot:
        say(args, f"wrote {args.plot}")
    return code


def _proposal_doc(proposal: Proposal | None) -> dict[str, Any]:
    """The JSON keys of the proposed config (all None without a mapping)."""
    if proposal is None:
        return {"config_block": None, "findings": None, "written": None}
    doc = {"config_block": proposal.block, "findings": proposal.findings, "written": None}
    if proposal.override is not None:
        doc["params_override"] = proposal.override
    return doc


def _write(args: Any, proposal: Proposal, loaded: Any,
           notes: list[str]) -> tuple[int, str | None, list[str]]:
    """Write the proposal as ``fit`` writes, unless it adds a check error (exit 1)."""
    if proposal.new_errors:
        notes = notes + [f"the clustered config would fail check: {f['code']}: "
                         f"{f['message']}; nothing written" for f in proposal.new_errors]
        return EXIT_CHECK_FAILED, None, notes
    if loaded is None:  # --experiment alone: an override file for the trainer
        return EXIT_OK, api.override_file(proposal.generator, args.output, args.experiment), notes
    assert proposal.text is not None
    written = api.write_patched(proposal.text, proposal.config, loaded, output=args.output,
                                in_place=args.in_place, backup=not args.no_backup)
    return EXIT_OK, written.path, notes + list(written.notes)


def _plot(args: Any, runs: list[dict[str, Any]], wh: np.ndarray, space: str) -> None:
    from tfod_anchors.plots.elbow import plot_elbow
    from tfod_anchors.plots.shapes import plot_box_shapes

    chosen = runs[-1]
    if len(runs) > 1:
        plot_elbow([r["k"] for r in runs], [r["mean_iou"] for r in runs], args.plot)
    else:
        plot_box_shapes(wh, chosen["centroids"][:, ::-1], args.plot,
                        title=f"k={chosen['k']} {args.metric} centroids, {space}")


def _print(args: Any, doc: dict[str, Any], runs: list[dict[str, Any]], pixels: bool,
           proposal: Proposal | None) -> None:
    """The text result: the clustering, and the config block with check's findings."""
    if doc["model"] is not None:
        out(args, model_line(doc["model"]))
    out(args, f"{doc['num_boxes']} boxes, {doc['space']}, metric {args.metric}")
    if len(runs) > 1:
        out(args, table([["k", "mean IoU"]] + [[str(r["k"]), fmt(r["mean_iou"], 4)]
                                               for r in runs]))
    out(args, f"k={doc['k']}: mean IoU {doc['mean_iou']:.4f}; centroids (w, h):")
    digits = 1 if pixels else 4
    for w, h in doc["centroids"]:
        out(args, f"  {w:.{digits}f} x {h:.{digits}f}   (w/h {w / h:.3f})")
    mapping = doc.get("generator")
    if mapping and "note" in mapping:
        out(args, f"as {mapping['kind']}: {mapping['note']}")
    if proposal is None or not mapping:
        return
    what = "the factorised set, " if "factorised" in mapping else ""
    out(args, f"as the config's {mapping['kind']} ({what}ready to paste; `fit` optimises "
              "these values directly):")
    out(args, proposal.block)
    if proposal.override is not None:
        out(args, f"as a train.py override: --params_override='{proposal.override}'")
    out(args, f"mean shape IoU of the boxes: {doc['mean_iou']:.4f} with the centroids, "
              f"{fmt(doc['mapped_mean_iou'], 4)} with the anchor shapes they map to")
    cov = doc.get("coverage")
    if cov:
        moved = ", ".join(f"{k} {fmt(cov['before'][k], 4)} -> {fmt(cov['after'][k], 4)}"
                          for k in cov["after"])
        out(args, f"positioned coverage of these boxes (matched threshold "
                  f"{cov['matched_threshold']:g}), the config's anchors -> these: {moved}")
    for f in proposal.findings:
        out(args, f"check: {f['severity'].upper()} {f['code']}: {f['message']}")
