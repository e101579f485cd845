"""TFOD ``tf.Example`` box features: batched in-graph parsing and numpy post-processing.

:func:`make_parse_fn` parses only the keys TFOD's decoder uses for boxes (plus
``image/encoded`` for the records that need their size from the image header);
:func:`process_batch` turns one parsed batch into columnar arrays, setting aside
(and counting) records TFOD could not use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..imageheader import image_size
from ..labelmap import LABEL_MAX, LabelMap
from ..raw import RawBoxes, Skips, concat_raw, ragged_take
from ..sizes import oversize_message, too_large

BOX_KEYS = ("image/object/bbox/ymin", "image/object/bbox/xmin",
            "image/object/bbox/ymax", "image/object/bbox/xmax")
LABEL_KEY = "image/object/class/label"
TEXT_KEY = "image/object/class/text"
FLAG_KEYS = ("image/object/difficult", "image/object/group_of", "image/object/is_crowd")


def make_parse_fn(label_map: LabelMap | None, verify_sizes: bool, keep_text: bool = False):
    """``serialized string [n] -> dict of dense tensors`` (flat values + row splits).

    ``encoded`` holds ``image/encoded`` only for the records flagged in ``need``
    (stored size missing/zero, or all with ``verify_sizes``). ``class/text`` is
    parsed with a label map (and turned into ids) or with ``keep_text`` (kept as
    bytes, for the box cache, which resolves classes when it is read).
    """
    import tensorflow as tf

    def ragged(dtype):
        return tf.io.RaggedFeature(dtype, row_splits_dtype=tf.int64)

    features = {key: ragged(tf.float32) for key in BOX_KEYS}
    features[LABEL_KEY] = ragged(tf.int64)
    for key in FLAG_KEYS:
        features[key] = ragged(tf.int64)
    if label_map is not None or keep_text:
        features[TEXT_KEY] = ragged(tf.string)
    for key in ("image/height", "image/width"):
        features[key] = tf.io.FixedLenFeature([], tf.int64, default_value=0)
    for key in ("image/source_id", "image/filename"):
        features[key] = tf.io.FixedLenFeature([], tf.string, default_value="")
    encoded = {"image/encoded": tf.io.FixedLenFeature([], tf.string, default_value="")}
    lookup = label_map.tf_lookup() if label_map is not None else None

    @tf.autograph.experimental.do_not_convert  # plain graph code: skip AutoGraph's tracing cost
    def parse(serialized):
        parsed = tf.io.parse_example(serialized, features)
        out = {}
        for key, value in parsed.items():
            if isinstance(value, tf.RaggedTensor):
                out[key] = value.flat_values
                out[key + ":splits"] = value.row_splits
            else:
                out[key] = value
        if lookup is not None:
            out[TEXT_KEY] = lookup(out[TEXT_KEY])
        height, width = parsed["image/height"], parsed["image/width"]
        if verify_sizes:
            need = tf.ones_like(height, dtype=tf.bool)
        else:
            need = tf.logical_or(height <= 0, width <= 0)
        out["need"] = need
        out["encoded"] = tf.io.parse_example(tf.boolean_mask(serialized, need),
                                             encoded)["image/encoded"]
        out["length"] = tf.cast(tf.strings.length(serialized), tf.int64)
        # One newline-joined string of image keys per batch: far cheaper to bring to
        # Python than one bytes object per record.
        source_id = out.pop("image/source_id")
        filename = out.pop("image/filename")
        key = tf.where(tf.strings.length(source_id) > 0, source_id, filename)
        out["keys"] = tf.strings.reduce_join(tf.strings.regex_replace(key, "\n", " "),
                                             separator="\n")
        return out

    return parse


@dataclass
class Chunk:
    """Images and boxes of one parsed batch (a :class:`RawBoxes` without files)."""

    image_height: np.ndarray
    image_width: np.ndarray
    image_key: np.ndarray
    image_record: np.ndarray
    box_image: np.ndarray
    boxes: np.ndarray
    label: np.ndarray
    difficult: np.ndarray
    group_of: np.ndarray
    is_crowd: np.ndarray


def _image_keys(joined: Any, rows: np.ndarray, path: str,
                records: np.ndarray) -> np.ndarray:
    """Keys of ``rows`` from a batch's newline-joined keys (``image/source_id``, else
    ``image/filename``), ``"<file>#<record>"`` when both are empty."""
    base = path.rsplit("/", 1)[-1]
    every = joined.decode("utf-8", "replace").split("\n")
    keys = np.empty(len(rows), dtype=object)
    keys[:] = [every[row] or f"{base}#{records[row]}" for row in rows.tolist()]
    return keys


def _fill_sizes(p: dict[str, np.ndarray], verify: bool, where, skips: Skips
                ) -> tuple[np.ndarray, np.ndarray]:
    """Stored sizes, completed (or checked) from image headers."""
    height = p["image/height"].copy()
    width = p["image/width"].copy()
    rows = np.flatnonzero(p["need"])
    for row, data in zip(rows, p["encoded"]):
        stored_ok = height[row] > 0 and width[row] > 0
        size = image_size(data) if data else None
        if size is None:
            if stored_ok:
                skips.add("unverified_sizes", 1, where(row))
            continue
        if not stored_ok:
            skips.add("size_from_header", 1, where(row))
        elif (height[row], width[row]) != size:
            skips.add("size_mismatch", 1, f"{where(row)}: stored {height[row]}x{width[row]}, "
                                          f"image {size[0]}x{size[1]} (the image size is used)")
        height[row], width[row] = size
    return height, width


@dataclass
class _Lengths:
    """Per-record list lengths of one batch (int64 ``[n]``)."""

    nbox: np.ndarray
    class_len: np.ndarray
    from_text: np.ndarray  # bool: the class comes from class/text (label map given)
    flag_len: dict[str, np.ndarray]


def _lengths(p: dict[str, np.ndarray], n: int, use_text: bool) -> _Lengths:
    nbox = np.diff(p[BOX_KEYS[0] + ":splits"])
    label_len = np.diff(p[LABEL_KEY + ":splits"])
    if use_text:
        text_len = np.diff(p[TEXT_KEY + ":splits"])
        from_text = text_len > 0
        class_len = np.where(from_text, text_len, label_len)
    else:
        from_text = np.zeros(n, dtype=bool)
        class_len = label_len
    return _Lengths(nbox, class_len, from_text,
                    {k: np.diff(p[k + ":splits"]) for k in FLAG_KEYS})


def _malformed(p: dict[str, np.ndarray], lengths: _Lengths, where, skips: Skips) -> np.ndarray:
    """bool ``[n]``: records whose lists disagree in length (counted, first reason wins)."""
    nbox = lengths.nbox
    lens = [np.diff(p[k + ":splits"]) for k in BOX_KEYS]
    reasons: list[tuple[np.ndarray, str]] = [
        ((lens[1] != nbox) | (lens[2] != nbox) | (lens[3] != nbox),
         "image/object/bbox/{ymin,xmin,ymax,xmax} have different lengths"),
        ((lengths.class_len != nbox) & (lengths.class_len > 0),
         "the class list and the box list have different lengths")]
    for key, flen in lengths.flag_len.items():
        reasons.append(((flen != nbox) & (flen > 0), f"{key} has a value count different "
                        "from the number of boxes"))
    problem = np.zeros(nbox.shape[0], dtype=bool)
    for mask, text in reasons:
        mask &= ~problem
        if mask.any():
            row = int(np.flatnonzero(mask)[0])
            skips.add("malformed_records", int(mask.sum()), f"{where(row)}: {text}")
            problem |= mask
    return problem


def _usable_sizes(p: dict[str, np.ndarray], problem: np.ndarray, verify: bool, where,
                  skips: Skips) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Heights, widths (int64 ``[n]``) and bool ``[n]`` records kept: sizes TFOD cannot
    decode are malformed (added to ``problem``), missing ones counted."""
    height, width = _fill_sizes(p, verify, where, skips)
    huge = too_large(height, width) & ~problem
    if huge.any():
        row = int(np.flatnonzero(huge)[0])
        skips.add("malformed_records", int(huge.sum()), f"{where(row)}: " + oversize_message(
            height[row], width[row], "image/height x image/width"))
        problem |= huge
    missing = ((height <= 0) | (width <= 0)) & ~problem
    if missing.any():
        row = int(np.flatnonzero(missing)[0])
        what = "negative" if min(height[row], width[row]) < 0 else "missing or 0"
        skips.add("missing_image_size", int(missing.sum()),
                  f"{where(row)}: image/height x image/width {height[row]} x {width[row]} "
                  f"({what}) and no readable image header")
    return height, width, ~(problem | missing)


