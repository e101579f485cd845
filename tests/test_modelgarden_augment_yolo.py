"""YOLO training boxes (``frameworks/modelgarden/augment_yolo.py``): hand-worked values
for given draws, determinism and the note. Against the wheel's own ops:
``tests/test_modelgarden_yolo_wheel.py``."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tfod_anchors.boxes import BoxSet
from tfod_anchors.errors import ConfigError
from tfod_anchors.frameworks.modelgarden import yolo_boxops as ops
from tfod_anchors.frameworks.modelgarden import yolo_paths as paths
from tfod_anchors.frameworks.modelgarden.augment_yolo import (
    AUGMENT_YOLO_NOTE,
    YoloAugment,
    augment_yolo,
    from_params,
)

F32 = np.float32


def draws(s: int, tiles: int, *, cut=0.5, shift=0.5, affine=0.5, flip=False) -> paths.Draws:
    """Explicit draws: every uniform of a kind set to one value."""
    return paths.Draws(np.full(s, flip), np.zeros((tiles, 4), F32), np.full((s, 2), cut, F32),
                       np.full((s, 2), shift, F32), np.full((s, 6), affine, F32))


def four_tiles(boxes_by_tile: dict[int, list]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Four 480x640 tiles (landscape), the given normalized boxes in the given tiles."""
    rows = [(t, b) for t, bs in sorted(boxes_by_tile.items()) for b in bs]
    boxes = np.array([b for _, b in rows], F32).reshape(-1, 4)
    return np.tile(np.array([[480, 640]], F32), (4, 1)), boxes, np.array([t for t, _ in rows])


# --------------------------------------------------------------------- hand-worked values


def test_letterbox_tile_pads_towards_the_mosaic_centre():
    # 480x640 into 416x416: padded to 640x640 (delta_h 80), all 160 rows of padding on top
    # for the top-left tile (shifty 1), scale 416/640 = 0.65, offset -160 * 0.65 = -104
    hw = np.array([[480, 640]], F32)
    geo = ops.letterbox_jitter(hw, (416, 416), np.array([True]), np.zeros((1, 4), F32), 0.0,
                               np.array([[1, 1]], F32), False)
    assert geo["pad"].tolist() == [[160, 0, 0, 0]]
    crop, resize = ops.letterbox_infos(hw, (416, 416), geo)
    np.testing.assert_allclose(resize.scale, [[0.65, 0.65]], rtol=1e-6)
    np.testing.assert_allclose(resize.offset, [[-104, 0]], atol=1e-4)
    b = np.array([[0.25, 0.5, 0.75, 1.0]], F32)
    valid = np.array([True])
    b, _, valid = ops.apply_info(b, b, valid, crop)
    b, _, valid = ops.apply_info(b, b, valid, resize)
    np.testing.assert_allclose(b * 416, [[182, 208, 338, 416]], atol=1e-3)


def test_mosaic_scale_mode_hand_worked():
    # 2x2 mosaic of 832x832; no shift (centre 0), scale 1, no translation: the window is
    # x, y in [208, 624]. Tile 0's box (182, 208, 338, 416) -> (0, 0, 130, 208) after the
    # clip; tile 3's (0, 0, 0.5, 0.5) -> 416 + (0, 0, 156, 208) - 208 = (208, 208, 364, 416)
    spec = YoloAugment((416, 416), random_flip=False, area_thresh=0.1, mosaic=1.0, center=0.0)
    hw, boxes, tile = four_tiles({0: [[0.25, 0.5, 0.75, 1.0]], 3: [[0.0, 0.0, 0.5, 0.5]]})
    out, kept = paths.mosaic_path(spec, 2, hw, boxes, tile, draws(1, 4))
    assert kept.tolist() == [True, True]
    np.testing.assert_allclose(out * 416, [[0, 0, 130, 208], [208, 208, 364, 416]], atol=1e-3)


def test_mosaic_scale_and_shift_hand_worked():
    # scale u=0 of U(0.5, 1.5): s = 0.5, the whole 832 mosaic fits (x' = 0.5 x)
    spec = YoloAugment((416, 416), random_flip=False, area_thresh=0.0, mosaic=1.0, center=0.0,
                       mosaic_scale=(0.5, 1.5))
    hw, boxes, tile = four_tiles({0: [[0.25, 0.5, 0.75, 1.0]], 3: [[0.0, 0.0, 0.5, 0.5]]})
    d = draws(1, 4)
    d.affine[:, 3] = 0.0
    out, _ = paths.mosaic_path(spec, 2, hw, boxes, tile, d)
    np.testing.assert_allclose(out * 416, [[91, 104, 169, 208], [208, 208, 286, 312]], atol=1e-3)
    # shift: centre 0.25 of 832 = 208, u = 0.75: round(-208 + 416 * 0.75) = +104 on y and x
    spec = YoloAugment((416, 416), random_flip=False, area_thresh=0.0, mosaic=1.0, center=0.25)
    out, _ = paths.mosaic_path(spec, 2, hw, boxes, tile, draws(1, 4, shift=0.75))
    np.testing.assert_allclose(out * 416, [[78, 104, 234, 312], [312, 312, 416, 416]], atol=1e-3)


