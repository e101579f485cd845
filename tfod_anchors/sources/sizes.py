"""Which stored image sizes can be real: the bounds every reader checks before a size is
cast to int32.

TFOD trains on the decoded image, and TensorFlow's image decoders refuse anything
larger than a side of ``2**27`` pixels or ``2**29`` pixels in all (the PNG decoder's
bound; JPEG, GIF and BMP stop earlier). A stored size beyond that is wrong (an
int64 that would wrap through int32: ``2**33 + 640`` read as 640, ``2**31`` as a
negative width), so the record is rejected as malformed, naming the file and record.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

#: A side must be below this many pixels (TensorFlow's PNG decoder).
SIDE_LIMIT = 2**27
#: An image must have fewer pixels than this (TensorFlow's PNG decoder).
PIXEL_LIMIT = 2**29
LIMITS = "TensorFlow decodes images with sides < 2^27 and fewer than 2^29 pixels"


def too_large(height: np.ndarray, width: np.ndarray) -> np.ndarray:
    """bool ``[M]``: sizes TensorFlow could not decode (int64 ``[M]`` heights/widths)."""
    height = np.asarray(height, dtype=np.int64)
    width = np.asarray(width, dtype=np.int64)
    sides = (height >= SIDE_LIMIT) | (width >= SIDE_LIMIT)
    small_h = np.where(sides, 0, height)  # sides < 2^27: the product fits in int64
    small_w = np.where(sides, 0, width)
    return sides | (small_h * small_w >= PIXEL_LIMIT)


def size_too_large(height: int, width: int) -> bool:
    """:func:`too_large` for one size given as Python ints (any magnitude)."""
    return height >= SIDE_LIMIT or width >= SIDE_LIMIT or height * width >= PIXEL_LIMIT


def oversize_message(height: Any, width: Any, names: str = "image height x width") -> str:
    """The detail for a size :func:`too_large` rejects."""
    return f"{names} {height} x {width} is beyond what TFOD can decode ({LIMITS})"


def parse_side(value: Any) -> int | None:
    """A size given as a JSON/XML/CSV value as an int: integral numbers (``640`` or
    ``640.0``; fractions truncated as before), ``None`` for anything else (text, NaN,
    infinity, booleans). Huge values are returned as they are, for
    :func:`size_too_large`."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            value = float(value.strip()) if not value.strip().lstrip("-+").isdigit() \
                else int(value.strip())
        except ValueError:
            return None
        if isinstance(value, int):
            return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else None
    return None
