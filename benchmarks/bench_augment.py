"""Augmented box statistics against the static path, in one run.

Builds a BoxSet of >= ``--boxes`` boxes (the VOC/COCO CSVs of ``../shared/datasets``
repeated, or synthetic boxes when they are absent), then for each sample-config
augmentation (SSD MobileNet v2's ``ssd_random_crop``, EfficientDet-D0's
``random_scale_crop_and_pad_to_square``, CenterNet's crop + absolute pad) times:

* static: ``resize_boxes`` + the box statistics (widths/heights percentiles);
* augmented: ``augment(..., draws=N)`` + ``resize_boxes`` + the same statistics.

Target (issue 13): augmented stats on >= 1M boxes with N = 4 in <= 10 s on 2 cores.
Prints seconds and the augmented/static ratio; the machine may be shared, so the
ratio (same run) is the figure to compare.

Usage: ``python benchmarks/bench_augment.py [--boxes 1000000] [--draws 4] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
from google.protobuf import text_format

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tfod_anchors.augment import augment  # noqa: E402
from tfod_anchors.boxes import BoxSet  # noqa: E402
from tfod_anchors.config.schema import get_schema  # noqa: E402
from tfod_anchors.resize import FixedShapeResizer, KeepAspectRatioResizer, resize_boxes  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
CSVS = ["voc2007/voc2007_trainval.csv", "voc2012/voc2012_trainval.csv",
        "coco_val2017/coco_val2017.csv"]

CASES = {
    "ssd_mobilenet_v2 (ssd_random_crop)": (
        ["random_horizontal_flip {}", "ssd_random_crop {}"], FixedShapeResizer(300, 300)),
    "efficientdet_d0 (random_scale_crop_and_pad_to_square)": (
        ["random_horizontal_flip {}",
         "random_scale_crop_and_pad_to_square { output_size: 512 scale_min: 0.1 "
         "scale_max: 2.0 }"], KeepAspectRatioResizer(512, 512, pad_to_max_dimension=True)),
    "centernet_512 (crop + absolute pad)": (
        ["random_horizontal_flip {}", "random_crop_image { min_aspect_ratio: 0.5 "
         "max_aspect_ratio: 1.7 random_coef: 0.25 }", "random_adjust_hue {}",
         "random_absolute_pad_image { max_height_padding: 200 max_width_padding: 200 }"],
        KeepAspectRatioResizer(512, 512, pad_to_max_dimension=True)),
}


def base_boxes() -> BoxSet:
    paths = [SHARED / p for p in CSVS]
    if all(p.is_file() for p in paths):
        from tfod_anchors.sources import read_boxes
        return read_boxes([str(p) for p in paths], progress=False)
    rng = np.random.default_rng(0)
    m = 20000
    counts = rng.integers(0, 8, m)
    n = int(counts.sum())
    y = np.sort(rng.random((n, 2)), axis=1)
    x = np.sort(rng.random((n, 2)), axis=1)
    return BoxSet(image_height=rng.integers(200, 700, m).astype(np.int32),
                  image_width=rng.integers(200, 700, m).astype(np.int32),
                  image_key=np.array([str(i) for i in range(m)], dtype=object),
                  box_image=np.repeat(np.arange(m), counts).astype(np.int32),
                  boxes=np.stack([y[:, 0], x[:, 0], y[:, 1], x[:, 1]], 1).astype(np.float32),
                  label=np.ones(n, np.int32), difficult=np.zeros(n, bool),
                  group_of=np.zeros(n, bool), is_crowd=np.zeros(n, bool))


def tiled(base: BoxSet, min_boxes: int) -> BoxSet:
    reps = max(1, -(-min_boxes // max(base.num_boxes, 1)))
    m = base.num_images
    shift = np.repeat(np.arange(reps) * m, base.num_boxes)
    return BoxSet(image_height=np.tile(base.image_height, reps),
                  image_width=np.tile(base.image_width, reps),
                  image_key=np.tile(base.image_key, reps),
                  box_image=(np.tile(base.box_image, reps) + shift).astype(np.int32),
                  boxes=np.tile(base.boxes, (reps, 1)), label=np.tile(base.label, reps),
                  difficult=np.tile(base.difficult, reps), group_of=np.tile(base.group_of, reps),
                  is_crowd=np.tile(base.is_crowd, reps))


def stats(boxes: BoxSet, resizer) -> dict:
    resized = resize_boxes(boxes, resizer)
    return {"num_boxes": resized.num_boxes,
            "width_p50": float(np.percentile(resized.widths, 50)),
            "height_p50": float(np.percentile(resized.heights, 50))}


def best_of(repeat: int, fn):
    """(best wall seconds, CPU seconds of that run (all threads), result)."""
    best, out = (float("inf"), 0.0), None
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        out = fn()
        run = (time.perf_counter() - t, time.process_time() - c)
        best = min(best, run)
    return best[0], best[1], out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--boxes", type=int, default=1_000_000)
    ap.add_argument("--draws", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    data = tiled(base_boxes(), args.boxes)
    cls = get_schema("bundled").PreprocessingStep
    print(f"{data.num_images} images, {data.num_boxes} boxes, draws={args.draws}, "
          f"cores={os.cpu_count()} (machine may be shared; best of {args.repeat})")
    for name, (texts, resizer) in CASES.items():
        steps = [text_format.Parse(t, cls()) for t in texts]
        t_static, c_static, s_static = best_of(args.repeat, lambda r=resizer: stats(data, r))
        t_aug, c_aug, s_aug = best_of(args.repeat, lambda r=resizer, s=steps: stats(
            augment(data, s, draws=args.draws, seed=0, max_boxes=100).boxset, r))
        print(f"{name}: static {t_static:.2f} s wall / {c_static:.2f} s CPU "
              f"({s_static['num_boxes']} boxes); augmented {t_aug:.2f} s wall / {c_aug:.2f} s "
              f"CPU ({s_aug['num_boxes']} boxes); ratio {t_aug / t_static:.1f}x wall, "
              f"{c_aug / max(c_static, 1e-9):.1f}x CPU; target <= 10 s wall: "
              f"{'met' if t_aug <= 10 else 'NOT met'}")
    print(f"load average: {os.getloadavg()[0]:.1f} (>{os.cpu_count()} means shared cores)")


if __name__ == "__main__":
    main()
