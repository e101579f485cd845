"""Benchmark: what a huge pipeline.config costs ``fit`` outside the search (issue 12, item 8).

Configs (the same small Faster R-CNN config, 8 boxes in 4 records, padded):
  baseline        the config as is (~0.6 kB);
  identical_8k    8,000 identical ``data_augmentation_options`` lines in train_config;
  comments_10mb   10 MB of identical comment lines before the model block;
  messages_10mb   10 MB of identical ``data_augmentation_options`` lines (~170k messages).

For each: the ``fit`` API call's wall time minus its search time (``diagnostics
["seconds"]``), then the parts: strict load, textual patch, unified diff and the atomic
write (``--output``). TensorFlow is imported by a warm-up fit first, so it is not
counted. Prints seconds and the ratio to the baseline measured in the same run.

    python benchmarks/bench_config_size.py [--mb 10] [--skip-messages]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from helpers.hostile import CONFIG, good_records  # noqa: E402

from tfod_anchors import api  # noqa: E402
from tfod_anchors.config.files import load_config, write_new  # noqa: E402
from tfod_anchors.config.patch import patch_anchor_generator, unified_diff  # noqa: E402

AUGMENT = "  data_augmentation_options { random_horizontal_flip { } }\n"
COMMENT = "# a padding comment line, identical on every line of this block\n"


def configs(directory: Path, records: Path, mb: float, messages: bool) -> dict[str, Path]:
    base = CONFIG % {"records": records}
    size = int(mb * 1_000_000)
    texts = {
        "baseline": base,
        "identical_8k": base + "train_config {\n" + AUGMENT * 8000 + "}\n",
        "comments_10mb": COMMENT * (size // len(COMMENT)) + base,
    }
    if messages:
        texts["messages_10mb"] = base + "train_config {\n" + AUGMENT * (size // len(AUGMENT)) \
            + "}\n"
    out = {}
    for name, text in texts.items():
        out[name] = directory / f"{name}.config"
        out[name].write_text(text)
    return out


def measure(path: Path, out: Path) -> dict[str, float]:
    t0 = time.perf_counter()
    outcome = api.fit(str(path), force=True, augment=False)
    total = time.perf_counter() - t0
    search = float(outcome.fit.diagnostics.get("seconds", 0.0))
    t1 = time.perf_counter()
    loaded = load_config(str(path))
    t2 = time.perf_counter()
    patch = patch_anchor_generator(loaded.text, loaded.config, outcome.fit.generator, str(path))
    t3 = time.perf_counter()
    unified_diff(loaded.text, patch.text, str(path))
    t4 = time.perf_counter()
    write_new(patch.text, str(out))
    t5 = time.perf_counter()
    assert patch.method == "textual", patch.warning
    return {"outside_search": total - search, "search": search, "load": t2 - t1,
            "patch": t3 - t2, "diff": t4 - t3, "write": t5 - t4,
            "size_mb": path.stat().st_size / 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=float, default=10.0)
    parser.add_argument("--skip-messages", action="store_true",
                        help="leave out messages_10mb (its strict load alone takes seconds)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        records = good_records(directory / "train.tfrecord")
        paths = configs(directory, records, args.mb, not args.skip_messages)
        api.fit(str(paths["baseline"]), augment=False)  # warm-up: imports TensorFlow
        rows = {name: measure(path, directory / f"{name}.out") for name, path in paths.items()}
    base = rows["baseline"]
    keys = ("outside_search", "load", "patch", "diff", "write")
    print(f"{'config':15s} {'MB':>6s} " + " ".join(f"{k:>15s}" for k in keys))
    for name, row in rows.items():
        cells = [f"{row[k]:7.3f}s x{row[k] / max(base[k], 1e-6):5.0f}" for k in keys]
        print(f"{name:15s} {row['size_mb']:6.2f} " + " ".join(f"{c:>15s}" for c in cells))
    print("(seconds, and the ratio to the baseline config measured in this run; the machine "
          "may be shared, so absolute figures are noisy)")


if __name__ == "__main__":
    main()
