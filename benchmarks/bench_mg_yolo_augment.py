"""How far YOLO's training boxes (mosaic, jitter, affine, flip) are from its static
letterboxed boxes: the distance tfod-anchors' YOLO coverage carries while it measures the
static boxes (docs/fidelity.md).

The real input pipeline of a registered YOLO experiment (``task.build_inputs``: the
decoder, ``Mosaic`` and the YOLO parser at the experiment's own training settings) reads
box-only TFRecords of COCO val2017 whose images are black JPEGs of each image's real size
(the boxes depend on the sizes only). Its ``labels['bbox']`` (normalized yxyx in the input)
give the trained box widths and heights in input pixels; they are compared with the
static letterbox of the same boxes (``letter_box: true``: centred padding to the input's
aspect, then a resize) by the two-sample Kolmogorov-Smirnov distance. Needs
tf-models-official.

    nice -n 10 python benchmarks/bench_mg_yolo_augment.py --experiment coco_yolov7tiny
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.bench_mg_augment import ks  # noqa: E402
from benchmarks.datasets import WORK, csv_path  # noqa: E402
from tfod_anchors.sources import read_boxes  # noqa: E402


def black_jpeg_records(boxset, count: int) -> Path:
    """The first ``count`` images of ``boxset`` as TFRecords with black JPEGs."""
    import tensorflow as tf

    out = WORK / f"coco_black_jpeg_{count}.tfrecord"
    if out.exists():
        return out
    WORK.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    order = np.argsort(boxset.box_image, kind="stable")
    starts = np.searchsorted(boxset.box_image[order], np.arange(boxset.num_images + 1))
    floats = lambda v: tf.train.Feature(float_list=tf.train.FloatList(value=v))  # noqa: E731
    ints = lambda v: tf.train.Feature(int64_list=tf.train.Int64List(value=v))  # noqa: E731
    raw = lambda v: tf.train.Feature(bytes_list=tf.train.BytesList(value=v))  # noqa: E731
    with tf.io.TFRecordWriter(str(tmp)) as writer:
        for i in range(count):
            h, w = int(boxset.image_height[i]), int(boxset.image_width[i])
            b = boxset.boxes[order[starts[i]:starts[i + 1]]]
            jpeg = tf.io.encode_jpeg(tf.zeros((h, w, 3), tf.uint8), quality=50).numpy()
            feature = {"image/encoded": raw([jpeg]), "image/format": raw([b"jpeg"]),
                       "image/height": ints([h]), "image/width": ints([w]),
                       "image/source_id": raw([str(i).encode()]),
                       "image/object/class/label": ints([1] * len(b)),
                       "image/object/is_crowd": ints([0] * len(b)),
                       "image/object/area": floats([1.0] * len(b))}
            for k, key in enumerate(("ymin", "xmin", "ymax", "xmax")):
                feature[f"image/object/bbox/{key}"] = floats(b[:, k].tolist())
            example = tf.train.Example(features=tf.train.Features(feature=feature))
            writer.write(example.SerializeToString())
    tmp.replace(out)
    return out


def trained_wh(experiment: str, records: Path, samples: int, seed: int,
               overrides: dict | None = None) -> np.ndarray:
    """[K, 2] box (width, height) in input pixels from the real training pipeline."""
    import official.projects.yolo.common.registry_imports  # noqa: F401
    from official.core import exp_factory, task_factory

    params = exp_factory.get_exp_config(experiment)
    params.task.seed = seed
    data = params.task.train_data
    data.input_path, data.global_batch_size, data.seed = str(records), 1, seed
    data.shuffle_buffer_size = 1000
    if overrides:
        params.override({"task": {"train_data": overrides}}, is_strict=True)
    h, w = params.task.model.input_size[:2]
    task = task_factory.get_task(params.task)
    out = []
    for _, labels in task.build_inputs(data).take(samples):
        b = labels["bbox"][0].numpy()
        b = b[(b != 0).any(axis=1)]
        out.append(np.stack([(b[:, 3] - b[:, 1]) * w, (b[:, 2] - b[:, 0]) * h], axis=1))
    return np.concatenate(out)


def letterbox_wh(boxset, count: int, size: tuple[int, int]) -> np.ndarray:
    """[K, 2] (width, height) in input pixels after the centred letterbox."""
    keep = boxset.box_image < count
    b = boxset.boxes[keep].astype(np.float64)
    h0 = boxset.image_height[boxset.box_image[keep]].astype(np.float64)
    w0 = boxset.image_width[boxset.box_image[keep]].astype(np.float64)
    hh, ww = size
    wide = w0 / h0 > ww / hh
    hp = np.where(wide, h0 + 2 * np.trunc((w0 * hh / ww - h0) / 2), h0)
    wp = np.where(wide, w0, w0 + 2 * np.trunc((h0 * ww / hh - w0) / 2))
    return np.stack([(b[:, 3] - b[:, 1]) * w0 * ww / wp, (b[:, 2] - b[:, 0]) * h0 * hh / hp],
                    axis=1)


def compare(experiment: str, images: int, samples: int, seed: int) -> dict:
    import official.projects.yolo.common.registry_imports  # noqa: F401
    from official.core import exp_factory

    boxset = read_boxes(str(csv_path("coco")))
    records = black_jpeg_records(boxset, images)
    size = tuple(exp_factory.get_exp_config(experiment).task.model.input_size[:2])
    static = letterbox_wh(boxset, images, size)
    t0 = time.perf_counter()
    trained = trained_wh(experiment, records, samples, seed)
    no_mosaic = trained_wh(experiment, records, samples, seed,
                           {"parser": {"mosaic": {"mosaic_frequency": 0.0}}})
    result = {"experiment": experiment, "images": images, "samples": samples, "seed": seed,
              "boxes_static": len(static), "boxes_trained": len(trained),
              "boxes_trained_no_mosaic": len(no_mosaic),
              "seconds": round(time.perf_counter() - t0, 1)}
    for name, k in (("width", 0), ("height", 1)):
        result[f"ks_{name}_static_vs_trained"] = round(ks(static[:, k], trained[:, k]), 4)
        result[f"ks_{name}_static_vs_no_mosaic"] = round(ks(static[:, k], no_mosaic[:, k]), 4)
        result[f"median_{name}"] = [round(float(np.median(a[:, k])), 1)
                                    for a in (static, trained, no_mosaic)]
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--experiment", default="coco_yolov7tiny")
    ap.add_argument("--images", type=int, default=1500)
    ap.add_argument("--samples", type=int, default=1500)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = ap.parse_args()
    for seed in args.seeds:
        print(json.dumps(compare(args.experiment, args.images, args.samples, seed)), flush=True)


if __name__ == "__main__":
    main()
