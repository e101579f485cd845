"""``cluster`` on Model Garden experiments: what the centroid mapping keeps, scored by the
evaluator of ``bench_modelgarden_coverage.py`` under each family's rule.

For each experiment (the resolved fixtures of ``tests/mg_experiments``) and dataset
(VOC2007 trainval, COCO val2017), the static boxes through the experiment's parser resize
are clustered as ``cluster --config`` clusters them (1 - IoU k-means, ``--k``, seeds
``--seeds``), the centroids are mapped by the spec (``ModelSpec.centroid_anchors``) and the
mapped anchors scored. Rows: the defaults, each seed's clustered anchors (with the k-means
mean IoU and ``mapped_mean_iou``, the boxes' mean shape IoU with the mapped shapes), and
with ``--fit`` our fit (seed 0) for comparison. Prints markdown.

Usage: ``python benchmarks/bench_mg_cluster.py [--datasets voc,coco] [--experiments ...]
[--k 9] [--seeds 0,1,2] [--fit]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_modelgarden_coverage import EXPERIMENTS, FIXTURES, fitted, row, score  # noqa: E402
from datasets import csv_path  # noqa: E402

from tfod_anchors.cluster import kmeans  # noqa: E402
from tfod_anchors.frameworks.modelgarden import experiment as mgx  # noqa: E402
from tfod_anchors.frameworks.modelgarden.spec import model_garden_spec  # noqa: E402
from tfod_anchors.sources import read_boxes  # noqa: E402


def clustered(spec, boxset, k: int, seed: int) -> tuple[dict | None, dict]:
    """``(change or None, numbers)``: the mapped anchors of one k-means run, its mean IoU
    and the boxes' mean shape IoU with the mapped shapes."""
    resized = spec.resizer().resize_boxes(boxset)
    wh = kmeans.resized_wh(resized)
    wh = wh[(wh > 0).all(axis=1)]
    res = kmeans.iou_kmeans(wh, k, seed=seed)
    mapping = spec.centroid_anchors(res.centroids, resized.most_common_shape())
    numbers = {"kmeans_mean_iou": res.mean_iou}
    if mapping.anchors is None:
        return None, {**numbers, "note": mapping.doc.get("note")}
    layout = spec.with_anchors(mapping.anchors).layout_for(resized.most_common_shape())
    shapes = np.unique(np.concatenate([lv.sizes for lv in layout.levels])[:, ::-1], axis=0)
    return mapping.anchors, {**numbers, "mapped_mean_iou": kmeans.mean_best_iou(wh, shapes)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="voc,coco")
    parser.add_argument("--experiments", default=",".join(EXPERIMENTS))
    parser.add_argument("--k", type=int, default=9)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--fit", action="store_true")
    args = parser.parse_args()
    for dataset in args.datasets.split(","):
        boxset = read_boxes(str(csv_path(dataset)), progress=False)
        print(f"\n## {dataset}: {boxset.num_images} images, {boxset.num_boxes} boxes\n")
        for name in args.experiments.split(","):
            exp = mgx.read_params_yaml(str(FIXTURES / f"{name}.yaml"))
            spec = model_garden_spec(exp)
            print(f"\n### {name} ({spec.family}), k={args.k}\n\n| anchors | metrics |\n|---|---|")
            print(row("defaults", score(exp, boxset)), flush=True)
            for seed in (int(s) for s in args.seeds.split(",")):
                t = time.perf_counter()
                change, numbers = clustered(spec, boxset, args.k, seed)
                took = time.perf_counter() - t
                extra = ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                                  for k, v in numbers.items())
                if change is None:
                    print(f"| cluster seed {seed} | {extra} |", flush=True)
                    continue
                print(row(f"cluster seed {seed} {change} ({extra})",
                          score(mgx.with_change(exp, change), boxset), took), flush=True)
            if args.fit:
                t = time.perf_counter()
                change = fitted(exp, boxset)
                if change is not None:
                    print(row(f"fit {change}", score(mgx.with_change(exp, change), boxset),
                              time.perf_counter() - t), flush=True)


if __name__ == "__main__":
    main()
