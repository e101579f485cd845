"""Image resizers: TFOD's worked examples, builder validation, and TensorFlow as the oracle."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tfod_anchors.boxes import BoxSet
from tfod_anchors.errors import ConfigError, InputError, UsageError
from tfod_anchors.resize import (
    ConditionalShapeResizer,
    FixedShapeResizer,
    IdentityResizer,
    KeepAspectRatioResizer,
    PadToMultipleResizer,
    build_resizer,
    resize_boxes,
)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def one(resizer, h, w):
    true, padded = resizer.shapes(np.array([h]), np.array([w]))
    return tuple(int(v) for v in true[0]), tuple(int(v) for v in padded[0])


# ---------------------------------------------------------------- worked examples (facts §2)

@pytest.mark.parametrize("h,w,lo,hi,expected", [
    (333, 500, 600, 1024, (600, 901)),
    (1080, 1920, 600, 1024, (576, 1024)),
    (480, 640, 640, 640, (480, 640)),
    (72, 99, 300, 512, (300, 412)),
    (3000, 10, 600, 1024, (1024, 3)),
    (50, 25, 10, 20, (20, 10)),
])
def test_keep_aspect_worked_examples(h, w, lo, hi, expected):
    assert one(KeepAspectRatioResizer(lo, hi), h, w) == (expected, expected)


def test_keep_aspect_pad_to_max_dimension():
    resizer = KeepAspectRatioResizer(640, 640, pad_to_max_dimension=True)
    assert one(resizer, 333, 500) == ((426, 640), (640, 640))
    assert resizer.static_shape == (640, 640) and resizer.pads


def test_keep_aspect_square_uses_portrait_branch():
    # h == w is not landscape: target box (max, min) -> the short side decides.
    assert one(KeepAspectRatioResizer(600, 1024), 500, 500) == ((600, 600), (600, 600))


@pytest.mark.parametrize("condition,threshold,h,w,expected", [
    ("SMALLER", 600, 291, 400, (599, 824)),
    ("SMALLER", 600, 582, 700, (599, 721)),
    ("SMALLER", 600, 300, 400, (600, 800)),
    ("SMALLER", 600, 700, 900, (700, 900)),   # only ever enlarges
    ("GREATER", 300, 600, 450, (300, 225)),
    ("GREATER", 300, 200, 100, (200, 100)),   # only ever shrinks
])
def test_conditional_shape(condition, threshold, h, w, expected):
    resizer = ConditionalShapeResizer(condition, threshold)
    assert one(resizer, h, w) == (expected, expected)


def test_pad_to_multiple():
    assert one(PadToMultipleResizer(32), 101, 199) == ((101, 199), (128, 224))
    assert one(PadToMultipleResizer(4), 101, 199) == ((101, 199), (104, 200))
    assert one(PadToMultipleResizer(1), 101, 199) == ((101, 199), (101, 199))
    assert one(PadToMultipleResizer(32), 128, 64) == ((128, 64), (128, 64))


def test_fixed_and_identity():
    assert one(FixedShapeResizer(300, 320), 1080, 1920) == ((300, 320), (300, 320))
    assert FixedShapeResizer(300, 320).static_shape == (300, 320)
    assert one(IdentityResizer(), 17, 1001) == ((17, 1001), (17, 1001))


def test_shapes_vectorised_dtype_and_validation():
    true, padded = KeepAspectRatioResizer(600, 1024).shapes(
        np.array([333, 1080, 72], np.int64), np.array([500, 1920, 99], np.int32))
    assert true.dtype == np.int32 and padded.dtype == np.int32 and true.shape == (3, 2)
    np.testing.assert_array_equal(true, [[600, 901], [576, 1024], [600, 825]])
    with pytest.raises(UsageError):
        IdentityResizer().shapes(np.array([0]), np.array([5]))
    with pytest.raises(UsageError):
        IdentityResizer().shapes(np.array([1, 2]), np.array([5]))


# ---------------------------------------------------------------- builder (proto by name)

def resizer_msg(text: str):
    from google.protobuf import text_format
    schema = pytest.importorskip("tfod_anchors.config.schema")
    cls = schema.get_schema().message_class("object_detection.protos.ImageResizer")
    return text_format.Parse(text, cls())


def test_build_each_oneof():
    r = build_resizer(resizer_msg("keep_aspect_ratio_resizer { min_dimension: 640 "
                                  "max_dimension: 640 pad_to_max_dimension: true }"))
    assert r == KeepAspectRatioResizer(640, 640, True)
    assert build_resizer(resizer_msg("keep_aspect_ratio_resizer {}")) == \
        KeepAspectRatioResizer(600, 1024)
    assert build_resizer(resizer_msg("fixed_shape_resizer { height: 320 width: 256 }")) == \
        FixedShapeResizer(320, 256)
    assert build_resizer(resizer_msg("identity_resizer {}")) == IdentityResizer()
    r = build_resizer(resizer_msg("conditional_shape_resizer { condition: SMALLER "
                                  "size_threshold: 600 }"))
    assert r == ConditionalShapeResizer("SMALLER", 600)
    assert build_resizer(resizer_msg("conditional_shape_resizer {}")) == \
        ConditionalShapeResizer("GREATER", 300)
    assert build_resizer(resizer_msg("pad_to_multiple_resizer { multiple: 32 }")) == \
        PadToMultipleResizer(32)
    r = build_resizer(resizer_msg("fixed_shape_resizer { convert_to_grayscale: true }"))
    assert r.convert_to_grayscale and one(r, 10, 20) == ((300, 300), (300, 300))
    assert "grayscale" in r.describe()


@pytest.mark.parametrize("text,fragment", [
    ("", "sets no resizer"),
    ("keep_aspect_ratio_resizer { min_dimension: 1025 }", "min_dimension (1025) > max_dimension"),
    ("keep_aspect_ratio_resizer { min_dimension: 0 }", "must be positive"),
    ("keep_aspect_ratio_resizer { pad_to_max_dimension: true per_channel_pad_value: 1 }",
     "per_channel_pad_value"),
    ("fixed_shape_resizer { height: 0 }", "must be positive"),
    ("conditional_shape_resizer { condition: INVALID }", "GREATER or SMALLER"),
    ("pad_to_multiple_resizer { multiple: -1 }", "must be > 0"),
    ("pad_to_multiple_resizer { multiple: 0 }", "must be > 0"),
])
def test_build_rejects(text, fragment):
    with pytest.raises(ConfigError) as err:
        build_resizer(resizer_msg(text), path="pipeline.config")
    assert fragment in str(err.value) and str(err.value).startswith("pipeline.config: ")


def test_build_rejects_non_message():
    with pytest.raises(ConfigError):
        build_resizer(object())


# ---------------------------------------------------------------- boxes in resized pixels

def test_resize_boxes_scales_by_true_shape():
    boxset = BoxSet(
        image_height=np.array([333, 101], np.int32), image_width=np.array([500, 199], np.int32),
        image_key=np.array(["a", "b"], object), box_image=np.array([0, 1, 1], np.int32),
        boxes=np.array([[0, 0, 1, 1], [0.5, 0.25, 1.0, 0.5], [0, 0, 0.1, 0.2]], np.float32),
        label=np.array([1, 2, 3], np.int32), difficult=np.zeros(3, bool),
        group_of=np.zeros(3, bool), is_crowd=np.zeros(3, bool))
    out = resize_boxes(boxset, KeepAspectRatioResizer(600, 1024, pad_to_max_dimension=True))
    np.testing.assert_array_equal(out.true_shape, [[600, 901], [520, 1024]])  # long side capped
    assert out.boxes.dtype == np.float64
    np.testing.assert_allclose(out.boxes[0], [0, 0, 600, 901])
    np.testing.assert_allclose(out.boxes[1], [260, 256, 520, 512])
    np.testing.assert_array_equal(out.padded_shape, [[1024, 1024], [1024, 1024]])
    np.testing.assert_allclose(out.boxes[2], np.array([0, 0, 0.1, 0.2], np.float32)
                               .astype(np.float64) * [520, 1024, 520, 1024])
    out = resize_boxes(boxset, PadToMultipleResizer(32))
    np.testing.assert_array_equal(out.padded_shape, [[352, 512], [128, 224]])
    np.testing.assert_allclose(out.boxes[1], [50.5, 49.75, 101, 99.5])
    np.testing.assert_array_equal(out.label, [1, 2, 3])


def test_resize_boxes_zero_pixel_image_is_input_error():
    boxset = BoxSet(
        image_height=np.array([10000], np.int32), image_width=np.array([1], np.int32),
        image_key=np.array(["thin.jpg"], object), box_image=np.zeros(0, np.int32),
        boxes=np.zeros((0, 4), np.float32), label=np.zeros(0, np.int32),
        difficult=np.zeros(0, bool), group_of=np.zeros(0, bool), is_crowd=np.zeros(0, bool))
    with pytest.raises(InputError, match="thin.jpg"):
        resize_boxes(boxset, KeepAspectRatioResizer(600, 1024))


# ---------------------------------------------------------------- TensorFlow as the oracle

SIDES = st.integers(min_value=1, max_value=2500)


def tf_resize_to_range(h, w, lo, hi):
    """Output size of TensorFlow's own aspect-preserving resize, oriented as TFOD does."""
    tf = pytest.importorskip("tensorflow")
    image = tf.zeros([h, w, 1], tf.uint8)
    target = [lo, hi] if h < w else [hi, lo]
    try:
        out = tf.image.resize(image, target, method="nearest", preserve_aspect_ratio=True)
    except tf.errors.InvalidArgumentError:  # TF refuses a zero-pixel output
        return None
    return tuple(int(v) for v in out.shape[:2])


