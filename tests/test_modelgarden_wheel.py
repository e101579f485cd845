"""The Model Garden adapter against the installed tf-models-official (the reference).

Skipped with a reason where tf-models-official is not installed (``pip install
".[models,test]"``, which ``.ci/run`` does). Every expected value here comes from running the
Model Garden's own classes: ``Anchor``, ``GridGenerator``, ``resize_and_crop_image``,
``resize_and_jitter_image``, ``BoxMatcher``, ``YoloAnchorLabeler``, ``ExperimentParser``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("official", reason="tf-models-official not installed (the models extra)")
tf = pytest.importorskip("tensorflow")

from conftest import SHARED_DATASETS  # noqa: E402

from tfod_anchors.boxes import BoxSet  # noqa: E402
from tfod_anchors.errors import ConfigError, UsageError  # noqa: E402
from tfod_anchors.frameworks.modelgarden import experiment as mgx  # noqa: E402
from tfod_anchors.frameworks.modelgarden import geometry, matching  # noqa: E402
from tfod_anchors.frameworks.modelgarden.resize import (  # noqa: E402
    ResizeAndCrop,
    YoloResize,
    parser_resizer,
)

ANCHORED = ("cascadercnn_spinenet_coco", "fasterrcnn_resnetfpn_coco", "maskrcnn_mobilenet_coco",
            "maskrcnn_resnetfpn_coco", "maskrcnn_spinenet_coco", "retinanet_mobile_coco",
            "retinanet_resnetfpn_coco", "retinanet_spinenet_coco")
YOLOS = ("coco91_yolov7tiny", "coco_yolov7", "coco_yolov7_nano", "coco_yolov7_pico",
         "coco_yolov7tiny", "coco_yolov7x", "scaled_yolo", "yolo_darknet")


@pytest.fixture(scope="module")
def registered():
    return mgx.registered_experiments()


def real_anchors(ma: geometry.MultilevelAnchors, image_hw) -> np.ndarray:
    from official.vision.ops import anchor

    real = anchor.Anchor(ma.min_level, ma.max_level, ma.num_scales, list(ma.aspect_ratios),
                         ma.anchor_size, list(image_hw))
    return np.concatenate([v.numpy().reshape(-1, 4) for v in real.multilevel_boxes.values()])


def ours(exp: dict) -> tuple[np.ndarray, tuple[int, int]]:
    family = mgx.detect_family(exp)
    shape = parser_resizer(exp, family).static_shape
    return geometry.multilevel_anchors(exp).layout(shape).boxes(), shape


def test_registry_holds_every_anchor_family(registered):
    families = {}
    for name in ANCHORED + YOLOS:
        assert name in registered
        families[name] = mgx.detect_family(mgx.resolve_experiment(name))
    assert families["retinanet_resnetfpn_coco"] == mgx.RETINANET
    assert families["fasterrcnn_resnetfpn_coco"] == mgx.FASTER_RCNN
    assert families["maskrcnn_resnetfpn_coco"] == mgx.MASK_RCNN
    assert families["cascadercnn_spinenet_coco"] == mgx.CASCADE_RCNN
    assert families["scaled_yolo"] == families["yolo_darknet"] == mgx.YOLO
    assert families["coco_yolov7tiny"] == mgx.YOLOV7
    # every other registered experiment with an anchor block is in the lists above
    others = set(registered) - set(ANCHORED) - set(YOLOS) - {"retinanet", "yolo", "yolov7"}
    for name in others:
        with pytest.raises(ConfigError, match="no anchors"):  # mock, classifiers, video...
            mgx.detect_family(mgx.resolve_experiment(name))


@pytest.mark.parametrize("name", ANCHORED)
@pytest.mark.parametrize("override", [None, "task.model.input_size=[512,512,3]",
                                      "task.model.input_size=[640,384,3]",
                                      "task.model.input_size=[500,375,3]"])
def test_anchors_equal_the_wheel(name, override):
    exp = mgx.resolve_experiment(name, params_override=override)
    boxes, shape = ours(exp)
    ref = real_anchors(geometry.multilevel_anchors(exp), shape)
    assert boxes.shape == ref.shape
    assert np.abs(boxes - ref).max() <= 1e-3


def test_default_counts_are_the_wheel_counts():
    counts = {name: ours(mgx.resolve_experiment(name))[0].shape[0]
              for name in ("retinanet_resnetfpn_coco", "maskrcnn_resnetfpn_coco",
                           "maskrcnn_mobilenet_coco", "retinanet_mobile_coco")}
    assert counts == {"retinanet_resnetfpn_coco": 76725, "maskrcnn_resnetfpn_coco": 261888,
                      "maskrcnn_mobilenet_coco": 16320, "retinanet_mobile_coco": 27621}


def test_unpadded_retinanet_has_fractional_strides():
    exp = mgx.resolve_experiment(
        "retinanet_resnetfpn_coco",
        params_override="task.model.input_size=[500,375,3],task.train_data.parser.pad=false")
    boxes, shape = ours(exp)
    assert shape == (500, 375)
    level3 = geometry.multilevel_anchors(exp).layout(shape).levels[0]
    assert level3.grid_shape == (63, 47)
    assert level3.stride == pytest.approx((500 / 63, 375 / 47), abs=1e-5)
    assert np.abs(boxes - real_anchors(geometry.multilevel_anchors(exp), shape)).max() <= 1e-3


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(min_level=st.integers(2, 4), extra=st.integers(0, 3), num_scales=st.integers(1, 4),
       ratios=st.lists(st.floats(0.2, 5.0), min_size=1, max_size=4),
       anchor_size=st.floats(1.0, 8.0), h=st.integers(64, 700), w=st.integers(64, 700))
def test_random_anchor_settings_equal_the_wheel(min_level, extra, num_scales, ratios,
                                                anchor_size, h, w):
    ma = geometry.MultilevelAnchors(min_level, min_level + extra, num_scales, tuple(ratios),
                                    anchor_size)
    ref = real_anchors(ma, (h, w))
    got = ma.layout((h, w)).boxes()
    assert got.shape == ref.shape
    # float32 in TensorFlow: 1e-3 px absolute, or relative for very large anchors
    assert np.all(np.abs(got - ref) <= np.maximum(1e-3, 2e-7 * np.abs(ref)))


@pytest.mark.parametrize("name", YOLOS)
@pytest.mark.parametrize("size", [None, (512, 512), (416, 640)])
def test_yolo_anchors_equal_grid_generator_at_zero_logits(name, size):
    from official.projects.yolo.ops import loss_utils

    override = f"task.model.input_size=[{size[0]},{size[1]},3]" if size else None
    exp = mgx.resolve_experiment(name, params_override=override)
    anchors = geometry.yolo_anchors(exp)
    hw = geometry.input_hw(exp)
    layout = anchors.layout(hw)
    for level, (lvl, wh) in zip(layout.levels, anchors.per_level().items()):
        stride = 2 ** lvl
        grid = loss_utils.GridGenerator([list(b) for b in wh], scale_anchors=stride)
        gh, gw = hw[0] // stride, hw[1] // stride
        points, anchor_grid = grid(gh, gw, 1, dtype=tf.float32)  # (rows, columns), as the loss
        # a zero logit: centre sigmoid(0) * s - 0.5 (s - 1) = 0.5 cells, size exp(0) anchors
        xy = (points.numpy()[0] + 0.5) * stride           # [gh, gw, A, 2] (x, y)
        size_px = anchor_grid.numpy()[0] * stride           # [gh, gw, A, 2] (w, h)
        ref = np.concatenate([xy[..., ::-1] - size_px[..., ::-1] / 2,
                              xy[..., ::-1] + size_px[..., ::-1] / 2], axis=-1).reshape(-1, 4)
        assert level.grid_shape == (gh, gw)
        assert np.abs(level.boxes() - ref).max() <= 1e-3


# ------------------------------------------------------------------ resolution

def test_config_files_in_order_then_override(tmp_path):
    a = tmp_path / "a.yaml"
    a.write_text("task:\n  model:\n    anchor: {anchor_size: 3.0, num_scales: 2}\n")
    b = tmp_path / "b.yaml"
    b.write_text("task:\n  model:\n    anchor: {anchor_size: 5.0}\n")
    exp = mgx.resolve_experiment("retinanet_resnetfpn_coco", [str(a), str(b)],
                                 "task.model.anchor.aspect_ratios=[0.25,1.0,4.0]")
    anchor = exp["task"]["model"]["anchor"]
    assert anchor == {"anchor_size": 5.0, "num_scales": 2, "aspect_ratios": [0.25, 1.0, 4.0]}


def test_strict_unknown_key_names_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("task:\n  model:\n    anchor: {bogus: 1}\n")
    with pytest.raises(ConfigError) as err:
        mgx.resolve_experiment("retinanet_resnetfpn_coco", [str(bad)])
    assert str(bad) in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="--params-override"):
        mgx.resolve_experiment("retinanet_resnetfpn_coco",
                               params_override="task.model.anchor.bogus=1")
    with pytest.raises(UsageError, match="not a registered"):
        mgx.resolve_experiment("no_such_experiment")


def test_resolved_params_yaml_reads_without_the_model_garden(tmp_path):
    from official.core import exp_factory
    from official.modeling import hyperparams

    for name in ("maskrcnn_resnetfpn_coco", "coco_yolov7tiny"):
        params = exp_factory.get_exp_config(name)
        path = tmp_path / f"{name}.yaml"
        hyperparams.save_params_dict_to_yaml(params, str(path))  # what train.py writes
        doc = mgx.read_params_yaml(str(path))
        assert mgx.detect_family(doc) == mgx.detect_family(params.as_dict())
        assert doc == params.as_dict()
    doc = mgx.read_params_yaml(str(tmp_path / "maskrcnn_resnetfpn_coco.yaml"))
    assert ours(doc)[0].shape == (261888, 4)


# ------------------------------------------------------------------ resize

SIZES = [(333, 500), (500, 333), (427, 640), (480, 640), (2, 1000), (1000, 999), (375, 500)]


@pytest.mark.parametrize("out", [(640, 640), (1024, 1024), (512, 384)])
def test_resize_and_crop_equals_the_wheel(out):
    from official.vision.ops import preprocess_ops

    resizer = ResizeAndCrop(out, geometry.padded_size(out, 7))
    h = np.array([s[0] for s in SIZES])
    w = np.array([s[1] for s in SIZES])
    boxset = _boxset(h, w)
    resized = resizer.resize_boxes(boxset)
    for i, (h0, w0) in enumerate(SIZES):
        image = tf.zeros([h0, w0, 3])
        _, info = preprocess_ops.resize_and_crop_image(
            image, list(out), geometry.padded_size(out, 7))
        real = preprocess_ops.resize_and_crop_boxes(
            tf.constant(boxset.boxes[i:i + 1] * [h0, w0, h0, w0], tf.float32),
            info[2, :], info[1, :], info[3, :]).numpy()
        assert np.abs(resized.boxes[i] - real[0]).max() <= 1e-3
        scaled = np.round(info[2, :].numpy() * [h0, w0])  # image_info[2]: scaled / original
        assert tuple(resized.true_shape[i]) == tuple(int(v) for v in scaled)


@pytest.mark.parametrize("letter_box", [True, False])
@pytest.mark.parametrize("out", [(512, 512), (416, 640)])
def test_yolo_resize_equals_the_wheel(letter_box, out):
    from official.projects.yolo.ops import preprocessing_ops as pp

    resizer = YoloResize(out, letter_box)
    h = np.array([s[0] for s in SIZES])
    w = np.array([s[1] for s in SIZES])
    boxset = _boxset(h, w)
    resized = resizer.resize_boxes(boxset)
    for i, (h0, w0) in enumerate(SIZES):
        _, infos, _ = pp.resize_and_jitter_image(
            tf.zeros([h0, w0, 3]), list(out), letter_box=letter_box, random_pad=False,
            shiftx=0.5, shifty=0.5, jitter=0.0)
        real, _ = pp.transform_and_clip_boxes(
            tf.constant(boxset.boxes[i:i + 1], tf.float32), infos, shuffle_boxes=False,
            area_thresh=0.0, filter_and_clip_boxes=False)
        real = real.numpy()[0] * [out[0], out[1], out[0], out[1]]
        assert np.abs(resized.boxes[i] - real).max() <= 1e-3, (h0, w0)


def _boxset(h: np.ndarray, w: np.ndarray) -> BoxSet:
    n = h.shape[0]
    boxes = np.tile(np.array([[0.1, 0.2, 0.6, 0.9]], np.float32), (n, 1))
    return BoxSet(image_height=h.astype(np.int32), image_width=w.astype(np.int32),
                  image_key=np.array([str(i) for i in range(n)], dtype=object),
                  box_image=np.arange(n, dtype=np.int32), boxes=boxes,
                  label=np.ones(n, np.int32), difficult=np.zeros(n, bool),
                  group_of=np.zeros(n, bool), is_crowd=np.zeros(n, bool))


# ------------------------------------------------------------------ matching

VOC = SHARED_DATASETS / "voc2007" / "voc2007_trainval.csv"


@pytest.fixture(scope="module")
def voc_images():
    """The first 300 VOC07 trainval images (all their boxes), from the shared CSV."""
    if not VOC.exists():
        pytest.skip(f"{VOC} not present (../shared)")
    from tfod_anchors.sources import read_boxes

    full = read_boxes(str(VOC), progress=False)
    keep = full.box_image < 300
    return BoxSet(full.image_height[:300], full.image_width[:300], full.image_key[:300],
                  full.box_image[keep], full.boxes[keep], full.label[keep],
                  full.difficult[keep], full.group_of[keep], full.is_crowd[keep])


@pytest.mark.parametrize("name", ["retinanet_resnetfpn_coco", "maskrcnn_resnetfpn_coco"])
def test_recall_is_a_literal_box_matcher_count(name, voc_images):
    from official.vision.ops import box_matcher, iou_similarity

    from tfod_anchors.coverage.metrics import evaluate

    exp = mgx.resolve_experiment(name)
    family = mgx.detect_family(exp)
    rule = matching.matching_rule(exp, family)
    resizer = parser_resizer(exp, family)
    resized = resizer.resize_boxes(voc_images)
    layout = geometry.multilevel_anchors(exp).layout(resizer.static_shape)
    report = evaluate(resized, lambda hw: layout, rule.matcher_spec())
    # the real matcher, one box per batch row (no competition between boxes, as reported)
    anchors = tf.constant(layout.boxes(), tf.float32)
    matcher = box_matcher.BoxMatcher(thresholds=[rule.unmatched_threshold, rule.threshold],
                                     indicators=[-1, -2, 1], force_match_for_each_col=True)
    matched, best = 0, []
    for s in range(0, resized.num_boxes, 64):
        gt = tf.constant(resized.boxes[s:s + 64], tf.float32)
        sim = iou_similarity.IouSimilarity()(anchors, gt)      # [anchors, boxes]
        sim = tf.transpose(sim)[:, :, None]                    # [boxes, anchors, 1]
        _, indicators = matcher(sim)                           # [boxes, anchors]
        positive = indicators.numpy() == 1
        iou = sim.numpy()[:, :, 0]
        matched += int(np.any(positive & (iou >= rule.threshold), axis=1).sum())
        assert positive.any(axis=1).all()                      # the forced best match
        best.append(np.where(positive, iou, 0).max(axis=1))
    assert report.metrics["recall_matched"] * resized.num_boxes == pytest.approx(matched, abs=1e-6)
    assert report.metrics["mean_iou"] == pytest.approx(np.concatenate(best).mean(), abs=1e-5)


@pytest.mark.parametrize("name", ["coco_yolov7tiny", "scaled_yolo", "yolo_darknet"])
def test_yolo_recall_is_a_literal_labeler_count(name, voc_images):
    from official.projects.yolo.ops import anchor as yolo_anchor

    exp = mgx.resolve_experiment(name)
    family = mgx.detect_family(exp)
    anchors = geometry.yolo_anchors(exp)
    rule = matching.matching_rule(exp, family, anchors)
    resizer = parser_resizer(exp, family)
    resized = resizer.resize_boxes(voc_images)
    hw = geometry.input_hw(exp)
    ours_match = matching.yolo_match(resized.boxes, hw, anchors, rule)
    model = exp["task"]["model"]
    parser = exp["task"]["train_data"]["parser"]
    per_level = {str(lvl): [list(b) for b in wh] for lvl, wh in anchors.per_level().items()}
    labeler = yolo_anchor.YoloAnchorLabeler(
        anchors=per_level, level_strides={k: 2 ** int(k) for k in per_level},
        center_radius={str(k): v for k, v in rule.scale_xy},
        max_num_instances=1000, match_threshold=rule.threshold,
        best_matches_only=not rule.force_match, use_tie_breaker=parser["use_tie_breaker"],
        darknet=bool(model.get("darknet_based_model", False)))
    with_target, targets = 0, []
    for img in range(voc_images.num_images):
        idx = np.flatnonzero(resized.box_image == img)
        if idx.size == 0:
            continue
        norm = resized.boxes[idx] / [hw[0], hw[1], hw[0], hw[1]]
        _, updates, _ = labeler(tf.constant(norm, tf.float32), tf.zeros([idx.size]),
                                hw[1], hw[0])
        # each target row carries its box (x, y, w, h normalized) and a mask of 1
        centre = np.stack([(norm[:, 1] + norm[:, 3]) / 2, (norm[:, 0] + norm[:, 2]) / 2], 1)
        count = np.zeros(idx.size, np.int64)
        for upd in updates.values():
            rows = upd.numpy()
            rows = rows[rows[:, 4] > 0]
            for row in rows:
                count[np.argmin(np.abs(centre - row[:2]).sum(axis=1)
                                + np.abs(norm[:, 3] - norm[:, 1] - row[2]))] += 1
        with_target += int((count > 0).sum())
        targets.append(count)
    targets = np.concatenate(targets)
    if rule.force_match:
        assert (targets > 0).all()
    else:
        assert int((ours_match.targets > 0).sum()) == with_target
    assert np.array_equal(ours_match.targets, targets)


# ------------------------------------------------------------------ the command line

@pytest.mark.parametrize("name, override", [
    ("retinanet_resnetfpn_coco", None),
    ("maskrcnn_resnetfpn_coco", "task.model.input_size=[500,375,3]"),
    ("retinanet_spinenet_coco",
     "task.model.input_size=[384,640,3],task.model.anchor.aspect_ratios=[0.25,1.0,3.0]"),
])
def test_anchors_command_exports_the_wheels_anchors(name, override, tmp_path, capsys):
    pytest.importorskip("tfod_anchors.frameworks.base", reason="the ModelSpec protocol (main)")
    from tfod_anchors.cli import main

    target = tmp_path / "a.npy"
    argv = ["anchors", "--experiment", name, "--export", str(target), "--json"]
    if override:
        argv += ["--params-override", override]
    assert main(argv) == 0
    entry = json.loads(capsys.readouterr().out)[0]
    exp = mgx.resolve_experiment(name, params_override=override)
    ref = real_anchors(geometry.multilevel_anchors(exp), tuple(entry["padded_shape"]))
    got = np.load(target)
    assert got.shape == ref.shape and np.abs(got - ref).max() <= 1e-3


def test_fit_override_file_is_accepted_by_the_model_garden(tmp_path, capsys):
    pytest.importorskip("tfod_anchors.frameworks.base", reason="the ModelSpec protocol (main)")
    cards = SHARED_DATASETS / "cards" / "cards.csv"
    if not cards.exists():
        pytest.skip(f"{cards} not present (../shared)")
    from tfod_anchors.cli import main

    target = tmp_path / "override.yaml"
    code = main(["fit", "--experiment", "coco_yolov7tiny", "--input", str(cards),
                 "--objective", "w:1,1,1", "--output", str(target), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["written"] == str(target)
    fitted = doc["anchor_generator"]["task.model.anchor_boxes.boxes"]
    # train.py --config_file accepts it, and the experiment then has exactly those boxes
    exp = mgx.resolve_experiment("coco_yolov7tiny", [str(target)])
    assert [b["box"] for b in exp["task"]["model"]["anchor_boxes"]["boxes"]] == fitted
    again = mgx.resolve_experiment("coco_yolov7tiny",
                                   params_override=doc["override"]["params_override"])
    assert again["task"]["model"]["anchor_boxes"] == exp["task"]["model"]["anchor_boxes"]
