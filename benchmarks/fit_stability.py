"""Seed stability of the fit on one fixed set of boxes (``bench_fit_quality --stability``).

For one config and dataset: the boxes are read once, the config's augmentation is
drawn once (draw seed 0, the default draws) and the static boxes are kept beside
it. Then, for every search seed, two fits run on those same boxes:

* ``augmented``: ``fit_generator(draws, static=static boxes, seed=s)`` (what ``fit``
  does by default for these configs);
* ``static``: ``fit_generator(static boxes, seed=s)`` (``fit --no-augment``).

Every written generator is scored exactly on both box sets (the common draws and the
static boxes), so seeds are compared on the same boxes. Per fit kind and box set the
summary gives median, worst and spread (max - min) of recall at the matched threshold,
mean IoU and recall@0.5.

``--images-every K`` keeps the images whose key hashes to 0 mod K (a fixed subset that
does not depend on the input order): the honest way to fit a benchmark of 40 fits per
pair into a shared machine.
"""

from __future__ import annotations

import hashlib
import os
import statistics
import time
from typing import Any

import numpy as np

from tfod_anchors import pipeline
from tfod_anchors.boxes import BoxSet
from tfod_anchors.config import query as config_query
from tfod_anchors.coverage.metrics import evaluate
from tfod_anchors.fitting import fit_generator, with_generator
from tfod_anchors.frameworks import as_spec
from tfod_anchors.pipeline import layout_function

KEYS = ("recall_matched", "mean_iou", "recall_0.5")
LIMITS = {"recall_matched": 0.005, "mean_iou": 0.01, "recall_0.5": 0.01}


def every_kth_image(boxset: BoxSet, k: int) -> BoxSet:
    """The images whose key's blake2b hash is 0 mod ``k`` and their boxes (``k`` <= 1:
    all of them)."""
    if k <= 1:
        return boxset
    keep_img = np.array([int.from_bytes(hashlib.blake2b(str(key).encode(), digest_size=8)
                                        .digest(), "little") % k == 0
                         for key in boxset.image_key], dtype=bool)
    new_index = np.cumsum(keep_img) - 1
    keep_box = keep_img[boxset.box_image]
    return BoxSet(
        image_height=boxset.image_height[keep_img], image_width=boxset.image_width[keep_img],
        image_key=boxset.image_key[keep_img],
        box_image=new_index[boxset.box_image[keep_box]].astype(np.int32),
        boxes=boxset.boxes[keep_box], label=boxset.label[keep_box],
        difficult=boxset.difficult[keep_box], group_of=boxset.group_of[keep_box],
        is_crowd=boxset.is_crowd[keep_box], skipped=dict(boxset.skipped),
        sources=list(boxset.sources))


def common_boxes(cfg: Any, csv_path: str, images_every: int, augment_seed: int = 0):
    """``(augmented draws, static boxes)`` resized for ``cfg``: read once, drawn once."""
    model = as_spec(cfg)
    options = pipeline.SourceOptions(inputs=(csv_path,))
    read = pipeline.read_config_boxes(model, None, options, truncate=False)
    read = every_kth_image(read, images_every)
    training = pipeline.training_boxes(
        model, None, options, pipeline.AugmentOptions(pipeline.AUTO, None, augment_seed),
        boxes=read, keep_static=True)
    static = training.static if training.augmentation is not None else training.resized
    return training.resized, static


def _metrics(report) -> dict[str, float]:
    return {k: float(report.metrics[k]) for k in KEYS}


def score_on(resized, cfg, generator) -> dict[str, float]:
    new = with_generator(cfg, generator)
    return _metrics(evaluate(resized, layout_function(new), config_query.matcher_spec(cfg)))


def cpu_seconds() -> float:
    """CPU seconds of this process and its finished children (the fit's forked helper):
    comparable between runs on a loaded machine, where the wall time is not."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def one_seed(cfg, draws, static, seed: int, kind: str, **fit_kw) -> dict[str, Any]:
    """One fit of ``kind`` (``"augmented"`` or ``"static"``) with search seed ``seed``,
    scored on both box sets; also its wall and CPU time and the written values."""
    t, cpu = time.perf_counter(), cpu_seconds()
    if kind == "augmented":
        fit = fit_generator(draws, cfg, seed=seed, static=static, unguarded_report=False,
                            **fit_kw)
        on_draws = {k: float(fit.after[k]) for k in KEYS}
        on_static = {k: float(fit.static_after[k]) for k in KEYS}
    else:
        fit = fit_generator(static, cfg, seed=seed, unguarded_report=False, **fit_kw)
        on_static = {k: float(fit.after[k]) for k in KEYS}
        on_draws = score_on(draws, cfg, fit.generator)
    return {"seed": seed, "kind": kind, "draws": on_draws, "static": on_static,
            "improved": bool(fit.improved), "seconds": round(time.perf_counter() - t, 2),
            "cpu_seconds": round(cpu_seconds() - cpu, 2),
            "written": {k: v for k, v in fit.changed.items()} if fit.changed else {},
            "search": fit.diagnostics.get("effort")}


def summary(runs: list[dict]) -> dict[str, dict[str, dict[str, float]]]:
    """``{kind: {box set: {metric: {median, worst, spread}}}}``."""
    out: dict = {}
    for kind in sorted({r["kind"] for r in runs}):
        mine = [r for r in runs if r["kind"] == kind]
        for where in ("draws", "static"):
            for key in KEYS:
                vals = [r[where][key] for r in mine]
                out.setdefault(kind, {}).setdefault(where, {})[key] = {
                    "median": statistics.median(vals), "worst": min(vals),
                    "spread": max(vals) - min(vals), "n": len(vals)}
    return out


def markdown(cells: dict) -> str:
    """One table: a row per (config, dataset, fit kind, box set)."""
    lines = ["| config | dataset | boxes (draws/static) | fit | scored on | "
             "recall@thr median [worst] spread | mean IoU spread | recall@0.5 spread | ok | "
             "CPU s per fit median [max] |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for (cname, dname), cell in cells.items():
        summ = summary(cell["runs"])
        for kind, per in summ.items():
            cpu = [r["cpu_seconds"] for r in cell["runs"]
                   if r["kind"] == kind and "cpu_seconds" in r]
            cpu_text = f"{statistics.median(cpu):.0f} [{max(cpu):.0f}]" if cpu else "-"
            for where, m in per.items():
                r = m["recall_matched"]
                ok = all(m[k]["spread"] <= LIMITS[k] + 1e-12 for k in KEYS)
                lines.append(
                    f"| {cname} | {dname} | {cell['num_draws']}/{cell['num_static']} | {kind} | "
                    f"{where} | {r['median']:.4f} [{r['worst']:.4f}] {r['spread']:.4f} | "
                    f"{m['mean_iou']['spread']:.4f} | {m['recall_0.5']['spread']:.4f} | "
                    f"{'yes' if ok else 'NO'} ({r['n']} seeds) | {cpu_text} |")
    return "\n".join(lines)
