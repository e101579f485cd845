"""Quality of anchor fitting against known methods and the real peers, on real datasets.

For each upstream TF2 config (Faster R-CNN ResNet-50 640, SSD MobileNet v2 320,
SSD ResNet-50 FPN 640) and dataset (VOC2007 trainval, COCO val2017; the CSVs of
``../shared/datasets``), the generator is set by each method and scored exactly on
all boxes with ``tfod_anchors.coverage.metrics.evaluate`` (positioned anchors, the
config's resizer, window policy and matcher). Rows:

* ``TFOD defaults``: the config as shipped;
* ``notebook``: TFOD's k-means notebook: scikit-learn Euclidean k-means on
  area-normalised (w, h), k = the config's number of aspect ratios; only
  ``aspect_ratios`` change;
* ``IoU k-means``: 1 - IoU k-means (k = anchor shapes per location over all
  levels, at most 30) on resized (w, h), mapped to the generator's fields by
  ``tfod_anchors.cluster.centroids`` (product-aware for the grid generator);
* ``YOLOv5 mutation``: YOLOv5 AutoAnchor's (1+1) mutation hill-climb (1000
  generations, seed 0; our re-implementation of the method, not its code) on the
  generator's own parameters, with ours' guarded objective on ours' search boxes;
* ``ours``: ``tfod_anchors.fitting.fit_generator`` with its defaults, run for every
  seed (``--seeds``, default 0-9) and input order (``--orders``: box-only TFRecords
  with TFOD's keys written from the CSV, the CSV, the CSV's rows shuffled; see
  ``datasets.py``): the cell is the median over those runs with the WORST run in
  brackets, and the ``spread`` row gives max - min of the matched recall;
* ``peer: NAME`` (Faster R-CNN only; the peers' setting is 12 free shapes on the
  stride-16 grid): the real peer algorithms (YOLOv5 ``kmean_anchors``, lars76
  k-means, MMDetection/MMYOLO ``optimize_anchors``, TF Model Garden
  ``kmeans_anchors``), run from their published code in a throwaway environment
  (``/work/peers``, see its README; never part of this project), read from its
  ``results/*.json`` (``$TFOD_ANCHORS_PEERS``) and scored here as a
  ``flexible_grid_anchor_generator``: median [worst] over their seeds. Skipped with
  a message when those results are absent.

Columns per dataset: recall at the matcher's threshold / mean IoU / recall@0.5
(the ``ours`` rows add recall@0.7 where the matched threshold is below 0.7). A ``*``
marks a row whose mean IoU or recall@0.5 fell more than 0.01 below the defaults.
Prints markdown; ``--json`` keeps every run (and ``--resume`` skips runs already
there, so a long run can be continued).

Usage: ``python benchmarks/bench_fit_quality.py [--configs frcnn,ssd,fpn]
[--datasets voc,coco] [--seeds 0-9] [--orders tfrecord,csv,shuffled]
[--json out.json [--resume]] [--no-baselines]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import datasets as D  # noqa: E402
from bench_fit_front import PEERS, flexible_generator, peer_sets  # noqa: E402

from tfod_anchors import api  # noqa: E402
from tfod_anchors.cluster import centroids  # noqa: E402
from tfod_anchors.cluster.baselines import notebook_ratios  # noqa: E402
from tfod_anchors.cluster.kmeans import iou_kmeans, resized_wh  # noqa: E402
from tfod_anchors.config import query as config_query  # noqa: E402
from tfod_anchors.config.schema import parse_pipeline_text  # noqa: E402
from tfod_anchors.coverage.metrics import evaluate  # noqa: E402
from tfod_anchors.fitting import fit_generator, with_generator  # noqa: E402
from tfod_anchors.fitting.evaluator import Evaluator  # noqa: E402
from tfod_anchors.fitting.fit import DEFAULT_MAX_BOXES_EXACT  # noqa: E402
from tfod_anchors.fitting.objective import make_objective  # noqa: E402
from tfod_anchors.fitting.problem import build_problem  # noqa: E402
from tfod_anchors.fitting.sample import draw, strata_keys  # noqa: E402
from tfod_anchors.fitting.search import mutation_search  # noqa: E402
from tfod_anchors.pipeline import layout_function  # noqa: E402

SHARED = D.SHARED
CONFIGS = {
    "frcnn": "faster_rcnn_resnet50_v1_640x640_coco17_tpu-8.config",
    "ssd": "ssd_mobilenet_v2_320x320_coco17_tpu-8.config",
    "fpn": "ssd_resnet50_v1_fpn_640x640_coco17_tpu-8.config",
    "fpnlite": "ssd_mobilenet_v2_fpnlite_320x320_coco17_tpu-8.config",
    "effdet": "ssd_efficientdet_d0_512x512_coco17_tpu-8.config",
}
DATASETS = D.DATASETS
KEYS = ("recall_matched", "mean_iou", "recall_0.5", "recall_0.7")


def config_path(name: str) -> Path:
    return SHARED / "tfod-configs" / "tf2" / CONFIGS[name]


def load_config(name: str):
    path = config_path(name)
    return parse_pipeline_text(path.read_text(), str(path))


def load_boxes(name: str, dataset: str, order: str = "csv"):
    """The dataset's boxes read from ``order``'s input and resized by the config."""
    return api.resized_boxes(str(config_path(name)), [D.inputs(dataset, order)],
                             read_progress=False)


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
    sample = draw(keys, DEFAULT_MAX_BOXES_EXACT[problem.window_policy], 0, resized.boxes,
                  problem.group)
    ev = Evaluator(problem.geometry(sample.index), sample.weight, space, problem.matched)
    start = {k: float(v) for k, v in ev.metrics(ev.best(space.x0)).items()}
    obj = make_objective("recall", problem.matched, start, 0.01)
    best = mutation_search(ev, space, obj, space.x0, generations=1000, seed=0)
    return space.write(generator, np.array([float(f"{v:.4g}") for v in np.exp(best.x)]))


# ------------------------------------------------------------------------ peers

def peer_rows(resized, cfg, dataset: str) -> dict | None:
    """``{peer: [metrics per seed]}`` of the peers' published 12-shape sets, scored as a
    one-layer flexible grid (stride 16, offset 0) in ``cfg``; None without results."""
    sets = peer_sets(dataset)
    if sets is None:
        return None
    return {peer: [{k: float(m[k]) for k in KEYS}
                   for m in (score(resized, cfg, flexible_generator(cfg, wh)) for wh in whs)]
            for peer, whs in sets.items()}


# ------------------------------------------------------------------------ runs

def _plain(m: dict) -> dict:
    out = {k: float(m[k]) for k in KEYS}
    out["by_size"] = {b: v.get("recall_matched") for b, v in (m.get("by_size") or {}).items()}
    return out


def run(config_names, dataset_names, seeds, orders, results: dict, save, baselines: bool
        ) -> dict:
    for cname in config_names:
        cfg = load_config(cname)
        generator = config_query.anchor_generator(cfg)
        for dname in dataset_names:
            cell = results.setdefault(cname, {}).setdefault(dname, {"runs": {}})
            boxes = {o: load_boxes(cname, dname, o) for o in orders}
            resized = boxes[orders[0]]
            cell["num_boxes"] = resized.num_boxes
            if baselines and "rows" not in cell:
                rows = {"TFOD defaults": (score(resized, cfg, generator), 0.0)}
                for label, make in (("notebook", notebook_for),
                                    ("IoU k-means", iou_kmeans_mapped),
                                    ("YOLOv5 mutation", mutation)):
                    t = time.perf_counter()
                    gen = make(resized, cfg, generator)
                    rows[label] = (score(resized, cfg, gen), time.perf_counter() - t)
                cell["rows"] = {k: {"metrics": _plain(v), "seconds": round(s, 2)}
                                for k, (v, s) in rows.items()}
                save()
            if cname == "frcnn" and "peers" not in cell:
                peers = peer_rows(resized, cfg, dname)
                if peers is None:
                    print(f"# no peer results under {PEERS}: peer rows skipped",
                          file=sys.stderr)
                else:
                    cell["peers"] = peers
                    save()
            for seed in seeds:
                for order in orders:
                    key = f"{seed}/{order}"
                    if key in cell["runs"]:
                        continue
                    t, c = time.perf_counter(), time.process_time()
                    fit = fit_generator(boxes[order], cfg, seed=seed)
                    cell["matched_threshold"] = fit.matched_threshold
                    cell["runs"][key] = {
                        "metrics": _plain(fit.after), "improved": fit.improved,
                        "seconds": round(time.perf_counter() - t, 2),
                        "cpu_seconds": round(time.process_time() - c, 2),
                        "changed": fit.changed,
                        "split": fit.diagnostics.get("chosen_split"),
                        "blocked": (fit.blocked or {}).get("message")}
                    save()
                    m = fit.after
                    print(f"# {cname} {dname} seed {seed} {order}: recall "
                          f"{m['recall_matched']:.4f} mean IoU {m['mean_iou']:.4f} "
                          f"r0.5 {m['recall_0.5']:.4f} ({time.perf_counter() - t:.0f} s)",
                          file=sys.stderr, flush=True)
    return results


# ------------------------------------------------------------------------ tables

def _cell(values: list[dict], thr: float, base: dict | None) -> str:
    med = {k: statistics.median(v[k] for v in values) for k in KEYS}
    worst = min(values, key=lambda v: v["recall_matched"])
    parts = [f"{med['recall_matched']:.3f} [{worst['recall_matched']:.3f}]",
             f"{med['mean_iou']:.3f} [{min(v['mean_iou'] for v in values):.3f}]",
             f"{med['recall_0.5']:.3f} [{min(v['recall_0.5'] for v in values):.3f}]"]
    if thr < 0.7 - 1e-6:
        parts.append(f"r0.7 {med['recall_0.7']:.3f} [{min(v['recall_0.7'] for v in values):.3f}]")
    flag = ""
    if base and (med["mean_iou"] < base["mean_iou"] - 0.01
                 or med["recall_0.5"] < base["recall_0.5"] - 0.01):
        flag = "*"
    return " / ".join(parts) + flag


def markdown(results: dict) -> str:
    lines = []
    for cname, per_ds in results.items():
        dnames = [d for d in per_ds if per_ds[d].get("runs")]
        if not dnames:
            continue
        thr = per_ds[dnames[0]].get("matched_threshold", 0.7)
        lines.append(f"\n**{CONFIGS[cname]}** (matched threshold {thr:g}; cells: "
                     f"recall@{thr:g} / mean IoU / recall@0.5; median [worst] where there "
                     "are several runs)\n")
        lines.append("| method | " + " | ".join(DATASETS[d][0] for d in dnames) + " |")
        lines.append("|---|" + "---|" * len(dnames))
        methods = list(dict.fromkeys(m for d in dnames for m in per_ds[d].get("rows", {})))
        for m in methods:
            cells = []
            for d in dnames:
                rows = per_ds[d].get("rows", {})
                base = rows.get("TFOD defaults", {}).get("metrics")
                cells.append(_cell([rows[m]["metrics"]], thr, base) if m in rows else "-")
            lines.append(f"| {m} | " + " | ".join(cells) + " |")
        peers = list(dict.fromkeys(p for d in dnames for p in per_ds[d].get("peers", {})))
        for p in peers:
            cells = [_cell(per_ds[d]["peers"][p], thr, None) if p in per_ds[d].get("peers", {})
                     else "-" for d in dnames]
            n = max(len(per_ds[d].get("peers", {}).get(p, [])) for d in dnames)
            lines.append(f"| peer: {p} ({n} seeds) | " + " | ".join(cells) + " |")
        cells, spreads, counts = [], [], []
        for d in dnames:
            runs = [r["metrics"] for r in per_ds[d]["runs"].values()]
            base = per_ds[d].get("rows", {}).get("TFOD defaults", {}).get("metrics")
            cells.append(_cell(runs, thr, base))
            rec = [r["recall_matched"] for r in runs]
            spreads.append(f"{max(rec) - min(rec):.4f}")
            counts.append(len(runs))
        lines.append(f"| **ours** ({max(counts)} runs: seeds x orders) | " + " | ".join(cells)
                     + " |")
        lines.append("| ours: spread of recall (max - min) | " + " | ".join(spreads) + " |")
    return "\n".join(lines)


def stability(config_names, dataset_names, seeds, kinds, images_every: int, results: dict,
              save) -> dict:
    """``--stability``: every seed's fit on one common set of boxes (see
    ``fit_stability.py``); ``results[(config, dataset)]`` as in its ``markdown``."""
    import fit_stability as FS

    for cname in config_names:
        cfg = load_config(cname)
        for dname in dataset_names:
            key = f"{cname}/{dname}"
            draws, static = FS.common_boxes(cfg, str(D.csv_path(dname)), images_every)
            cell = results.setdefault(key, {"runs": []})
            cell.update(num_draws=draws.num_boxes, num_static=static.num_boxes)
            done = {(r["kind"], r["seed"]) for r in cell["runs"]}
            for seed in seeds:
                for kind in kinds:
                    if (kind, seed) in done:
                        continue
                    run_ = FS.one_seed(cfg, draws, static, seed, kind)
                    cell["runs"].append(run_)
                    save()
                    print(f"# {key} {kind} seed {seed}: draws "
                          f"{run_['draws']['recall_matched']:.4f} static "
                          f"{run_['static']['recall_matched']:.4f} ({run_['seconds']:.0f} s)",
                          file=sys.stderr, flush=True)
    return results


def _seeds(text: str) -> list[int]:
    if "-" in text and "," not in text:
        lo, hi = text.split("-")
        return list(range(int(lo), int(hi) + 1))
    return [int(s) for s in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default="frcnn,ssd,fpn")
    parser.add_argument("--datasets", default="voc,coco")
    parser.add_argument("--seeds", default="0-9")
    parser.add_argument("--orders", default=",".join(D.ORDERS))
    parser.add_argument("--json", help="write the raw results here (after every run)")
    parser.add_argument("--resume", action="store_true", help="keep the runs in --json")
    parser.add_argument("--no-baselines", action="store_true",
                        help="only our runs (and the peers)")
    parser.add_argument("--stability", action="store_true",
                        help="seed stability on one common set of boxes (augmented and "
                             "static fits, each scored on both); see fit_stability.py")
    parser.add_argument("--kinds", default="augmented,static",
                        help="with --stability: which fits")
    parser.add_argument("--images-every", type=int, default=1,
                        help="with --stability: keep the images whose key hashes to 0 mod K")
    args = parser.parse_args()
    if not SHARED.exists():
        sys.exit(f"needs {SHARED} (datasets and upstream configs)")
    results: dict = {}
    if args.resume and args.json and Path(args.json).exists():
        results = json.loads(Path(args.json).read_text())

    def save() -> None:
        if args.json:
            tmp = Path(args.json + ".tmp")
            tmp.write_text(json.dumps(results, indent=1))
            tmp.replace(args.json)

    if args.stability:
        import fit_stability as FS

        stability(args.configs.split(","), args.datasets.split(","), _seeds(args.seeds),
                  args.kinds.split(","), args.images_every, results, save)
        print(FS.markdown({tuple(k.split("/")): v for k, v in results.items()}))
        return
    run(args.configs.split(","), args.datasets.split(","), _seeds(args.seeds),
        args.orders.split(","), results, save, not args.no_baselines)
    print(markdown(results))


if __name__ == "__main__":
    main()
