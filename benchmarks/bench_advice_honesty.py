"""How close ``check``'s advice predictions are to a real ``fit`` at each setting (#20).

For every supported advice entry of the shipped Faster R-CNN demo (or CONFIG), the
entry's prediction (the advice's sampled search, :data:`ADVICE_SEARCH`) is compared with
``fit``'s own search on the same changed config (every box, the static guard): overall
recall at the matched threshold and each size band's, the largest absolute difference,
and the CPU seconds of each (this process; the fit's background child is not counted).
``--search-boxes N`` (repeatable) tries other sample sizes in the same run. Usage::

    PYTHONPATH=. python benchmarks/bench_advice_honesty.py [CONFIG] [--search-boxes N]...
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

from tfod_anchors import api
from tfod_anchors.whatif import evaluate
from tfod_anchors.whatif.changes import candidate_changes
from tfod_anchors.whatif.fields import apply_assignments

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "configs" / "faster_rcnn_resnet50_640x640_coco_subset.config"


def recalls(metrics: dict) -> dict[str, float]:
    """``{"all": recall, band: recall}`` of a ``_brief`` metrics dict (bands with boxes)."""
    out = {"all": metrics["recall_matched"]}
    out.update({b: e["recall_matched"] for b, e in metrics["by_size"].items()
                if e["recall_matched"] is not None})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default=str(DEMO))
    parser.add_argument("--input", action="append", default=None)
    parser.add_argument("--search-boxes", type=int, action="append", default=None)
    ns = parser.parse_args()
    ctx = api.check(ns.config, inputs=ns.input).context
    sizes = ns.search_boxes or [evaluate.ADVICE_SEARCH.search_boxes]
    worst = {n: 0.0 for n in sizes}
    for change in candidate_changes(ctx.cfg):
        if not change.supported:
            continue
        cfg = apply_assignments(ctx.cfg, list(change.assignments))
        t = time.process_time()
        ref = evaluate.measure(cfg, ctx.boxes, ctx.augmentation, ctx.seed)
        ref_s, ref_r = time.process_time() - t, recalls(ref["predicted"])
        print(f"{change.name}: fit {ref_s:.2f} s "
              + " ".join(f"{k} {v:.4f}" for k, v in ref_r.items()))
        for n in sizes:
            t = time.process_time()
            got = evaluate.measure(cfg, ctx.boxes, ctx.augmentation, ctx.seed,
                                   effort=replace(evaluate.ADVICE_SEARCH, search_boxes=n))
            got_s, got_r = time.process_time() - t, recalls(got["predicted"])
            diff = max(abs(got_r[k] - ref_r[k]) for k in ref_r if k in got_r)
            worst[n] = max(worst[n], diff)
            print(f"  sample {n}: {got_s:.2f} s (x{got_s / ref_s:.2f}) "
                  + " ".join(f"{k} {v:+.4f}" for k, v in
                             ((k, got_r[k] - ref_r[k]) for k in ref_r if k in got_r))
                  + f" | max |diff| {diff:.4f}", flush=True)
    for n, w in worst.items():
        print(f"sample {n}: worst |prediction - fit| over entries and bands {w:.4f}")


if __name__ == "__main__":
    main()
