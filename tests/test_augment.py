"""Augmentation (tfod_anchors.augment): worked examples with fixed draws, the step
catalogue, builder validation, determinism and order independence."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SHARED_CONFIGS
from helpers.augment import boxset, steps

from tfod_anchors.augment import OPS, augment, classify_ops, describe_steps, needs_augmentation
from tfod_anchors.augment.crop_window import _generate
from tfod_anchors.augment.crops import _crop_border, apply_crop
from tfod_anchors.augment.engine import initial_state, plan, run_steps
from tfod_anchors.augment.pads import apply_pad
from tfod_anchors.augment.state import State
from tfod_anchors.augment.streams import Streams
from tfod_anchors.boxes import BoxSet
from tfod_anchors.config.schema import get_schema
from tfod_anchors.errors import ConfigError, UsageError


def one_image_state(h: int, w: int, boxes: list[list[float]]) -> State:
    state, _ = initial_state(boxset([(h, w)], [boxes]), 1)
    return state


# ------------------------------------------------------------------------ catalogue

def test_catalogue_covers_every_proto_field():
    descriptor = get_schema("bundled").PreprocessingStep.DESCRIPTOR
    oneof = descriptor.oneofs_by_name["preprocessing_step"]
    assert {f.name: f.number for f in oneof.fields} == {n: i.number for n, i in OPS.items()}


def test_classify_ops_statuses_and_unknown():
    cls = get_schema("bundled").PreprocessingStep
    got = classify_ops(steps("random_horizontal_flip {}", "random_adjust_hue {}",
                             "autoaugment_image {}", "remap_labels { new_label: 2 }")
                       + [cls()])
    assert got == [(0, "random_horizontal_flip", "geometric"),
                   (1, "random_adjust_hue", "photometric"),
                   (2, "autoaugment_image", "unsupported"),
                   (3, "remap_labels", "label"),
                   (4, "(empty step)", "unknown")]


def test_needs_augmentation():
    assert not needs_augmentation(steps("random_adjust_hue {}", "remap_labels {}"))
    assert needs_augmentation(steps("random_adjust_hue {}", "ssd_random_crop {}"))
    assert needs_augmentation(steps("drop_label_probabilistically { label: 1 }"))


@pytest.mark.skipif(not SHARED_CONFIGS.is_dir(), reason="needs ../shared/tfod-configs")
def test_every_sample_config_step_is_known():
    from tfod_anchors.config.files import load_config
    seen = set()
    for path in sorted(SHARED_CONFIGS.rglob("*.config")):
        for _, name, status in classify_ops(
                load_config(str(path)).config.train_config.data_augmentation_options):
            assert status in ("geometric", "photometric"), (path.name, name, status)
            seen.add(name)
    assert {"ssd_random_crop", "random_scale_crop_and_pad_to_square",
            "random_square_crop_by_scale", "random_crop_image"} <= seen


# ------------------------------------------------------- sample_distorted_bounding_box

def gen(w, h, lo, hi, aspect, u_h=0.0, u_y=0.0, u_x=0.0):
    a = np.array
    ok, y0, x0, ch, cw = _generate(a([w]), a([h]), a([lo], np.float32), a([hi], np.float32),
                                   a([aspect], np.float32), a([u_h]), a([u_y]), a([u_x]))
    return bool(ok[0]), int(y0[0]), int(x0[0]), int(ch[0]), int(cw[0])


def test_crop_generation_smallest_and_largest():
    # 375x500, area 0.1..1, aspect 1: min_area 18750 -> h = rint(136.93) = 137;
    # max height rint(433.01) = 433, capped at 375; 137 + floor(u * 239).
    assert gen(500, 375, 0.1, 1.0, 1.0) == (True, 0, 0, 137, 137)
    assert gen(500, 375, 0.1, 1.0, 1.0, u_h=0.9999) == (True, 0, 0, 375, 375)
    # offsets: y in [0, 375 - 137), x in [0, 500 - 137)
    assert gen(500, 375, 0.1, 1.0, 1.0, u_y=0.5, u_x=0.5) == (True, 119, 181, 137, 137)


def test_crop_generation_too_wide_caps_height():
    # aspect 2 on 100x100: max height rint(sqrt(10000 / 2)) = 71 -> width 142 > 100,
    # so max height = trunc((100 + 0.5 - 1e-7) / 2) = 50 -> 50x100 at most.
    assert gen(100, 100, 0.5, 1.0, 2.0, u_h=0.9999) == (True, 0, 0, 50, 100)
    # area 0.5 needs 5000 px: the 50x100 crop is the only one
    assert gen(100, 100, 0.5, 1.0, 2.0) == (True, 0, 0, 50, 100)


def test_crop_generation_impossible_area_fails():
    # aspect 3 on a square: at most 33x99 (rint(33 * 3) = 99), 3267 px < min 0.5 * 10000
    assert gen(100, 100, 0.5, 1.0, 3.0)[0] is False


# ----------------------------------------------------------------- fixed crop windows

def test_crop_worked_example():
    # 100x200 image; window rows 10..60, cols 50..150 -> [0.1, 0.25, 0.6, 0.75]
    state = one_image_state(100, 200, [
        [0.2, 0.3, 0.4, 0.5],     # inside -> [0.2, 0.1, 0.6, 0.5]
        [0.0, 0.0, 0.2, 0.3],     # 0.1 x 0.05 of its 0.2 x 0.3 inside: ioa 0.083 < 0.2 -> dropped
        [0.7, 0.0, 0.9, 0.2],     # completely outside -> dropped
        [0.5, 0.7, 0.7, 0.8],     # half of its height, half of its width inside: ioa 0.25
    ])
    apply_crop(state, np.array([0]), np.array([10]), np.array([50]), np.array([50]),
               np.array([100]), np.array([0.2], np.float32), np.array([True]))
    assert (state.height[0], state.width[0]) == (50, 100)
    np.testing.assert_allclose(state.boxes, [[0.2, 0.1, 0.6, 0.5], [0.8, 0.9, 1.0, 1.0]],
                               atol=1e-6)
    assert state.origin.tolist() == [0, 3]


def test_crop_without_clipping_keeps_boxes_outside_unit_square():
    state = one_image_state(100, 200, [[0.5, 0.7, 0.7, 0.8]])
    apply_crop(state, np.array([0]), np.array([10]), np.array([50]), np.array([50]),
               np.array([100]), np.array([0.0], np.float32), np.array([False]))
    np.testing.assert_allclose(state.boxes, [[0.8, 0.9, 1.2, 1.1]], atol=1e-6)


def test_pad_worked_example():
    # 100x200 padded to 150x300 with the image at (20, 40)
    state = one_image_state(100, 200, [[0.0, 0.0, 1.0, 1.0], [0.5, 0.5, 0.6, 0.75]])
    apply_pad(state, np.array([0]), np.array([[150, 300]]), np.array([[20, 40]]))
    assert (state.height[0], state.width[0]) == (150, 300)
    np.testing.assert_allclose(state.boxes, [[20 / 150, 40 / 300, 120 / 150, 240 / 300],
                                             [70 / 150, 140 / 300, 80 / 150, 190 / 300]],
                               rtol=1e-6)


@pytest.mark.parametrize("border,size,expected", [(128, 512, 128), (128, 200, 64),
                                                  (128, 64, 32), (128, 300, 128)])
def test_centernet_crop_border(border, size, expected):
    # border // clip(2 ** ceil(log2(2 * border / size)), 1, border)
    assert int(_crop_border(border, np.array([size]))[0]) == expected


# ------------------------------------------------------------------ whole steps

def test_scale_crop_pad_square_fixed_scale():
    # scale 1 (min == max): 256x512 -> long side 512 = output, no crop; the output is
    # 512x512 with the image on top: boxes keep x, halve y.
    res = augment(boxset([(256, 512)], [[[0.0, 0.0, 1.0, 0.5]]]),
                  steps("random_scale_crop_and_pad_to_square { output_size: 512 "
                        "scale_min: 1.0 scale_max: 1.0 }"))
    assert (res.boxset.image_height[0], res.boxset.image_width[0]) == (512, 512)
    np.testing.assert_allclose(res.boxset.boxes, [[0.0, 0.0, 0.5, 0.5]], atol=1e-6)


def test_self_concat_both_ways_and_truncation():
    res = augment(boxset([(100, 200)], [[[0.0, 0.0, 0.5, 0.5], [0.5, 0.5, 1.0, 1.0]]]),
                  steps("random_self_concat_image { concat_vertical_probability: 1.0 "
                        "concat_horizontal_probability: 1.0 }"), max_boxes=5)
    assert (res.boxset.image_height[0], res.boxset.image_width[0]) == (200, 400)
    # vertical: [a, b, a+0.5y, b+0.5y]; horizontal doubles that list, x halved
    np.testing.assert_allclose(res.boxset.boxes, [
        [0.0, 0.0, 0.25, 0.25], [0.25, 0.25, 0.5, 0.5], [0.5, 0.0, 0.75, 0.25],
        [0.75, 0.25, 1.0, 0.5], [0.0, 0.5, 0.25, 0.75]])
    assert res.added["0:random_self_concat_image"] == 6
    assert res.dropped["max_number_of_boxes"] == 3
    assert res.source_box.tolist() == [0, 1, 0, 1, 0]


def test_rotation_swaps_sides_and_moves_boxes():
    res = augment(boxset([(100, 200)], [[[0.1, 0.2, 0.3, 0.6]]]),
                  steps("random_rotation90 { probability: 1.0 }"))
    assert (res.boxset.image_height[0], res.boxset.image_width[0]) == (200, 100)
    np.testing.assert_allclose(res.boxset.boxes, [[0.4, 0.1, 0.8, 0.3]], atol=1e-6)


def test_drop_label_probability_one_drops_that_label_only():
    res = augment(boxset([(10, 10)], [[[0, 0, 1, 1], [0, 0, 0.5, 0.5]]], [[3, 4]]),
                  steps("drop_label_probabilistically { label: 3 drop_probability: 1.0 }"))
    assert res.boxset.label.tolist() == [4]
    assert res.dropped["0:drop_label_probabilistically"] == 1


def test_absolute_pad_of_one_pixel_pads_nothing():
    # max_height_padding 1 -> target in [h, h + 1) = h (TFOD's builder turns 0 into 1 too)
    res = augment(boxset([(10, 20)], [[[0, 0, 1, 1]]]), steps(
        "random_absolute_pad_image { max_height_padding: 1 max_width_padding: 0 }"), draws=3)
    assert res.boxset.image_height.tolist() == [10] * 3
    assert res.boxset.image_width.tolist() == [20] * 3


def test_photometric_and_unknown_steps_are_identity():
    data = boxset([(30, 40)], [[[0.1, 0.2, 0.3, 0.4]]])
    cls = get_schema("bundled").PreprocessingStep
    res = augment(data, steps("random_adjust_hue {}", "autoaugment_image {}") + [cls()])
    np.testing.assert_array_equal(res.boxset.boxes, data.boxes)
    assert [s["status"] for s in describe_steps(res.steps)] == ["photometric", "unsupported",
                                                                "unknown"]


# ------------------------------------------------------------------ builder validation

@pytest.mark.parametrize("text,match", [
    ("random_pad_image { min_image_height: 10 }", "both"),
    ("random_crop_pad_image { min_padded_size_ratio: 1.0 }", "2 elements"),
    ("resize_image { new_height: 10 }", "positive"),
    ("random_downscale_to_target_pixels { min_target_pixels: 900000 }", "min_target_pixels"),
])
def test_builder_rejects_what_tfod_rejects(text, match):
    with pytest.raises(ConfigError, match=match):
        augment(boxset([(10, 10)], [[[0, 0, 1, 1]]]), steps(text))


def test_bad_draws():
    with pytest.raises(UsageError):
        augment(boxset([(10, 10)], [[[0, 0, 1, 1]]]), [], draws=0)


# ------------------------------------------------------- determinism, order independence

def _random_boxset(rng: np.random.Generator, m: int) -> BoxSet:
    sizes = [(int(rng.integers(50, 800)), int(rng.integers(50, 800))) for _ in range(m)]
    boxes = []
    for _ in range(m):
        n = int(rng.integers(0, 6))
        a = np.sort(rng.random((n, 2, 2)), axis=1)
        boxes.append([[r[0, 0], r[0, 1], r[1, 0], r[1, 1]] for r in a])
    return boxset(sizes, boxes, [[int(v) for v in rng.integers(1, 5, len(b))] for b in boxes])


SAMPLE_STEPS = ("random_horizontal_flip {}", "ssd_random_crop {}",
                "random_scale_crop_and_pad_to_square { output_size: 320 }")


def test_same_seed_same_boxes_other_seed_other_boxes():
    data = _random_boxset(np.random.default_rng(1), 40)
    a = augment(data, steps(*SAMPLE_STEPS), draws=3, seed=7)
    b = augment(data, steps(*SAMPLE_STEPS), draws=3, seed=7)
    c = augment(data, steps(*SAMPLE_STEPS), draws=3, seed=8)
    np.testing.assert_array_equal(a.boxset.boxes, b.boxset.boxes)
    np.testing.assert_array_equal(a.boxset.image_height, b.boxset.image_height)
    assert a.boxset.boxes.shape != c.boxset.boxes.shape or not np.array_equal(
        a.boxset.boxes, c.boxset.boxes)


def _per_image(res) -> list:
    out = []
    for i in range(res.source_image.max() + 1):
        rows = []
        for k in np.flatnonzero(res.source_image == i):
            mask = res.boxset.box_image == k
            rows.append((int(res.boxset.image_height[k]), int(res.boxset.image_width[k]),
                         res.boxset.boxes[mask].tobytes()))
        out.append(rows)
    return out


def test_result_does_not_depend_on_image_order():
    data = _random_boxset(np.random.default_rng(2), 30)
    # add an exact duplicate of image 0: it must still draw independently
    data = boxset([(int(h), int(w)) for h, w in zip(data.image_height, data.image_width)]
                  + [(int(data.image_height[0]), int(data.image_width[0]))],
                  [data.boxes[data.box_image == i].tolist() for i in range(30)]
                  + [data.boxes[data.box_image == 0].tolist()],
                  [data.label[data.box_image == i].tolist() for i in range(30)]
                  + [data.label[data.box_image == 0].tolist()])
    perm = np.random.default_rng(3).permutation(31)
    shuffled = boxset([(int(data.image_height[i]), int(data.image_width[i])) for i in perm],
                      [data.boxes[data.box_image == i].tolist() for i in perm],
                      [data.label[data.box_image == i].tolist() for i in perm])
    a = _per_image(augment(data, steps(*SAMPLE_STEPS), draws=4, seed=5))
    b = _per_image(augment(shuffled, steps(*SAMPLE_STEPS), draws=4, seed=5))
    assert sorted(map(repr, a)) == sorted(map(repr, b))
    assert [a[i] for i in perm][:5] == b[:5]
    first, duplicate = a[0], a[30]
    assert first != duplicate or not data.boxes[data.box_image == 0].size


def test_images_without_boxes_survive():
    res = augment(boxset([(100, 100), (50, 80)], [[], [[0.1, 0.1, 0.9, 0.9]]]),
                  steps(*SAMPLE_STEPS), draws=2)
    assert res.boxset.num_images == 4
    assert res.source_image.tolist() == [0, 0, 1, 1]
    assert res.draw.tolist() == [0, 1, 0, 1]


def test_threaded_crop_windows_equal_single_thread(monkeypatch):
    from tfod_anchors.augment import crop_window
    data = _random_boxset(np.random.default_rng(4), 60)
    single = augment(data, steps(*SAMPLE_STEPS), draws=3, seed=9)
    monkeypatch.setattr(crop_window, "PARALLEL_MIN", 2)
    threaded = augment(data, steps(*SAMPLE_STEPS), draws=3, seed=9)
    np.testing.assert_array_equal(single.boxset.boxes, threaded.boxset.boxes)
    np.testing.assert_array_equal(single.boxset.image_width, threaded.boxset.image_width)


# ------------------------------------------- whole steps with every uniform draw at 0

class ZeroStreams(Streams):
    """Every random number is 0: offsets 0, smallest sizes, first choices, and every
    ``u < probability`` test passes (our own generator interface, not a TF stand-in)."""

    def bits(self, inst, var):
        return np.zeros(np.asarray(inst).shape, dtype=np.uint64)

    def per_box_uniform32(self, box_inst, rank, var):
        return np.zeros(np.asarray(box_inst).shape, dtype=np.float32)


def run_zero(h: int, w: int, boxes: list[list[float]], *texts: str):
    state = one_image_state(h, w, boxes)
    dropped: dict[str, int] = {}
    run_steps(state, ZeroStreams(np.zeros(1, np.uint64)), plan(steps(*texts)), dropped, {})
    return state, dropped


def test_crop_to_aspect_ratio_drops_boxes_clipped_to_nothing():
    # 100x100 to aspect 2: 50 rows x 100 columns at offset (0, 0): window [0, 0, 0.5, 1]
    state, dropped = run_zero(100, 100, [
        [0.0, 0.0, 0.3, 0.5],    # inside -> [0, 0, 0.6, 0.5]
        [0.45, 0.5, 0.6, 0.9],   # 1/3 of its height inside -> [0.9, 0.5, 1.0, 0.9]
        [0.5, 0.2, 0.9, 0.4],    # touches the window: overlap 0 passes 0, clipped to 0 area
    ], "random_crop_to_aspect_ratio { aspect_ratio: 2.0 overlap_thresh: 0.0 }")
    assert (state.height[0], state.width[0]) == (50, 100)
    np.testing.assert_allclose(state.boxes, [[0, 0, 0.6, 0.5], [0.9, 0.5, 1.0, 0.9]], atol=1e-6)
    assert dropped["0:random_crop_to_aspect_ratio"] == 1


def test_random_crop_smallest_window_at_origin_or_whole_image():
    # aspect 1, area 0.25..1 on 100x100: smallest crop 50x50 at (0, 0) every attempt
    text = ("random_crop_image { min_aspect_ratio: 1.0 max_aspect_ratio: 1.0 min_area: 0.25 "
            "max_area: 1.0 overlap_thresh: 0.3 }")
    state, _ = run_zero(100, 100, [[0.1, 0.1, 0.3, 0.3], [0.6, 0.6, 0.9, 0.9]], text)
    assert (state.height[0], state.width[0]) == (50, 50)
    np.testing.assert_allclose(state.boxes, [[0.2, 0.2, 0.6, 0.6]], atol=1e-6)
    # no attempt ever covers the far box: after 100 attempts, the whole image
    state, _ = run_zero(100, 100, [[0.6, 0.6, 0.9, 0.9]], text)
    assert (state.height[0], state.width[0]) == (100, 100)
    np.testing.assert_allclose(state.boxes, [[0.6, 0.6, 0.9, 0.9]], atol=1e-6)


def test_square_crop_by_scale_smallest_scale_at_the_border():
    # 512x512, border 128 (2*128/512 < 1): centre (128, 128); scale 0.5 -> 256 square
    # from (0, 0): window [0, 0, 0.5, 0.5]
    state, dropped = run_zero(512, 512, [
        [0.25, 0.25, 0.75, 0.75],  # -> [0.5, 0.5, 1, 1] after clipping
        [0.6, 0.6, 0.9, 0.9],      # outside
        [0.5, 0.0, 0.7, 0.2],      # ymin lands on 1.0: touching counts as outside
    ], "random_square_crop_by_scale { max_border: 128 scale_min: 0.5 scale_max: 1.5 "
       "num_scales: 3 }")
    assert (state.height[0], state.width[0]) == (256, 256)
    np.testing.assert_allclose(state.boxes, [[0.5, 0.5, 1.0, 1.0]], atol=1e-6)
    assert dropped["0:random_square_crop_by_scale"] == 2


def test_pad_to_aspect_ratio_via_ssd_crop_pad_fixed_aspect_ratio():
    # no crop (u = 0 is not > random_coef 0.15); 100x200 padded to the 1:1 canvas 200x200
    state, _ = run_zero(100, 200, [[0.0, 0.0, 1.0, 1.0]],
                        "ssd_random_crop_pad_fixed_aspect_ratio {}")
    assert (state.height[0], state.width[0]) == (200, 200)
    np.testing.assert_allclose(state.boxes, [[0.0, 0.0, 0.5, 1.0]], atol=1e-6)


def test_random_pad_image_defaults_smallest_draw_is_no_padding():
    # target in [h, 2h): u = 0 gives h; offset drawn only when the target is larger
    state, _ = run_zero(10, 20, [[0.1, 0.2, 0.3, 0.4]], "random_pad_image {}")
    assert (state.height[0], state.width[0]) == (10, 20)
    np.testing.assert_allclose(state.boxes, [[0.1, 0.2, 0.3, 0.4]], atol=1e-6)


def test_jitter_default_smallest_draw_shrinks_each_edge_by_ratio():
    # distortion 1 - ratio on every edge: half-sizes shrink by 10%
    state, _ = run_zero(10, 10, [[0.2, 0.2, 0.6, 0.4]], "random_jitter_boxes { ratio: 0.1 }")
    np.testing.assert_allclose(state.boxes, [[0.22, 0.21, 0.58, 0.39]], atol=1e-6)


def test_result_does_not_depend_on_box_order_within_an_image():
    # The per-image key hashes the boxes as a multiset: reversing every image's boxes
    # gives each drawn image the same crop, so the same boxes come out (in reverse order
    # within the image). Two boxes of one image differ, so a rank-keyed hash would not.
    data = _random_boxset(np.random.default_rng(6), 25)
    rev = boxset([(int(h), int(w)) for h, w in zip(data.image_height, data.image_width)],
                 [data.boxes[data.box_image == i][::-1].tolist() for i in range(25)],
                 [data.label[data.box_image == i][::-1].tolist() for i in range(25)])
    a = augment(data, steps(*SAMPLE_STEPS), draws=3, seed=4)
    b = augment(rev, steps(*SAMPLE_STEPS), draws=3, seed=4)
    assert a.boxset.num_images == b.boxset.num_images
    np.testing.assert_array_equal(a.boxset.image_height, b.boxset.image_height)
    for k in range(a.boxset.num_images):
        mine = a.boxset.boxes[a.boxset.box_image == k]
        theirs = b.boxset.boxes[b.boxset.box_image == k]
        assert sorted(map(tuple, mine.tolist())) == sorted(map(tuple, theirs.tolist()))
    assert (np.bincount(data.box_image) > 1).any()


PER_BOX_STEPS = ("random_horizontal_flip {}", "random_jitter_boxes { ratio: 0.2 }",
                 "drop_label_probabilistically { label: 2 drop_probability: 0.5 }")


def _by_source(res) -> dict:
    """``{(source image, draw, source box): box bytes}``: each input box's drawn fate."""
    img = res.boxset.box_image
    return {(int(res.source_image[img[b]]), int(res.draw[img[b]]), int(res.source_box[b])):
            res.boxset.boxes[b].tobytes() for b in range(res.boxset.num_boxes)}


