"""Speed of ``fit`` on the augmented distribution against the static fit, on ~1M boxes.

Records: COCO val2017 (``../shared/datasets``) written 27 times over as box-only
TFRecords (993,087 boxes; :func:`datasets.repeated_records`, made once under
``$TMPDIR``). Configs: SSD MobileNet v2 320 (``ssd_random_crop``) and EfficientDet-D0
(``random_scale_crop_and_pad_to_square``), the upstream samples.

Each round runs, as separate processes: ``fit CONFIG --input RECORDS --no-augment
--json`` (the static fit: the baseline), ``fit CONFIG --input RECORDS --json`` (the
default: augmented, draws from the box budget, i.e. one draw per image at this size)
and ``fit ... --augment 4`` (four draws per image, about 4M boxes). It prints wall and
CPU seconds (children included) and each augmented fit's ratio to the static one (the
target of issue 13: at most 3x). The machine may be shared: the ratios, from the
same run, are the figures to compare. Median over ``--rounds``.

Usage: ``python benchmarks/bench_augment_fit.py [--copies 27] [--rounds 1]
[--configs ssd,effdet] [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import datasets as D  # noqa: E402
from bench_fit_speed import timed  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {
    "ssd": "ssd_mobilenet_v2_320x320_coco17_tpu-8.config",
    "effdet": "ssd_efficientdet_d0_512x512_coco17_tpu-8.config",
}
VARIANTS = {"static": ["--no-augment"], "augmented (default draws)": [],
            "augmented (--augment 4)": ["--augment", "4"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=27)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--configs", default="ssd,effdet")
    parser.add_argument("--json", help="also write the raw results here")
    args = parser.parse_args()
    if not D.SHARED.exists():
        sys.exit(f"needs {D.SHARED} (datasets and upstream configs)")
    records = [str(p) for p in D.repeated_records("coco", args.copies)]
    inputs = [a for r in records for a in ("--input", r)]
    results = {}
    for name in args.configs.split(","):
        config = str(D.SHARED / "tfod-configs" / "tf2" / CONFIGS[name])
        times: dict[str, list[tuple[float, float]]] = {k: [] for k in VARIANTS}
        docs: dict[str, dict] = {}
        for _ in range(args.rounds):
            for variant, extra in VARIANTS.items():
                wall, cpu, doc = timed(["fit", config, *inputs, *extra, "--json"], ROOT)
                times[variant].append((wall, cpu))
                docs[variant] = doc
                print(f"# {name} {variant}: {wall:.1f} s wall, {cpu:.1f} s CPU, "
                      f"{doc['num_boxes']} boxes", file=sys.stderr, flush=True)
        med = {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v))
               for k, v in times.items()}
        base = med["static"]
        results[name] = {
            "boxes": {k: d["num_boxes"] for k, d in docs.items()},
            "draws": {k: (d["augmentation"] or {}).get("draws") for k, d in docs.items()},
            "median": {k: {"wall_s": round(w, 1), "cpu_s": round(c, 1)}
                       for k, (w, c) in med.items()},
            "ratio_to_static": {k: {"wall": round(w / base[0], 2), "cpu": round(c / base[1], 2)}
                                for k, (w, c) in med.items() if k != "static"},
            "recall_matched": {k: [d["before"]["recall_matched"], d["after"]["recall_matched"]]
                               for k, d in docs.items()},
        }
    out = {"cpus": os.cpu_count(), "load_average_at_end": os.getloadavg(), **results}
    print(json.dumps(out, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
