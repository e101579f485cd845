"""YOLO training boxes: the real Model Garden pipeline against ``augment_yolo``.

The real input pipeline of a registered YOLO experiment (``task.build_inputs``: the
decoder, ``Mosaic`` and the YOLO parser at the experiment's own training settings, with
``task.seed`` set to the seed) reads box-only TFRecords of COCO val2017 whose images are
black JPEGs of each image's real size (the boxes depend on the sizes only); its
``labels['bbox']`` give the trained boxes. By default the pipeline's pixel work is
replaced by zero tensors of the right shape (:func:`shape_only_ops`; ``--full-ops``
keeps it). The same images go through ``augment_yolo`` with ``--draws`` draws each; the
two-sample Kolmogorov-Smirnov distance of box width, height (input pixels) and boxes per
sample is printed per seed, with the wheel against itself and ours against ours across
seeds (the noise floor), and the static letterbox against the wheel. The wheel's samples
are cached in ``$TMPDIR/tfod_anchors_bench``. Needs tf-models-official.

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

from benchmarks.bench_mg_augment import FIXTURES, ks  # noqa: E402
from benchmarks.datasets import WORK, csv_path  # noqa: E402
from tfod_anchors.frameworks.modelgarden.yaml_patch import load  # noqa: E402
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


def shape_only_ops() -> None:
    """Replace the pipeline's pixel work by zero tensors of the shape the real op returns:
    the JPEG decode (shape from the header), ``tf.image.resize``, the warp and translate
    of ``official.vision.ops.augment``, the HSV jitter, and the labeler (no targets).
    Every box op of the wheel still runs; boxes read image shapes only, never pixels.
    About 0.04 s a sample against 0.4 s here; ``--full-ops`` runs the untouched pipeline."""
    import tensorflow as tf
    from official.projects.yolo.ops import anchor, preprocessing_ops
    from official.vision.dataloaders import tf_example_decoder
    from official.vision.ops import augment

    def shaped(image, size, dtype):
        return tf.zeros(tf.concat([tf.cast(size, tf.int32), tf.shape(image)[-1:]], 0), dtype)

    def transform(image, transforms, fill_value=0.0, output_shape=None, **_):
        return shaped(image, tf.shape(image)[:2] if output_shape is None else output_shape,
                      image.dtype)

    def resize(images, size, method=None, preserve_aspect_ratio=False, antialias=False,
               name=None):
        nearest = method in ("nearest", tf.image.ResizeMethod.NEAREST_NEIGHBOR)
        size = tf.stack(size) if isinstance(size, (list, tuple)) else size
        return shaped(images, size, images.dtype if nearest else tf.float32)

    def decode(self, parsed):
        image = tf.zeros(tf.image.extract_jpeg_shape(parsed["image/encoded"]), tf.uint8)
        image.set_shape([None, None, 3])
        return image

    augment.transform = transform
    augment.translate = lambda image, translations, **_: image
    tf.image.resize = resize
    preprocessing_ops.image_rand_hsv = lambda image, *a, **k: image
    tf_example_decoder.TfExampleDecoder._decode_image = decode
    anchor.YoloAnchorLabeler.__call__ = lambda self, *a, **k: ({}, {}, {})


def wheel_path(experiment: str, seed: int, samples: int, full_ops: bool) -> Path:
    """Where :func:`wheel_samples` keeps its result."""
    tag = "full" if full_ops else "shape"
    return WORK / f"yolo_wheel_{experiment}_s{seed}_n{samples}_{tag}.npz"


def wheel_samples(experiment: str, records: Path, samples: int, seed: int,
                  overrides: dict | None = None, full_ops: bool = False) -> dict:
    """The real training pipeline's first ``samples`` samples: ``boxes`` float32
    ``[K, 4]`` normalized, ``counts`` int ``[samples]``, ``hw`` the input size; cached
    in ``WORK`` (saved every 1,000 samples while it runs)."""
    out = wheel_path(experiment, seed, samples, full_ops)
    if out.exists() and not overrides:
        return dict(np.load(out))
    import official.projects.yolo.common.registry_imports  # noqa: F401
    from official.core import exp_factory, task_factory

    params = exp_factory.get_exp_config(experiment)
    params.task.seed = seed
    data = params.task.train_data
    data.input_path, data.global_batch_size, data.seed = str(records), 1, seed
    data.shuffle_buffer_size = 1000
    if overrides:
        params.override({"task": {"train_data": overrides}}, is_strict=True)
    hw = np.array(params.task.model.input_size[:2])
    task = task_factory.get_task(params.task)
    boxes, counts = [], []
    for i, (_, labels) in enumerate(task.build_inputs(data).take(samples)):
        b = labels["bbox"][0].numpy()
        b = b[(b != 0).any(axis=1)]
        boxes.append(b)
        counts.append(len(b))
        if (i + 1) % 1000 == 0 and not overrides:
            np.savez(out.with_suffix(".partial.npz"), boxes=np.concatenate(boxes),
                     counts=np.array(counts), hw=hw)
            print(f"{experiment} seed {seed}: {i + 1} samples", file=sys.stderr, flush=True)
    result = {"boxes": np.concatenate(boxes), "counts": np.array(counts), "hw": hw}
    if not overrides:
        np.savez(out, **result)
    return result


def wh(result: dict) -> np.ndarray:
    """[K, 2] (width, height) in input pixels of a :func:`wheel_samples` result."""
    b, (h, w) = result["boxes"].astype(np.float64), result["hw"]
    return np.stack([(b[:, 3] - b[:, 1]) * w, (b[:, 2] - b[:, 0]) * h], axis=1)


def ours(experiment: str, boxset, draws: int, seed: int) -> dict:
    """``augment_yolo`` on ``boxset`` at the experiment's resolved settings, as a
    :func:`wheel_samples`-like result."""
    from tfod_anchors.frameworks.modelgarden.augment_yolo import augment_yolo

    params = load((FIXTURES / f"{experiment}.yaml").read_text())
    r = augment_yolo(boxset, params, draws_per_image=draws, seed=seed)
    h, w = r.true_shape[0]
    return {"boxes": (r.boxes / np.array([h, w, h, w])).astype(np.float32),
            "counts": np.bincount(r.box_image, minlength=len(r.true_shape)),
            "hw": np.array([h, w])}


def distances(a: dict, b: dict) -> dict:
    """KS of width, height and boxes per sample between two results."""
    wa, wb = wh(a), wh(b)
    return {"w": round(ks(wa[:, 0], wb[:, 0]), 4), "h": round(ks(wa[:, 1], wb[:, 1]), 4),
            "count": round(ks(a["counts"].astype(float), b["counts"].astype(float)), 4)}


def letterbox_wh(boxset, count: int, size: tuple[int, int], letter_box: bool = True) -> np.ndarray:
    """[K, 2] (width, height) in input pixels after the centred letterbox (or the
    stretch of ``letter_box: false``)."""
    keep = boxset.box_image < count
    b = boxset.boxes[keep].astype(np.float64)
    h0 = boxset.image_height[boxset.box_image[keep]].astype(np.float64)
    w0 = boxset.image_width[boxset.box_image[keep]].astype(np.float64)
    hh, ww = size
    wide = w0 / h0 > ww / hh
    if not letter_box:
        return np.stack([(b[:, 3] - b[:, 1]) * ww, (b[:, 2] - b[:, 0]) * hh], axis=1)
    hp = np.where(wide, h0 + 2 * np.trunc((w0 * hh / ww - h0) / 2), h0)
    wp = np.where(wide, w0, w0 + 2 * np.trunc((h0 * ww / hh - w0) / 2))
    return np.stack([(b[:, 3] - b[:, 1]) * w0 * ww / wp, (b[:, 2] - b[:, 0]) * h0 * hh / hp],
                    axis=1)


def compare(experiment: str, samples: int, seeds: list[int], draws: int,
            full_ops: bool) -> dict:
    """Wheel vs ours for each seed, wheel vs wheel and ours vs ours across the seeds."""
    boxset = read_boxes(str(csv_path("coco")))
    records = black_jpeg_records(boxset, boxset.num_images)
    wheel = {s: wheel_samples(experiment, records, samples, s, full_ops=full_ops)
             for s in seeds}
    t0 = time.perf_counter()
    mine = {s: ours(experiment, boxset, draws, s) for s in seeds}
    seconds = round((time.perf_counter() - t0) / len(seeds), 2)
    size = tuple(int(v) for v in wheel[seeds[0]]["hw"])
    parser = load((FIXTURES / f"{experiment}.yaml").read_text())["task"]["train_data"]["parser"]
    static = letterbox_wh(boxset, boxset.num_images, size, parser.get("letter_box", True))
    result = {"experiment": experiment, "ops": "full" if full_ops else "shape-only",
              "wheel_samples": samples, "our_samples": boxset.num_images * draws,
              "our_seconds_per_run": seconds, "seeds": {}}
    for s in seeds:
        ww, mw = wh(wheel[s]), wh(mine[s])
        result["seeds"][s] = {
            "boxes_wheel": len(ww), "boxes_ours": len(mw),
            "per_sample_wheel": round(len(ww) / samples, 3),
            "per_sample_ours": round(len(mw) / len(mine[s]["counts"]), 3),
            "ours_vs_wheel": distances(mine[s], wheel[s]),
            "static_vs_wheel": {"w": round(ks(static[:, 0], ww[:, 0]), 4),
                                "h": round(ks(static[:, 1], ww[:, 1]), 4)},
            "median_w_h": {"wheel": [round(float(np.median(ww[:, k])), 1) for k in (0, 1)],
                           "ours": [round(float(np.median(mw[:, k])), 1) for k in (0, 1)]}}
    if len(seeds) > 1:
        a, b = seeds[:2]
        result["wheel_vs_wheel"] = distances(wheel[a], wheel[b])
        result["ours_vs_ours"] = distances(mine[a], mine[b])
        result["ours_vs_other_wheel"] = distances(mine[a], wheel[b])
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--experiment", default="coco_yolov7tiny")
    ap.add_argument("--samples", type=int, default=10000,
                    help="training samples drawn from the real pipeline per seed")
    ap.add_argument("--draws", type=int, default=3, help="our draws per image")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--full-ops", action="store_true",
                    help="run the pipeline's pixel ops too (slow; see shape_only_ops)")
    args = ap.parse_args()
    if not args.full_ops:
        shape_only_ops()
    print(json.dumps(compare(args.experiment, args.samples, args.seeds, args.draws,
                             args.full_ops)), flush=True)


if __name__ == "__main__":
    main()