def test_mosaic_crop_mode_hand_worked():
    # yolo_darknet's crop mode, stretched tiles: cut at 0.2 * 512 + 0.6 * 512 * u; u = 0.5
    # gives 256: each tile gives a quarter, placed as is
    spec = YoloAugment((512, 512), letter_box=False, random_flip=False, area_thresh=0.1,
                       mosaic=1.0, crop_mode="crop")
    hw, boxes, tile = four_tiles({0: [[0.5, 0.5, 1.0, 1.0]], 1: [[0.5, 0.0, 1.0, 0.5]]})
    out, _ = paths.mosaic_path(spec, 2, hw, boxes, tile, draws(1, 4))
    np.testing.assert_allclose(out * 512, [[0, 0, 256, 256], [0, 256, 256, 512]], atol=1e-3)
    # u = 0.75: cut 332.8; tile 0 is the 179x179 slice at (332, 332); the stitched image is
    # 511 wide (179 + 332), warped to 512 by a +0.5 px shift; boxes were normalized by 512
    # and are read back at 511 (the wheel's own arithmetic)
    hw, boxes, tile = four_tiles({0: [[0.75, 0.75, 1.0, 1.0]]})
    out, _ = paths.mosaic_path(spec, 2, hw, boxes, tile, draws(1, 4, cut=0.75))
    lo, hi = 52 * 511 / 512 + 0.5, 179 * 511 / 512 + 0.5
    np.testing.assert_allclose(out * 512, [[lo, lo, hi, hi]], atol=1e-3)


def test_single_path_stretch_translate_and_filter():
    # letter_box false: 480x640 stretched to 512x512; translation 0.1 with u = 0.25 moves
    # x by (0.5 - 0.45) * 512 = +25.6 px, y by -25.6 (u = 0.75); a 1.5 px box is dropped
    spec = YoloAugment((512, 512), letter_box=False, translate=0.1, area_thresh=0.1)
    boxes = np.array([[0.1, 0.2, 0.3, 0.4], [0.5, 0.5, 0.5 + 1.5 / 512, 0.6]], F32)
    d = draws(1, 1, affine=0.0)
    d.affine[:, 4], d.affine[:, 5] = 0.25, 0.75
    out, kept = paths.single_path(spec, np.array([[480, 640]], F32), boxes, np.zeros(2, int), d)
    assert kept.tolist() == [True, False]
    np.testing.assert_allclose(out * 512, [[25.6, 128.0, 128.0, 230.4]], atol=1e-3)
    # with area_thresh 0 the thin box stays (only an empty box goes)
    spec0 = YoloAugment((512, 512), letter_box=False, translate=0.1, area_thresh=0.0)
    _, kept = paths.single_path(spec0, np.array([[480, 640]], F32), boxes, np.zeros(2, int), d)
    assert kept.tolist() == [True, True]


def test_candidates_rules():
    hist = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 100, 100], [0, 0, 3, 80]], F32)
    clipped = np.array([[0, 0, 10, 10], [0, 0, 1.5, 10], [0, 0, 9, 100], [0, 0, 3, 80]], F32)
    # area 9 % of its history fails 0.1; aspect 80/3 > 20 fails
    assert ops.candidates(clipped, hist, 0.1).tolist() == [True, False, False, False]
    assert ops.candidates(clipped, hist, 0.0).tolist() == [True, True, True, True]


def test_flip_x():
    b = np.array([[0.1, 0.2, 0.3, 0.6]], F32)
    np.testing.assert_allclose(paths.flip_x(b, np.array([True])), [[0.1, 0.4, 0.3, 0.8]],
                               atol=1e-7)


# --------------------------------------------------------------------- params and determinism


def yolo_params(**parser) -> dict:
    mosaic = {"mosaic_frequency": 1.0, "mosaic9_frequency": 0.2, "mixup_frequency": 0.1,
              "mosaic_center": 0.25, "mosaic9_center": 0.33, "mosaic_crop_mode": "scale",
              "aug_scale_min": 0.5, "aug_scale_max": 1.5, "jitter": 0.0}
    p = {"letter_box": True, "random_flip": True, "random_pad": False, "jitter": 0.0,
         "aug_scale_min": 1.0, "aug_scale_max": 1.0, "aug_rand_translate": 0.1,
         "aug_rand_angle": 0.0, "aug_rand_perspective": 0.0, "area_thresh": 0.0,
         "max_num_instances": 300, "mosaic": mosaic}
    p.update(parser)
    return {"task": {"model": {"input_size": [416, 416, 3], "min_level": 3,
                               "anchor_boxes": {"boxes": []}},
                     "train_data": {"parser": p}}}


