"""Fault injection against the box cache, the readers' crash cases and Beam (#23).

Enumerates the issue's cases, runs each through the real CLI (in this process, or
in a subprocess where a crash or a concurrent run is the point) and classifies it:

* ``ok`` - the expected outcome: a one-line error (exit 2, or 130 for Ctrl-C, one
  JSON document with ``--json``) or, where the input is valid, the right numbers;
* ``silently wrong`` - exit 0 with numbers other than the truth (or a cache that
  reads although it should not);
* ``crash`` - killed by a signal, or an exception escaping the CLI;
* ``unexpected`` - an "unexpected ..." error, a traceback, or not one line.

Prints one line per case and the four counts. Usage:
``nice -n 10 python benchmarks/fault_injection_cache.py [--flips 40] [--trials 3]``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tfod_anchors.cli import main as cli_main  # noqa: E402
from tfod_anchors.sources.tfrecord.framing import masked_crc  # noqa: E402

B1 = [0.1, 0.2, 0.5, 0.6]
B2 = [0.0, 0.0, 1.0, 1.0]
RESULTS: list[tuple[str, str, str]] = []


def example(boxes, height=64, width=64, labels=None, texts=None) -> bytes:
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    f = {"image/height": tf.train.Feature(int64_list=tf.train.Int64List(value=[height])),
         "image/width": tf.train.Feature(int64_list=tf.train.Int64List(value=[width]))}
    for i, key in enumerate(("ymin", "xmin", "ymax", "xmax")):
        f[f"image/object/bbox/{key}"] = tf.train.Feature(
            float_list=tf.train.FloatList(value=boxes[:, i].tolist()))
    if labels is not None:
        f["image/object/class/label"] = tf.train.Feature(
            int64_list=tf.train.Int64List(value=labels))
    if texts is not None:
        f["image/object/class/text"] = tf.train.Feature(
            bytes_list=tf.train.BytesList(value=[t.encode() for t in texts]))
    return tf.train.Example(features=tf.train.Features(feature=f)).SerializeToString()


def write(path: Path, records: list[bytes]) -> str:
    with tf.io.TFRecordWriter(str(path)) as writer:
        for record in records:
            writer.write(record)
    return str(path)


def dataset(path: Path, n: int = 10, seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    return write(path, [example([B1, B2][: 1 + i % 2], int(rng.integers(64, 128)),
                                int(rng.integers(64, 128)), labels=[1, 2][: 1 + i % 2])
                        for i in range(n)])


def run(*argv) -> tuple[int | str, str, str]:
    """The CLI in this process: ``(exit code or "crash", stdout, stderr)``."""
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli_main([str(a) for a in argv])
    except BaseException as exc:  # noqa: BLE001 - anything escaping the CLI is a crash
        return "crash", out.getvalue(), f"{type(exc).__name__}: {exc}"
    return code, out.getvalue(), err.getvalue()


def run_sub(*argv, timeout: float = 600) -> tuple[int | str, str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-m", "tfod_anchors", *map(str, argv)],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=timeout)
    code: int | str = done.returncode if done.returncode >= 0 else "crash"
    return code, done.stdout, done.stderr


def judge(name: str, outcome: tuple[int | str, str, str], *, expect_code: int = 2,
          json_mode: bool = True, truth: Callable[[str], bool] | None = None) -> str:
    """Classify one run; ``truth(stdout)`` says whether an exit-0 result is right."""
    code, out, err = outcome
    lines = [line for line in err.strip().splitlines() if line.strip()]
    if code == "crash" or (isinstance(code, int) and code > 128 and code != 130):
        verdict = "crash"
    elif "unexpected" in err or "Traceback" in err:
        verdict = "unexpected"
    elif code == 0:
        verdict = "ok" if truth is not None and truth(out) else "silently wrong"
    elif code != expect_code or len(lines) != 1:
        verdict = "unexpected"
    elif json_mode:
        try:
            docs = [json.loads(out)]
            verdict = "ok" if "error" in docs[0] else "unexpected"
        except json.JSONDecodeError:
            verdict = "unexpected"
    else:
        verdict = "ok"
    detail = (lines[-1] if lines else "")[:110]
    RESULTS.append((name, verdict, detail))
    print(f"{verdict:15s} {name}: exit {code}; {detail}", flush=True)
    return verdict


def images_are(n: int) -> Callable[[str], bool]:
    return lambda out: json.loads(out).get("num_images") == n


def manifest(cache: Path) -> dict:
    return json.loads((cache / "manifest.json").read_text())


# --------------------------------------------------------------------------- cases


def sizes(work: Path) -> None:
    good = [example([B1], 640, 480, labels=[1]) for _ in range(10)]
    records = write(work / "sizes.record", good + [example([B1], 2**33 + 640, 480,
                                                           labels=[1])])
    for reader in ("native", "tf"):
        cache = work / f"sizes-{reader}"
        run("extract", "--input", records, "--output", cache, "--reader", reader,
            "--skip-bad", "--quiet")
        judge(f"1 size 2^33+640, extract --reader {reader}, stats on the cache",
              run("stats", "--input", cache, "--skip-bad", "--json"), truth=images_are(10))
        judge(f"1 size 2^33+640, extract --reader {reader} without --skip-bad",
              run("extract", "--input", records, "--output", work / f"s2-{reader}", "--json",
                  "--reader", reader))
    cache = work / "sizes-beam"
    run("extract", "--input", records, "--output", cache, "--runner", "DirectRunner",
        "--skip-bad", "--quiet")
    judge("1 size 2^33+640, Beam extract, stats on the cache",
          run("stats", "--input", cache, "--skip-bad", "--json"), truth=images_are(10))


def concurrency(work: Path, trials: int) -> None:
    one = Path(write(work / "one.record", [example([B1], 64, 64, labels=[1])]))
    big = work / "big.record"
    big.write_bytes(one.read_bytes() * 200_000)
    small = dataset(work / "small.record", 7)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    for trial in range(trials):
        out = work / f"conc-{trial}"
        first = subprocess.Popen([sys.executable, "-m", "tfod_anchors", "extract", "--input",
                                  str(big), "--output", str(out), "--reader", "native",
                                  "--quiet"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        while not out.exists() and first.poll() is None:
            time.sleep(0.01)
        time.sleep(0.05 * trial)
        second = run_sub("extract", "--input", small, "--output", out, "--reader", "native",
                         "--json")
        first.communicate()
        both_ok = first.returncode == 0 and second[0] == 0
        reads = run("stats", "--input", out, "--json")
        expected = 7 if second[0] == 0 and first.returncode != 0 else 200_000
        right = reads[0] == 0 and json.loads(reads[1])["num_images"] == expected
        verdict = "silently wrong" if both_ok or not right else (
            "crash" if first.returncode < 0 else "ok")
        RESULTS.append((f"2 concurrent extract, trial {trial}", verdict, second[2].strip()))
        print(f"{verdict:15s} 2 concurrent extract, trial {trial}: first exit "
              f"{first.returncode}, second exit {second[0]}; {second[2].strip()[:90]}")


def integrity(work: Path, flips: int) -> None:
    cache, other = work / "cache-a", work / "cache-b"
    run("extract", "--input", dataset(work / "a.record", 10, 0), "--output", cache, "--quiet")
    run("extract", "--input", dataset(work / "b.record", 12, 1), "--output", other, "--quiet")
    clean = manifest(cache)
    shard = cache / clean["shards"][0]["path"]
    data = shard.read_bytes()

    def restore() -> None:
        (cache / "manifest.json").write_text(json.dumps(clean))
        shard.write_bytes(data)

    def edited(name: str, edit: Callable[[dict], None]) -> None:
        doc = json.loads(json.dumps(clean))
        edit(doc)
        (cache / "manifest.json").write_text(json.dumps(doc))
        judge(name, run("stats", "--input", cache, "--json"))
        restore()

    edited("2 counts.records edited to 99999", lambda m: m["counts"].update(records=99_999))
    edited("2 shard listed twice (counts doubled)",
           lambda m: (m.update(shards=m["shards"] * 2), m["counts"].update(records=20)))
    shard.write_bytes((other / clean["shards"][0]["path"]).read_bytes())
    judge("2 shard of another dataset under this manifest", run("stats", "--input", cache,
                                                                 "--json"))
    restore()
    edited("2 other dataset's shard entry and shard",
           lambda m: (shutil.copy(other / clean["shards"][0]["path"], shard),
                      m.update(shards=manifest(other)["shards"]),
                      m["counts"].update(records=12)))
    restore()
    rng = np.random.default_rng(0)
    for bit in rng.choice(len(data) * 8, size=flips, replace=False).tolist():
        flipped = bytearray(data)
        flipped[bit // 8] ^= 1 << (bit % 8)
        shard.write_bytes(bytes(flipped))
        judge(f"3 bit flip {bit} in the shard", run("stats", "--input", cache, "--json"))
    restore()
    truth = run("stats", "--input", cache, "--json")[1]
    for bit in rng.choice(len(data) * 8, size=flips, replace=False).tolist():
        flipped = bytearray(data)
        flipped[bit // 8] ^= 1 << (bit % 8)
        shard.write_bytes(bytes(flipped))
        doc = json.loads(json.dumps(clean))
        doc["shards"][0]["sha256"] = hashlib.sha256(bytes(flipped)).hexdigest()
        (cache / "manifest.json").write_text(json.dumps(doc))
        judge(f"3 bit flip {bit}, digest recomputed (page CRCs alone)",
              run("stats", "--input", cache, "--json"), truth=lambda out: out == truth)
    restore()


def hostile(path: Path, length: int) -> str:
    write(path, [example([B1], 64, 64, labels=[1]) for _ in range(10)])
    head = struct.pack("<Q", length)
    path.write_bytes(path.read_bytes() + head + struct.pack("<I", masked_crc(head)) + b"\0" * 40)
    return str(path)


def crashes(work: Path) -> None:
    config = ROOT / "configs" / "faster_rcnn_resnet50_640x640_coco_subset.config"
    for length in (2**40, 2**62):
        records = hostile(work / f"h{length.bit_length()}.record", length)
        tag = f"4 length 2^{length.bit_length() - 1}"
        for reader in ("tf", "native"):
            judge(f"{tag}, stats --reader {reader}",
                  run_sub("stats", "--input", records, "--reader", reader, "--json"))
            judge(f"{tag}, check --reader {reader}",
                  run_sub("check", config, "--input", records, "--reader", reader, "--json"))
            judge(f"{tag}, extract --reader {reader}",
                  run_sub("extract", "--input", records, "--output", work / f"x-{reader}",
                          "--reader", reader, "--json"))
        judge(f"{tag}, extract --runner DirectRunner",
              run_sub("extract", "--input", records, "--output", work / "x-beam", "--runner",
                      "DirectRunner", "--json"))


def beam_options(work: Path) -> None:
    records = dataset(work / "beam.record", 6)
    cache = work / "beam-cache"
    run("extract", "--input", records, "--output", cache, "--quiet")
    before = manifest(cache)
    for option in ("--direct_num_workers=abc", "--direct_running_mode=warp_speed",
                   "--temp_location", "--pickle_library=nope", "--direct_num_workers=-3"):
        verdict = judge(f"5 Beam option {option}", run(
            "extract", "--input", records, "--output", cache, "--runner", "DirectRunner",
            "--json", "--", option))
        if verdict == "ok" and manifest(cache) != before:
            RESULTS[-1] = (RESULTS[-1][0], "silently wrong", "cache changed")
    judge("5 --runner DataflowRunner without its options",
          run("extract", "--input", records, "--output", cache, "--runner", "DataflowRunner",
              "--json"))
    corrupt = work / "corrupt.record"
    corrupt.write_bytes(Path(records).read_bytes()[:-7])
    judge("6 Beam on a truncated record keeps the old cache",
          run("extract", "--input", corrupt, "--output", cache, "--runner", "DirectRunner",
              "--json"))
    if manifest(cache) != before:
        RESULTS[-1] = (RESULTS[-1][0], "silently wrong", "old cache lost")
    code, out, err = run("extract", "--input", corrupt, "--output", cache, "--runner",
                         "DirectRunner", "--json")
    doc = json.loads(out)["error"] if code == 2 else {}
    filled = doc.get("file") == str(corrupt) and doc.get("record") is not None
    RESULTS.append(("10 Beam error document names file and record",
                    "ok" if filled else "unexpected", str(doc)[:100]))
    print(f"{RESULTS[-1][1]:15s} {RESULTS[-1][0]}: {RESULTS[-1][2]}")


def ctrl_c(work: Path) -> None:
    records = dataset(work / "cc.record", 6)
    cache = work / "cc-cache"
    run("extract", "--input", records, "--output", cache, "--quiet")
    before = manifest(cache)
    big = work / "cc-big.record"
    big.write_bytes(Path(records).read_bytes() * 20_000)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    for mode in ("in_memory", "multi_threading"):
        job = subprocess.Popen([sys.executable, "-m", "tfod_anchors", "extract", "--input",
                                str(big), "--output", str(cache), "--runner", "DirectRunner",
                                "--json", "--", f"--direct_running_mode={mode}"], cwd=ROOT,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
        while job.poll() is None and not any(p.name.startswith("beam-temp-")
                                             for p in cache.iterdir()):
            time.sleep(0.05)
        time.sleep(0.5)
        job.send_signal(signal.SIGINT)
        out, err = job.communicate()
        temps = [p.name for p in cache.iterdir() if p.name.startswith("beam-temp-")]
        name = f"7 Ctrl-C during Beam extraction ({mode})"
        if job.returncode == 0:
            RESULTS.append((name, "ok", "finished before Ctrl-C"))
        elif temps or manifest(cache) != before:
            RESULTS.append((name, "silently wrong", f"left {temps}"))
        else:
            judge(name, (job.returncode, out, err), expect_code=130)
            continue
        print(f"{RESULTS[-1][1]:15s} {name}: {RESULTS[-1][2]}")


MANIFEST_EDITS: dict[str, Callable[[dict], None]] = {
    "inputs missing": lambda m: m.pop("inputs"),
    "inputs empty": lambda m: m.update(inputs={"specs": [], "files": []}),
    "shard without path": lambda m: m["shards"][0].pop("path"),
    "shards a string": lambda m: m.update(shards="boxes"),
    "count not an integer": lambda m: m["counts"].update(records="10"),
    "mtime not an integer": lambda m: m["inputs"]["files"][0].update(mtime_ns="now"),
    "shards missing": lambda m: m.pop("shards"),
    "shard path ../other_cache/...": lambda m: m["shards"][0].update(
        path="../other_cache/boxes-a-00000-of-00001.parquet"),
    "manifest not JSON": lambda m: m.clear(),
}


def manifest_keys(work: Path) -> None:
    cache = work / "mk-cache"
    run("extract", "--input", dataset(work / "mk.record"), "--output", cache, "--quiet")
    clean = manifest(cache)
    for name, edit in MANIFEST_EDITS.items():
        doc = json.loads(json.dumps(clean))
        edit(doc)
        (cache / "manifest.json").write_text(json.dumps(doc) if doc else "{not json")
        judge(f"8 manifest: {name}", run("stats", "--input", cache, "--json"))
    (cache / "manifest.json").write_text(json.dumps(clean))


def outputs(work: Path) -> None:
    records = dataset(work / "out.record", 4)
    (work / "a-file").write_text("x")
    os.symlink(work / "nowhere", work / "dangling")
    for name, output in (("onto a regular file", work / "a-file"),
                         ("below a file", work / "a-file" / "cache"),
                         ("a dangling symlink", work / "dangling")):
        judge(f"9 extract --output {name}", run("extract", "--input", records, "--output",
                                                output, "--json"))


def smaller(work: Path) -> None:
    records = dataset(work / "sm.record", 5)
    cache = work / "sm-cache"
    run("extract", "--input", records, "--output", cache, "--quiet")
    (cache / "manifest.json.tmp-4242").write_text("{")
    (cache / "beam-temp-boxes-x").mkdir()
    judge("11 extract over a cache with a killed run's leftovers",
          run("extract", "--input", records, "--output", cache, "--json"),
          truth=lambda out: json.loads(out)["counts"]["records"] == 5)
    only = work / "only-temp"
    (only / "beam-temp-boxes-1").mkdir(parents=True)
    judge("11 a directory holding only beam-temp-*", run("stats", "--input", only, "--json"))
    here = os.getcwd()
    os.chdir(work)
    try:
        run("extract", "--input", "sm.record", "--output", "rel-cache", "--quiet")
    finally:
        os.chdir(here)
    code, out, err = run("stats", "--input", work / "rel-cache", "--json")
    verdict = "ok" if code == 0 and "inputs changed" not in err else "silently wrong"
    RESULTS.append(("12 relative --input read from elsewhere", verdict, err.strip()[:100]))
    print(f"{verdict:15s} 12 relative --input read from elsewhere: {err.strip()[:90]}")
    texts = write(work / "texts.record", [example([B1, B2], texts=["cat", "dog"])] * 20)
    for reader in ("tf", "native"):
        code, out, err = run("stats", "--input", texts, "--reader", reader, "--json")
        named = code == 2 and "boxes_without_class: 40" in err
        RESULTS.append((f"13 class/text without label map ({reader})",
                        "ok" if named else "unexpected", err.strip()[:100]))
        print(f"{RESULTS[-1][1]:15s} {RESULTS[-1][0]}: {RESULTS[-1][2]}")
    judge("14 --runner PrismRunner (offline or not)", run(
        "extract", "--input", records, "--output", work / "prism", "--runner", "PrismRunner",
        "--json"), truth=lambda out: json.loads(out)["counts"]["records"] == 5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flips", type=int, default=40)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--parts", default="sizes,concurrency,integrity,crashes,beam,ctrl_c,"
                                           "manifest,outputs,smaller")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tfod_faults_"))
    parts = {"sizes": lambda: sizes(work), "concurrency": lambda: concurrency(work, args.trials),
             "integrity": lambda: integrity(work, args.flips), "crashes": lambda: crashes(work),
             "beam": lambda: beam_options(work), "ctrl_c": lambda: ctrl_c(work),
             "manifest": lambda: manifest_keys(work), "outputs": lambda: outputs(work),
             "smaller": lambda: smaller(work)}
    try:
        for name in args.parts.split(","):
            parts[name]()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    counts = Counter(verdict for _, verdict, _ in RESULTS)
    print(f"cases tried: {len(RESULTS)}; silently wrong: {counts['silently wrong']}; crashes: "
          f"{counts['crash']}; unexpected: {counts['unexpected']}; ok: {counts['ok']}")


if __name__ == "__main__":
    main()
