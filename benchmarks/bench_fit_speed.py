"""Speed of the whole ``fit`` command on about one million boxes, against ``stats``.

Records: COCO val2017 (``../shared/datasets``) written 27 times over as box-only
TFRecords with TFOD's keys (36,781 x 27 = 993,087 boxes in 133,704 records, 8
shards; :func:`datasets.repeated_records`, made once under ``$TMPDIR``). Config: the
upstream Faster R-CNN ResNet-50 640 (``--config ssd|fpn`` for the others).

Each round runs, as separate processes and in this order, ``tfod-anchors stats
--input RECORDS --config CONFIG --json`` (reading + resizing: the baseline) and
``tfod-anchors fit CONFIG --input RECORDS --json`` (the whole command: reading,
resizing, the fit, the re-check); ``--baseline-tree DIR`` adds the same ``stats`` and
``fit`` from another checkout (e.g. ``git archive`` of an older commit) for an
old/new comparison in the same run. It prints wall and CPU seconds (CPU includes
forked children) per command and the ratio of each ``fit`` to its own tree's
``stats``: on a shared machine the ratios are the figures to compare, since every
command is slowed alike. Median over ``--rounds``.

Usage: ``python benchmarks/bench_fit_speed.py [--copies 27] [--rounds 3]
[--config frcnn] [--baseline-tree DIR] [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import datasets as D  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {
    "frcnn": "faster_rcnn_resnet50_v1_640x640_coco17_tpu-8.config",
    "ssd": "ssd_mobilenet_v2_320x320_coco17_tpu-8.config",
    "fpn": "ssd_resnet50_v1_fpn_640x640_coco17_tpu-8.config",
}


def timed(argv: list[str], tree: Path) -> tuple[float, float, dict]:
    """Wall and CPU seconds (the child and its children) of one command, and its JSON."""
    env = dict(os.environ, PYTHONPATH=str(tree), TF_CPP_MIN_LOG_LEVEL="3")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    # run from the tree: ``-m`` puts the working directory first on sys.path
    proc = subprocess.run([sys.executable, "-m", "tfod_anchors", *argv], env=env, cwd=tree,
                          capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode not in (0, 1):
        sys.exit(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return wall, cpu, json.loads(proc.stdout)


def _stats_of(name: str) -> str:
    return name.replace("fit", "stats", 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=27)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--config", default="frcnn", choices=sorted(CONFIGS))
    parser.add_argument("--baseline-tree", metavar="DIR",
                        help="also time `fit` from this checkout (same records, same run)")
    parser.add_argument("--json", help="also write the raw results here")
    args = parser.parse_args()
    if not D.SHARED.exists():
        sys.exit(f"needs {D.SHARED} (datasets and upstream configs)")
    records = [str(p) for p in D.repeated_records("coco", args.copies)]
    config = str(D.SHARED / "tfod-configs" / "tf2" / CONFIGS[args.config])
    inputs = [a for r in records for a in ("--input", r)]
    runs = {"stats": ([*["stats", "--config", config], *inputs, "--json"], ROOT),
            # the fitting machinery on the static boxes (bench_augment_fit times the
            # augmented fit); a baseline tree from before augmentation knows no such flag
            "fit": ([*["fit", config], *inputs, "--no-augment", "--json"], ROOT)}
    if args.baseline_tree:
        runs["stats (baseline tree)"] = ([*["stats", "--config", config], *inputs, "--json"],
                                         Path(args.baseline_tree))
        runs["fit (baseline tree)"] = ([*["fit", config], *inputs, "--json"],
                                       Path(args.baseline_tree))
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in runs}
    docs: dict[str, dict] = {}
    for _ in range(args.rounds):
        for name, (argv, tree) in runs.items():
            wall, cpu, doc = timed(argv, tree)
            times[name].append((wall, cpu))
            docs[name] = doc
            print(f"# {name}: {wall:.1f} s wall, {cpu:.1f} s CPU", file=sys.stderr, flush=True)
    med = {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v))
           for k, v in times.items()}
    out = {
        "boxes": docs["fit"]["num_boxes"], "records": docs["stats"]["num_images"],
        "config": args.config, "cpus": os.cpu_count(),
        "load_average_at_end": os.getloadavg(),
        "median": {k: {"wall_s": round(w, 2), "cpu_s": round(c, 2)} for k, (w, c) in med.items()},
        # each tree's fit against its own stats (the baseline tree may read differently)
        "ratio_to_stats": {k: {"wall": round(med[k][0] / med[_stats_of(k)][0], 2),
                               "cpu": round(med[k][1] / med[_stats_of(k)][1], 2)}
                           for k in med if k.startswith("fit")},
        "fit_minus_stats": {k: {"wall_s": round(med[k][0] - med[_stats_of(k)][0], 2),
                                "cpu_s": round(med[k][1] - med[_stats_of(k)][1], 2)}
                            for k in med if k.startswith("fit")},
        "fit_after": {k: docs["fit"]["after"][k] for k in ("recall_matched", "mean_iou",
                                                          "recall_0.5")},
        "fit_before": {k: docs["fit"]["before"][k] for k in ("recall_matched", "mean_iou",
                                                            "recall_0.5")},
    }
    print(json.dumps(out, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps({**out, "rounds": times}, indent=1))


if __name__ == "__main__":
    main()
