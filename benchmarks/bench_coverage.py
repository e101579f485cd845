"""Benchmark: positioned coverage of 1M synthetic boxes (issue 4).

Cases (640x640 padded input):
  frcnn       grid anchors, stride 16, 40x40 cells, 12 shapes (scales 0.25-2 x ratios
              0.5/1/2, base 256, offset 0), clip_anchors_to_image (window policy clip),
              matched threshold 0.7;
  multiscale  levels 3-7 (80x80 ... 5x5 cells), 9 shapes per level (anchor_scale 4,
              3 scales per octave, ratios 1/2/0.5, offset stride/2), no window policy,
              matched threshold 0.5.

Each case runs in a fresh process and prints the wall time of ``coverage.evaluate`` and
the process's peak RSS, then a literal evaluation (every anchor, full IoU matrix) on a
subsample for the speed ratio, checking that both agree. Each case also runs with the
kernel's earlier step of 4096 (box, shape) pairs as the baseline (``--pairs-per-step``):
small steps leave numpy's per-call overhead in charge, and threads then wait on the GIL.

    python benchmarks/bench_coverage.py [--boxes 1000000] [--case frcnn|multiscale]
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

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tfod_anchors.anchors.layout import AnchorLayout, AnchorLevel  # noqa: E402
from tfod_anchors.boxes import ResizedBoxes  # noqa: E402
from tfod_anchors.coverage.metrics import evaluate  # noqa: E402
from tfod_anchors.matcher import FASTER_RCNN_FIRST_STAGE, MatcherSpec  # noqa: E402

SIDE = 640


def grid_sizes(scales, ratios, base):
    """``[K, 2]`` (h, w), aspect-ratio outer, scale inner (TFOD grid order)."""
    return np.array([[s / np.sqrt(r) * base, s * np.sqrt(r) * base]
                     for r in ratios for s in scales], dtype=np.float64)


def frcnn_layout() -> AnchorLayout:
    sizes = grid_sizes([0.25, 0.5, 1.0, 2.0], [0.5, 1.0, 2.0], 256.0)
    level = AnchorLevel((40, 40), (16.0, 16.0), (0.0, 0.0), sizes)
    return AnchorLayout((SIDE, SIDE), (level,), window_policy="clip")


def multiscale_layout() -> AnchorLayout:
    levels = []
    for lv in range(3, 8):
        stride = 2.0 ** lv
        scales = [2.0 ** (i / 3.0) for i in range(3)]
        sizes = grid_sizes(scales, [1.0, 2.0, 0.5], 4.0 * stride)
        cells = SIDE // 2 ** lv
        levels.append(AnchorLevel((cells, cells), (stride, stride), (stride / 2, stride / 2),
                                  sizes, level=lv))
    return AnchorLayout((SIDE, SIDE), tuple(levels), window_policy="none")


def synthetic_boxes(n: int, seed: int = 0) -> ResizedBoxes:
    """Sizes log-uniform (sqrt(area) 4..600 px, aspect ratio 1/4..4), centres uniform,
    boxes clipped to the image (so border boxes are common)."""
    rng = np.random.default_rng(seed)
    side = np.exp(rng.uniform(np.log(4.0), np.log(600.0), n))
    ratio = np.exp(rng.uniform(np.log(0.25), np.log(4.0), n))
    h, w = side / np.sqrt(ratio), side * np.sqrt(ratio)
    cy, cx = rng.uniform(0, SIDE, n), rng.uniform(0, SIDE, n)
    boxes = np.stack([cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2], axis=1)
    boxes = np.clip(boxes, 0.0, float(SIDE))
    keep = (boxes[:, 2] - boxes[:, 0] > 1.0) & (boxes[:, 3] - boxes[:, 1] > 1.0)
    boxes = boxes[keep][:n]
    m = boxes.shape[0]
    images = max(1, m // 8)
    shape = np.full((images, 2), SIDE, dtype=np.int32)
    return ResizedBoxes(true_shape=shape, padded_shape=shape.copy(),
                        box_image=(np.arange(m) % images).astype(np.int32), boxes=boxes,
                        label=np.ones(m, dtype=np.int32))


def literal_best_and_positives(boxes: np.ndarray, layout: AnchorLayout, t: float):
    """Every anchor, pruned/clipped literally, full IoU matrix (the baseline)."""
    anchors = layout.boxes()
    h, w = layout.padded_shape
    if layout.window_policy == "prune":
        anchors = anchors[(anchors[:, 0] >= 0) & (anchors[:, 1] >= 0)
                          & (anchors[:, 2] <= h) & (anchors[:, 3] <= w)]
    elif layout.window_policy == "clip":
        anchors = np.clip(anchors, 0.0, [h, w, h, w])
    area_a = (anchors[:, 2] - anchors[:, 0]) * (anchors[:, 3] - anchors[:, 1])
    best = np.zeros(len(boxes))
    pos = np.zeros(len(boxes), dtype=np.int64)
    for s in range(0, len(boxes), 64):
        b, a = boxes[s:s + 64, None, :], anchors
        oy = np.maximum(0, np.minimum(b[..., 2], a[:, 2]) - np.maximum(b[..., 0], a[:, 0]))
        ox = np.maximum(0, np.minimum(b[..., 3], a[:, 3]) - np.maximum(b[..., 1], a[:, 1]))
        inter = oy * ox
        union = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1]) + area_a - inter
        iou = np.where(inter > 0, inter / np.where(inter > 0, union, 1.0), 0.0)
        best[s:s + 64] = iou.max(axis=1)
        pos[s:s + 64] = (iou >= t).sum(axis=1)
    return best, pos


def run_case(case: str, n: int, sample: int, pairs_per_step: int | None = None) -> dict:
    if pairs_per_step:
        import tfod_anchors.coverage.best_iou as best_iou

        best_iou._PAIRS_PER_STEP = pairs_per_step
    layout = frcnn_layout() if case == "frcnn" else multiscale_layout()
    matcher = FASTER_RCNN_FIRST_STAGE if case == "frcnn" else MatcherSpec(0.5, 0.5)
    resized = synthetic_boxes(n)
    start, cpu = time.perf_counter(), time.process_time()
    report = evaluate(resized, lambda shape: layout, matcher)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    sub = resized.boxes[:sample]
    start = time.perf_counter()
    ref_best, ref_pos = literal_best_and_positives(sub, layout, matcher.matched_threshold)
    literal = time.perf_counter() - start
    out = {
        "case": case, "pairs_per_step": pairs_per_step or "default",
        "boxes": resized.num_boxes, "anchors": layout.num_anchors,
        "wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "peak_rss_mb": round(rss_mb, 1),
        "load_avg_1min": round(os.getloadavg()[0], 2),
        "literal_sample": sample, "literal_s": round(literal, 3),
        "literal_s_per_1M_est": round(literal * resized.num_boxes / sample, 1),
        "speedup": round(literal * resized.num_boxes / sample / wall, 1),
        "max_abs_diff_best": float(np.abs(ref_best - report.best_iou[:sample]).max()),
        "positives_equal": bool((ref_pos == report.positives[:sample]).all()),
        "mean_iou": report.metrics["mean_iou"],
        "recall_matched": report.metrics["recall_matched"],
        "mean_positives": report.metrics["mean_positives"],
        "num_unreachable": report.metrics["num_unreachable"],
    }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boxes", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=2000)
    parser.add_argument("--case", choices=["frcnn", "multiscale"])
    parser.add_argument("--pairs-per-step", type=int, default=0)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, args.boxes, args.sample, args.pairs_per_step)))
        return
    for case in ("frcnn", "multiscale"):
        walls = []
        for step in (4096, 0):  # the earlier step (baseline), then the default
            cmd = [sys.executable, __file__, "--case", case, "--boxes", str(args.boxes),
                   "--sample", str(args.sample), "--pairs-per-step", str(step)]
            res = json.loads(subprocess.run(cmd, check=True, capture_output=True,
                                            text=True).stdout)
            walls.append(res["wall_s"])
            print(json.dumps(res, indent=1))
        print(f"{case}: default step {walls[0] / walls[1]:.2f}x faster than 4096 pairs/step")


if __name__ == "__main__":
    main()
