"""The native (TensorFlow-free) TFRecord reader against tf.data, ratios from one run.

Sections (all by default; pick with ``--only``):

* ``check`` - process wall time and peak RSS of ``tfod-anchors check`` on the raccoon
  demo (configs/demo/raccoon.tfrecord, configs/ssd_mobilenet_v2_300x300_raccoon.config),
  ``--reader native`` vs ``--reader tf``, alternating, best of ``--repeat``.
  Targets (idle 2-core machine): native <= 1.5 s and <= 150 MB.
* ``throughput`` - records/s of the native reader (``read_tfrecords(reader="native")``,
  everything up to :class:`RawBoxes`), of our tf.data reader, and of a bare
  ``tf.data.TFRecordDataset`` + ``tf.io.parse_example`` reference (results pulled to
  numpy, nothing else), on (a) box-only records and (b) image-bearing records with
  real JPEG bytes of ~100 KB. Targets: native / bare >= 0.5 (box-only), >= 0.8
  (images). Then the crossover: TensorFlow's start-up cost (``import tensorflow`` and a
  first tf.data read, in a fresh process, minus a bare Python start) against the
  per-record difference gives the number of records from which tf.data is faster
  end to end (``reader_choice`` uses these figures).
* ``install`` - ``pip install .`` plus one ``check`` in fresh venvs under ``--venv-dir``:
  without TensorFlow vs with the ``cpu`` extra: wall time and installed size.

Usage: ``python benchmarks/bench_native_reader.py [--only check,throughput,install]``.
Not a test; the numbers depend on the machine and its load (printed).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
CONFIG = "configs/ssd_mobilenet_v2_300x300_raccoon.config"
RECORDS = "configs/demo/raccoon.tfrecord"


def _run(cmd: list[str], env: dict | None = None, cwd: Path = REPO) -> tuple[float, float, int]:
    """(wall seconds, peak RSS MB, exit code) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss / 1024, proc.returncode


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.1f} {five:.1f} {fifteen:.1f} on {os.cpu_count()} CPUs"


def bench_check(repeat: int) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    base = [sys.executable, "-m", "tfod_anchors", "check", CONFIG, "--input", RECORDS]
    best: dict[str, tuple[float, float]] = {}
    for _ in range(repeat):
        for reader in ("native", "tf"):
            wall, rss, code = _run(base + ["--reader", reader], env)
            assert code == 0, f"check --reader {reader} exited {code}"
            old = best.get(reader, (float("inf"), float("inf")))
            best[reader] = (min(old[0], wall), min(old[1], rss))
    print(f"\n== check on the raccoon demo ({_load()}), best of {repeat}")
    print(f"{'reader':<10}{'wall s':>9}{'peak RSS MB':>14}")
    for reader, (wall, rss) in best.items():
        print(f"{reader:<10}{wall:>9.2f}{rss:>14.0f}")
    n, t = best["native"], best["tf"]
    print(f"native / tf: {n[0] / t[0]:.2f}x time, {n[1] / t[1]:.2f}x memory "
          f"(targets: native <= 1.5 s, <= 150 MB)")


def _jpegs(count: int, target: int = 100_000) -> list[bytes]:
    """``count`` distinct real JPEGs of about ``target`` bytes (noisy gradients)."""
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    out = []
    y, x = np.mgrid[0:480, 0:640]
    for i in range(count):
        base = (np.sin(x / (20 + i)) + np.cos(y / (30 + i))) * 60 + 128
        noise = 14.0
        for _ in range(8):  # adjust the noise until the file is near the target size
            img = np.clip(base[..., None] + rng.normal(0, noise, (480, 640, 3)), 0, 255)
            data = tf.io.encode_jpeg(img.astype(np.uint8), quality=85).numpy()
            if abs(len(data) - target) < target * 0.1:
                break
            noise *= (target / len(data)) ** 1.3
        out.append(data)
    return out