def boxset(m: int = 40, seed: int = 3) -> BoxSet:
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, 6, m)
    n = int(counts.sum())
    y, x = rng.uniform(0, 0.8, n), rng.uniform(0, 0.8, n)
    boxes = np.stack([y, x, y + rng.uniform(0.01, 0.2, n), x + rng.uniform(0.01, 0.2, n)],
                     1).astype(F32)
    return BoxSet(rng.integers(200, 800, m).astype(np.int32),
                  rng.integers(200, 800, m).astype(np.int32),
                  np.array([f"im{i}" for i in range(m)], object),
                  np.repeat(np.arange(m), counts).astype(np.int32), boxes,
                  rng.integers(1, 5, n).astype(np.int32), np.zeros(n, bool), np.zeros(n, bool),
                  np.zeros(n, bool))


def test_from_params_reads_the_parser_and_refuses_the_rest():
    spec = from_params(yolo_params())
    assert spec.output_hw == (416, 416) and spec.mosaic9 == 0.2 and spec.mixup == 0.1
    assert spec.mosaic_scale == (0.5, 1.5) and spec.max_instances == 300
    yolo = yolo_params()
    del yolo["task"]["model"]["min_level"]  # the ``yolo`` task: no 3x3 mosaic
    assert from_params(yolo).mosaic9 == 0.0
    with pytest.raises(ConfigError, match="YOLO"):
        from_params({"task": {"model": {"anchor": {}}, "train_data": {}}})
    with pytest.raises(ConfigError, match="0 to 0.5"):
        from_params(yolo_params(jitter=0.7))
    crop9 = yolo_params()
    crop9["task"]["train_data"]["parser"]["mosaic"]["mosaic_crop_mode"] = "crop"
    with pytest.raises(ConfigError, match="crop"):
        from_params(crop9)
    with pytest.raises(ConfigError, match="draws_per_image"):
        augment_yolo(boxset(), yolo_params(), draws_per_image=0, seed=0)


def test_same_seed_same_bytes_other_seed_other_boxes():
    bs, params = boxset(), yolo_params()
    a = augment_yolo(bs, params, draws_per_image=3, seed=5)
    b = augment_yolo(bs, params, draws_per_image=3, seed=5)
    c = augment_yolo(bs, params, draws_per_image=3, seed=6)
    assert a.boxes.tobytes() == b.boxes.tobytes()
    assert a.box_image.tobytes() == b.box_image.tobytes()
    assert a.true_shape.shape == (120, 2) and (a.true_shape == [416, 416]).all()
    assert (a.padded_shape == a.true_shape).all()
    assert a.boxes.shape != c.boxes.shape or not np.array_equal(a.boxes, c.boxes)
    assert (a.boxes >= 0).all() and (a.boxes <= 416).all()
    assert (a.widths > 0).all() and (a.heights > 0).all()


def permuted(bs: BoxSet, perm: np.ndarray) -> BoxSet:
    """``bs`` with its images in the order ``perm`` (new image k is old ``perm[k]``),
    each image's boxes reversed."""
    inverse = np.argsort(perm)
    order = np.lexsort((-np.arange(bs.num_boxes), inverse[bs.box_image]))
    new = copy.copy(bs)
    new.image_height, new.image_width = bs.image_height[perm], bs.image_width[perm]
    new.image_key = bs.image_key[perm]
    new.box_image = inverse[bs.box_image][order].astype(np.int32)
    new.boxes, new.label = bs.boxes[order], bs.label[order]
    new.difficult, new.group_of, new.is_crowd = (bs.difficult[order], bs.group_of[order],
                                                 bs.is_crowd[order])
    return new


def per_sample(r, m: int, draws_: int) -> dict:
    """{(image, draw): sorted box rows with labels}."""
    out = {}
    for d in range(draws_):
        for j in range(m):
            sel = r.box_image == d * m + j
            rows = np.concatenate([r.boxes[sel], r.label[sel, None]], 1)
            out[(j, d)] = rows[np.lexsort(rows.T[::-1])]
    return out


def test_permuted_images_get_the_same_draws():
    bs, params = boxset(), yolo_params()
    perm = np.random.default_rng(0).permutation(bs.num_images)
    a = per_sample(augment_yolo(bs, params, draws_per_image=2, seed=1), bs.num_images, 2)
    b = per_sample(augment_yolo(permuted(bs, perm), params, draws_per_image=2, seed=1),
                   bs.num_images, 2)
    for k, old in enumerate(perm):
        for d in range(2):
            np.testing.assert_array_equal(b[(k, d)], a[(int(old), d)])


