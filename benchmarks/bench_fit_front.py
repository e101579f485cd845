"""The trade-off front: recall at the matched threshold against mean IoU and recall@0.5.

Setup (issue 10): the upstream Faster R-CNN ResNet-50 640 config (12 anchors per
location, first-stage matcher IoU 0.7) with

* ``grid``: its own ``grid_anchor_generator`` (scales x ratios, any split of 12);
* ``flexible``: a ``flexible_grid_anchor_generator`` with one layer of 12 free
  shapes (stride 16, offset 0, the config's 12 grid shapes to start from), the
  generator in which the peers' free (w, h) sets are expressible in TFOD.

For each point (an ``--objective`` and a ``--guard`` spec, see ``tfod-anchors fit
--help``) the fit runs on all boxes (CSV order, one seed) and the written values are
measured exactly. Points: weights ``w:R,M,F`` without any guard (the front itself),
the default, and "most recall with mean IoU and recall@0.5 at least the best peer's
minus 0.005" when the peers' results are there.

Peers: when ``/work/peers/results`` (or ``$TFOD_ANCHORS_PEERS``) exists, every peer
set there (``<peer>_<dataset>_seed<k>.json``, 12 free ``(w, h)`` in resized pixels,
from their published code run in a throwaway environment, see its README) is scored
here as a flexible grid with the same evaluator; otherwise the peer columns are
skipped with a message. A point *dominates the peers* when each metric is at least
the best peer value minus 0.005.

Usage: ``python benchmarks/bench_fit_front.py [--generators grid,flexible]
[--datasets voc,coco] [--points SPEC;SPEC...] [--json out.json] [--plot DIR]``
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import datasets as D  # noqa: E402

from tfod_anchors import api  # noqa: E402
from tfod_anchors.config import query as cq  # noqa: E402
from tfod_anchors.config.schema import parse_pipeline_text  # noqa: E402
from tfod_anchors.coverage.metrics import evaluate  # noqa: E402
from tfod_anchors.fitting import with_generator  # noqa: E402
from tfod_anchors.pipeline import layout_function  # noqa: E402

FRCNN = "faster_rcnn_resnet50_v1_640x640_coco17_tpu-8.config"
PEERS = Path(os.environ.get("TFOD_ANCHORS_PEERS", "/work/peers/results"))
PEER_DATASET = {"voc": "voc07", "coco": "coco17val"}
KEYS = ("recall_0.7", "mean_iou", "recall_0.5")
DEFAULT_POINTS = ("recall|off", "w:1,1,0|off", "w:1,0.5,0.5|off", "w:1,0,1|off",
                  "w:1,1,1|off", "w:0.5,1,1|off", "mean_iou|off", "recall_0.5|off",
                  "default", "peers")
DOMINANCE_SLACK = 0.005


def frcnn_config():
    path = D.SHARED / "tfod-configs" / "tf2" / FRCNN
    return parse_pipeline_text(path.read_text(), str(path))


def flexible_generator(cfg, wh: np.ndarray):
    """One flexible layer of free ``(w, h)`` shapes (resized pixels) on the stride-16
    grid, offset 0 (the grid generator's default), pixel coordinates."""
    gen = type(cq.anchor_generator(cfg))()
    fg = gen.flexible_grid_anchor_generator
    fg.normalize_coordinates = False
    layer = fg.anchor_grid.add()
    for w, h in np.asarray(wh, dtype=np.float64):
        layer.base_sizes.append(float(f"{math.sqrt(w * h):.4g}"))
        layer.aspect_ratios.append(float(f"{w / h:.4g}"))
    layer.height_stride = layer.width_stride = 16
    layer.height_offset = layer.width_offset = 0
    return gen


def grid_shapes_wh(cfg) -> np.ndarray:
    g = cq.anchor_generator(cfg).grid_anchor_generator
    return np.array([(s * g.width * math.sqrt(a), s * g.height / math.sqrt(a))
                     for a in g.aspect_ratios for s in g.scales])


def config_for(generator: str):
    cfg = frcnn_config()
    if generator == "flexible":
        cfg = with_generator(cfg, flexible_generator(cfg, grid_shapes_wh(cfg)))
    return cfg


def score(resized, cfg) -> dict[str, float]:
    m = evaluate(resized, layout_function(cfg), cq.matcher_spec(cfg)).metrics
    return {k: float(m[k]) for k in KEYS}


def peer_sets(dataset: str) -> dict[str, list[np.ndarray]] | None:
    """``{peer: [wh per seed]}`` from the peers' published results, or None."""
    if not PEERS.is_dir():
        return None
    out: dict[str, list[np.ndarray]] = {}
    for path in sorted(glob.glob(str(PEERS / f"*_{PEER_DATASET[dataset]}_seed*.json"))):
        doc = json.loads(Path(path).read_text())
        peer = doc.get("peer", "")
        if not peer or peer.startswith("ours"):
            continue
        wh = np.asarray(doc.get("shapes_scored") or doc["wh"], dtype=np.float64)
        wh = wh[(wh > 0).all(axis=1)]
        out.setdefault(peer, []).append(wh)
    return out or None


def score_peers(resized, dataset: str) -> dict[str, list[dict[str, float]]] | None:
    sets = peer_sets(dataset)
    if sets is None:
        return None
    cfg = frcnn_config()
    return {peer: [score(resized, with_generator(cfg, flexible_generator(cfg, wh)))
                   for wh in whs] for peer, whs in sets.items()}


def best_peer(peers: dict[str, list[dict[str, float]]]) -> dict[str, float]:
    return {k: max(m[k] for runs in peers.values() for m in runs) for k in KEYS}


def dominates(m: dict[str, float], best: dict[str, float]) -> bool:
    return all(m[k] >= best[k] - DOMINANCE_SLACK - 1e-12 for k in KEYS)


def run_point(spec: str, cfg_path: Path, csv: str, seed: int) -> dict:
    objective, _, guard = spec.partition("|")
    t = time.perf_counter()
    outcome = api.fit(str(cfg_path), [csv], seed=seed, objective=objective or "recall",
                      guard=guard or None, read_progress=False, augment=False)
    fit = outcome.fit
    after = fit.after if fit.improved else (fit.best_after or fit.after)
    return {"spec": spec, "metrics": {k: float(after[k]) for k in KEYS},
            "improved": fit.improved, "seconds": round(time.perf_counter() - t, 1),
            "values": fit.changed if fit.improved else {}}


def run(generators, datasets, points, seed) -> dict:
    results: dict = {}
    tmp = D.WORK / "front"
    tmp.mkdir(parents=True, exist_ok=True)
    from google.protobuf import text_format

    for ds in datasets:
        csv = str(D.csv_path(ds))
        resized = api.resized_boxes(str(D.SHARED / "tfod-configs" / "tf2" / FRCNN), [csv],
                                    read_progress=False)
        peers = score_peers(resized, ds)
        if peers is None:
            print(f"# no peer results under {PEERS}: peer rows skipped", file=sys.stderr)
        best = best_peer(peers) if peers else None
        for gen in generators:
            cfg = config_for(gen)
            cfg_path = tmp / f"frcnn_{gen}.config"
            cfg_path.write_text(text_format.MessageToString(cfg))
            rows = [{"spec": "config", "metrics": score(resized, cfg)}]
            for spec in points:
                if spec == "default":
                    spec = ""
                if spec == "peers":
                    if best is None:
                        continue
                    spec = "recall|" + ",".join(f"{k}>={best[k] - DOMINANCE_SLACK:.4f}"
                                                for k in ("mean_iou", "recall_0.5"))
                row = run_point(spec, cfg_path, csv, seed)
                row["spec"] = row["spec"] or "default"
                rows.append(row)
                print(f"# {ds} {gen} {row['spec']}: {row['metrics']}", file=sys.stderr, flush=True)
            for row in rows:
                row["dominates_peers"] = dominates(row["metrics"], best) if best else None
            results.setdefault(ds, {})[gen] = rows
        if peers:
            results[ds]["peers"] = peers
            results[ds]["best_peer"] = best
    return results


def markdown(results: dict) -> str:
    lines = []
    for ds, per in results.items():
        best = per.get("best_peer")
        lines.append(f"\n### {D.DATASETS[ds][0]}\n")
        if best:
            lines.append("Best peer value (any peer, any seed): " + ", ".join(
                f"{k} {v:.4f}" for k, v in best.items()) + "\n")
        for gen in ("grid", "flexible"):
            if gen not in per:
                continue
            lines.append(f"\n**{gen}**\n")
            lines.append("| point | recall@0.7 | mean IoU | recall@0.5 | dominates peers |")
            lines.append("|---|---|---|---|---|")
            for row in per[gen]:
                m = row["metrics"]
                dom = {True: "yes", False: "no", None: "-"}[row.get("dominates_peers")]
                lines.append(f"| `{row['spec']}` | {m['recall_0.7']:.4f} | {m['mean_iou']:.4f} "
                             f"| {m['recall_0.5']:.4f} | {dom} |")
        if per.get("peers"):
            lines.append("\n**peers** (median [worst] over seeds, flexible grid)\n")
            lines.append("| peer | runs | recall@0.7 | mean IoU | recall@0.5 |")
            lines.append("|---|---|---|---|---|")
            for peer, runs in per["peers"].items():
                cells = []
                for k in KEYS:
                    v = np.array([r[k] for r in runs])
                    cells.append(f"{np.median(v):.4f} [{v.min():.4f}]")
                lines.append(f"| {peer} | {len(runs)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(results: dict, directory: str) -> list[str]:
    """One PNG per dataset: recall@0.7 against mean IoU and against recall@0.5."""
    from tfod_anchors.plots.front import front_figure

    out = []
    for ds, per in results.items():
        path = Path(directory) / f"front_{ds}.png"
        front_figure(path, title=f"FRCNN-640, {D.DATASETS[ds][0]}",
                     fronts={gen: [r for r in per[gen] if r["spec"].endswith("|off")
                                   or r["spec"] in ("config",)]
                             for gen in ("grid", "flexible") if gen in per},
                     marks={f"{gen}: {r['spec']}": r["metrics"] for gen in ("grid", "flexible")
                            if gen in per for r in per[gen]
                            if not r["spec"].endswith("|off")},
                     peers=per.get("peers") or {})
        out.append(str(path))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generators", default="grid,flexible")
    parser.add_argument("--datasets", default="voc,coco")
    parser.add_argument("--points", default=";".join(DEFAULT_POINTS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the raw results here")
    parser.add_argument("--plot", metavar="DIR", help="write front_<dataset>.png here")
    args = parser.parse_args()
    if not D.SHARED.exists():
        sys.exit(f"needs {D.SHARED} (datasets and upstream configs)")
    results = run(args.generators.split(","), args.datasets.split(","),
                  args.points.split(";"), args.seed)
    print(markdown(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    if args.plot:
        for path in plot(results, args.plot):
            print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
