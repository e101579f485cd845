"""Quality of anchor fitting against known methods, on real datasets.

For each upstream TF2 config (Faster R-CNN ResNet-50 640, SSD MobileNet v2 320,
SSD ResNet-50 FPN 640) and dataset (VOC2007 trainval, COCO val2017; CSVs of
``../shared/datasets``), the generator is set by each method and scored exactly
on all boxes with ``tfod_anchors.coverage.metrics.evaluate`` (positioned anchors, the
config's resizer, window policy and matcher). Rows:

* ``TFOD defaults``: the config as shipped;
* ``notebook``: TFOD's k-means notebook: scikit-learn Euclidean k-means on
  area-normalised (w, h), k = the config's number of aspect ratios; only
  ``aspect_ratios`` change;
* ``IoU k-means``: 1 - IoU k-means (k = anchor shapes per location over all
  levels, at most 30) on resized (w, h), mapped to the generator's fields by
  ``tfod_anchors.cluster.centroids`` (product-aware for the grid generator);
* ``YOLOv5 mutation``: YOLOv5 AutoAnchor's (1+1) mutation hill-climb (1000
  generations, seed 0) on the generator's own parameters, with ours' guarded
  objective on ours' default search boxes (all of them up to 20 000 / 40 000, else
  the same stratified sample);
* ``ours``: ``tfod_anchors.fitting.fit_generator`` with its defaults (seed 0).

Columns per dataset: recall at the matcher's threshold / mean IoU / recall@0.5.
A ``*`` marks a row whose mean IoU or recall@0.5 fell more than 0.01 below the
defaults (the guard ours and the mutation search respect). Prints markdown.

Usage: ``python benchmarks/bench_fit_quality.py [--configs frcnn,ssd,fpn]
[--datasets voc,coco] [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TFOD_ANCHORS_SHARED", ROOT.parent / "shared"))
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tfod_anchors.anchors.model import layout_function  # noqa: E402
from tfod_anchors.cluster import centroids  # noqa: E402
from tfod_anchors.cluster.baselines import notebook_ratios  # noqa: E402
from tfod_anchors.cluster.kmeans import iou_kmeans, resized_wh  # noqa: E402
from tfod_anchors.config import query as config_query  # noqa: E402
from tfod_anchors.config.schema import parse_pipeline_text  # noqa: E402
from tfod_anchors.coverage.metrics import evaluate  # noqa: E402
from tfod_anchors.fitting import fit_generator, with_generator  # noqa: E402
from tfod_anchors.fitting.counts import DEFAULT_MAX_BOXES_EXACT  # noqa: E402
from tfod_anchors.fitting.evaluator import Evaluator  # noqa: E402
from tfod_anchors.fitting.objective import make_objective  # noqa: E402
from tfod_anchors.fitting.problem import build_problem  # noqa: E402
from tfod_anchors.fitting.sample import draw, strata_keys  # noqa: E402
from tfod_anchors.fitting.search import mutation_search  # noqa: E402
from tfod_anchors.resize import build_resizer, resize_boxes  # noqa: E402
from tfod_anchors.sources import read_boxes  # noqa: E402

CONFIGS = {
    "frcnn": "faster_rcnn_resnet50_v1_640x640_coco17_tpu-8.config",
    "ssd": "ssd_mobilenet_v2_320x320_coco17_tpu-8.config",
    "fpn": "ssd_resnet50_v1_fpn_640x640_coco17_tpu-8.config",
}
DATASETS = {
    "voc": ("VOC2007 trainval", "datasets/voc2007/voc2007_trainval.csv"),
    "coco": ("COCO val2017", "datasets/coco_val2017/coco_val2017.csv"),
}
KEYS = ("recall_matched", "mean_iou", "recall_0.5")


def load_config(name: str):
    path = SHARED / "tfod-configs" / "tf2" / CONFIGS[name]
    return parse_pipeline_text(path.read_text(), str(path))


def load_boxes(cfg, dataset: str):
    boxset = read_boxes([str(SHARED / DATASETS[dataset][1])], progress=False)
    return resize_boxes(boxset, build_resizer(config_query.image_resizer(cfg)))


def score(resized, cfg, generator) -> dict:
    new = with_generator(cfg, generator)
    return evaluate(resized, layout_function(new), config_query.matcher_spec(cfg)).metrics


def _set(generator, kind: str, **fields):
    out = type(generator)()
    out.CopyFrom(generator)
    msg = getattr(out, kind)
    for name, value in fields.items():
        if isinstance(value, list):
            del getattr(msg, name)[:]
            getattr(msg, name).extend(float(v) for v in value)
        else:
            setattr(msg, name, float(value))
    return out


def notebook_for(resized, cfg, generator):
    kind = generator.WhichOneof("anchor_generator_oneof")
    k = len(getattr(generator, kind).aspect_ratios)
    ratios = notebook_ratios(_shapes(resized), k, seed=0)
    return _set(generator, kind, aspect_ratios=[float(f"{r:.4g}") for r in ratios])


def _shapes(resized) -> np.ndarray:
    """Resized ``(w, h)`` of the boxes k-means can take (COCO has a zero-height box)."""
    wh = resized_wh(resized)
    return wh[(wh > 0).all(axis=1)]


def _counts(res, k: int) -> np.ndarray:
    return np.bincount(res.labels, minlength=k).astype(np.float64)


def iou_kmeans_mapped(resized, cfg, generator):
    kind = generator.WhichOneof("anchor_generator_oneof")
    g = getattr(generator, kind)
    wh = _shapes(resized)
    if kind == "grid_anchor_generator":
        k = len(g.scales) * len(g.aspect_ratios)
        res = iou_kmeans(wh, k, seed=0)
        f = centroids.grid_factorised(res.centroids, len(g.scales), len(g.aspect_ratios),
                                      base_size=(g.height, g.width), weights=_counts(res, k))
        return _set(generator, kind, **f)
    if kind == "ssd_anchor_generator":
        k = min(30, int(g.num_layers) * (len(g.aspect_ratios) + 1))
        res = iou_kmeans(wh, k, seed=0)
        shape = tuple(int(v) for v in resized.padded_shape[0])
        f = centroids.ssd_from_centroids(
            res.centroids, shape, num_layers=int(g.num_layers), n_ratios=len(g.aspect_ratios),
            base_anchor_size=(g.base_anchor_height, g.base_anchor_width),
            weights=_counts(res, k))
        return _set(generator, kind, **f)
    levels = int(g.max_level) - int(g.min_level) + 1
    k = min(30, levels * int(g.scales_per_octave) * len(g.aspect_ratios))
    res = iou_kmeans(wh, k, seed=0)
    f = centroids.multiscale_from_centroids(
        res.centroids, min_level=int(g.min_level), max_level=int(g.max_level),
        scales_per_octave=int(g.scales_per_octave), n_ratios=len(g.aspect_ratios),
        weights=_counts(res, k))
    return _set(generator, kind, **f)


def mutation(resized, cfg, generator):
    """YOLOv5-style (1+1) evolution on the same search boxes and guarded objective."""
    problem = build_problem(resized, cfg)
    space = problem.space
    keys = strata_keys(resized.boxes, problem.shapes.astype(float)[problem.group], problem.group)
    sample = draw(keys, DEFAULT_MAX_BOXES_EXACT[problem.window_policy], 0)
    ev = Evaluator(problem.geometry(sample.index), sample.weight, space, problem.matched)
    start = {k: float(v) for k, v in ev.metrics(ev.best(space.x0)).items()}
    obj = make_objective("recall", problem.matched, start, 0.01)
    best = mutation_search(ev, space, obj, space.x0, generations=1000, seed=0)
    return space.write(generator, np.array([float(f"{v:.4g}") for v in np.exp(best.x)]))


def run(config_names, dataset_names) -> dict:
    results: dict = {}
    for cname in config_names:
        cfg = load_config(cname)
        generator = config_query.anchor_generator(cfg)
        results[cname] = {}
        for dname in dataset_names:
            resized = load_boxes(cfg, dname)
            rows = {}
            t = time.perf_counter()
            rows["TFOD defaults"] = (score(resized, cfg, generator), 0.0)
            for label, make in (("notebook", notebook_for),
                                ("IoU k-means", iou_kmeans_mapped),
                                ("YOLOv5 mutation", mutation)):
                t = time.perf_counter()
                gen = make(resized, cfg, generator)
                rows[label] = (score(resized, cfg, gen), time.perf_counter() - t)
            t = time.perf_counter()
            fit = fit_generator(resized, cfg, seed=0)
            rows["ours"] = (fit.after, time.perf_counter() - t)
            results[cname][dname] = {
                "num_boxes": resized.num_boxes,
                "matched_threshold": fit.matched_threshold,
                "rows": {k: {"metrics": {m: float(v[m]) for m in KEYS}, "seconds": round(s, 2)}
                         for k, (v, s) in rows.items()},
                "ours_changed": fit.changed,
            }
            print(f"# {cname} {dname} done", file=sys.stderr, flush=True)
    return results


def markdown(results: dict) -> str:
    lines = []
    for cname, per_ds in results.items():
        dnames = list(per_ds)
        thr = next(iter(per_ds.values()))["matched_threshold"]
        lines.append(f"\n**{CONFIGS[cname]}** (matched threshold {thr:g}; cells: "
                     f"recall@{thr:g} / mean IoU / recall@0.5)\n")
        lines.append("| method | " + " | ".join(DATASETS[d][0] for d in dnames) + " |")
        lines.append("|---|" + "---|" * len(dnames))
        methods = list(next(iter(per_ds.values()))["rows"])
        for m in methods:
            cells = []
            for d in dnames:
                rows = per_ds[d]["rows"]
                v, base = rows[m]["metrics"], rows["TFOD defaults"]["metrics"]
                flag = "*" if (v["mean_iou"] < base["mean_iou"] - 0.01
                               or v["recall_0.5"] < base["recall_0.5"] - 0.01) else ""
                cells.append(f"{v['recall_matched']:.3f} / {v['mean_iou']:.3f} / "
                             f"{v['recall_0.5']:.3f}{flag}")
            lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default="frcnn,ssd,fpn")
    parser.add_argument("--datasets", default="voc,coco")
    parser.add_argument("--json", help="also write the raw results here")
    args = parser.parse_args()
    if not SHARED.exists():
        sys.exit(f"needs {SHARED} (datasets and upstream configs)")
    results = run(args.configs.split(","), args.datasets.split(","))
    print(markdown(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
