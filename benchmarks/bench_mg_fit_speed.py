"""``fit`` of a Model Garden experiment against the TFOD multiscale fit, on the same boxes
in the same run: wall time and peak memory of each, each in its own process.

Boxes: COCO val2017 repeated ``--copies`` times (27 copies: 993k boxes) as box-only
TFRecords (``datasets.repeated_records``). Model Garden: ``tests/mg_experiments/
retinanet_resnetfpn_coco.yaml`` (the registered experiment, resolved; levels 3-7, 9 anchors
per cell, 640 input); TFOD: ``configs/retinanet_resnet50_fpn_640x640_coco_subset.config``
(multiscale generator, the same levels and anchors per cell). Both fits are static
(``augment=False``), seed 0, default objective and guard. Prints one markdown row per run
and the ratio MG / TFOD of the medians.

Usage: ``python benchmarks/bench_mg_fit_speed.py [--copies 27] [--rounds 1]``
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

CONFIGS = {
    "model_garden": ROOT / "tests" / "mg_experiments" / "retinanet_resnetfpn_coco.yaml",
    "tfod": ROOT / "configs" / "retinanet_resnet50_fpn_640x640_coco_subset.config",
}


def one(config: str, inputs: list[str]) -> dict:
    """Runs in the child: the fit, its wall time and the process's peak RSS."""
    from tfod_anchors import api

    start = time.perf_counter()
    outcome = api.fit(config, inputs, augment=False, seed=0)
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return {"wall_s": round(wall, 2), "peak_mb": round(peak, 1),
            "boxes": outcome.boxes.num_boxes, "improved": outcome.fit.improved}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=27)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--child", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(one(args.child[0], args.child[1:])))
        return
    from datasets import repeated_records

    inputs = [str(p) for p in repeated_records("coco", args.copies)]
    runs: dict[str, list[dict]] = {name: [] for name in CONFIGS}
    print("| round | framework | boxes | wall s | peak MB | improved |\n|---|---|---|---|---|---|")
    for r in range(args.rounds):
        for name, config in CONFIGS.items():
            done = subprocess.run([sys.executable, __file__, "--child", str(config), *inputs],
                                  capture_output=True, text=True, check=True,
                                  env={"PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2",
                                       "PATH": "/usr/bin:/bin"})
            row = json.loads(done.stdout.strip().splitlines()[-1])
            runs[name].append(row)
            print(f"| {r} | {name} | {row['boxes']} | {row['wall_s']} | {row['peak_mb']} | "
                  f"{row['improved']} |", flush=True)
    mg = statistics.median(r["wall_s"] for r in runs["model_garden"])
    tf = statistics.median(r["wall_s"] for r in runs["tfod"])
    mem = (statistics.median(r["peak_mb"] for r in runs["model_garden"])
           / statistics.median(r["peak_mb"] for r in runs["tfod"]))
    print(f"\nModel Garden / TFOD: wall {mg / tf:.2f}x, peak memory {mem:.2f}x")


if __name__ == "__main__":
    main()
