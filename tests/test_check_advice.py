"""When anchors are not the problem (#20): ``check``'s advice and ``--what-if``.

Data: ``tests/data/small_objects.csv`` (40 COCO val2017 images, 308 boxes, 79 % of them
below the 16 px stride of SSD MobileNet v2 at 300x300; ``build_small_objects.py``), read
with the shipped SSD demo config without its raccoon label map.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ROOT
from helpers.cli import run_cli, run_json

from tfod_anchors import api
from tfod_anchors.config.files import parse_config_text
from tfod_anchors.errors import UsageError
from tfod_anchors.whatif import apply_assignments, candidate_changes

SMALL = ROOT / "tests" / "data" / "small_objects.csv"
SSD = ROOT / "configs" / "ssd_mobilenet_v2_300x300_raccoon.config"
FRCNN = ROOT / "configs" / "faster_rcnn_resnet50_640x640_coco_subset.config"


@pytest.fixture(scope="module")
def ssd_config(tmp_path_factory) -> Path:
    text = "".join(line for line in SSD.read_text().splitlines(keepends=True)
                   if "label_map_path" not in line)
    path = tmp_path_factory.mktemp("advice") / "ssd_small.config"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def outcome(ssd_config):
    return api.advise(api.check(ssd_config, inputs=[str(SMALL)], augment=False))


def test_small_objects_fixture_is_mostly_below_the_stride():
    rows = SMALL.read_text().splitlines()[1:]
    small = 0
    for row in rows:
        _, w, h, x0, y0, x1, y1, _ = row.split(",")
        bw = (float(x1) - float(x0)) * 300 / int(w)
        bh = (float(y1) - float(y0)) * 300 / int(h)
        small += max(bw, bh) < 16
    assert len(rows) == 308 and 0.78 <= small / len(rows) <= 0.82


def test_low_recall_points_to_the_advice_not_to_fit(outcome):
    found = {f["code"]: f for f in outcome.findings}
    assert found["band_recall_collapse"]["severity"] == "error"
    for code in ("low_recall", "band_recall_collapse"):
        assert "see the advice" in found[code]["message"]
        assert "run `tfod-anchors fit`" not in found[code]["message"]
    assert outcome.fit is not None and outcome.fit["fit_improves"] is False


def test_advice_lists_sizes_and_unsupported_stride(outcome):
    names = [a["change"] for a in outcome.advice]
    assert names[:3] == ["input x1.25 (height/width 384/384)", "input x1.5 (height/width 448/448)",
                         "input x2 (height/width 608/608)"]
    stride = outcome.advice[3]
    assert stride["kind"] == "finer_stride" and stride["supported"] is False
    assert "not supported by this extractor" in stride["note"]
    x2 = outcome.advice[2]
    assert x2["cost"]["pixels"] == pytest.approx(608 * 608 / (300 * 300))
    assert x2["cost"]["padded_shape"] == [608, 608]
    now = x2["predicted"]["by_current_size"]["small"]
    assert now["count"] == outcome.coverage["by_size"]["small"]["count"]
    assert now["recall_matched"] > outcome.coverage["by_size"]["small"]["recall_matched"] + 0.05


def test_larger_input_prediction_matches_a_real_fit(capsys, outcome, ssd_config, tmp_path):
    """The x2 entry, written into a config and fitted by `fit`: within 0.02."""
    from google.protobuf import text_format

    x2 = outcome.advice[2]
    changed = apply_assignments(parse_config_text(ssd_config.read_text()), x2["assignments"])
    path = tmp_path / "x2.config"
    path.write_text(text_format.MessageToString(changed))
    code, doc, _ = run_json(capsys, "fit", path, "--input", SMALL, "--no-augment")
    assert code == 0
    predicted = x2["predicted"]
    assert abs(doc["after"]["recall_matched"] - predicted["recall_matched"]) <= 0.02
    fitted_small = doc["after"]["by_size"]["small"]["recall_matched"]
    assert abs(fitted_small - predicted["by_size"]["small"]["recall_matched"]) <= 0.02


def test_what_if_evaluates_a_change_without_writing(capsys, ssd_config):
    before = ssd_config.read_bytes()
    base = "model.ssd.image_resizer.fixed_shape_resizer"
    code, doc, _ = run_json(capsys, "check", ssd_config, "--input", SMALL, "--no-augment",
                            "--no-advice", "--what-if", f"{base}.height=608",
                            "--what-if", f"{base}.width=608")
    assert ssd_config.read_bytes() == before and doc["advice"] == []
    (entry,) = doc["what_if"]
    assert entry["assignments"] == [f"{base}.height=608", f"{base}.width=608"]
    assert entry["cost"]["padded_shape"] == [608, 608]
    assert entry["predicted"]["recall_matched"] > doc["coverage"]["recall_matched"]


@pytest.mark.parametrize(("what_if", "words"), [
    ("model.ssd.image_resizer.fixed_shape_resizer.heigth=608", "no field 'heigth'"),
    ("model.ssd.image_resizer=608", "image_resizer"),
    ("model.ssd.num_classes", "FIELD=VALUE"),
])
def test_bad_what_if_is_exit_2_before_the_work(capsys, ssd_config, what_if, words):
    code, out, err = run_cli(capsys, "check", ssd_config, "--input", SMALL, "--what-if", what_if)
    assert code == 2 and out == "" and err.count("\n") == 1 and words in err


def test_candidate_changes_per_extractor():
    frcnn = parse_config_text(FRCNN.read_text())
    kinds = [(c.kind, c.supported) for c in candidate_changes(frcnn)]
    # keras ResNet: stride 16 only; FPN variant exists
    assert kinds == [("input_size", True)] * 3 + [("finer_stride", False), ("fpn", True)]
    tf1 = parse_config_text(FRCNN.read_text().replace("faster_rcnn_resnet50_keras",
                                                      "faster_rcnn_resnet50"))
    stride = [c for c in candidate_changes(tf1) if c.kind == "finer_stride"][0]
    assert stride.supported and any(a.endswith("first_stage_features_stride=8")
                                    for a in stride.assignments)
    retina = parse_config_text((ROOT / "configs" /
                                "retinanet_resnet50_fpn_640x640_coco_subset.config").read_text())
    level = [c for c in candidate_changes(retina) if c.kind == "finer_stride"][0]
    assert level.supported and "first level 3 -> 2" in level.name


def test_apply_assignments_copies_and_sets_oneofs():
    cfg = parse_config_text(FRCNN.read_text())
    changed = apply_assignments(cfg, [
        "model.faster_rcnn.first_stage_anchor_generator.multiscale_anchor_generator="
        "{min_level: 2 max_level: 6}"])
    gen = changed.model.faster_rcnn.first_stage_anchor_generator
    assert gen.WhichOneof("anchor_generator_oneof") == "multiscale_anchor_generator"
    assert cfg.model.faster_rcnn.first_stage_anchor_generator.WhichOneof(
        "anchor_generator_oneof") == "grid_anchor_generator"
    with pytest.raises(UsageError):
        apply_assignments(cfg, ["model.faster_rcnn.num_classes=many"])


def test_what_if_far_beyond_the_input_is_not_measured(capsys, ssd_config):
    base = "model.ssd.image_resizer.fixed_shape_resizer"
    code, doc, _ = run_json(capsys, "check", ssd_config, "--input", SMALL, "--no-augment",
                            "--no-advice", "--what-if", f"{base}.height=30000",
                            "--what-if", f"{base}.width=30000")
    (entry,) = doc["what_if"]
    assert entry["supported"] is False and "not measured" in entry["note"]
    code, doc, _ = run_json(capsys, "check", ssd_config, "--input", SMALL, "--no-augment",
                            "--no-advice", "--what-if", f"{base}.height=0")
    (entry,) = doc["what_if"]
    assert entry["supported"] is False and entry["predicted"] is None


def test_advice_entries_say_when_their_search_was_sampled(ssd_config):
    """308 boxes are below the advice's search sample: no entry is sampled. With a
    100-box search the entry says so, and its coverage as is (every box, no search)
    is unchanged while the prediction is still measured on all 308 boxes."""
    from tfod_anchors.whatif.evaluate import ADVICE_SEARCH, FitEffort, evaluate_change, measure

    outcome = api.advise(api.check(ssd_config, inputs=[str(SMALL)], augment=False))
    assert [a["sampled_boxes"] for a in outcome.advice] == [None] * len(outcome.advice)
    assert ADVICE_SEARCH.search_boxes > 308 and ADVICE_SEARCH.static_guard is False
    ctx = api.check(ssd_config, inputs=[str(SMALL)], augment=False).context
    baseline = measure(ctx.cfg, ctx.boxes, ctx.augmentation, ctx.seed)
    x2 = candidate_changes(ctx.cfg)[2]
    full = evaluate_change(ctx.cfg, x2, ctx.boxes, ctx.augmentation, ctx.seed, baseline)
    small = evaluate_change(ctx.cfg, x2, ctx.boxes, ctx.augmentation, ctx.seed, baseline,
                            effort=FitEffort(100, static_guard=False))
    assert full["sampled_boxes"] is None and "sample" not in (full["note"] or "")
    assert 100 <= small["sampled_boxes"] < 308
    assert small["note"] == (f"fit searched on a sample of {small['sampled_boxes']} of 308 "
                             "boxes; coverage measured on all")
    assert small["as_is"] == full["as_is"]
    assert small["predicted"]["by_size"]["small"]["count"] == \
        full["predicted"]["by_size"]["small"]["count"]
    assert small["predicted"]["recall_matched"] >= small["as_is"]["recall_matched"]
