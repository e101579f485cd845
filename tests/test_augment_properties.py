"""Hypothesis properties of the augmentation steps: boxes stay inside the image,
flips and rotations undo themselves, pad then crop back is the identity, crop
windows fit the image."""

from __future__ import annotations

import numpy as np
from helpers.augment import boxset, steps
from hypothesis import given, settings
from hypothesis import strategies as st

from tfod_anchors.augment import augment
from tfod_anchors.augment.basic import horizontal_flip, rotation90, vertical_flip
from tfod_anchors.augment.crop_window import CropParams, sample_crop_windows
from tfod_anchors.augment.crops import apply_crop
from tfod_anchors.augment.engine import initial_state
from tfod_anchors.augment.pads import apply_pad
from tfod_anchors.augment.streams import Streams

coord = st.floats(0.0, 1.0, allow_nan=False, width=32)


@st.composite
def images(draw, min_side: float = 0.0):
    """A BoxSet of 1-4 images, each with 0-5 boxes inside [0, 1]."""
    m = draw(st.integers(1, 4))
    sizes, boxes = [], []
    for _ in range(m):
        sizes.append((draw(st.integers(20, 1500)), draw(st.integers(20, 1500))))
        n = draw(st.integers(0, 5))
        image = []
        for _ in range(n):
            y = sorted([draw(coord), draw(coord)])
            x = sorted([draw(coord), draw(coord)])
            if min_side:
                y = [min(y[0], 1 - min_side), max(y[1], min(y[0], 1 - min_side) + min_side)]
                x = [min(x[0], 1 - min_side), max(x[1], min(x[0], 1 - min_side) + min_side)]
            image.append([y[0], x[0], y[1], x[1]])
        boxes.append(image)
    return boxset(sizes, boxes)


INSIDE_STEPS = [
    "random_horizontal_flip {}", "random_vertical_flip {}", "random_rotation90 {}",
    "ssd_random_crop {}", "random_crop_image {}",
    "random_crop_image { min_object_covered: 0.0 min_area: 0.75 max_aspect_ratio: 3.0 "
    "overlap_thresh: 0.0 }",
    "random_scale_crop_and_pad_to_square { output_size: 512 }",
    "random_square_crop_by_scale {}", "random_absolute_pad_image { max_height_padding: 200 "
    "max_width_padding: 200 }", "random_pad_image {}", "random_crop_pad_image {}",
    "ssd_random_crop_pad {}", "ssd_random_crop_fixed_aspect_ratio {}",
    "ssd_random_crop_pad_fixed_aspect_ratio {}", "random_crop_to_aspect_ratio {}",
    "random_jitter_boxes {}", "random_self_concat_image { concat_vertical_probability: 0.5 "
    "concat_horizontal_probability: 0.5 }", "random_image_scale {}",
]


@settings(max_examples=60, deadline=None)
@given(data=images(), chosen=st.lists(st.sampled_from(INSIDE_STEPS), min_size=1, max_size=4),
       seed=st.integers(0, 2**31))
def test_boxes_stay_inside_the_image(data, chosen, seed):
    res = augment(data, steps(*chosen), draws=2, seed=seed)
    b = res.boxset.boxes
    assert np.all((b >= 0) & (b <= 1))
    assert np.all(b[:, 2] >= b[:, 0]) and np.all(b[:, 3] >= b[:, 1])
    assert np.all(res.boxset.image_height > 0) and np.all(res.boxset.image_width > 0)


@settings(max_examples=40, deadline=None)
@given(data=images())
def test_flip_twice_and_rotate_four_times_is_identity(data):
    for flip, times in ((horizontal_flip, 2), (vertical_flip, 2), (rotation90, 4)):
        state, keys = initial_state(data, 1)
        streams = Streams(keys)
        everyone = np.arange(state.num_instances)
        for t in range(times):
            flip(state, streams, everyone, 1.0, ("flip", t))
        np.testing.assert_allclose(state.boxes, np.asarray(data.boxes, np.float32), atol=2e-7)
        np.testing.assert_array_equal(state.height, data.image_height)
        np.testing.assert_array_equal(state.width, data.image_width)


@settings(max_examples=60, deadline=None)
@given(data=images(min_side=0.01), extra=st.tuples(st.integers(0, 500), st.integers(0, 500)),
       where=st.tuples(st.floats(0, 1), st.floats(0, 1)))
def test_pad_then_crop_back_is_identity(data, extra, where):
    state, _ = initial_state(data, 1)
    inst = np.arange(state.num_instances)
    h, w = state.height.copy(), state.width.copy()
    target = np.stack([h + extra[0], w + extra[1]], axis=1)
    offset = np.tile(np.array([[int(extra[0] * where[0]), int(extra[1] * where[1])]],
                              dtype=np.int64), (inst.size, 1))
    apply_pad(state, inst, target, offset)
    apply_crop(state, inst, offset[:, 0], offset[:, 1], h, w,
               np.zeros(inst.size, np.float32), np.ones(inst.size, bool))
    assert state.num_boxes == data.num_boxes
    np.testing.assert_array_equal(state.height, h)
    np.testing.assert_array_equal(state.width, w)
    np.testing.assert_allclose(state.boxes, np.asarray(data.boxes, np.float32), atol=2e-5)


@settings(max_examples=60, deadline=None)
@given(data=images(), covered=st.floats(0, 1), lo=st.floats(0.05, 1), spread=st.floats(0, 1),
       aspect=st.tuples(st.floats(0.2, 3), st.floats(0, 2)), seed=st.integers(0, 2**31))
def test_crop_windows_fit_and_respect_the_area(data, covered, lo, spread, aspect, seed):
    state, _ = initial_state(data, 1)
    k = state.num_instances
    hi = min(1.0, lo + spread)
    full = np.full(k, 1, np.float32)
    params = CropParams(min_object_covered=full * np.float32(covered),
                        aspect_lo=full * np.float32(aspect[0]),
                        aspect_hi=full * np.float32(aspect[0] + aspect[1]),
                        area_lo=full * np.float32(lo), area_hi=full * np.float32(hi))
    streams = Streams(np.arange(k, dtype=np.uint64) + np.uint64(seed))
    y0, x0, ch, cw = sample_crop_windows(streams, np.arange(k), state.height, state.width,
                                         params, state.box_inst, state.boxes, "test")
    assert np.all((y0 >= 0) & (x0 >= 0) & (ch > 0) & (cw > 0))
    assert np.all(y0 + ch <= state.height) and np.all(x0 + cw <= state.width)
    whole = (ch == state.height) & (cw == state.width)
    area = (ch * cw).astype(np.float64) / (state.height * state.width)
    # a crop is either the fallback (whole image) or within the area range (float32 slack)
    assert np.all(whole | ((area >= lo * (1 - 1e-5)) & (area <= hi * (1 + 1e-5))))
