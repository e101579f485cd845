"""Image sizes from headers, checked against images TensorFlow encodes and decodes."""

from __future__ import annotations

import os
import struct

import pytest

from tfod_anchors.sources.imageheader import (
    bmp_size,
    file_image_size,
    gif_size,
    image_format,
    image_size,
    jpeg_size,
    png_size,
)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="module")
def tf():
    return pytest.importorskip("tensorflow")


@pytest.mark.parametrize("height,width", [(1, 1), (37, 53), (480, 640), (1080, 7)])
def test_jpeg_and_png_match_tensorflow(tf, height, width):
    image = tf.zeros([height, width, 3], tf.uint8)
    for data in (tf.io.encode_jpeg(image).numpy(),
                 tf.io.encode_jpeg(image, progressive=True).numpy(),  # SOF2
                 tf.io.encode_jpeg(image[:, :, :1], format="grayscale").numpy()):
        assert image_format(data) == "jpeg"
        assert image_size(data) == (height, width)
        assert tuple(tf.io.extract_jpeg_shape(data).numpy()[:2]) == (height, width)
    data = tf.io.encode_png(image).numpy()
    assert image_format(data) == "png" and image_size(data) == (height, width)
    assert tuple(tf.io.decode_png(data).shape[:2]) == (height, width)


def test_jpeg_frame_after_large_app_segments(tf):
    data = tf.io.encode_jpeg(tf.zeros([21, 34, 3], tf.uint8)).numpy()
    exif = b"\xff\xe1" + struct.pack(">H", 65535) + b"Exif\0\0" + b"\0" * (65535 - 8)
    icc = b"\xff\xe2" + struct.pack(">H", 40000) + b"\x11" * 39998
    padded = data[:2] + exif + icc + b"\xff\xff" + data[2:]  # plus fill bytes before a marker
    assert jpeg_size(padded) == (21, 34)
    assert tuple(tf.io.decode_jpeg(padded).shape[:2]) == (21, 34)


def test_gif_and_bmp(tf):
    gif = b"GIF89a" + struct.pack("<HH", 300, 200) + b"\x00\x00\x00"
    assert image_size(gif) == (200, 300)
    core = b"BM" + b"\0" * 12 + struct.pack("<IHH", 12, 64, 48) + b"\0" * 8
    assert bmp_size(core) == (48, 64)
    top_down = b"BM" + b"\0" * 12 + struct.pack("<Iii", 40, 640, -480) + b"\0" * 30
    assert image_size(top_down) == (480, 640)
    png = tf.io.encode_png(tf.zeros([5, 6, 3], tf.uint8)).numpy()
    assert gif_size(png) is None and png_size(png) == (5, 6)


@pytest.mark.parametrize("data", [
    b"",
    b"not an image at all",
    b"\xff\xd8\xff\xe0\x00\x10JFIF",               # JPEG cut before any frame header
    b"\xff\xd8\xff\xda\x00\x08" + b"\0" * 10,      # scan before frame: no size
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR",      # PNG cut inside IHDR
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR" + b"\0" * 8,  # zero size
])
def test_damaged_or_unknown_gives_none(data):
    assert image_size(data) is None


def test_file_image_size(tmp_path, tf):
    path = tmp_path / "x.png"
    path.write_bytes(tf.io.encode_png(tf.zeros([7, 9, 3], tf.uint8)).numpy())
    assert file_image_size(str(path)) == (7, 9)
    assert file_image_size(str(tmp_path / "missing.jpg")) is None
