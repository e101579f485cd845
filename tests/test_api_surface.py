"""The public API as a user meets it: names that stay what they are, and the runnable
examples of its docstrings.

The data is ``test_cli``'s hand-worked set: a 64x64 fixed resizer, a stride-16 grid of
16 and 48 px square anchors, and per image a 16 px box on an anchor (IoU 1) and a 24 px
box whose best anchor gives IoU 256 / 576, so mean IoU 0.7222 and recall@0.7 0.5.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from conftest import ROOT
from test_cli import make_dataset

pytest.importorskip("tensorflow", reason="the dataset is written with TF")

# calls every API function in a fresh interpreter (so every lazy import is a first one),
# then reports which public names changed
_CALL_EVERY_FUNCTION = textwrap.dedent("""
    import json, sys
    import tfod_anchors
    before = {name: getattr(tfod_anchors, name) for name in tfod_anchors.__all__}
    cfg, rec, out = sys.argv[1:4]
    results = {}
    results["check"] = tfod_anchors.check(cfg, rec).ok
    results["coverage"] = round(tfod_anchors.coverage(cfg, rec)["mean_iou"], 4)
    results["resized_boxes"] = tfod_anchors.resized_boxes(cfg, rec).num_boxes
    results["anchors"] = tfod_anchors.anchors(cfg, (64, 64))["num_anchors"]
    outcome = tfod_anchors.fit(cfg, rec, augment=False)
    results["fit"] = outcome.fit.improved
    results["write_fitted"] = tfod_anchors.write_fitted(outcome, output=out) == out
    changed = [name for name in tfod_anchors.__all__
               if getattr(tfod_anchors, name) is not before[name]]
    print(json.dumps({"results": results, "changed": changed}))
""")


def test_public_names_survive_every_api_call(tmp_path):
    data = make_dataset(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run(
        [sys.executable, "-c", _CALL_EVERY_FUNCTION, str(data["config"]), str(data["records"]),
         str(tmp_path / "fitted.config")], capture_output=True, text=True, env=env, cwd=ROOT,
        check=False)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["changed"] == []
    assert doc["results"] == {"check": True, "coverage": 0.7222, "resized_boxes": 8,
                              "anchors": 32, "fit": True, "write_fitted": True}


def test_fit_to_json_is_the_cli_document_and_keeps_the_diff(capsys, tmp_path):
    from test_cli import run_json

    from tfod_anchors import api

    data = make_dataset(tmp_path)
    target = tmp_path / "fitted.config"
    code, doc, _ = run_json(capsys, "fit", data["config"], "--output", target)
    assert code == 0 and doc["written"] == str(target)
    # the file was written and the config changed: the diff says how (item 4)
    assert doc["diff"].startswith(f"--- {data['config']}")
    assert "-        scales: [1.0, 3.0]" in doc["diff"]
    outcome = api.fit(str(data["config"]))
    mine = outcome.to_json(written=str(target))
    assert mine == doc
    assert json.loads(json.dumps(mine)) == mine      # plain JSON types
    assert mine["after"]["recall_0.7"] == 1.0 and mine["before"]["recall_0.7"] == 0.5


def test_check_to_json_is_the_cli_document(capsys, tmp_path):
    from test_cli import run_json

    from tfod_anchors import api

    data = make_dataset(tmp_path)
    code, doc, _ = run_json(capsys, "check", data["config"], "--strict")
    outcome = api.check(str(data["config"]), strict=True)
    assert outcome.to_json() == doc
    assert doc["config"] == str(data["config"]) and doc["strict"] is True
    assert doc["coverage"]["mean_iou"] == pytest.approx((1 + 256 / 576) / 2, abs=1e-6)