def test_per_box_draws_do_not_depend_on_box_order_within_an_image():
    # random_jitter_boxes and drop_label_probabilistically draw per box, keyed by the box's
    # content: permuting each image's boxes gives every box the same jitter and the same
    # drop decision (a position-keyed draw would move them to the other boxes)
    rng = np.random.default_rng(11)
    data = _random_boxset(rng, 30)
    perms = [rng.permutation(int(n)) for n in np.bincount(data.box_image, minlength=30)]
    mixed = boxset([(int(h), int(w)) for h, w in zip(data.image_height, data.image_width)],
                   [data.boxes[data.box_image == i][p].tolist() for i, p in enumerate(perms)],
                   [data.label[data.box_image == i][p].tolist() for i, p in enumerate(perms)])
    a = augment(data, steps(*PER_BOX_STEPS), draws=3, seed=2)
    b = augment(mixed, steps(*PER_BOX_STEPS), draws=3, seed=2)
    assert a.dropped == b.dropped and a.dropped["2:drop_label_probabilistically"] > 0
    starts = np.concatenate([[0], np.cumsum(np.bincount(data.box_image, minlength=30))])
    # box j of image i in `mixed` is box perms[i][j] of image i in `data`
    to_data = np.concatenate([starts[i] + p for i, p in enumerate(perms)]).astype(int)
    theirs = {(i, d, int(to_data[box])): v for (i, d, box), v in _by_source(b).items()}
    assert _by_source(a) == theirs
    jittered = a.boxset.boxes != data.boxes[a.source_box]
    assert jittered.any()


def test_identical_boxes_of_one_image_jitter_independently():
    box = [0.2, 0.2, 0.6, 0.6]
    res = augment(boxset([(100, 100)], [[box, box, box]]),
                  steps("random_jitter_boxes { ratio: 0.2 }"), draws=1, seed=0)
    out = res.boxset.boxes
    assert out.shape == (3, 4)
    assert len({row.tobytes() for row in out}) == 3