@settings(max_examples=150, deadline=None, derandomize=True)
@given(h=SIDES, w=SIDES, lo=st.integers(1, 1400), extra=st.integers(0, 800))
def test_keep_aspect_matches_tensorflow(h, w, lo, extra):
    hi = lo + extra
    expected = tf_resize_to_range(h, w, lo, hi)
    ours = one(KeepAspectRatioResizer(lo, hi), h, w)[0]
    if expected is None:
        assert min(ours) == 0
    else:
        assert ours == expected


def tf_conditional(h, w, threshold, greater):
    """TFOD's min/max-dimension arithmetic written with TF ops: float32 ratio, int32 cast."""
    tf = pytest.importorskip("tensorflow")
    hh, ww = tf.constant(h, tf.int32), tf.constant(w, tf.int32)
    if greater:
        side = tf.maximum(hh, ww)
        target = tf.minimum(side, threshold)
    else:
        side = tf.minimum(hh, ww)
        target = tf.maximum(side, threshold)
    ratio = tf.cast(target, tf.float32) / tf.cast(side, tf.float32)
    new_h = tf.cast(tf.cast(hh, tf.float32) * ratio, tf.int32)
    new_w = tf.cast(tf.cast(ww, tf.float32) * ratio, tf.int32)
    return int(new_h), int(new_w)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(h=SIDES, w=SIDES, threshold=st.integers(1, 3000), greater=st.booleans())
def test_conditional_matches_tensorflow_ops(h, w, threshold, greater):
    resizer = ConditionalShapeResizer("GREATER" if greater else "SMALLER", threshold)
    assert one(resizer, h, w)[0] == tf_conditional(h, w, threshold, greater)
