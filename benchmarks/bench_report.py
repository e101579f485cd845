"""What ``fit --report DIR`` adds to a fit (issue 21, item 17: at most 1.5x the fit).

For each case (a shipped demo config, or the demo Faster R-CNN config on a shared
dataset's CSV) the fit runs through the CLI's own path (``api.fit``, then the
command's ``write_fit_report``) and the two are timed separately, in the same process
and run: ``ratio = (fit + report) / fit``. Each case runs ``--rounds`` times; the
worst ratio is reported.

Usage: ``nice python benchmarks/bench_report.py [--cases coco_demo,voc] [--rounds 2]
[--no-augment]``
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import datasets as D  # noqa: E402

from tfod_anchors import api  # noqa: E402
from tfod_anchors.plots.report import write_fit_report  # noqa: E402

FRCNN = str(ROOT / "configs/faster_rcnn_resnet50_640x640_coco_subset.config")
CASES = {
    "coco_demo": (FRCNN, ()),
    "ssd_demo": (str(ROOT / "configs/ssd_mobilenet_v2_300x300_coco_subset.config"), ()),
    "voc": (FRCNN, ("voc",)),
}


def run_case(name: str, augment: bool | None) -> dict[str, float]:
    """Seconds of the fit and of the report for one case."""
    config, data = CASES[name]
    inputs = [str(D.csv_path(d)) for d in data]
    os.chdir(ROOT)                     # the demo configs name their data from here
    start = time.perf_counter()
    outcome = api.fit(config, inputs, augment=augment)
    fit_s = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        write_fit_report(tmp, outcome, seed=0)
        report_s = time.perf_counter() - start
    return {"boxes": outcome.boxes.num_boxes, "fit_s": fit_s, "report_s": report_s,
            "ratio": (fit_s + report_s) / fit_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="coco_demo,voc")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-augment", action="store_true")
    args = parser.parse_args()
    augment = False if args.no_augment else None
    print(f"{'case':10s} {'boxes':>7s} {'fit s':>7s} {'report s':>9s} {'ratio':>6s}")
    for name in args.cases.split(","):
        rows = [run_case(name, augment) for _ in range(args.rounds)]
        for r in rows:
            print(f"{name:10s} {r['boxes']:7d} {r['fit_s']:7.1f} {r['report_s']:9.1f} "
                  f"{r['ratio']:6.2f}")
        worst = max(r["ratio"] for r in rows)
        print(f"{name:10s} worst ratio {worst:.2f} (target <= 1.5)")


if __name__ == "__main__":
    main()