def _box_labels(p: dict[str, np.ndarray], lengths: _Lengths, box_rows: np.ndarray,
                counts: np.ndarray, use_text: bool) -> np.ndarray:
    """int32 class per kept box: looked-up text where the record has text, else label."""
    label_values = p[LABEL_KEY]
    label_starts = p[LABEL_KEY + ":splits"][:-1]
    if use_text:
        text_values = p[TEXT_KEY]
        label_values = np.concatenate([text_values, label_values])
        label_starts = np.where(lengths.from_text, p[TEXT_KEY + ":splits"][:-1],
                                len(text_values) + label_starts)
    label = ragged_take(label_values, label_starts[box_rows], counts)
    return np.clip(label, -1, LABEL_MAX).astype(np.int32)


def _box_flags(p: dict[str, np.ndarray], lengths: _Lengths, box_rows: np.ndarray,
               counts: np.ndarray) -> list[np.ndarray]:
    """bool ``[N]`` difficult, group_of, is_crowd per kept box (absent lists: False)."""
    flags = []
    pad = np.zeros(int(counts.max()) if counts.size else 0, dtype=np.int64)
    for key in FLAG_KEYS:
        values = p[key]
        has = lengths.flag_len[key][box_rows] == counts
        starts = np.where(has, p[key + ":splits"][:-1][box_rows], len(values))
        flags.append(ragged_take(np.concatenate([values, pad]), starts, counts) != 0)
    return flags


