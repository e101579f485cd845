"""The Model Garden parsers' scale jitter and flips in numpy (issue 18): values worked out
by hand from ``resize_and_crop_image``; the wheel itself is compared in
test_mg_augment_wheel.py and benchmarks/bench_mg_augment.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("ruamel.yaml", reason="YAML experiment files need ruamel.yaml (extra 'yaml')")

from tfod_anchors.boxes import BoxSet  # noqa: E402
from tfod_anchors.errors import ConfigError  # noqa: E402
from tfod_anchors.frameworks.modelgarden import augment as mga  # noqa: E402
from tfod_anchors.frameworks.modelgarden.yaml_patch import load  # noqa: E402

FIXTURES = Path(__file__).parent / "mg_experiments"
BOX = np.array([[0.1, 0.2, 0.6, 0.9]], np.float32)


def experiment(name: str) -> dict:
    return load((FIXTURES / f"{name}.yaml").read_text())


def draws(scale=1.0, offset=(0.0, 0.0), flip_x=False, flip_y=False) -> mga.Draws:
    return mga.Draws(np.array([flip_x]), np.array([flip_y]), np.array([scale], np.float32),
                     np.array([offset], np.float32))


def boxset(boxes, box_image, hw) -> BoxSet:
    n, m = len(boxes), len(hw)
    return BoxSet(np.array([h for h, _ in hw], np.int32), np.array([w for _, w in hw], np.int32),
                  np.array([f"img{i}" for i in range(m)], object), np.asarray(box_image, np.int32),
                  np.asarray(boxes, np.float32), np.ones(n, np.int32), np.zeros(n, bool),
                  np.zeros(n, bool), np.zeros(n, bool))


def test_specs_of_registered_experiments():
    mask = mga.from_params(experiment("maskrcnn_resnetfpn_coco"))
    assert mask == mga.ScaleJitter((1024, 1024), (1024, 1024), 0.8, 1.25, True, False, True)
    spine = mga.from_params(experiment("retinanet_spinenet_coco"))
    assert (spine.scale_min, spine.scale_max, spine.hflip) == (0.1, 2.0, True)
    assert mga.from_params(experiment("retinanet_spinenet_coco"), training=False) == \
        mga.ScaleJitter((640, 640), (640, 640))
    exp = experiment("retinanet_resnetfpn_coco")
    exp["task"]["model"]["input_size"] = [500, 375, 3]
    assert mga.from_params(exp).padded_hw == (512, 384)
    exp["task"]["train_data"]["parser"]["pad"] = False
    assert mga.from_params(exp).padded_hw == (500, 375)
    exp["task"]["model"]["input_size"] = []
    with pytest.raises(ConfigError, match="input_size is empty"):
        mga.from_params(exp)
    with pytest.raises(ConfigError, match="RetinaNet and R-CNN"):
        mga.from_params(experiment("coco_yolov7tiny"))


def test_static_boxes_keep_the_aspect_ratio():
    spec = mga.ScaleJitter((640, 640), (640, 640))
    out, kept = mga.apply(BOX, np.array([0]), np.array([[480, 640]]), spec, draws())
    # k = min(640/480, 640/640) = 1: the 480x640 image is not scaled
    assert kept.all() and out.tolist() == [[48.0, 128.0, 288.0, 576.0]]
    scale, offset, content = mga.image_transform(np.array([[333, 500]]), spec, draws())
    # k = 1.28; 333 * 1.28 = 426.24 -> 426, so y scales by 426/333 = 1.279279, x by 1.28
    assert scale[0] == pytest.approx([426 / 333, 1.28], abs=1e-6)
    assert offset.tolist() == [[0, 0]] and content.tolist() == [[426, 640]]


def test_jitter_scale_offset_and_clip_by_hand():
    spec = mga.ScaleJitter((640, 640), (640, 640), 0.5, 2.0)
    d = draws(scale=1.5, offset=(0.5, 0.25))
    # S = round(1.5 * 640) = 960 each; k = min(960/480, 960/640) = 1.5 -> S = (720, 960)
    # room = (80, 320); offset = trunc((40.0, 80.0))
    scale, offset, content = mga.image_transform(np.array([[480, 640]]), spec, d)
    assert scale.tolist() == [[1.5, 1.5]] and offset.tolist() == [[40, 80]]
    assert content.tolist() == [[640, 640]]
    out, kept = mga.apply(BOX, np.array([0]), np.array([[480, 640]]), spec, d)
    # (48, 128, 288, 576) * 1.5 - (40, 80) = (32, 112, 392, 784) -> x clipped at 640
    assert out.tolist() == [[32.0, 112.0, 392.0, 640.0]] and kept.all()
    gone, kept = mga.apply(np.array([[0.0, 0.95, 0.2, 1.0]], np.float32), np.array([0]),
                           np.array([[480, 640]]), spec, d)
    assert not kept.any()  # x 912..960 - 80 = 832..880: cropped away, dropped
    small = draws(scale=0.5, offset=(0.9, 0.9))  # no room: no offset
    assert mga.image_transform(np.array([[480, 640]]), spec, small)[1].tolist() == [[0, 0]]


def test_offsets_truncate_toward_zero():
    spec = mga.ScaleJitter((100, 100), (128, 128), 1.0, 1.3)
    d = draws(scale=1.25, offset=(0.999, 0.5))
    # S = round(125) = 125 both; k = 125/100; room 25; offset trunc(24.975, 12.5) = (24, 12)
    assert mga.image_transform(np.array([[100, 100]]), spec, d)[1].tolist() == [[24, 12]]


def test_flips_mirror_the_normalized_boxes():
    spec = mga.ScaleJitter((640, 640), (640, 640), hflip=True, vflip=True)
    hw = np.array([[480, 640]])
    out, _ = mga.apply(BOX, np.array([0]), hw, spec, draws(flip_x=True))
    assert out[0] == pytest.approx([48.0, 64.0, 288.0, 512.0])  # x: 1 - (0.9, 0.2) in float32
    out, _ = mga.apply(BOX, np.array([0]), hw, spec, draws(flip_y=True))
    assert out[0] == pytest.approx([192.0, 128.0, 432.0, 576.0])  # y: (0.4, 0.9)


def test_augment_is_seeded_and_draws_each_image():
    rng = np.random.default_rng(5)
    ys, xs = np.sort(rng.random((200, 2), np.float32)), np.sort(rng.random((200, 2), np.float32))
    boxes = np.stack([ys[:, 0], xs[:, 0], ys[:, 1], xs[:, 1]], axis=1)
    data = boxset(boxes, np.arange(200) % 50, [(480, 640)] * 25 + [(640, 427)] * 25)
    spec = mga.from_params(experiment("retinanet_spinenet_coco"))
    a = mga.augment(data, spec, draws_per_image=3, seed=1)
    b = mga.augment(data, spec, draws_per_image=3, seed=1)
    c = mga.augment(data, spec, draws_per_image=3, seed=2)
    assert np.array_equal(a.boxes, b.boxes) and not np.array_equal(a.boxes, c.boxes)
    assert a.true_shape.shape == (150, 2) and (a.padded_shape == 640).all()
    assert a.box_image.max() < 150 and (a.true_shape <= 640).all()
    assert ((a.boxes >= 0) & (a.boxes <= 640)).all()
    static = mga.augment(data, mga.ScaleJitter((640, 640), (640, 640)), draws_per_image=3)
    assert static.num_boxes == 200 and static.true_shape.shape == (50, 2)


def test_draws_follow_the_parser_settings():
    spec = mga.ScaleJitter((640, 640), (640, 640), 0.8, 1.2, hflip=True)
    d = mga.draw(spec, 20000, np.random.default_rng(0))
    assert d.scale_u.min() >= 0.8 and d.scale_u.max() < 1.2
    assert abs(d.scale_u.mean() - 1.0) < 0.003 and abs(d.flip_x.mean() - 0.5) < 0.01
    assert not d.flip_y.any()
    fixed = mga.draw(mga.ScaleJitter((640, 640), (640, 640)), 10, np.random.default_rng(0))
    assert (fixed.scale_u == 1).all() and not fixed.flip_x.any()


@settings(max_examples=200, deadline=None)
@given(st.integers(16, 2000), st.integers(16, 2000), st.floats(0.1, 2.5),
       st.tuples(st.floats(0, 0.999), st.floats(0, 0.999)))
def test_boxes_stay_inside_the_output_and_keep_their_image_ratio(h, w, u, off):
    spec = mga.ScaleJitter((512, 384), (512, 384), 0.1, 2.5)
    d = draws(scale=u, offset=off)
    scale, offset, content = mga.image_transform(np.array([[h, w]]), spec, d)
    assert (offset >= 0).all() and (content <= [512, 384]).all()
    # per-axis scales differ only by the rounding of the scaled size (< 1 px)
    assert abs(scale[0, 0] * h - scale[0, 1] * h) <= 1.0 * max(1.0, h / w) + 1e-3
    whole = np.array([[0, 0, 1, 1]], np.float32)
    out, kept = mga.apply(whole, np.array([0]), np.array([[h, w]]), spec, d)
    assert ((out >= 0) & (out <= [512, 384, 512, 384])).all()
    assert kept.all() == bool((content > 0).all())


def test_flips_share_the_scale_uniform():
    spec = mga.ScaleJitter((640, 640), (640, 640), 0.5, 1.5, hflip=True, vflip=True)
    d = mga.draw(spec, 1000, np.random.default_rng(1))
    assert np.array_equal(d.flip_x, d.scale_u < 1.0) and np.array_equal(d.flip_x, d.flip_y)
    assert 400 < d.flip_x.sum() < 600
