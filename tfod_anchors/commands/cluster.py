"""``tfod-anchors cluster``: the classic k-means view of a dataset's box shapes.

Boxes are clustered either in the config's resized pixels (what the model sees)
or normalized per image (the YOLO9000 protocol, ``--normalized``). With a config
that has an anchor generator, the centroids are also mapped to that generator's
parameters, for comparison with ``fit`` (which optimises them directly).

The clustering is the result (stdout); progress and ``wrote FILE`` go to stderr.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from tfod_anchors import pipeline
from tfod_anchors.cluster import baselines, kmeans
from tfod_anchors.cluster import centroids as cmap
from tfod_anchors.commands._common import (
    add_experiment_arguments,
    add_output_arguments,
    add_source_arguments,
    emit_json,
    fmt,
    jsonable,
    load_model,
    model_ref,
    out,
    say,
    source_options,
    table,
)
from tfod_anchors.errors import EXIT_OK, UsageError
from tfod_anchors.frameworks import ModelSpec

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
                       help="cluster in this config's resized pixels (a pipeline.config or a "
                            "Model Garden YAML; or --experiment)")
    space.add_argument("--normalized", action="store_true",
                       help="cluster boxes normalized per image (the YOLO9000 protocol)")
    add_experiment_arguments(parser)
    parser.add_argument("--k", type=k_range, required=True, metavar="K|KMIN:KMAX",
                        help="number of clusters, or a range for the elbow curve")
    parser.add_argument("--metric", choices=["iou", "euclidean", "ratio-scale"], default="iou")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", metavar="FILE.png", help="write the elbow/scatter plot")
    add_source_arguments(parser)
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


def generator_mapping(model: ModelSpec, resized: Any,
                      centroids: np.ndarray) -> dict[str, Any] | None:
    """The config's generator parameters implied by the centroids (resized pixels)."""
    generator = model.anchors
    if generator is None:
        return None
    if isinstance(generator, dict):  # Model Garden anchor fields: no centroid mapping yet
        return {"kind": model.kind, "note": "no centroid mapping for Model Garden anchors: "
                "run fit, which fits them under the experiment's own rule"}
    try:
        return _mapping(generator, resized, centroids)
    except UsageError as err:  # e.g. fewer distinct centroid values than the config's lists
        kind = generator.WhichOneof("anchor_generator_oneof")
        return {"kind": kind, "note": f"no mapping: {err.message}"}


def _mapping(generator: Any, resized: Any, centroids: np.ndarray) -> dict[str, Any]:
    from tfod_anchors.frameworks.tfod_generators import generator_kind

    kind = generator.WhichOneof("anchor_generator_oneof")
    record = generator_kind(kind)
    if record is not None and record.centroid_fields is None:
        return {"kind": kind, "note": record.no_centroids}
    image_relative = record is not None and record.image_relative
    shape = resized.most_common_shape() if image_relative else None
    out = {"kind": kind}
    if record is not None and record.cartesian:
        msg = getattr(generator, kind)
        out["factorised"] = cmap.generator_fields(generator, centroids)
        out["naive_cartesian"] = cmap.grid_naive(
            centroids, base_size=(float(msg.height), float(msg.width)))
        return out
    return {**out, **cmap.generator_fields(generator, centroids, padded_shape=shape)}


def run(args: Any) -> int:
    ref = model_ref(args, required=False)
    if ref and args.normalized:
        raise UsageError("--normalized clusters in normalized units: it takes no config")
    if not ref and not args.normalized:
        raise UsageError("cluster needs --config CONFIG, --experiment NAME or --normalized")
    if not ref and not args.inputs:
        raise UsageError("cluster --normalized needs --input SRC")
    model = load_model(args)[0] if ref else None
    boxset = pipeline.read_config_boxes(model, model.path if model else None,
                                        source_options(args))
    resized = None
    if model is not None:
        resized = pipeline.resize_for_config(boxset, model)
        wh = kmeans.resized_wh(resized)
        space = "resized pixels (" + pipeline.resizer_description(model) + ")"
    else:
        wh = kmeans.normalized_wh(boxset)
        space = "normalized per image (YOLO9000 protocol)"
    keep = (wh > 0).all(axis=1)
    wh = wh[keep]
    runs = [cluster_once(wh, k, args.metric, args.seed) for k in args.k]
    doc: dict[str, Any] = {
        "num_boxes": int(wh.shape[0]),
        "zero_size_boxes_ignored": int((~keep).sum()),
        "space": space,
        "metric": args.metric,
        "seed": args.seed,
    }
    chosen = runs[-1]
    if len(runs) > 1:
        doc["elbow"] = [{"k": r["k"], "mean_iou": r["mean_iou"]} for r in runs]
    doc.update({"k": chosen["k"], "centroids": chosen["centroids"],
                "mean_iou": chosen["mean_iou"]})
    if model is not None:
        doc["generator"] = generator_mapping(model, resized, chosen["centroids"])
    if args.plot:
        from tfod_anchors.plots.elbow import plot_elbow
        from tfod_anchors.plots.shapes import plot_box_shapes

        if len(runs) > 1:
            plot_elbow([r["k"] for r in runs], [r["mean_iou"] for r in runs], args.plot)
        else:
            plot_box_shapes(wh, chosen["centroids"][:, ::-1], args.plot,
                            title=f"k={chosen['k']} {args.metric} centroids, {space}")
        doc["plot"] = args.plot
    if args.json:
        emit_json(doc)
        return EXIT_OK
    out(args, f"{doc['num_boxes']} boxes, {space}, metric {args.metric}")
    if len(runs) > 1:
        out(args, table([["k", "mean IoU"]] + [[str(r["k"]), fmt(r["mean_iou"], 4)]
                                               for r in runs]))
    out(args, f"k={chosen['k']}: mean IoU {chosen['mean_iou']:.4f}; centroids (w, h):")
    digits = 1 if model is not None else 4
    for w, h in chosen["centroids"]:
        out(args, f"  {w:.{digits}f} x {h:.{digits}f}   (w/h {w / h:.3f})")
    if doc.get("generator"):
        out(args, f"as {doc['generator']['kind']}: {jsonable(doc['generator'])}")
    if args.plot:
        say(args, f"wrote {args.plot}")
    return EXIT_OK
