"""``tfod-anchors cluster``: the classic k-means view of a dataset's box shapes.

Boxes are clustered either in the config's resized pixels (what the model sees)
or normalized per image (the YOLO9000 protocol, ``--normalized``). With a config
that has an anchor generator, the centroids are also mapped to that generator's
parameters, for comparison with ``fit`` (which optimises them directly).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tfod_anchors import pipeline as workflow
from tfod_anchors.cluster import baselines as kmeans_sklearn
from tfod_anchors.cluster import centroids as cmap
from tfod_anchors.cluster import kmeans
from tfod_anchors.commands._common import fmt, jsonable, load, say, table
from tfod_anchors.config import query as cq
from tfod_anchors.errors import UsageError


def cluster_once(wh: np.ndarray, k: int, metric: str, seed: int) -> dict[str, Any]:
    """Centroids ``[w, h]`` (sorted by area) and the mean best IoU for one ``k``."""
    if metric == "iou":
        res = kmeans.iou_kmeans(wh, k, seed=seed)
        return {"k": k, "centroids": res.centroids, "mean_iou": res.mean_iou}
    if metric == "euclidean":
        res = kmeans_sklearn.euclidean_kmeans(wh, k, seed=seed)
        return {"k": k, "centroids": res.centroids, "mean_iou": res.mean_iou}
    res = kmeans_sklearn.ratio_scale_kmeans(wh, k, k, seed=seed)
    return {"k": k, "centroids": res.centroids, "mean_iou": res.mean_iou,
            "aspect_ratios": res.ratios, "scales": res.scales}


def generator_mapping(cfg: Any, resized: Any, centroids: np.ndarray) -> dict[str, Any] | None:
    """The config's generator parameters implied by the centroids (resized pixels)."""
    generator = cq.anchor_generator(cfg)
    if generator is None:
        return None
    try:
        return _mapping(generator, resized, centroids)
    except UsageError as err:  # e.g. fewer distinct centroid values than the config's lists
        kind = generator.WhichOneof("anchor_generator_oneof")
        return {"kind": kind, "note": f"no mapping: {err.message}"}


def _mapping(generator: Any, resized: Any, centroids: np.ndarray) -> dict[str, Any]:
    k = len(centroids)
    kind = generator.WhichOneof("anchor_generator_oneof")
    msg = getattr(generator, kind)
    if kind == "grid_anchor_generator":
        base = (float(msg.height), float(msg.width))
        n_s = min(len(msg.scales) or 4, k)
        n_a = min(len(msg.aspect_ratios) or 3, k)
        return {"kind": kind,
                "factorised": cmap.grid_factorised(centroids, n_s, n_a, base_size=base),
                "naive_cartesian": cmap.grid_naive(centroids, base_size=base)}
    if kind == "ssd_anchor_generator":
        shape = workflow.most_common_shape(resized)
        return {"kind": kind, **cmap.ssd_from_centroids(
            centroids, shape, num_layers=int(msg.num_layers),
            n_ratios=min(len(msg.aspect_ratios), k) or None,
            base_anchor_size=(float(msg.base_anchor_height), float(msg.base_anchor_width)))}
    if kind == "multiscale_anchor_generator":
        return {"kind": kind, **cmap.multiscale_from_centroids(
            centroids, min_level=int(msg.min_level), max_level=int(msg.max_level),
            scales_per_octave=int(msg.scales_per_octave),
            n_ratios=min(len(msg.aspect_ratios), k) or None)}
    return {"kind": kind, "note": "per-layer mapping: use `fit` for flexible grids"}


def run(args: Any) -> int:
    if not args.config and not args.inputs:
        raise UsageError("cluster --normalized needs --input SRC")
    cfg = load(args.config).config if args.config else None
    options = workflow.SourceOptions.from_args(args)
    boxset = workflow.read_config_boxes(cfg, args.config, options)
    resized = None
    if cfg is not None:
        resized = workflow.resize_for_config(boxset, cfg)
        wh = kmeans.resized_wh(resized)
        space = "resized pixels (" + workflow.resizer_description(cfg) + ")"
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
    if cfg is not None:
        doc["generator"] = generator_mapping(cfg, resized, chosen["centroids"])
    if args.plot:
        from tfod_anchors.plots.coverage import plot_elbow
        from tfod_anchors.plots.shapes import plot_box_shapes

        if len(runs) > 1:
            plot_elbow([r["k"] for r in runs], [r["mean_iou"] for r in runs], args.plot)
        else:
            plot_box_shapes(wh, chosen["centroids"][:, ::-1], args.plot,
                            title=f"k={chosen['k']} {args.metric} centroids, {space}")
        doc["plot"] = args.plot
    if args.json:
        from tfod_anchors.cli import emit_json

        emit_json(jsonable(doc))
        return 0
    say(args, f"{doc['num_boxes']} boxes, {space}, metric {args.metric}")
    if len(runs) > 1:
        say(args, table([["k", "mean IoU"]] + [[str(r["k"]), fmt(r["mean_iou"], 4)]
                                               for r in runs]))
    say(args, f"k={chosen['k']}: mean IoU {chosen['mean_iou']:.4f}; centroids (w, h):")
    digits = 1 if cfg is not None else 4
    for w, h in chosen["centroids"]:
        say(args, f"  {w:.{digits}f} x {h:.{digits}f}   (w/h {w / h:.3f})")
    if doc.get("generator"):
        say(args, f"as {doc['generator']['kind']}: {jsonable(doc['generator'])}")
    return 0
