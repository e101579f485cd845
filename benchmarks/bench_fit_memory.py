"""Peak memory and wall time of the fit, per generator family, on the same boxes.

Each family's fit runs in a fresh subprocess (so one fit's peak is not hidden by
another's): the child reads COCO val2017 (``../shared/datasets``), draws the config's
augmentation (``--draws`` per image, draw seed 0; the FRCNN config's only step is a
flip, drawn all the same, so every family fits the same source boxes) and runs
``fit_generator`` on the draws with the static boxes guarded, as ``fit`` does. It
reports ``ru_maxrss`` of the whole process (peak resident set, MB) before and after
the fit, the fit's wall and CPU time (all threads; the parent alone, and with the forked
helpers the fit runs on the other core) and its time per fitted box, and the ratio of
that to the Faster R-CNN fit's in the same run (CPU time is the steadier figure on a
shared machine). ``--json`` also keeps each fit's written generator, so two trees can be
compared for identical results.

Families: ``frcnn`` (grid, Faster R-CNN ResNet-50 640), ``ssd`` (ssd_anchor_generator,
SSD MobileNet v2 320), ``fpnlite`` (multiscale, SSD MobileNet v2 FPNLite 320), ``fpn``
(multiscale, SSD ResNet-50 FPN 640), ``effdet`` (multiscale, EfficientDet-D0 512).

Usage: ``nice -n 10 python benchmarks/bench_fit_memory.py [--families frcnn,ssd,...]
[--draws 3] [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
FAMILIES = ("frcnn", "ssd", "fpnlite", "fpn", "effdet")


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _cpu(who: int = resource.RUSAGE_SELF) -> float:
    """User + system CPU seconds of this process, all threads (on a shared machine the
    wall time depends on the others' load; CPU time much less); ``RUSAGE_CHILDREN``: of
    its finished children (the fit's forked helpers on the other core)."""
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def child(family: str, draws: int, seed: int) -> dict:
    sys.path[:0] = [str(ROOT), str(HERE)]
    import bench_fit_quality as Q
    import datasets as D

    from tfod_anchors import pipeline
    from tfod_anchors.fitting import fit_generator
    from tfod_anchors.frameworks import as_spec

    cfg = Q.load_config(family)
    options = pipeline.SourceOptions(inputs=(str(D.csv_path("coco")),))
    training = pipeline.training_boxes(as_spec(cfg), None, options,
                                       pipeline.AugmentOptions(pipeline.ON, draws, 0),
                                       keep_static=True)
    draws_boxes, static = training.resized, training.static
    before = _rss_mb()
    t, cpu0, kids0 = time.perf_counter(), _cpu(), _cpu(resource.RUSAGE_CHILDREN)
    fit = fit_generator(draws_boxes, cfg, seed=seed, static=static)
    seconds, cpu = time.perf_counter() - t, _cpu() - cpu0
    total = cpu + _cpu(resource.RUSAGE_CHILDREN) - kids0
    return {"family": family, "boxes": draws_boxes.num_boxes, "static_boxes": static.num_boxes,
            "seconds": round(seconds, 2), "us_per_box": round(1e6 * seconds
                                                              / draws_boxes.num_boxes, 2),
            "cpu_seconds": round(cpu, 2),
            "cpu_us_per_box": round(1e6 * cpu / draws_boxes.num_boxes, 2),
            "cpu_total_seconds": round(total, 2),
            "cpu_total_us_per_box": round(1e6 * total / draws_boxes.num_boxes, 2),
            "written": str(fit.generator),
            "rss_before_fit_mb": round(before, 1), "peak_rss_mb": round(_rss_mb(), 1),
            "helper_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
                                        / 1024.0, 1),
            "improved": bool(fit.improved)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--draws", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.draws, args.seed)))
        return
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    rows = []
    for family in args.families.split(","):
        out = subprocess.run([sys.executable, __file__, "--child", family, "--draws",
                              str(args.draws), "--seed", str(args.seed)],
                             capture_output=True, text=True, env=env, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(f"# {rows[-1]}", file=sys.stderr, flush=True)
    base = next((r for r in rows if r["family"] == "frcnn"), None)
    print("| family | fitted boxes (static) | peak RSS MB (before fit) | fit wall s | "
          "fit CPU s (with helpers) | CPU us/box | x FRCNN (CPU per box) | "
          "x FRCNN (CPU with helpers per box) | x FRCNN (wall per box) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        ratios = [f"{r[k] / base[k]:.2f}" if base else "-"
                  for k in ("cpu_us_per_box", "cpu_total_us_per_box", "us_per_box")]
        print(f"| {r['family']} | {r['boxes']} ({r['static_boxes']}) | {r['peak_rss_mb']:.0f} "
              f"({r['rss_before_fit_mb']:.0f}) | {r['seconds']:.1f} | {r['cpu_seconds']:.1f} "
              f"({r['cpu_total_seconds']:.1f}) | {r['cpu_us_per_box']:.1f} | "
              + " | ".join(ratios) + " |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
