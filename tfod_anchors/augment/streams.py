"""Counter-based random numbers keyed per drawn image, vectorised over images.

Every random choice an augmentation step makes for one drawn image is a pure
function of ``(image content, occurrence, draw index, seed, step, variable,
attempt)``: the 64-bit *instance key* (content, occurrence, draw, seed) is mixed
with a 64-bit *tag* (step, variable, attempt) through the SplitMix64 finaliser.
So the same seed gives the same boxes, and the result for an image does not depend
on where it sits in the input or on which other images are present.

The content key hashes the image size and its boxes (float32 bit patterns and
labels, as a multiset: the order of the boxes within an image does not change
it). Identical images (same size, same boxes) get an occurrence number in input
order, so they still draw independently; swapping two identical images swaps
nothing visible.

Per-box draws (``random_jitter_boxes``, ``drop_label_probabilistically``) are keyed the
same way, by the box's content (its current float32 coordinates and label) and its
occurrence among identical boxes of the same drawn image, never by its position, so
permuting the boxes of an image leaves every box's draw unchanged.
"""

from __future__ import annotations

import hashlib

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_U32 = np.uint64(32)


def mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser of ``x + golden`` (uint64 ``[...]`` -> uint64 ``[...]``)."""
    with np.errstate(over="ignore"):
        z = np.asarray(x, dtype=np.uint64) + _GOLDEN
        z = (z ^ (z >> _S30)) * _M1
        z = (z ^ (z >> _S27)) * _M2
        return z ^ (z >> _S31)


def tag(*parts: object) -> np.uint64:
    """A 64-bit tag for one random variable, e.g. ``tag(step, "crop_ar", attempt)``."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return np.uint64(int.from_bytes(digest, "little"))


def content_keys(height: np.ndarray, width: np.ndarray, box_image: np.ndarray,
                 boxes: np.ndarray, label: np.ndarray) -> np.ndarray:
    """uint64 ``[M]`` keys of image content, distinct for identical images; the same
    whatever the order of an image's boxes (a sum of per-box hashes).

    Args:
        height, width: int ``[M]`` original image size.
        box_image: int ``[N]`` image index per box, non-decreasing.
        boxes: float32 ``[N, 4]``; label: int ``[N]``.
    """
    m = int(height.shape[0])
    n = int(box_image.shape[0])
    bits = np.ascontiguousarray(boxes, dtype=np.float32).view(np.uint32).astype(np.uint64)
    with np.errstate(over="ignore"):
        if n:
            lo = bits[:, 0] | (bits[:, 1] << _U32)
            hi = bits[:, 2] | (bits[:, 3] << _U32)
            per_box = mix(mix(mix(lo) ^ hi) ^ label.astype(np.int64).astype(np.uint64))
            summed = np.zeros(m, dtype=np.uint64)
            np.add.at(summed, box_image, per_box)
            count = np.bincount(box_image, minlength=m).astype(np.uint64)
        else:
            summed = np.zeros(m, dtype=np.uint64)
            count = np.zeros(m, dtype=np.uint64)
        size = mix(height.astype(np.uint64) ^ (width.astype(np.uint64) << _U32))
        keys = mix(mix(summed ^ size) ^ count)
    # occurrence number among identical images, in input order
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    new_group = np.ones(m, dtype=bool)
    new_group[1:] = sorted_keys[1:] != sorted_keys[:-1]
    group_start = np.maximum.accumulate(np.where(new_group, np.arange(m), 0))
    occurrence = np.empty(m, dtype=np.uint64)
    occurrence[order] = (np.arange(m) - group_start).astype(np.uint64)
    return mix(keys ^ mix(occurrence * _GOLDEN))


