"""``check`` with its advice against ``check --no-advice``, in the same run (issue #20).

Runs the CLI in child processes on the shipped Faster R-CNN demo (or CONFIG [--input
SRC]...) and reports CPU seconds (the child and its own children, e.g. the fit's
background process) and wall seconds, median and worst of ``--rounds``, and the
advice / no-advice CPU ratio. ``--baseline TREE`` also times ``check`` with advice from
another checkout (e.g. the code before the sampled advice), interleaved in the same run.
Usage::

    PYTHONPATH=. python benchmarks/bench_check_advice.py [--rounds 3] [--baseline TREE]
        [CONFIG] [-- ARGS...]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "configs" / "faster_rcnn_resnet50_640x640_coco_subset.config"


def run_once(args: list[str], tree: Path = ROOT) -> tuple[float, float]:
    """``(cpu, wall)`` seconds of one ``tfod-anchors check ARGS --json`` in a child,
    running the package of ``tree``."""
    env = {**os.environ, "PYTHONPATH": str(tree), "TF_CPP_MIN_LOG_LEVEL": "2"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "tfod_anchors", "check", *args, "--json"],
                   cwd=tree, env=env, check=False, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default=str(DEMO))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline", type=Path, default=None,
                        help="another checkout whose check (with advice) is timed too")
    parser.add_argument("extra", nargs=argparse.REMAINDER,
                        help="after --: more check arguments (e.g. --input SRC)")
    ns = parser.parse_args()
    extra = [a for a in ns.extra if a != "--"]
    times: dict[str, list[tuple[float, float]]] = {"no-advice": [], "advice": []}
    if ns.baseline is not None:
        times["baseline"] = []
    for _ in range(ns.rounds):  # interleaved, so load changes hit all alike
        times["no-advice"].append(run_once([ns.config, *extra, "--no-advice"]))
        times["advice"].append(run_once([ns.config, *extra]))
        if ns.baseline is not None:
            times["baseline"].append(run_once([ns.config, *extra], ns.baseline))
    for label, runs in times.items():
        cpu, wall = [r[0] for r in runs], [r[1] for r in runs]
        print(f"check {label:10s} cpu median {statistics.median(cpu):6.2f} s worst "
              f"{max(cpu):6.2f} s | wall median {statistics.median(wall):6.2f} s worst "
              f"{max(wall):6.2f} s")
    ratio = [a[0] / n[0] for a, n in zip(times["advice"], times["no-advice"])]
    print(f"cpu ratio advice / no-advice: median {statistics.median(ratio):.1f} "
          f"worst {max(ratio):.1f} (load {os.getloadavg()[0]:.1f})")
    if ns.baseline is not None:
        vs = [a[0] / b[0] for a, b in zip(times["advice"], times["baseline"])]
        print(f"cpu ratio advice / baseline advice: median {statistics.median(vs):.2f} "
              f"worst {max(vs):.2f}")


if __name__ == "__main__":
    main()
