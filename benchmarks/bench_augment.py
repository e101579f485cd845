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

``--command`` also times the whole ``stats`` command in-process (reading included, which
both paths share): ``stats --config C --input SRC --json`` against ``... --augment N``,
for the SSD MobileNet v2 and EfficientDet-D0 sample configs of ``../shared/tfod-configs``,
on the same boxes written as one CSV (the slowest reader) and on COCO val2017 written 27
times over as box-only TFRecords (993,087 boxes, read by the TensorFlow-free reader;
:func:`datasets.repeated_records`).

Usage: ``python benchmarks/bench_augment.py [--boxes 1000000] [--draws 4] [--repeat 3]
[--command]``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
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
if not SHARED.is_dir():  # a worktree beside the main checkout
    SHARED = Path("/work/shared/datasets")
SAMPLE_CONFIGS = SHARED.parent / "tfod-configs" / "tf2"
COMMAND_CONFIGS = ["ssd_mobilenet_v2_320x320_coco17_tpu-8.config",
                   "ssd_efficientdet_d0_512x512_coco17_tpu-8.config"]
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


def write_csv(data: BoxSet, path: Path) -> None:
    """The boxes as a pixel CSV (one row per box, image ids unique per tiled copy)."""
    h = data.image_height[data.box_image].astype(np.float64)
    w = data.image_width[data.box_image].astype(np.float64)
    b = data.boxes.astype(np.float64)
    cols = [data.box_image, data.image_width[data.box_image], data.image_height[data.box_image],
            np.round(b[:, 1] * w, 2), np.round(b[:, 0] * h, 2), np.round(b[:, 3] * w, 2),
            np.round(b[:, 2] * h, 2), data.label]
    with open(path, "w") as out:
        out.write("image_id,image_width,image_height,xmin,ymin,xmax,ymax,label\n")
        np.savetxt(out, np.stack(cols, axis=1), fmt=["%d", "%d", "%d", "%.2f", "%.2f", "%.2f",
                                                     "%.2f", "%d"], delimiter=",")


def run_stats(argv: list[str]) -> dict:
    from tfod_anchors.cli import main as cli_main

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = cli_main(argv + ["--json"])
    assert code == 0, buffer.getvalue()
    return json.loads(buffer.getvalue())


def command_bench(data: BoxSet, draws: int, repeat: int) -> None:
    configs = [SAMPLE_CONFIGS / name for name in COMMAND_CONFIGS]
    if not all(c.is_file() for c in configs):
        print(f"--command: sample configs not found under {SAMPLE_CONFIGS}; skipped")
        return
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import datasets

    records = [str(p) for p in datasets.repeated_records("coco", 27)]
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "boxes.csv"
        write_csv(data, csv)
        sources = {"CSV": ["--input", str(csv)],
                   "TFRecords": [a for r in records for a in ("--input", r)]
                   + ["--reader", "native"]}
        for (label, source), config in ((s, c) for s in sources.items() for c in configs):
            base = ["stats", "--config", str(config), *source]
            t_s, c_s, d_s = best_of(repeat, lambda b=base: run_stats(b))
            t_a, c_a, d_a = best_of(repeat, lambda b=base: run_stats(b + ["--augment",
                                                                        str(draws)]))
            print(f"stats command, {label}, {config.name}: static {t_s:.2f} s wall / "
                  f"{c_s:.2f} s CPU "
                  f"({d_s['num_boxes']} boxes); --augment {draws} {t_a:.2f} s wall / "
                  f"{c_a:.2f} s CPU ({d_a['num_boxes']} boxes); ratio {t_a / t_s:.2f}x wall, "
                  f"{c_a / max(c_s, 1e-9):.2f}x CPU; augmentation's own cost "
                  f"{t_a - t_s:.2f} s wall (reading is shared); target <= 10 s wall: "
                  f"{'met' if t_a <= 10 else 'NOT met'}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--boxes", type=int, default=1_000_000)
    ap.add_argument("--draws", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--command", action="store_true",
                    help="also time the whole stats command (reading a CSV included)")
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
    if args.command:
        command_bench(data, args.draws, args.repeat)
    print(f"load average: {os.getloadavg()[0]:.1f} (>{os.cpu_count()} means shared cores)")


if __name__ == "__main__":
    main()
