"""What modelling the augmentation changes: coverage and fitted anchors, static vs augmented.

For SSD MobileNet v2 320x320 (``ssd_random_crop``) and EfficientDet-D0 512x512
(``random_scale_crop_and_pad_to_square``), sample configs of ``../shared/tfod-configs/tf2``,
on VOC 2007 trainval and COCO val2017 (``../shared/datasets`` CSVs):

1. coverage of the config's own (default) anchors on the static boxes and on the
   augmented distribution;
2. anchors fitted on the static boxes (``fit --no-augment``) and on the augmented draws
   (``fit``, the default), with the default guard and without any (``--guard off``: the
   objective alone), all measured at the matched threshold on *fresh* augmented draws
   (seed 1; the fits draw with seed 0), i.e. on what TFOD trains on.

For each fitted set it also says whether the default guard holds on that augmented
distribution (against the config's own anchors there): a fit on the static boxes only
ever checked the guard on the static boxes. Deterministic (seeds fixed); fit seconds are
printed for information only (the machine may be shared).

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
from tfod_anchors.fitting import Guard  # noqa: E402
from tfod_anchors.fitting.objective import band_shares, flat_metrics, make_objective  # noqa: E402
from tfod_anchors.sources import read_boxes  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared"
if not SHARED.is_dir():  # a worktree beside the main checkout
    SHARED = Path("/work/shared")
DATASETS = {"voc07": "datasets/voc2007/voc2007_trainval.csv",
            "coco": "datasets/coco_val2017/coco_val2017.csv"}
CONFIGS = {"ssd": "tfod-configs/tf2/ssd_mobilenet_v2_320x320_coco17_tpu-8.config",
           "effdet": "tfod-configs/tf2/ssd_efficientdet_d0_512x512_coco17_tpu-8.config"}
FIT_SEED, EVAL_SEED = 0, 1


def one_case(config_path: Path, data_path: Path, draws: int) -> dict[str, Any]:
    cfg = load_config(str(config_path)).config
    boxes = read_boxes([str(data_path)], progress=False)  # not truncated: TFOD's order

    def coverage(c: Any, augment: int | bool) -> dict[str, Any]:
        return api.coverage(c, boxes=boxes, augment=augment, seed=EVAL_SEED)

    default_static, default_aug = coverage(cfg, False), coverage(cfg, draws)
    aug_boxes = api.resized_boxes(cfg, boxes=boxes, augment=draws, seed=EVAL_SEED)
    guard = Guard()
    bands = tuple(b for b, share in band_shares(aug_boxes.boxes).items()
                  if share >= guard.band_share)
    aug_guard = make_objective("recall", default_aug["matched_threshold"],
                               flat_metrics(default_aug), guard, bands=bands)
    row: dict[str, Any] = {
        "config": config_path.name, "data": data_path.name, "num_images": boxes.num_images,
        "draws": draws, "matched_threshold": default_static["matched_threshold"],
        "static_boxes": default_static["num_boxes"], "augmented_boxes": default_aug["num_boxes"],
        "default": {"static": default_static["recall_matched"],
                    "augmented": default_aug["recall_matched"]},
        "augmented_guard": dict(aug_guard.floors)}
    for guard_name, guard_spec in (("guarded", None), ("unguarded", "off")):
        for name, augment in (("fit_static", False), ("fit_augmented", draws)):
            t0 = time.perf_counter()
            outcome = api.fit(cfg, boxes=boxes, augment=augment, seed=FIT_SEED,
                              guard=guard_spec)
            seconds = time.perf_counter() - t0
            on_aug = coverage(outcome.config, draws)
            row[f"{name}_{guard_name}"] = {
                "improved": bool(outcome.fit.improved),
                "augmented": on_aug["recall_matched"],
                "augmented_recall_0.7": on_aug["recall_0.7"],
                "augmented_mean_iou": on_aug["mean_iou"],
                "static": coverage(outcome.config, False)["recall_matched"],
                "augmented_guard_broken": aug_guard.broken(flat_metrics(on_aug)),
                "changed": outcome.fit.changed, "seconds": round(seconds, 1)}
        row[f"gain_{guard_name}"] = (row[f"fit_augmented_{guard_name}"]["augmented"]
                                     - row[f"fit_static_{guard_name}"]["augmented"])
    return row


def _cell(fit: dict[str, Any]) -> str:
    broken = fit["augmented_guard_broken"]
    return f"{fit['augmented']:.4f}" + (f" (breaks {', '.join(broken)})" if broken else "")


def table(rows: list[dict[str, Any]]) -> str:
    head = ("config", "data", "default static", "default aug", "fit-static on aug",
            "fit-aug on aug", "gain", "unguarded: fit-static on aug", "fit-aug on aug", "gain")
    lines = [" | ".join(head), " | ".join("---" for _ in head)]
    for r in rows:
        cells = [r["config"].split("_coco17")[0], r["data"].replace(".csv", ""),
                 f"{r['default']['static']:.4f}", f"{r['default']['augmented']:.4f}",
                 _cell(r["fit_static_guarded"]), _cell(r["fit_augmented_guarded"]),
                 f"{r['gain_guarded']:+.4f}", f"{r['fit_static_unguarded']['augmented']:.4f}",
                 f"{r['fit_augmented_unguarded']['augmented']:.4f}",
                 f"{r['gain_unguarded']:+.4f}"]
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
            print(f"done {config}/{data}", file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(f"recall at the matched threshold (0.5 for both configs); 'aug' = "
              f"{args.draws} fresh augmented draws per image (seed {EVAL_SEED}), the fits "
              f"drew with seed {FIT_SEED}; 'breaks' = the default guard fails on the "
              "augmented distribution")
        print(table(rows))


if __name__ == "__main__":
    main()
