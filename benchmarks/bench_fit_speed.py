"""Speed of ``fit_generator`` on one million boxes (fit + exact final coverage).

Boxes: COCO val2017 (``../shared/datasets``) resampled with replacement to
``--boxes`` boxes on as many synthetic images (each box keeps its image size and
gets a seeded sub-pixel jitter, so no two boxes are identical), resized by the
upstream Faster R-CNN ResNet-50 640 config (keep-aspect 640 + pad: one padded
shape) or the SSD MobileNet v2 config (``--config ssd``). Prints wall and CPU
seconds of the whole call and of its stages (from ``FitResult.diagnostics``).

Usage: ``python benchmarks/bench_fit_speed.py [--boxes 1000000] [--config frcnn|ssd|fpn]``
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
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from bench_fit_quality import SHARED, load_config  # noqa: E402

from tfod_anchors.boxes import BoxSet  # noqa: E402
from tfod_anchors.config import query as config_query  # noqa: E402
from tfod_anchors.fitting import fit_generator  # noqa: E402
from tfod_anchors.resize import build_resizer, resize_boxes  # noqa: E402
from tfod_anchors.sources import read_boxes  # noqa: E402


def million(n: int, seed: int = 0) -> BoxSet:
    """``n`` COCO boxes drawn with replacement, one synthetic image per box."""
    coco = read_boxes([str(SHARED / "datasets/coco_val2017/coco_val2017.csv")], progress=False)
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, coco.num_boxes, n)
    img = coco.box_image[pick]
    h = coco.image_height[img].astype(np.int32)
    w = coco.image_width[img].astype(np.int32)
    boxes = coco.boxes[pick].astype(np.float64)
    jitter = rng.uniform(-0.5, 0.5, (n, 4)) / np.stack([h, w, h, w], 1)
    boxes = np.clip(boxes + jitter, 0.0, 1.0)
    boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2])
    false = np.zeros(n, bool)
    return BoxSet(h, w, np.arange(n).astype(object), np.arange(n, dtype=np.int32),
                  boxes.astype(np.float32), np.ones(n, np.int32), false, false, false)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boxes", type=int, default=1_000_000)
    parser.add_argument("--config", default="frcnn", choices=["frcnn", "ssd", "fpn"])
    args = parser.parse_args()
    cfg = load_config(args.config)
    resized = resize_boxes(million(args.boxes), build_resizer(config_query.image_resizer(cfg)))
    wall, cpu = time.perf_counter(), time.process_time()
    fit = fit_generator(resized, cfg, seed=0)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    d = fit.diagnostics
    print(json.dumps({
        "boxes": resized.num_boxes, "config": args.config, "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2), "stages_s": d.get("stage_seconds"),
        "search_boxes": d["search_boxes"], "coarse_boxes": d["coarse_boxes"],
        "before": {k: round(fit.before[k], 4) for k in ("recall_matched", "mean_iou",
                                                        "recall_0.5")},
        "after": {k: round(fit.after[k], 4) for k in ("recall_matched", "mean_iou",
                                                      "recall_0.5")},
        "error_bound_95": d.get("error_bound_95"), "changed": fit.changed,
    }, indent=1))


if __name__ == "__main__":
    main()
