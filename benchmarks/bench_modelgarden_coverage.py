"""Model Garden experiments: default anchors vs the Model Garden's own k-means and our fit,
scored by one evaluator under each family's rule.

For each experiment (the resolved fixtures of ``tests/mg_experiments``, so the Model Garden
is needed only for its k-means) and dataset (VOC2007 trainval, COCO val2017: the CSVs of
``../shared/datasets``), boxes go through the experiment's training parser resize (static)
and are scored with ``tfod_anchors.coverage.metrics.evaluate`` under the spec's own matcher:
positioned IoU with the family's threshold and forced match, and for YOLO the rule itself
(``MatcherSpec.shape_rule``, float32 as the labeler computes it: ``recall_matched`` is the
share of boxes with a target, ``mean_positives`` the anchors that pass per box), beside
``frameworks.modelgarden.matching.yolo_metrics`` (boxes with no target at all, targets per box
with the neighbour cells). Rows:

* ``defaults``: the experiment as registered;
* ``MG AnchorKMeans (1024 images)`` (YOLO only): ``official/projects/yolo/ops/kmeans_anchors.py``
  run as ``generate_anchors: true`` runs it (``num_samples`` 1024 images, ``sqrt`` scaling,
  ``per_level``, boxes stretched to the input size), on the dataset's images in file order;
* ``MG AnchorKMeans (all images)``: the same on every image;
* ``ours seed S``: ``tfod_anchors.api.fit`` (static boxes, default objective and guard) for
  each search seed, then the worst seed (most boxes without a target; for IoU rules the
  lowest recall) and whether it beats ``AnchorKMeans`` on all images.

Needs ``tf-models-official`` for the k-means rows (``/work/venv-mg``). Prints markdown.
Usage: ``python benchmarks/bench_modelgarden_coverage.py [--datasets voc,coco]
[--experiments retinanet_resnetfpn_coco,maskrcnn_resnetfpn_coco,coco_yolov7tiny]
[--seeds 0,1,2,3,4] [--no-fit] [--no-kmeans]``

``--cli`` measures through the command line instead, as a user runs it: per experiment
and dataset, ``fit FIXTURE --input CSV --json`` with the parser's augmentation drawn
(``--augment N --augment-seed S``: before/after on the draws and on the static boxes)
and with ``--no-augment`` (before/after on the static boxes), then ``check --no-advice``
both ways; each command's wall and CPU time (the child's user + system) is printed, so
the cost of drawing is the ratio of the two in the same run. ``--cost REPEATS`` times
only the drawing (in process, on boxes already read) and ``check``, both ways,
interleaved, and prints the medians.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from datasets import csv_path  # noqa: E402

from tfod_anchors.coverage.metrics import evaluate  # noqa: E402
from tfod_anchors.frameworks.modelgarden import experiment as mgx  # noqa: E402
from tfod_anchors.frameworks.modelgarden import geometry  # noqa: E402
from tfod_anchors.sources import read_boxes  # noqa: E402

FIXTURES = ROOT / "tests" / "mg_experiments"
EXPERIMENTS = ("retinanet_resnetfpn_coco", "maskrcnn_resnetfpn_coco", "coco_yolov7tiny")


def score(exp: dict, boxset) -> dict:
    """Metrics of ``exp``'s anchors on ``boxset`` under its family's rule."""
    from tfod_anchors.frameworks.modelgarden.spec import model_garden_spec

    spec = model_garden_spec(exp)
    resized = spec.resizer().resize_boxes(boxset)
    metrics = evaluate(resized, spec.layout_function(), spec.matcher()).metrics
    out = {"rule": spec.rule().name, **{k: metrics[k] for k in (
        "recall_matched", "mean_iou", "recall_0.5", "recall_0.7", "mean_positives")}}
    rule = spec.rule_metrics(resized)
    if rule:
        out.update({k: rule[k] for k in ("no_target_share", "mean_targets")})
        out["no_target_boxes"] = int(round(rule["no_target_share"] * rule["num_boxes"]))
    return out


def mg_kmeans(exp: dict, boxset, num_samples: int) -> list[list[float]]:
    """The Model Garden's ``AnchorKMeans`` as ``YoloTask`` runs it (``generate_anchors``)."""
    import tensorflow as tf
    from official.projects.yolo.ops.kmeans_anchors import AnchorKMeans

    block = exp["task"]["model"]["anchor_boxes"]
    lo, hi = geometry.yolo_levels(exp)
    k = (hi - lo + 1) * int(block["anchors_per_scale"])
    order = np.argsort(boxset.box_image, kind="stable")
    starts = np.searchsorted(boxset.box_image[order], np.arange(boxset.num_images + 1))

    def images():
        for i in range(boxset.num_images):
            rows = order[starts[i]:starts[i + 1]]
            yield {"width": int(boxset.image_width[i]), "height": int(boxset.image_height[i]),
                   "groundtruth_boxes": boxset.boxes[rows].astype(np.float32)}

    spec = {"width": tf.TensorSpec([], tf.int32), "height": tf.TensorSpec([], tf.int32),
            "groundtruth_boxes": tf.TensorSpec([None, 4], tf.float32)}
    dataset = tf.data.Dataset.from_generator(images, output_signature=spec)
    return AnchorKMeans()(dataset, k, anchors_per_scale=int(block["anchors_per_scale"]),
                          scaling_mode=block["scaling_mode"],
                          box_generation_mode=block["box_generation_mode"],
                          image_resolution=exp["task"]["model"]["input_size"],
                          num_samples=num_samples)


