"""Model Garden scale jitter: our numpy draws against the real parser's, as distributions.

For a registered experiment (its resolved fixture in tests/mg_experiments), every image
of COCO val2017 is drawn ``--draws`` times by both:

* the wheel: the RetinaNet / R-CNN parser's box path built from its own functions, in its
  order (``random_horizontal_flip``, ``denormalize_boxes``, ``resize_and_crop_image`` on
  an image of the real size, ``resize_and_crop_boxes``, ``get_non_empty_box_indices``),
  with TensorFlow's seeded random ops;
* ours: :func:`tfod_anchors.frameworks.modelgarden.augment.augment`.

It prints the two-sample Kolmogorov-Smirnov distance of box width and height in output
pixels, the same distance between two of our runs under different seeds (the noise
floor: boxes of one image share its draw, so they are not independent samples), and the
95% critical value for independent samples of these sizes. Needs tf-models-official.

    nice -n 10 python benchmarks/bench_mg_augment.py --experiment maskrcnn_resnetfpn_coco
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.datasets import csv_path  # noqa: E402
from tfod_anchors.frameworks.modelgarden import augment as mg_augment  # noqa: E402
from tfod_anchors.frameworks.modelgarden.yaml_patch import load  # noqa: E402
from tfod_anchors.sources import read_boxes  # noqa: E402

FIXTURES = ROOT / "tests" / "mg_experiments"


def real_boxes(boxset, spec: mg_augment.ScaleJitter, draws: int, seed: int,
               limit: int | None = None) -> np.ndarray:
    """[K, 4] output-pixel boxes from the wheel's own functions, ``draws`` per image."""
    import tensorflow as tf
    from official.vision.ops import box_ops, preprocess_ops

    tf.random.set_seed(seed)

    @tf.function(input_signature=[tf.TensorSpec([None, None, 1], tf.float32),
                                  tf.TensorSpec([None, 4], tf.float32)])
    def one(image, boxes):
        if spec.hflip:
            image, boxes, _ = preprocess_ops.random_horizontal_flip(image, boxes)
        if spec.vflip:
            image, boxes, _ = preprocess_ops.random_vertical_flip(image, boxes)
        boxes = box_ops.denormalize_boxes(boxes, tf.shape(image)[0:2])
        image, info = preprocess_ops.resize_and_crop_image(
            image, list(spec.output_hw), padded_size=list(spec.padded_hw),
            aug_scale_min=spec.scale_min, aug_scale_max=spec.scale_max,
            keep_aspect_ratio=spec.keep_aspect_ratio)
        boxes = preprocess_ops.resize_and_crop_boxes(boxes, info[2, :], info[1, :], info[3, :])
        return tf.gather(boxes, box_ops.get_non_empty_box_indices(boxes))

    order = np.argsort(boxset.box_image, kind="stable")
    starts = np.searchsorted(boxset.box_image[order], np.arange(boxset.num_images + 1))
    out = []
    images = range(boxset.num_images if limit is None else min(limit, boxset.num_images))
    for _ in range(draws):
        for i in images:
            rows = order[starts[i]:starts[i + 1]]
            if not len(rows):
                continue
            image = tf.zeros((int(boxset.image_height[i]), int(boxset.image_width[i]), 1))
            out.append(one(image, tf.constant(boxset.boxes[rows])).numpy())
    return np.concatenate(out)


def ks(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov distance (sup of the CDF difference)."""
    grid = np.concatenate([a, b])
    fa = np.searchsorted(np.sort(a), grid, side="right") / len(a)
    fb = np.searchsorted(np.sort(b), grid, side="right") / len(b)
    return float(np.abs(fa - fb).max())


def critical(n: int, m: int) -> float:
    """The 95% critical KS distance for samples of sizes n and m."""
    return 1.358 * math.sqrt((n + m) / (n * m))


def compare(experiment: str, draws: int, seed: int, limit: int | None = None,
            tf_floor: bool = False) -> dict:
    params = load((FIXTURES / f"{experiment}.yaml").read_text())
    spec = mg_augment.from_params(params)
    boxset = read_boxes(str(csv_path("coco")))
    if limit is not None:
        keep = boxset.box_image < limit
        boxset.boxes, boxset.box_image = boxset.boxes[keep], boxset.box_image[keep]
        boxset.label = boxset.label[keep]
        boxset.image_height = boxset.image_height[:limit]
        boxset.image_width = boxset.image_width[:limit]
    t0 = time.perf_counter()
    theirs = real_boxes(boxset, spec, draws, seed)
    t1 = time.perf_counter()
    ours = mg_augment.augment(boxset, spec, draws_per_image=draws, seed=seed).boxes
    t2 = time.perf_counter()
    result = {"experiment": experiment, "images": boxset.num_images, "draws": draws,
              "boxes_real": len(theirs), "boxes_ours": len(ours),
              "critical_95": round(critical(len(theirs), len(ours)), 4),
              "seconds_real": round(t1 - t0, 1), "seconds_ours": round(t2 - t1, 2)}
    again = mg_augment.augment(boxset, spec, draws_per_image=draws, seed=seed + 1000).boxes
    if tf_floor:  # the wheel against itself under another seed
        real_again = real_boxes(boxset, spec, draws, seed + 1000)
        for name, (hi, lo) in (("width", (3, 1)), ("height", (2, 0))):
            result[f"ks_{name}_real_vs_real"] = round(ks(
                real_again[:, hi] - real_again[:, lo], theirs[:, hi] - theirs[:, lo]), 4)
    for name, (hi, lo) in (("width", (3, 1)), ("height", (2, 0))):
        result[f"ks_{name}"] = round(ks(theirs[:, hi] - theirs[:, lo], ours[:, hi] - ours[:, lo]),
                                     4)
        # the noise floor: our draws against our own draws under another seed
        result[f"ks_{name}_ours_vs_ours"] = round(ks(again[:, hi] - again[:, lo],
                                                     ours[:, hi] - ours[:, lo]), 4)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--experiment", default="maskrcnn_resnetfpn_coco")
    ap.add_argument("--draws", type=int, default=2)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--tf-floor", action="store_true",
                    help="also run the wheel twice (its own seed-to-seed distance)")
    args = ap.parse_args()
    for seed in args.seeds:
        print(json.dumps(compare(args.experiment, args.draws, seed, tf_floor=args.tf_floor)),
              flush=True)


if __name__ == "__main__":
    main()