def instance_keys(image_keys: np.ndarray, draws: int, seed: int) -> np.ndarray:
    """uint64 ``[M * draws]`` keys, image-major (image ``i`` draw ``d`` at ``i * draws + d``)."""
    seed_key = mix(np.array([seed & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64))[0]
    d = np.arange(draws, dtype=np.uint64)
    with np.errstate(over="ignore"):
        base = mix(image_keys ^ seed_key)
        return mix(base[:, None] ^ mix(d + _GOLDEN)[None, :]).reshape(-1)


class Streams:
    """Random variables for drawn images (instances), addressed by tag.

    Attributes:
        keys: uint64 ``[K]``, one key per instance.
    """

    def __init__(self, keys: np.ndarray):
        self.keys = keys

    def bits(self, inst: np.ndarray, var: np.uint64) -> np.ndarray:
        """uint64 ``[k]`` random bits for instances ``inst`` and variable ``var``."""
        return mix(self.keys[inst] ^ var)

    def uniform(self, inst: np.ndarray, var: np.uint64) -> np.ndarray:
        """float64 ``[k]`` uniform in ``[0, 1)`` (53 bits)."""
        return (self.bits(inst, var) >> np.uint64(11)).astype(np.float64) * (2.0 ** -53)

    def uniform32(self, inst: np.ndarray, var: np.uint64) -> np.ndarray:
        """float32 ``[k]`` uniform in ``[0, 1)`` on a 2^-23 grid, like TF's float32
        ``random_uniform``."""
        top = (self.bits(inst, var) >> np.uint64(41)).astype(np.float32)
        return top * np.float32(2.0 ** -23)

    def integers(self, inst: np.ndarray, var: np.uint64, low: np.ndarray | int,
                 high: np.ndarray | int) -> np.ndarray:
        """int64 ``[k]`` uniform in ``[low, high)`` (requires ``high > low``)."""
        low_a = np.asarray(low, dtype=np.int64)
        span = np.asarray(high, dtype=np.int64) - low_a
        return low_a + np.floor(self.uniform(inst, var) * span).astype(np.int64)

    def per_box_uniform32(self, box_inst: np.ndarray, box_key: np.ndarray,
                          var: np.uint64) -> np.ndarray:
        """float32 ``[B]`` uniforms, one per box (keyed by instance and
        :func:`box_keys`)."""
        with np.errstate(over="ignore"):
            z = mix(self.keys[box_inst] ^ var ^ mix(box_key))
        return (z >> np.uint64(41)).astype(np.float32) * np.float32(2.0 ** -23)


def box_keys(box_inst: np.ndarray, boxes: np.ndarray, label: np.ndarray) -> np.ndarray:
    """uint64 ``[B]`` content keys of boxes: a hash of each box's float32 coordinates
    and label, mixed with its occurrence number among identical boxes of the same
    instance (in the given order, so two identical boxes still draw independently and
    swapping them swaps nothing visible). Permuting the boxes of an instance permutes
    their keys the same way.

    Args:
        box_inst: int ``[B]`` instance per box; boxes: float32 ``[B, 4]``; label: int ``[B]``.
    """
    n = int(box_inst.shape[0])
    if not n:
        return np.zeros(0, dtype=np.uint64)
    bits = np.ascontiguousarray(boxes, dtype=np.float32).view(np.uint32).astype(np.uint64)
    with np.errstate(over="ignore"):
        lo = bits[:, 0] | (bits[:, 1] << _U32)
        hi = bits[:, 2] | (bits[:, 3] << _U32)
        content = mix(mix(mix(lo) ^ hi) ^ np.asarray(label).astype(np.int64).astype(np.uint64))
    order = np.lexsort((content, np.asarray(box_inst, dtype=np.int64)))
    inst_sorted, content_sorted = np.asarray(box_inst)[order], content[order]
    new_group = np.ones(n, dtype=bool)
    new_group[1:] = (inst_sorted[1:] != inst_sorted[:-1]) | \
        (content_sorted[1:] != content_sorted[:-1])
    group_start = np.maximum.accumulate(np.where(new_group, np.arange(n), 0))
    occurrence = np.empty(n, dtype=np.uint64)
    occurrence[order] = (np.arange(n) - group_start).astype(np.uint64)
    with np.errstate(over="ignore"):
        return mix(content ^ mix(occurrence * _GOLDEN))