def fitted(exp: dict, boxset, seed: int) -> dict | None:
    """Our fit's anchors (the change) for search seed ``seed``; None when it fails."""
    from tfod_anchors import api
    from tfod_anchors.frameworks.modelgarden.spec import model_garden_spec

    try:
        outcome = api.fit(model_garden_spec(exp), boxes=boxset, augment=False, seed=seed)
    except Exception as err:  # noqa: BLE001 - report and go on
        print(f"  (ours: not run: {type(err).__name__}: {err})", file=sys.stderr)
        return None
    return outcome.fit.generator


KEYS = ("no_target_share", "no_target_boxes", "recall_matched", "mean_positives",
        "mean_targets", "mean_iou", "recall_0.5", "recall_0.7")


def row(name: str, m: dict, seconds: float | None = None) -> str:
    cells = " / ".join(f"{k} {m[k]:.4f}" if isinstance(m[k], float) else f"{k} {m[k]}"
                       for k in KEYS if m.get(k) is not None)
    took = f" ({seconds:.1f} s)" if seconds is not None else ""
    return f"| {name} | {cells}{took} |"


def run_cli(*argv: str) -> tuple[dict, float, float]:
    """``python -m tfod_anchors ARGV --json``: its JSON document, wall and CPU seconds."""
    import json
    import os
    import resource
    import subprocess

    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "tfod_anchors", *argv, "--json"], env=env,
                          capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(argv)}: exit {done.returncode}: {done.stdout[-400:]}"
                         f"{done.stderr[-400:]}")
    return json.loads(done.stdout), wall, cpu


def metrics_cell(m: dict | None) -> str:
    if not m:
        return "-"
    return " / ".join(f"{m[k]:.4f}" for k in ("recall_matched", "mean_iou", "recall_0.7"))