def test_no_mosaic_no_jitter_gives_the_static_letterbox():
    params = yolo_params(aug_rand_translate=0.0, random_flip=False)
    params["task"]["train_data"]["parser"]["mosaic"]["mosaic_frequency"] = 0.0
    bs = boxset()
    r = augment_yolo(bs, params, draws_per_image=2, seed=0)
    a = per_sample(r, bs.num_images, 2)
    for j in range(bs.num_images):
        h, w = float(bs.image_height[j]), float(bs.image_width[j])
        b = bs.boxes[bs.box_image == j].astype(np.float64)
        # centred padding to a square, each side truncated: (w - h) // 2 rows on each side
        pad_y, pad_x = (np.floor((w - h) / 2), 0.0) if w > h else (0.0, np.floor((h - w) / 2))
        scale = np.array([416 / (h + 2 * pad_y), 416 / (w + 2 * pad_x)] * 2)
        want = (b * [h, w, h, w] + [pad_y, pad_x, pad_y, pad_x]) * scale
        got = a[(j, 0)][:, :4]
        np.testing.assert_allclose(got, want[np.lexsort(want.T[::-1])], atol=2e-3)
        np.testing.assert_array_equal(a[(j, 1)], a[(j, 0)])


def test_max_instances_keeps_the_first_boxes():
    params = yolo_params(max_num_instances=3)
    r = augment_yolo(boxset(), params, draws_per_image=2, seed=0)
    assert np.bincount(r.box_image).max() <= 3


def test_the_note_names_the_approximation_and_the_distance():
    assert "partners" in AUGMENT_YOLO_NOTE and "KS" in AUGMENT_YOLO_NOTE
    assert "docs/fidelity.md" in AUGMENT_YOLO_NOTE


@settings(max_examples=25, deadline=None)
@given(st.floats(0, 1), st.floats(0, 1), st.floats(0, 1), st.floats(0.1, 2.0),
       st.floats(0, 0.3), st.floats(0, 15), st.floats(0, 0.001), st.floats(0, 0.5),
       st.sampled_from(["scale", "crop", None]), st.booleans(), st.sampled_from([0.0, 0.1]),
       st.integers(0, 2**31))
def test_any_settings_give_boxes_inside_the_input(mosaic, mosaic9, mixup, scale_hi, translate,
                                                  angle, perspective, jitter, mode, letter_box,
                                                  area, seed):
    params = yolo_params(aug_rand_translate=translate, aug_rand_angle=angle,
                         aug_rand_perspective=perspective, jitter=jitter,
                         letter_box=letter_box, area_thresh=area, max_num_instances=20,
                         aug_scale_min=0.8, aug_scale_max=max(scale_hi, 0.8))
    params["task"]["train_data"]["parser"]["mosaic"].update(
        mosaic_frequency=mosaic, mosaic9_frequency=0.0 if mode == "crop" else mosaic9,
        mixup_frequency=mixup, mosaic_crop_mode=mode, aug_scale_min=min(scale_hi, 1.0),
        aug_scale_max=scale_hi, jitter=jitter)
    bs = boxset(12, seed % 1000)
    r = augment_yolo(bs, params, draws_per_image=2, seed=seed)
    assert r.true_shape.shape == (24, 2)
    assert ((r.boxes >= 0) & (r.boxes <= 416)).all()
    assert (r.widths > 0).all() and (r.heights > 0).all()
    assert np.isin(r.label, bs.label).all()
    assert r.num_boxes == 0 or np.bincount(r.box_image).max() <= 20
    if area > 0 and (mode is not None or mosaic == 0):  # a null-mode mosaic is not filtered
        assert (r.widths >= 2 - 1e-3).all() and (r.heights >= 2 - 1e-3).all()


def test_images_without_boxes_and_an_empty_set():
    bs = boxset(5)
    empty = copy.copy(bs)
    empty.box_image, empty.boxes, empty.label = bs.box_image[:0], bs.boxes[:0], bs.label[:0]
    empty.difficult = empty.group_of = empty.is_crowd = np.zeros(0, bool)
    r = augment_yolo(empty, yolo_params(), draws_per_image=2, seed=0)
    assert r.num_boxes == 0 and r.true_shape.shape == (10, 2)
    none = copy.copy(empty)
    none.image_height, none.image_width = bs.image_height[:0], bs.image_width[:0]
    none.image_key = bs.image_key[:0]
    r = augment_yolo(none, yolo_params(), draws_per_image=2, seed=0)
    assert r.num_boxes == 0 and r.true_shape.shape == (0, 2)
