"""What modelling the augmentation changes: coverage and fitted anchors, static vs augmented.

For SSD MobileNet v2 320x320 (``ssd_random_crop``) and EfficientDet-D0 512x512
(``random_scale_crop_and_pad_to_square``), sample configs of ``../shared/tfod-configs/tf2``,
on VOC 2007 trainval and COCO val2017 (``../shared/datasets`` CSVs):

1. coverage of the config's own (default) anchors on the static boxes and on the augmented
   distribution (N draws per image, seed 0);
2. anchors fitted on the static boxes (``fit --no-augment``) and on the augmented draws
   (``fit``, the default), both measured at the matched threshold on *fresh* augmented draws
   (seed 1, not the draws the augmented fit saw) and on the static boxes.

The point is (2): how much recall at the matched threshold the augmented fit wins on the
distribution TFOD trains on. Fits run through :func:`tfod_anchors.api.fit` with the default
objective and guard. Prints one table (text, or ``--json``). Deterministic (seeds fixed);
timing is not the point here.

Usage: ``python benchmarks/bench_augment_quality.py [--draws 4] [--datasets voc07,coco]
[--configs ssd,effdet] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tfod_anchors import api  # noqa: E402
from tfod_anchors.config.files import load_config  # noqa: E402
from tfod_anchors.sources import read_boxes  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared"
if not SHARED.is_dir():  # a worktree beside the main checkout
    SHARED = Path("/work/shared")
DATASETS = {"voc07": "datasets/voc2007/voc2007_trainval.csv",
            "coco": "datasets/coco_val2017/coco_val2017.csv"}
CONFIGS = {"ssd": "tfod-configs/tf2/ssd_mobilenet_v2_320x320_coco17_tpu-8.config",
           "effdet": "tfod-configs/tf2/ssd_efficientdet_d0_512x512_coco17_tpu-8.config"}
FIT_SEED, EVAL_SEED = 0, 1


def recall(metrics: dict[str, Any]) -> float:
    return float(metrics["recall_matched"])


def one_case(config_path: Path, data_path: Path, draws: int) -> dict[str, Any]:
    cfg = load_config(str(config_path)).config
    boxes = read_boxes([str(data_path)], progress=False)  # not truncated: TFOD's order
    measure = dict(boxes=boxes)

    def coverage(c: Any, augment: int | bool, seed: int) -> dict[str, Any]:
        return api.coverage(c, augment=augment, seed=seed, **measure)

    row: dict[str, Any] = {"config": config_path.name, "data": data_path.name,
                           "num_images": boxes.num_images, "draws": draws}
    default_static = coverage(cfg, False, FIT_SEED)
    default_aug = coverage(cfg, draws, EVAL_SEED)
    row["matched_threshold"] = default_static["matched_threshold"]
    row["static_boxes"] = default_static["num_boxes"]
    row["augmented_boxes"] = default_aug["num_boxes"]
    row["default"] = {"static": recall(default_static), "augmented": recall(default_aug),
                      "static_mean_iou": default_static["mean_iou"],
                      "augmented_mean_iou": default_aug["mean_iou"]}
    for name, augment in (("fit_static", False), ("fit_augmented", draws)):
        t0 = time.perf_counter()
        outcome = api.fit(cfg, augment=augment, seed=FIT_SEED, **measure)
        seconds = time.perf_counter() - t0
        fitted = outcome.config
        row[name] = {"improved": bool(outcome.fit.improved),
                     "static": recall(coverage(fitted, False, FIT_SEED)),
                     "augmented": recall(coverage(fitted, draws, EVAL_SEED)),
                     "changed": outcome.fit.changed, "seconds": round(seconds, 1)}
    row["augmented_gain"] = row["fit_augmented"]["augmented"] - row["fit_static"]["augmented"]
    return row


def table(rows: list[dict[str, Any]]) -> str:
    head = ("config", "data", "thr", "default static", "default aug", "fit-static on aug",
            "fit-aug on aug", "gain", "fit-static on static", "fit-aug on static")
    lines = [" | ".join(head), " | ".join("---" for _ in head)]
    for r in rows:
        cells = [r["config"].split("_coco17")[0], r["data"].replace(".csv", ""),
                 f"{r['matched_threshold']:g}", f"{r['default']['static']:.4f}",
                 f"{r['default']['augmented']:.4f}", f"{r['fit_static']['augmented']:.4f}",
                 f"{r['fit_augmented']['augmented']:.4f}", f"{r['augmented_gain']:+.4f}",
                 f"{r['fit_static']['static']:.4f}", f"{r['fit_augmented']['static']:.4f}"]
        lines.append(" | ".join(cells))
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--draws", type=int, default=4)
    ap.add_argument("--datasets", default="voc07,coco")
    ap.add_argument("--configs", default="ssd,effdet")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows = []
    for config in args.configs.split(","):
        for data in args.datasets.split(","):
            config_path, data_path = SHARED / CONFIGS[config], SHARED / DATASETS[data]
            if not config_path.is_file() or not data_path.is_file():
                print(f"skipped {config}/{data}: {config_path} or {data_path} missing",
                      file=sys.stderr)
                continue
            rows.append(one_case(config_path, data_path, args.draws))
            print(f"done {config}/{data}", file=sys.stderr)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(f"recall at the matched threshold; 'aug' = {args.draws} fresh augmented draws per "
              f"image (seed {EVAL_SEED}); fits on seed {FIT_SEED}")
        print(table(rows))


if __name__ == "__main__":
    main()