def cli_rows(name: str, dataset: str, draws: int, seed: int) -> None:
    """The ``--cli`` rows of one experiment on one dataset (see the module docstring)."""
    config, data = str(FIXTURES / f"{name}.yaml"), str(csv_path(dataset))
    aug = ("--augment", str(draws), "--augment-seed", str(seed))
    fit_a, wall_fa, cpu_fa = run_cli("fit", config, "--input", data, *aug)
    fit_s, wall_fs, cpu_fs = run_cli("fit", config, "--input", data, "--no-augment")
    chk_a, wall_ca, cpu_ca = run_cli("check", config, "--input", data, "--no-advice", *aug)
    chk_s, wall_cs, cpu_cs = run_cli("check", config, "--input", data, "--no-advice",
                                     "--no-augment")
    rule = fit_a.get("matched_threshold")
    print(f"\n### {name} on {dataset} (matched threshold {rule}; cells: recall_matched / "
          f"mean_iou / recall_0.7)\n")
    print("| fit | boxes | before | after | static before | static after |")
    print("|---|---|---|---|---|---|")
    print(f"| augmented ({draws} draws, augment-seed {seed}) | {fit_a['num_boxes']} | "
          f"{metrics_cell(fit_a['before'])} | {metrics_cell(fit_a['after'])} | "
          f"{metrics_cell(fit_a.get('static_before'))} | "
          f"{metrics_cell(fit_a.get('static_after'))} |")
    print(f"| static (--no-augment) | {fit_s['num_boxes']} | {metrics_cell(fit_s['before'])} | "
          f"{metrics_cell(fit_s['after'])} | - | - |")
    print(f"\nfitted anchors: augmented {fit_a.get('anchor_generator')}; static "
          f"{fit_s.get('anchor_generator')}")
    print(f"\ncheck coverage: augmented {metrics_cell(chk_a['coverage'])} "
          f"({chk_a['coverage']['num_boxes']} boxes), static {metrics_cell(chk_s['coverage'])} "
          f"({chk_s['coverage']['num_boxes']} boxes)")
    print(f"\ntime (wall / CPU s): fit augmented {wall_fa:.1f} / {cpu_fa:.1f}, static "
          f"{wall_fs:.1f} / {cpu_fs:.1f} (ratio {wall_fa / wall_fs:.2f} / {cpu_fa / cpu_fs:.2f});"
          f" check augmented {wall_ca:.1f} / {cpu_ca:.1f}, static {wall_cs:.1f} / "
          f"{cpu_cs:.1f} (ratio {wall_ca / wall_cs:.2f} / {cpu_ca / cpu_cs:.2f})", flush=True)


def draw_cost(name: str, dataset: str, draws: int, seed: int, repeats: int) -> None:
    """``--cost``: the boxes the matcher sees, drawn (``--augment N``) against static, on
    boxes already read (in process, ``pipeline.training_boxes``), then the whole ``check
    --no-advice`` both ways through the command line; ``repeats`` interleaved rounds, the
    median wall and CPU seconds of each, and their ratios."""
    from tfod_anchors import pipeline
    from tfod_anchors.frameworks.modelgarden.spec import model_garden_spec

    config, data = str(FIXTURES / f"{name}.yaml"), str(csv_path(dataset))
    spec = model_garden_spec(mgx.read_params_yaml(config), config)
    boxset = read_boxes(data, progress=False)
    modes = {"augmented": pipeline.AugmentOptions(pipeline.AUTO, draws, seed),
             "static": pipeline.AugmentOptions(pipeline.OFF, None, seed)}
    flags = {"augmented": ("--augment", str(draws), "--augment-seed", str(seed)),
             "static": ("--no-augment",)}
    times: dict[str, list[tuple[float, float]]] = {f"{k} {m}": [] for k in ("draw", "check")
                                                    for m in modes}
    boxes = {}
    for _ in range(repeats):
        for mode, options in modes.items():
            t, c = time.perf_counter(), time.process_time()
            got = pipeline.training_boxes(spec, config, pipeline.SourceOptions(), options,
                                          boxes=boxset)
            times[f"draw {mode}"].append((time.perf_counter() - t, time.process_time() - c))
            boxes[mode] = got.resized.num_boxes
            _, wall, cpu = run_cli("check", config, "--input", data, "--no-advice",
                                   *flags[mode])
            times[f"check {mode}"].append((wall, cpu))
    med = {k: (float(np.median([w for w, _ in v])), float(np.median([c for _, c in v])))
           for k, v in times.items()}
    print(f"\n{name} on {dataset}: {boxes['augmented']} drawn boxes ({draws} draws, seed "
          f"{seed}) / {boxes['static']} static; median of {repeats} (wall / CPU s):")
    for what in ("draw", "check"):
        a, s_ = med[f"{what} augmented"], med[f"{what} static"]
        print(f"  {what}: augmented {a[0]:.3f} / {a[1]:.3f}, static {s_[0]:.3f} / {s_[1]:.3f}"
              f" (ratio {a[0] / s_[0]:.2f} / {a[1] / s_[1]:.2f})", flush=True)


