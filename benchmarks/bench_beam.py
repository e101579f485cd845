"""Beam extraction and the box cache: identity with the local reader, and speed.

Builds TFRecords under ``--workdir`` (default ``/tmp/tfod_bench_beam``; never in the
repository) from the CSV datasets in ``../shared/datasets`` and prints, in one run:

identity  VOC 2007 trainval and COCO val2017 as TFRecords, plus a damaged copy of
          COCO (CRC damage, a truncated shard, malformed records, a file that is not
          a TFRecord) read with ``--skip-bad``: the local reader on the records, and
          the caches written by the local extraction and by Beam (DirectRunner; Prism
          when it can start) must give the same sorted multiset of images (key, size),
          boxes (coordinates, class, difficult) and the same skip counts, with and
          without a label map / max_number_of_boxes.
workers   DirectRunner in multi-processing mode, 2 workers vs 1, on >= 500k box-only
          records (8 files); both against the local tf.data extraction.
cache     reading the cache vs reading the TFRecords (``read_boxes``), 1M boxes.
fit       ``tfod-anchors fit`` on a cache of >= 5M boxes: wall time and peak RSS.

Usage: ``python benchmarks/bench_beam.py [--parts identity,workers,cache,fit]``.
Needs the ``beam`` extra. The machine this runs on may be shared: every speed figure
is printed with the baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tfod_anchors.beam import ReadOptions, run_extraction  # noqa: E402
from tfod_anchors.sources import read_boxes  # noqa: E402
from tfod_anchors.sources.cache_write import extract_local  # noqa: E402

DATASETS = ROOT.parent / "shared" / "datasets"


def feature_bytes(values):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))


def feature_ints(values):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=values))


def feature_floats(values):
    return tf.train.Feature(float_list=tf.train.FloatList(value=values))


def csv_examples(path: Path) -> tuple[list[bytes], list[str]]:
    """One serialized tf.Example per image of a shared CSV; class ids by sorted name."""
    images: dict[str, dict] = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            image = images.setdefault(row["image_id"], {
                "w": int(row["image_width"]), "h": int(row["image_height"]), "boxes": []})
            image["boxes"].append((float(row["ymin"]), float(row["xmin"]), float(row["ymax"]),
                                   float(row["xmax"]), row["label"],
                                   int(row.get("difficult") or 0)))
    names = sorted({b[4] for im in images.values() for b in im["boxes"]})
    ids = {n: i + 1 for i, n in enumerate(names)}
    out = []
    for key, im in images.items():
        b = im["boxes"]
        feature = {
            "image/height": feature_ints([im["h"]]), "image/width": feature_ints([im["w"]]),
            "image/source_id": feature_bytes([key.encode()]),
            "image/object/bbox/ymin": feature_floats([x[0] / im["h"] for x in b]),
            "image/object/bbox/xmin": feature_floats([x[1] / im["w"] for x in b]),
            "image/object/bbox/ymax": feature_floats([x[2] / im["h"] for x in b]),
            "image/object/bbox/xmax": feature_floats([x[3] / im["w"] for x in b]),
            "image/object/class/text": feature_bytes([x[4].encode() for x in b]),
            "image/object/class/label": feature_ints([ids[x[4]] for x in b]),
            "image/object/difficult": feature_ints([x[5] for x in b]),
        }
        out.append(tf.train.Example(features=tf.train.Features(feature=feature))
                   .SerializeToString())
    return out, names


def write_shards(directory: Path, records: list[bytes], shards: int, repeat: int = 1) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    writers = [tf.io.TFRecordWriter(str(directory / f"part-{i:05d}-of-{shards:05d}.tfrecord"))
               for i in range(shards)]
    n = 0
    for _ in range(repeat):
        for record in records:
            writers[n % shards].write(record)
            n += 1
    for w in writers:
        w.close()
    return str(directory / "part-*.tfrecord")


def multiset(boxset) -> tuple:
    """Sorted images (key, h, w) and boxes (key, coords, label, difficult) as bytes."""
    keys = boxset.image_key.astype(str)
    images = np.rec.fromarrays([keys, boxset.image_height, boxset.image_width])
    box_keys = keys[boxset.box_image]
    boxes = np.rec.fromarrays([box_keys, *boxset.boxes.T, boxset.label, boxset.difficult])
    return (np.sort(images).tobytes(), np.sort(boxes).tobytes(),
            {k: v for k, v in boxset.skipped.items() if v})


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    return value, time.perf_counter() - start


def beam_extract(specs, out, options, workers=1, runner="DirectRunner"):
    args = [f"--direct_num_workers={workers}", "--direct_running_mode=multi_processing"] \
        if runner == "DirectRunner" else []
    return run_extraction(specs, out, options, runner=runner, beam_args=args)


def cpu_seconds() -> float:
    """CPU seconds of this process and its finished children (Beam's workers)."""
    own, children = (resource.getrusage(w) for w in (resource.RUSAGE_SELF,
                                                     resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed_cpu(fn, *args, **kwargs):
    """``(wall seconds, CPU seconds)`` of one call (CPU includes worker processes)."""
    cpu = cpu_seconds()
    _, wall = timed(fn, *args, **kwargs)
    return wall, cpu_seconds() - cpu


def damage(source_glob: str, directory: Path) -> str:
    """A copy of COCO's shards with CRC damage, a truncation, malformed records and a
    non-TFRecord file."""
    directory.mkdir(parents=True, exist_ok=True)
    files = sorted(tf.io.gfile.glob(source_glob))
    for i, path in enumerate(files):
        data = bytearray(Path(path).read_bytes())
        if i == 1:
            data[len(data) // 2] ^= 0xFF
        if i == 2:
            data = data[:-100]
        (directory / Path(path).name).write_bytes(bytes(data))
    bad = tf.train.Example(features=tf.train.Features(feature={
        "image/height": feature_ints([10]), "image/width": feature_ints([10]),
        "image/object/bbox/ymin": feature_floats([0.1, 0.2]),
        "image/object/bbox/xmin": feature_floats([0.1]),
        "image/object/bbox/ymax": feature_floats([0.5, 0.6]),
        "image/object/bbox/xmax": feature_floats([0.5, 0.6]),
        "image/object/class/label": feature_ints([1, 1])})).SerializeToString()
    good = tf.train.Example(features=tf.train.Features(feature={
        "image/height": feature_ints([10]), "image/width": feature_ints([10]),
        "image/object/bbox/ymin": feature_floats([0.1]),
        "image/object/bbox/xmin": feature_floats([0.1]),
        "image/object/bbox/ymax": feature_floats([0.5]),
        "image/object/bbox/xmax": feature_floats([0.9]),
        "image/object/class/label": feature_ints([1])})).SerializeToString()
    with tf.io.TFRecordWriter(str(directory / "part-malformed.tfrecord")) as w:
        for i in range(50):
            w.write(bad if i % 7 == 3 else good)
    (directory / "part-notes.tfrecord").write_bytes(b"these are notes, not records\n" * 10)
    return str(directory / "part-*.tfrecord")


def identity(work: Path, prism: bool) -> None:
    print("== identity: local reader vs caches (local extraction, Beam)")
    voc, voc_names = csv_examples(DATASETS / "voc2007" / "voc2007_trainval.csv")
    coco, coco_names = csv_examples(DATASETS / "coco_val2017" / "coco_val2017.csv")
    sets = {"voc2007": write_shards(work / "voc", voc, 4),
            "coco": write_shards(work / "coco", coco, 4)}
    sets["coco_damaged"] = damage(sets["coco"], work / "coco_damaged")
    label_maps = {}
    for name, names in (("voc2007", voc_names), ("coco", coco_names),
                        ("coco_damaged", coco_names)):
        path = work / f"{name}_label_map.pbtxt"
        # the last class is left out: its boxes are dropped as unknown
        path.write_text("".join(f'item {{ id: {i + 1} name: "{n}" }}\n'
                                for i, n in enumerate(names[:-1])))
        label_maps[name] = str(path)
    runners = ["DirectRunner"] + (["PrismRunner"] if prism else [])
    for name, glob in sets.items():
        caches = {"local": str(work / f"{name}_cache_local")}
        extract_local([glob], caches["local"], skip_bad=True, progress=False)
        manifests = {"local": json.loads(Path(caches["local"], "manifest.json").read_text())}
        for runner in runners:
            out = str(work / f"{name}_cache_{runner}")
            try:
                done = beam_extract([glob], out, ReadOptions(skip_bad=True), runner=runner)
            except Exception as err:  # noqa: BLE001 - e.g. Prism cannot fetch its binary
                print(f"  {name}: {runner} did not run: {' '.join(str(err).split())[:160]}")
                continue
            caches[runner] = out
            manifests[runner] = done.manifest
            counters = {k: v for k, v in done.counters.items()
                        if k not in ("records", "images", "boxes")}
            same = counters == {k: v for k, v in done.manifest["skipped"].items() if v}
            print(f"  {name}: {runner} counters == manifest skip counts: {same}")
        for runner, manifest in manifests.items():
            same = (manifest["skipped"] == manifests["local"]["skipped"]
                    and manifest["counts"] == manifests["local"]["counts"])
            print(f"  {name}: manifest {runner} == local extraction's: {same}")
        for options in ({}, {"label_map_path": label_maps[name], "max_number_of_boxes": 10,
                             "drop_difficult": True}):
            reference = multiset(read_boxes([glob], skip_bad=True, progress=False, **options))
            for source, cache in caches.items():
                got = multiset(read_boxes([cache], skip_bad=True, progress=False, **options))
                tag = "label map, max 10, drop difficult" if options else "defaults"
                print(f"  {name} [{tag}]: records == cache({source}): {got == reference}; "
                      f"skipped {reference[2]}")


def box_only_records(n_records: int, boxes_per_record: int, work: Path, shards: int) -> str:
    rng = np.random.default_rng(0)
    distinct = []
    for i in range(5000):
        ymin, xmin = rng.uniform(0, 0.6, (2, boxes_per_record))
        feature = {
            "image/height": feature_ints([480]), "image/width": feature_ints([640]),
            "image/object/bbox/ymin": feature_floats(ymin.tolist()),
            "image/object/bbox/xmin": feature_floats(xmin.tolist()),
            "image/object/bbox/ymax": feature_floats((ymin + 0.3).tolist()),
            "image/object/bbox/xmax": feature_floats((xmin + 0.3).tolist()),
            "image/object/class/label": feature_ints([1 + i % 5] * boxes_per_record),
        }
        distinct.append(tf.train.Example(features=tf.train.Features(feature=feature))
                        .SerializeToString())
    return write_shards(work, distinct, shards, repeat=n_records // len(distinct))


def _spin(element: int) -> int:
    """Two seconds of CPU in one worker (the control for the worker ratio)."""
    start = time.process_time()
    while time.process_time() - start < 2.0:
        pass
    return os.getpid()


def control(workers: int) -> tuple[float, list[int]]:
    """A CPU-bound DirectRunner job (8 elements x 2 s CPU): wall time and elements per
    worker process, to tell how much of 2 cores this machine gives right now."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    options = PipelineOptions([f"--direct_num_workers={workers}",
                               "--direct_running_mode=multi_processing"], runner="DirectRunner")
    report = f"/tmp/tfod_bench_control_{os.getpid()}.json"
    start = time.perf_counter()
    with beam.Pipeline(options=options) as p:
        _ = (p | beam.Create(list(range(8))) | beam.Reshuffle() | beam.Map(_spin)
             | beam.combiners.Count.PerElement() | beam.combiners.ToList()
             | beam.Map(lambda got: Path(report).write_text(json.dumps([c for _, c in got]))))
    seconds = time.perf_counter() - start
    found = sorted(json.loads(Path(report).read_text()))
    os.remove(report)
    return seconds, found


def image_records(work: Path, n_records: int) -> str:
    """Records with a 100 KB random ``image/encoded`` payload and 2 boxes each."""
    rng = np.random.default_rng(1)
    payload = rng.integers(0, 255, 100_000, dtype=np.uint8).tobytes()
    feature = {
        "image/height": feature_ints([480]), "image/width": feature_ints([640]),
        "image/encoded": feature_bytes([payload]),
        "image/object/bbox/ymin": feature_floats([0.1, 0.2]),
        "image/object/bbox/xmin": feature_floats([0.1, 0.3]),
        "image/object/bbox/ymax": feature_floats([0.5, 0.6]),
        "image/object/bbox/xmax": feature_floats([0.4, 0.9]),
        "image/object/class/label": feature_ints([1, 2]),
    }
    record = tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()
    return write_shards(work, [record], 8, repeat=n_records)


def workers_and_cache(work: Path, n_records: int, parts: set[str]) -> None:
    glob = box_only_records(n_records, 2, work / "boxonly", 8)
    total = read_boxes([glob], progress=False).num_boxes
    print(f"== {n_records:,} box-only records, {total:,} boxes, 8 files")
    local_dir = str(work / "boxonly_cache_local")
    _, t_local = timed(extract_local, [glob], local_dir, progress=False)
    print(f"  local tf.data extraction: {t_local:.1f} s")
    if "workers" in parts:
        t1, cpu1 = timed_cpu(beam_extract, [glob], str(work / "boxonly_b1"), ReadOptions(), 1)
        t2, cpu2 = timed_cpu(beam_extract, [glob], str(work / "boxonly_b2"), ReadOptions(), 2)
        print(f"  DirectRunner multi_processing 1 worker: {t1:.1f} s wall ({cpu1:.1f} s CPU), "
              f"2 workers: {t2:.1f} s wall ({cpu2:.1f} s CPU); 2 vs 1 = {t1 / t2:.2f}x "
              f"(expect >= 1.6x); on two idle cores about {cpu1 / max(cpu2 / 2, cpu1 / 2):.2f}x "
              "(CPU-time bound)")
        print(f"  Beam vs local reader: 1 worker {t1 / t_local:.2f}x the local time, "
              f"2 workers {t2 / t_local:.2f}x")
        (c1, per1), (c2, per2) = control(1), control(2)
        print(f"  control, 8 x 2 s CPU-bound elements: 1 worker {c1:.1f} s {per1}, 2 workers "
              f"{c2:.1f} s {per2}: {c1 / c2:.2f}x (2.0x on two idle cores)")
    if "cache" in parts:
        records = min(timed(read_boxes, [glob], progress=False)[1] for _ in range(3))
        cached = min(timed(read_boxes, [local_dir], progress=False)[1] for _ in range(3))
        per_million = cached * 1e6 / total
        print(f"  read_boxes, box-only records: TFRecords {records:.2f} s, cache {cached:.2f} s "
              f"-> cache {records / cached:.1f}x faster (target >= 10x); 1M boxes from the "
              f"cache in {per_million:.2f} s (target <= 1 s)")
        images = image_records(work / "images", 10_000)
        image_cache = str(work / "images_cache")
        extract_local([images], image_cache, progress=False)
        size = sum(os.path.getsize(p) for p in tf.io.gfile.glob(images)) / 1e9
        records = min(timed(read_boxes, [images], progress=False)[1] for _ in range(3))
        cached = min(timed(read_boxes, [image_cache], progress=False)[1] for _ in range(3))
        print(f"  read_boxes, 10,000 records with 100 KB images ({size:.1f} GB, page cache "
              f"warm): TFRecords {records:.2f} s, cache {cached:.3f} s -> cache "
              f"{records / cached:.0f}x faster")


def fit_on_large_cache(work: Path, min_boxes: int) -> None:
    coco, _ = csv_examples(DATASETS / "coco_val2017" / "coco_val2017.csv")
    per_copy = 36781
    repeat = -(-min_boxes // per_copy)
    glob = write_shards(work / "coco_big", coco, 16, repeat=repeat)
    cache = str(work / "coco_big_cache")
    manifest, t_extract = timed(extract_local, [glob], cache, progress=False)
    boxes = manifest["counts"]["boxes"]
    print(f"== fit on a cache of {boxes:,} boxes ({manifest['counts']['records']:,} records; "
          f"local extraction {t_extract:.1f} s)")
    config = ROOT / "configs" / "faster_rcnn_resnet50_640x640_coco_subset.config"
    _, t_read = timed(read_boxes, [cache], progress=False)
    print(f"  read_boxes(cache) alone: {t_read:.1f} s")
    probe = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
             "r = subprocess.run(sys.argv[1:], capture_output=True); "
             "dt = time.perf_counter() - t; u = resource.getrusage(resource.RUSAGE_CHILDREN); "
             "print(r.returncode, dt, u.ru_maxrss, u.ru_utime + u.ru_stime); "
             "sys.stderr.write(r.stderr.decode()[-500:])")
    for source in (cache,):
        command = [sys.executable, "-m", "tfod_anchors", "fit", str(config), "--input", source,
                   "--no-augment", "--json", "--quiet"]
        out = subprocess.run([sys.executable, "-c", probe, *command], capture_output=True,
                             text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
        code, seconds, rss_kb, cpu = out.stdout.split()
        print(f"  fit --input cache: exit {code}, {float(seconds):.1f} s wall, {float(cpu):.1f} s "
              f"CPU (all processes), peak RSS {int(rss_kb) / 1024:.0f} MB (targets <= 30 s, "
              f"<= 2048 MB); load average now {os.getloadavg()[0]:.1f}")
        if code != "0":
            print("  " + out.stderr.strip().replace("\n", "\n  "))


def main() -> None:
    global DATASETS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="identity,workers,cache,fit")
    parser.add_argument("--workdir", default="/tmp/tfod_bench_beam")
    parser.add_argument("--records", type=int, default=500_000)
    parser.add_argument("--fit-boxes", type=int, default=5_000_000)
    parser.add_argument("--prism", action="store_true", help="also try the PrismRunner")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--datasets", default=str(ROOT.parent / "shared" / "datasets"),
                        help="the shared CSV datasets (default: ../shared/datasets)")
    args = parser.parse_args()
    DATASETS = Path(args.datasets)
    parts = set(args.parts.split(","))
    work = Path(args.workdir)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    print(f"cores: {os.cpu_count()}; load average {os.getloadavg()[0]:.1f} (shared machine: "
          "times are noisy, compare ratios within this run)")
    try:
        if "identity" in parts:
            if not DATASETS.exists():
                print(f"identity skipped: {DATASETS} not found")
            else:
                identity(work, args.prism)
        if parts & {"workers", "cache"}:
            workers_and_cache(work, args.records, parts)
        if "fit" in parts and DATASETS.exists():
            fit_on_large_cache(work, args.fit_boxes)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(f"peak RSS of this script {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}"
          " MB")


if __name__ == "__main__":
    main()
