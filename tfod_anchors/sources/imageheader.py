"""Image size from the first bytes of an encoded image, without decoding pixels.

TFOD trains at the size of the *decoded* image, not at ``image/height`` /
``image/width``. When those fields are missing (or to verify them) the size is
read from the file header:

* JPEG: the first start-of-frame marker (SOF0-3, 5-7, 9-11, 13-15) before the
  start of scan; height and width are its big-endian 16-bit fields. EXIF
  orientation is ignored, as ``tf.io.decode_jpeg`` ignores it.
* PNG: the IHDR chunk (big-endian 32-bit width, then height).
* GIF: the logical screen size (little-endian 16-bit), which TensorFlow's GIF
  decoder uses for every frame.
* BMP: the DIB header (16-bit core header or 32-bit info header; a negative
  height means top-down rows, the size is its absolute value).

Every function is pure over ``bytes``; nothing here imports TensorFlow.
"""

from __future__ import annotations

import struct

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# SOF markers carry the frame size; C4 (DHT), C8 (JPG) and CC (DAC) do not.
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers that stand alone (no length field): TEM, RST0-7, SOI, EOI.
_STANDALONE = frozenset([0x01, *range(0xD0, 0xDA)])
_SOS = 0xDA


def image_format(data: bytes) -> str | None:
    """``"jpeg"``, ``"png"``, ``"gif"``, ``"bmp"`` from the signature, else ``None``."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == PNG_SIGNATURE:
        return "png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data[:2] == b"BM" and len(data) >= 26:
        return "bmp"
    return None


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """``(height, width)`` from the first JPEG start-of-frame, or ``None``."""
    if data[:2] != b"\xff\xd8":
        return None
    pos, end = 2, len(data)
    while pos < end:
        if data[pos] != 0xFF:
            return None  # not at a marker: corrupt stream
        while pos < end and data[pos] == 0xFF:  # fill bytes before a marker
            pos += 1
        if pos >= end:
            return None
        marker = data[pos]
        pos += 1
        if marker in _STANDALONE:
            continue
        if marker == _SOS or marker == 0xD9:
            return None  # scan data (or end) before any frame header
        if pos + 2 > end:
            return None
        (length,) = struct.unpack_from(">H", data, pos)
        if length < 2:
            return None
        if marker in _SOF_MARKERS:
            if pos + 7 > end:
                return None
            height, width = struct.unpack_from(">HH", data, pos + 3)
            if height == 0 or width == 0:
                return None  # height defined later by a DNL marker: not supported
            return height, width
        pos += length
    return None


def png_size(data: bytes) -> tuple[int, int] | None:
    """``(height, width)`` from the PNG IHDR chunk, or ``None``."""
    if data[:8] != PNG_SIGNATURE or len(data) < 24 or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack_from(">II", data, 16)
    if height == 0 or width == 0:
        return None
    return height, width


def gif_size(data: bytes) -> tuple[int, int] | None:
    """``(height, width)`` of the GIF logical screen, or ``None``."""
    if data[:6] not in (b"GIF87a", b"GIF89a") or len(data) < 10:
        return None
    width, height = struct.unpack_from("<HH", data, 6)
    if height == 0 or width == 0:
        return None
    return height, width


def bmp_size(data: bytes) -> tuple[int, int] | None:
    """``(height, width)`` from a BMP DIB header, or ``None``."""
    if data[:2] != b"BM" or len(data) < 26:
        return None
    (header_size,) = struct.unpack_from("<I", data, 14)
    if header_size == 12:
        width, height = struct.unpack_from("<HH", data, 18)
    elif header_size >= 40:
        width, height = struct.unpack_from("<ii", data, 18)
        height = abs(height)
    else:
        return None
    if height <= 0 or width <= 0:
        return None
    return height, width


_READERS = {"jpeg": jpeg_size, "png": png_size, "gif": gif_size, "bmp": bmp_size}


def image_size(data: bytes) -> tuple[int, int] | None:
    """``(height, width)`` in pixels of an encoded JPEG/PNG/GIF/BMP, or ``None``
    when the bytes are empty, of another format, or the header is damaged."""
    fmt = image_format(data)
    if fmt is None:
        return None
    return _READERS[fmt](data)


def file_image_size(path: str, max_bytes: int = 1 << 20) -> tuple[int, int] | None:
    """:func:`image_size` of a file (local or any ``tf.io.gfile`` path), reading at
    most ``max_bytes`` (JPEG frame headers sit after the EXIF/ICC segments) and
    ``None`` if it cannot be read."""
    try:
        if "://" in path:
            import tensorflow as tf

            with tf.io.gfile.GFile(path, "rb") as f:
                data = f.read(max_bytes)
        else:
            with open(path, "rb") as f:
                data = f.read(max_bytes)
    except Exception:  # noqa: BLE001 - unreadable means "no size", the caller reports it
        return None
    return image_size(data)
