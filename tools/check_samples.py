"""Run ``check`` on every upstream sample config with the demo boxes; one line each.

For each config and demo dataset it prints the verdict on the config rules alone
(what ``check`` said before coverage findings came by default), the verdict now,
the verdict with ``--strict``, the recall at the matched threshold and the coverage
codes. Configs whose verdict changes are listed at the end.

    PYTHONPATH=. python tools/check_samples.py [--configs DIR ...] [--input SRC ...]

Defaults: ``../shared/tfod-configs/{samples,tf2}`` and the raccoon and COCO-subset
records of ``configs/demo``. Configs that cannot be read are reported as exit 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tfod_anchors import api  # noqa: E402
from tfod_anchors.errors import TfodAnchorsError  # noqa: E402

COVERAGE_CODES = ("low_recall", "band_recall_collapse")


def verdicts(config: Path, source: str) -> dict:
    """Rules-only, default and ``--strict`` verdicts of one config on one source."""
    try:
        outcome = api.check(str(config), [source])
    except TfodAnchorsError as err:
        return {"error": str(err)}
    findings = outcome.findings
    rules_errors = [f for f in findings if f["severity"] == "error"
                    and f["code"] not in COVERAGE_CODES]
    coverage = [f"{f['code']}({f['severity']})" for f in findings
                if f["code"] in COVERAGE_CODES]
    cov = outcome.coverage or {}
    return {
        "rules_only": "OK" if not rules_errors else "FAILED",
        "now": "OK" if outcome.ok else "FAILED",
        "strict": "OK" if outcome.ok and not any(f["severity"] == "warning"
                                                 for f in findings) else "FAILED",
        "recall": cov.get("recall_matched"),
        "bands": {k: (v["count"], v["recall_matched"]) for k, v in
                  (cov.get("by_size") or {}).items()},
        "coverage": coverage,
        "rule_errors": sorted({f["code"] for f in rules_errors}),
    }


def main() -> int:
    shared = ROOT.parent / "shared"
    if not shared.exists():
        shared = Path("/work/shared")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="*", type=Path,
                        default=[shared / "tfod-configs/samples", shared / "tfod-configs/tf2"])
    parser.add_argument("--input", nargs="*", dest="inputs",
                        default=[str(ROOT / "configs/demo/raccoon.tfrecord"),
                                 str(ROOT / "configs/demo/coco_val2017_subset.tfrecord")])
    args = parser.parse_args()
    configs = sorted(p for d in args.configs for p in d.glob("*.config"))
    changed = []
    for config in configs:
        name = f"{config.parent.name}/{config.name}"
        for source in args.inputs:
            data = Path(source).stem
            v = verdicts(config, source)
            if "error" in v:
                print(f"{name}\t{data}\texit 2\t{v['error']}", flush=True)
                continue
            recall = "-" if v["recall"] is None else f"{v['recall']:.3f}"
            bands = " ".join(f"{k}:{n}@{'-' if r is None else f'{r:.2f}'}"
                             for k, (n, r) in v["bands"].items())
            line = (f"{name}\t{data}\trules {v['rules_only']}\tnow {v['now']}\t"
                    f"strict {v['strict']}\trecall {recall}\t{bands}\t"
                    f"{' '.join(v['coverage']) or '-'}\t{' '.join(v['rule_errors'])}")
            print(line, flush=True)
            if v["rules_only"] != v["now"] or v["now"] != v["strict"]:
                changed.append(line)
    print(f"\n{len(changed)} config x dataset pairs whose verdict changes "
          "(rules-only -> now, or now -> --strict):")
    for line in changed:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
