"""Our YOLO mosaic and parser box paths against the wheel's own ``Mosaic`` and
``preprocessing_ops`` where the wheel draws nothing (ranges of zero width: a fixed scale,
no translation, a centred or zero shift), so both must give the same boxes to float32
rounding. The random parts are compared as distributions by
``benchmarks/bench_mg_yolo_augment.py``."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("official", reason="tf-models-official not installed (the models extra)")
tf = pytest.importorskip("tensorflow")

from official.projects.yolo.ops import mosaic as mosaic_lib  # noqa: E402
from official.projects.yolo.ops import preprocessing_ops as po  # noqa: E402

from tfod_anchors.frameworks.modelgarden import yolo_paths as paths  # noqa: E402
from tfod_anchors.frameworks.modelgarden.augment_yolo import YoloAugment  # noqa: E402

F32 = np.float32
SIZES9 = [(480, 640), (427, 640), (640, 480), (333, 500), (375, 500), (640, 427), (500, 375),
          (612, 612), (240, 320)]


def sample(rng: np.random.Generator, h: int, w: int, n: int = 12) -> tuple[dict, np.ndarray]:
    """A decoded sample (zero image) with ``n`` random boxes, some past the edges."""
    y0, x0 = rng.uniform(-0.1, 0.9, n), rng.uniform(-0.1, 0.9, n)
    b = np.stack([y0, x0, y0 + rng.uniform(0.001, 0.5, n), x0 + rng.uniform(0.001, 0.5, n)],
                 1).astype(F32)
    return {"image": tf.zeros((h, w, 3), tf.uint8), "groundtruth_boxes": tf.constant(b),
            "groundtruth_classes": tf.zeros(n, tf.int64),
            "groundtruth_is_crowd": tf.zeros(n, tf.bool),
            "groundtruth_area": tf.zeros(n, tf.float32), "width": tf.constant(w),
            "height": tf.constant(h), "source_id": tf.constant("x")}, b


def fixed_draws(tiles: int) -> paths.Draws:
    return paths.Draws(np.zeros(1, bool), np.zeros((tiles, 4), F32), np.zeros((1, 2), F32),
                       np.full((1, 2), 0.5, F32), np.full((1, 6), 0.5, F32))


CASES = [((416, 416), "scale", 0.0, 2, True, 1.0), ((512, 384), "scale", 0.0, 2, True, 0.7),
         ((416, 416), "scale", 0.0, 3, True, 1.3), ((416, 416), "scale", 0.0, 3, True, 0.5),
         ((512, 512), "crop", 0.5, 2, False, 1.0), ((512, 512), "crop", 0.5, 2, True, 0.7),
         ((416, 416), None, 0.0, 2, True, 1.0)]


@pytest.mark.parametrize("area", [0.0, 0.1])
@pytest.mark.parametrize("out,mode,center,n,letter_box,scale", CASES)
def test_mosaic_equals_the_wheel(out, mode, center, n, letter_box, scale, area):
    rng = np.random.default_rng(n * 7 + int(scale * 10))
    wheel = mosaic_lib.Mosaic(output_size=[out[0], out[1], 3], mosaic_frequency=1.0,
                              letter_box=letter_box, mosaic_crop_mode=mode,
                              mosaic_center=center, mosaic9_center=center,
                              aug_scale_min=scale, aug_scale_max=scale, area_thresh=area,
                              random_flip=False, seed=1)
    samples = [sample(rng, h, w) for h, w in SIZES9[:n * n]]
    run = wheel._mosaic4 if n == 2 else wheel._mosaic9
    want = run(*[s for s, _ in samples])["groundtruth_boxes"].numpy()
    spec = YoloAugment(out, letter_box=letter_box, random_flip=False, area_thresh=area,
                       mosaic=1.0, center=center, center9=center, crop_mode=mode,
                       mosaic_scale=(scale, scale))
    boxes = np.concatenate([b for _, b in samples])
    got, _ = paths.mosaic_path(spec, n, np.array(SIZES9[:n * n], F32), boxes,
                               np.repeat(np.arange(n * n), 12), fixed_draws(n * n))
    assert got.shape == want.shape and got.shape[0] > 0
    np.testing.assert_allclose(got, want, atol=1e-5)


@pytest.mark.parametrize("area", [0.0, 0.1])
@pytest.mark.parametrize("out,letter_box,scale", [((416, 416), True, 1.0),
                                                  ((512, 384), False, 1.0),
                                                  ((416, 416), True, 0.8),
                                                  ((416, 416), False, 0.8)])
def test_parser_path_equals_the_wheel(out, letter_box, scale, area):
    rng = np.random.default_rng(5)
    spec = YoloAugment(out, letter_box=letter_box, random_flip=False, area_thresh=area,
                       scale=(scale, scale))
    for h, w in SIZES9[:4]:
        s, b = sample(rng, h, w)
        crop_only = scale != 1.0
        infos = [tf.stack([tf.constant([h, w], tf.float32)] * 2 + [tf.ones(2), tf.zeros(2)])] \
            if crop_only else []
        image, more, _ = po.resize_and_jitter_image(s["image"], list(out), letter_box=letter_box,
                                                    jitter=0.0, crop_only=crop_only,
                                                    random_pad=False)
        _, _, affine = po.affine_warp_image(image, list(out), scale_min=scale, scale_max=scale,
                                            translate=0.0, random_pad=False)
        want, _ = po.transform_and_clip_boxes(s["groundtruth_boxes"], infos + more,
                                              affine=affine, area_thresh=area)
        got, _ = paths.single_path(spec, np.array([[h, w]], F32), b, np.zeros(12, int),
                                   fixed_draws(1))
        assert got.shape == tuple(want.shape)
        np.testing.assert_allclose(got, want.numpy(), atol=1e-5)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["scale", "crop"]), st.floats(0.3, 2.0), st.sampled_from([0.0, 0.1]),
       st.lists(st.tuples(st.integers(50, 900), st.integers(50, 900)), min_size=4, max_size=4),
       st.sampled_from([(416, 416), (512, 320), (320, 640)]), st.booleans())
def test_mosaic4_equals_the_wheel_random_settings(mode, scale, area, sizes, out, letter_box):
    rng = np.random.default_rng(len(sizes) + sizes[0][0])
    center = 0.5 if mode == "crop" else 0.0
    wheel = mosaic_lib.Mosaic(output_size=[out[0], out[1], 3], mosaic_frequency=1.0,
                              letter_box=letter_box, mosaic_crop_mode=mode,
                              mosaic_center=center, aug_scale_min=scale, aug_scale_max=scale,
                              area_thresh=area, random_flip=False, seed=1)
    samples = [sample(rng, h, w) for h, w in sizes]
    want = wheel._mosaic4(*[s for s, _ in samples])["groundtruth_boxes"].numpy()
    spec = YoloAugment(out, letter_box=letter_box, random_flip=False, area_thresh=area,
                       mosaic=1.0, center=center, crop_mode=mode, mosaic_scale=(scale, scale))
    got, _ = paths.mosaic_path(spec, 2, np.array(sizes, F32),
                               np.concatenate([b for _, b in samples]),
                               np.repeat(np.arange(4), 12), fixed_draws(4))
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=1e-5)