def process_batch(p: dict[str, np.ndarray], path: str, records: np.ndarray, *,
                  use_text: bool, verify: bool, skips: Skips) -> Chunk:
    """One parsed batch -> a :class:`Chunk`; malformed or sizeless records are
    counted in ``skips`` and left out."""
    n = len(records)

    def where(row: int) -> str:
        return f"{path} (record {int(records[row])})"

    lengths = _lengths(p, n, use_text)
    problem = _malformed(p, lengths, where, skips)
    height, width, keep = _usable_sizes(p, problem, verify, where, skips)
    nbox = lengths.nbox
    no_class = keep & (lengths.class_len == 0) & (nbox > 0)
    if no_class.any():
        skips.add("boxes_without_class", int(nbox[no_class].sum()),
                  f"{where(int(np.flatnonzero(no_class)[0]))}: boxes but no "
                  f"{LABEL_KEY}" + (f" or {TEXT_KEY}" if use_text else ""))
    box_rows = np.flatnonzero(keep & ~no_class)
    counts = nbox[box_rows]
    splits = [p[k + ":splits"] for k in BOX_KEYS]
    if keep.all() and not no_class.any():
        coords = [p[k] for k in BOX_KEYS]
    else:
        coords = [ragged_take(p[k], s[:-1][box_rows], counts) for k, s in zip(BOX_KEYS, splits)]
    flags = _box_flags(p, lengths, box_rows, counts)
    image_rows = np.flatnonzero(keep)
    position = np.full(n, -1, dtype=np.int64)
    position[image_rows] = np.arange(image_rows.size)
    given_keys = p.get("image_keys")  # already split (box cache); else one joined string
    return Chunk(
        image_height=height[image_rows].astype(np.int32),
        image_width=width[image_rows].astype(np.int32),
        image_key=(given_keys[image_rows] if given_keys is not None
                   else _image_keys(p["keys"], image_rows, path, records)),
        image_record=records[image_rows].astype(np.int64),
        box_image=np.repeat(position[box_rows], counts).astype(np.int32),
        boxes=np.stack(coords, axis=1).astype(np.float32, copy=False),
        label=_box_labels(p, lengths, box_rows, counts, use_text),
        difficult=flags[0], group_of=flags[1], is_crowd=flags[2],
    )


def chunks_to_raw(chunks: list[tuple[int, Chunk]], files: list[str]) -> RawBoxes:
    """Concatenate ``(file index, chunk)`` pairs (already in file/record order)."""
    parts = []
    for file_index, c in chunks:
        parts.append(RawBoxes(
            image_height=c.image_height, image_width=c.image_width, image_key=c.image_key,
            image_file=np.full(c.image_height.shape[0], file_index, dtype=np.int32),
            image_record=c.image_record, box_image=c.box_image, boxes=c.boxes, label=c.label,
            difficult=c.difficult, group_of=c.group_of, is_crowd=c.is_crowd))
    raw = concat_raw(parts) if parts else RawBoxes.empty()  # parts hold no files: no shift
    raw.files = list(files)
    raw.units = ["record"] * len(files)
    return raw