def badness(m: dict) -> float:
    """What "worst" means: most boxes without a target under the ratio rule, else the
    lowest recall under the family's rule (``yolo_darknet``'s forced best match gives every
    box a target: there it is the share whose best width-height IoU reaches the threshold)."""
    from tfod_anchors.frameworks.modelgarden.matching import RATIO_RULE

    return m["no_target_share"] if m.get("rule") == RATIO_RULE else -m["recall_matched"]


def kmeans_rows(exp: dict, boxset) -> dict[str, dict]:
    """The Model Garden's ``AnchorKMeans`` rows (its chatter silenced)."""
    import contextlib
    import io

    out = {}
    for label, n in (("1024 images", 1024), ("all images", -1)):
        t = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            boxes = mg_kmeans(exp, boxset, n)
        took = time.perf_counter() - t
        m = score(mgx.with_change(exp, {"task.model.anchor_boxes.boxes": boxes}), boxset)
        out[label] = m
        print(row(f"MG AnchorKMeans ({label}) {boxes}", m, took), flush=True)
    return out


def fit_rows(exp: dict, boxset, seeds: list[int], kmeans: dict[str, dict]) -> None:
    """Our fit per seed, then the worst seed against ``AnchorKMeans`` on all images."""
    got = []
    for seed in seeds:
        t = time.perf_counter()
        change = fitted(exp, boxset, seed)
        if change is None:
            continue
        m = score(mgx.with_change(exp, change), boxset)
        got.append(m)
        print(row(f"ours seed {seed} {change}", m, time.perf_counter() - t), flush=True)
    if not got:
        return
    worst = max(got, key=badness)
    print(row(f"ours, worst of {len(got)} seeds", worst), flush=True)
    if "all images" in kmeans:
        ref = kmeans["all images"]
        verdict = "beats" if badness(worst) < badness(ref) else "does NOT beat"
        print(f"\nworst seed {verdict} AnchorKMeans (all images): "
              f"{badness(worst):.5f} vs {badness(ref):.5f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="voc,coco")
    parser.add_argument("--experiments", default=",".join(EXPERIMENTS))
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--no-fit", action="store_true")
    parser.add_argument("--cli", action="store_true",
                        help="fit and check through the command line, augmented and static")
    parser.add_argument("--draws", type=int, default=3)
    parser.add_argument("--augment-seed", type=int, default=0)
    parser.add_argument("--cost", type=int, metavar="REPEATS",
                        help="only the cost of drawing: REPEATS interleaved rounds")
    parser.add_argument("--no-kmeans", action="store_true")
    args = parser.parse_args()
    if args.cost:
        for dataset in args.datasets.split(","):
            for name in args.experiments.split(","):
                draw_cost(name, dataset, args.draws, args.augment_seed, args.cost)
        return
    if args.cli:
        for dataset in args.datasets.split(","):
            for name in args.experiments.split(","):
                cli_rows(name, dataset, args.draws, args.augment_seed)
        return
    seeds = [int(v) for v in args.seeds.split(",")]
    for dataset in args.datasets.split(","):
        boxset = read_boxes(str(csv_path(dataset)), progress=False)
        print(f"\n## {dataset}: {boxset.num_images} images, {boxset.num_boxes} boxes\n")
        for name in args.experiments.split(","):
            exp = mgx.read_params_yaml(str(FIXTURES / f"{name}.yaml"))
            print(f"\n### {name} ({mgx.detect_family(exp)})\n\n| anchors | metrics |\n|---|---|")
            print(row("defaults", score(exp, boxset)), flush=True)
            kmeans = kmeans_rows(exp, boxset) if "anchor_boxes" in exp["task"]["model"] \
                and not args.no_kmeans else {}
            if not args.no_fit:
                fit_rows(exp, boxset, seeds, kmeans)


if __name__ == "__main__":
    main()