def bench_throughput(box_records: int, image_records: int, repeat: int, keep: str | None
                     ) -> None:
    import numpy as np

    sys.path.insert(0, str(REPO / "benchmarks"))
    sys.path.insert(0, str(REPO))
    import bench_readers as br
    import tensorflow as tf

    from tfod_anchors.sources.tfrecord import read_tfrecords
    from tfod_anchors.sources.tfrecord.files import batch_size, inspect_files

    directory = Path(keep or tempfile.mkdtemp(prefix="tfod-anchors-native-"))
    directory.mkdir(parents=True, exist_ok=True)
    try:
        boxes = br.build(directory, "boxes", box_records, 4, False, seed=1)
        jpegs = _jpegs(8)
        rng = np.random.default_rng(2)
        images = [str(directory / f"images-{s:05d}-of-00004.tfrecord") for s in range(4)]
        writers = [tf.io.TFRecordWriter(p) for p in images]
        for i in range(image_records):
            writers[i * 4 // image_records].write(br._example(rng, i, jpegs[i % len(jpegs)]))
        for w in writers:
            w.close()
        rates = {}
        for title, paths, n in (("(a) box-only records", boxes, box_records),
                                ("(b) image-bearing records (real JPEG, "
                                 f"{np.mean([len(j) for j in jpegs]) / 1e3:.0f} KB)", images,
                                 image_records)):
            size = sum(os.path.getsize(p) for p in paths) / 1e6
            batch = batch_size(inspect_files(paths, None))
            br.raw_read(paths)  # page cache warm
            best = {"bare tf.data + parse_example": float("inf"), "ours, tf.data": float("inf"),
                    "ours, native": float("inf")}
            counts = {}
            for _ in range(repeat):  # alternate, so all see the same machine load
                for name in best:
                    start = time.perf_counter()
                    if name.startswith("bare"):
                        counts[name] = br.bare_reference(paths, batch)
                    else:
                        reader = "native" if name.endswith("native") else "tf"
                        counts[name] = read_tfrecords(paths, reader=reader).num_boxes
                    best[name] = min(best[name], time.perf_counter() - start)
            assert len(set(counts.values())) == 1, counts
            print(f"\n== {title}: {n:,} records, {size:,.0f} MB, batch {batch} ({_load()})")
            print(f"{'reader':<32}{'seconds':>9}{'MB/s':>9}{'records/s':>12}")
            for name, t in best.items():
                print(f"{name:<32}{t:>9.2f}{size / t:>9.0f}{n / t:>12,.0f}")
            ref = best["bare tf.data + parse_example"]
            print(f"native / bare reference: {ref / best['ours, native']:.2f}x speed "
                  f"(target >= {0.5 if 'box' in title else 0.8})")
            ratio = best["ours, tf.data"] / best["ours, native"]
            print(f"native / our tf.data reader: {ratio:.2f}x")
            rates[title[:3]] = (n, size, best["ours, native"], best["ours, tf.data"])
        _crossover(rates)
    finally:
        if not keep:
            shutil.rmtree(directory, ignore_errors=True)


def _crossover(rates: dict) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    path = str(REPO / RECORDS)
    probe = (f"import tensorflow as tf; ds = tf.data.TFRecordDataset([{path!r}]).batch(16);"
             "[b for b in ds.as_numpy_iterator()]")
    tf_start = min(_run([sys.executable, "-c", probe], env)[0] for _ in range(3))
    bare = min(_run([sys.executable, "-c", "import numpy"], env)[0] for _ in range(3))
    startup = tf_start - bare
    print(f"\n== crossover ({_load()})")
    print(f"TensorFlow start-up (import + first tf.data read) over a bare Python: {startup:.2f} s")
    for key, (n, size, native, tf_time) in rates.items():
        us_native, us_tf = native / n * 1e6, tf_time / n * 1e6
        per_mb = size / n
        line = (f"{key} native {us_native:.1f} us/record, tf.data {us_tf:.1f} us/record "
                f"({per_mb * 1e6:,.0f} bytes a record): ")
        if us_native <= us_tf:
            print(line + "native is faster at any size")
        else:
            cross = startup / ((us_native - us_tf) * 1e-6)
            gigabytes = cross * per_mb / 1e3
            print(line + f"tf.data wins past ~{cross:,.0f} records ({gigabytes:,.1f} GB)")


def bench_install(venv_dir: Path) -> None:
    print(f"\n== pip install . + check in fresh venvs under {venv_dir} ({_load()})")
    print(f"{'variant':<22}{'install s':>10}{'check s':>9}{'site-packages MB':>18}")
    for name, spec in (("no TensorFlow", "."), ("cpu extra", ".[cpu]")):
        venv = venv_dir / name.replace(" ", "-").lower()
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        py = str(venv / "bin" / "python")
        start = time.perf_counter()
        subprocess.run([py, "-m", "pip", "install", "-q", "--no-cache-dir", spec], cwd=REPO,
                       check=True)
        install = time.perf_counter() - start
        work = Path(tempfile.mkdtemp())  # run from elsewhere: the installed package is used
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        wall, _, code = _run([py, "-m", "tfod_anchors", "check", str(REPO / CONFIG), "--input",
                              str(REPO / RECORDS)], env, cwd=work)
        assert code == 0, f"check in {venv} exited {code}"
        site = next((venv / "lib").glob("python*/site-packages"))
        size = sum(f.stat().st_size for f in site.rglob("*") if f.is_file()) / 1e6
        print(f"{name:<22}{install:>10.1f}{wall:>9.2f}{size:>18.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default="check,throughput,install")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--box-records", type=int, default=200_000)
    parser.add_argument("--image-records", type=int, default=5_000)
    parser.add_argument("--keep", metavar="DIR", help="build the records in DIR and keep them")
    parser.add_argument("--venv-dir", type=Path, default=Path("/work/native-venv-bench"))
    args = parser.parse_args()
    only = set(args.only.split(","))
    if "check" in only:
        bench_check(args.repeat)
    if "throughput" in only:
        bench_throughput(args.box_records, args.image_records, args.repeat, args.keep)
    if "install" in only:
        bench_install(args.venv_dir)


if __name__ == "__main__":
    main()
