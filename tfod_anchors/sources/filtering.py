"""TFOD's training-time input filtering, applied to raw boxes.

Order (as in TFOD's ``inputs.py`` / ``utils/ops.py``, plus sanity checks):

1. boxes with an infinite coordinate (+-inf) are dropped (``infinite_boxes``),
   like NaN boxes below: no anchor can match them and every statistic of them is
   meaningless (TFOD itself only drops NaN; an infinite box would give inf/NaN
   losses there);
2. records with any coordinate > 1.1 are rejected (``not_normalized_records``):
   TFOD expects coordinates normalized by the image size and Faster R-CNN asserts
   they are <= 1.1 - larger values look like absolute pixels;
3. boxes with any NaN coordinate are dropped (``nan_boxes``);
4. boxes whose class is negative (class text unknown to the label map, or a
   negative ``class/label``) are dropped (``unknown_class_boxes``);
5. with ``drop_difficult``, difficult boxes are dropped (``difficult_boxes``);
6. boxes with ``ymax < ymin`` or ``xmax < xmin`` make TFOD training fail
   (``inverted_boxes``);
7. at most ``max_number_of_boxes`` boxes per image are kept, the first ones
   (``boxes_over_max``).

Kept but counted, as TFOD trains on them although no anchor can ever match them:
boxes of zero width or height (``zero_area_boxes``) and boxes entirely outside the
image (``fully_outside_boxes``). Images that end with no boxes stay in the result
(``images_without_boxes``).
"""

from __future__ import annotations

import re

import numpy as np

from ..boxes import BoxSet
from ..errors import InputError, option
from .raw import RawBoxes, Skips

NORMALIZED_LIMIT = 1.1

#: Reasons that stop the read unless ``skip_bad`` (then they are only counted),
#: in the order they are reported, with what they mean and what to do.
FATAL = {
    "corrupt_files": "file(s) are corrupt or truncated (records after the damage are "
                     "unreadable) or are not TFRecord files",
    "malformed_records": "malformed record(s), row(s) or annotation(s) cannot be used",
    "missing_image_size": "image(s) have no usable size (the stored width or height is "
                          "missing, 0 or negative) and no readable JPEG/PNG/GIF/BMP header",
    "not_normalized_records": "record(s) have box coordinates > 1.1, which looks like "
                              "absolute pixels; TFOD expects coordinates normalized to [0, 1] "
                              "by the image size",
    "inverted_boxes": "box(es) have ymax < ymin or xmax < xmin, which makes TFOD training "
                      "fail",
}


def _fmt_box(box: np.ndarray) -> str:
    return "[" + ", ".join(f"{float(v):.6g}" for v in box) + "]"


def _box_where(raw: RawBoxes, i: int) -> str:
    """Where box ``i`` is: its image's file and record, and its index in that record;
    its coordinates as the source has them (a pixel table's own columns and pixels,
    else TFOD's normalized ``[ymin, xmin, ymax, xmax]``)."""
    image = int(raw.box_image[i])
    position = i - int(np.searchsorted(raw.box_image, image, side="left"))
    columns = raw.columns_of(int(raw.image_file[image]))
    if columns is None:
        return (f"{raw.where(image)} box {position}: "
                f"[ymin, xmin, ymax, xmax] = {_fmt_box(raw.boxes[i])}")
    height, width = float(raw.image_height[image]), float(raw.image_width[image])
    ymin, xmin, ymax, xmax = (float(v) for v in raw.boxes[i])
    pixels = {"xmin": xmin * width, "ymin": ymin * height, "xmax": xmax * width,
              "ymax": ymax * height}
    quoted = ", ".join(f"{name} = {pixels[role]:.6g}" for role, name in columns.items())
    return f"{raw.where(image)} box {position}: {quoted} (pixels)"


def _first(mask: np.ndarray | np.bool_) -> int:
    return int(np.flatnonzero(mask)[0])


#: How the readers name a record in a first-instance example: ``PATH (record N)...``.
_RECORD_LOCATION = re.compile(r"(?P<path>.+?) \((?P<unit>record|line|image id) (?P<n>\d+)\)")


def first_location(where: str | None) -> tuple[str | None, int | None]:
    """``(path, record)`` named by a first-instance example such as
    ``"a.tfrecord (record 7) box 0: ..."``; ``record`` only for TFRecord records (a CSV
    line or COCO image id gives the path alone); ``(None, None)`` when none is named."""
    match = _RECORD_LOCATION.match(where or "")
    if match is None:
        return None, None
    return match["path"], int(match["n"]) if match["unit"] == "record" else None


def raise_if_fatal(skips: Skips, skip_bad: bool) -> None:
    """Raise :class:`InputError` for the first fatal reason present, unless ``skip_bad``;
    the error's ``path`` and ``record`` are those of the first instance."""
    if skip_bad:
        return
    for key, meaning in FATAL.items():
        count = skips.counts.get(key, 0)
        if count:
            where = skips.first.get(key)
            first = f"; first: {where}" if where else ""
            path, record = first_location(where)
            raise InputError(f"{count} {meaning}{first} (skip and count them with "
                             f"{option('skip_bad')})", path=path, record=record,
                             located_in_message=True)


def apply_tfod_filters(raw: RawBoxes, skips: Skips, *, max_number_of_boxes: int | None = None,
                       drop_difficult: bool = False) -> BoxSet:
    """Filter ``raw`` as TFOD's input pipeline would and count what was dropped.

    Args:
        raw: boxes grouped by image (``box_image`` non-decreasing).
        skips: counters to add to (modified in place).
        max_number_of_boxes: keep at most this many boxes per image (``None``: all).
        drop_difficult: also drop boxes flagged difficult.
    Returns:
        A :class:`BoxSet` (its ``skipped``/``skip_examples`` are ``skips``'s).
    """
    bad_image = _not_normalized_images(raw, skips)
    keep = _dropped_boxes(raw, ~bad_image[raw.box_image], skips, drop_difficult)
    _count_unmatchable(raw, keep, skips)
    if max_number_of_boxes is not None:
        _truncate(raw, keep, max_number_of_boxes, skips)
    return _kept(raw, keep, bad_image, skips)


def _not_normalized_images(raw: RawBoxes, skips: Skips) -> np.ndarray:
    """Step 2: bool ``[M]`` images with a finite coordinate > 1.1 (counted)."""
    boxes = raw.boxes
    with np.errstate(invalid="ignore"):
        too_big = (boxes > NORMALIZED_LIMIT).any(axis=1) & ~np.isinf(boxes).any(axis=1)
    bad_image = np.zeros(raw.num_images, dtype=bool)
    if too_big.any():
        bad_image[raw.box_image[too_big]] = True
        skips.add("not_normalized_records", int(bad_image.sum()), _box_where(raw, _first(too_big)))
    return bad_image


def _dropped_boxes(raw: RawBoxes, keep: np.ndarray, skips: Skips,
                   drop_difficult: bool) -> np.ndarray:
    """Steps 1 and 3-6 in order, each on the boxes the earlier ones kept: bool ``[N]``
    boxes kept (``keep``, the boxes of usable images, is updated in place)."""
    boxes = raw.boxes
    steps = [("infinite_boxes", np.isinf(boxes).any(axis=1)),
             ("nan_boxes", np.isnan(boxes).any(axis=1)),
             ("unknown_class_boxes", raw.label < 0)]
    if drop_difficult:
        steps.append(("difficult_boxes", raw.difficult))
    steps.append(("inverted_boxes", (boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])))
    for key, dropped in steps:
        dropped = dropped & keep
        if dropped.any():
            example = None if key == "difficult_boxes" else _box_where(raw, _first(dropped))
            skips.add(key, int(dropped.sum()), example)
        keep &= ~dropped
    return keep


def _count_unmatchable(raw: RawBoxes, keep: np.ndarray, skips: Skips) -> None:
    """Kept boxes no anchor can match: zero area, or entirely outside the image."""
    boxes = raw.boxes
    with np.errstate(invalid="ignore"):
        zero = ((boxes[:, 2] == boxes[:, 0]) | (boxes[:, 3] == boxes[:, 1])) & keep
        outside = ((boxes[:, 0] >= 1) | (boxes[:, 2] <= 0) | (boxes[:, 1] >= 1)
                   | (boxes[:, 3] <= 0)) & keep & ~zero
    for mask, key in ((zero, "zero_area_boxes"), (outside, "fully_outside_boxes")):
        if mask.any():
            skips.add(key, int(mask.sum()), _box_where(raw, _first(mask)))


def _truncate(raw: RawBoxes, keep: np.ndarray, max_number_of_boxes: int, skips: Skips) -> None:
    """Step 7: each image keeps its first ``max_number_of_boxes`` kept boxes (in place)."""
    kept_idx = np.flatnonzero(keep)
    kept_image = raw.box_image[kept_idx]
    starts = np.searchsorted(kept_image, kept_image, side="left")
    over = kept_idx[np.arange(kept_idx.size) - starts >= max_number_of_boxes]
    if over.size:
        skips.add("boxes_over_max", int(over.size), _box_where(raw, int(over[0])))
        keep[over] = False


def _kept(raw: RawBoxes, keep: np.ndarray, bad_image: np.ndarray, skips: Skips) -> BoxSet:
    """The :class:`BoxSet` of the kept boxes and usable images (empty ones counted)."""
    if bad_image.any():
        images = np.flatnonzero(~bad_image)
        new_index = np.full(raw.num_images, -1, dtype=np.int32)
        new_index[images] = np.arange(images.size, dtype=np.int32)
    else:
        images, new_index = slice(None), None  # type: ignore[assignment]  # no re-index
    kept = slice(None) if keep.all() else np.flatnonzero(keep)
    out_box_image = raw.box_image[kept]
    if new_index is not None:
        out_box_image = new_index[out_box_image]
    image_height = raw.image_height[images]
    counts = np.bincount(out_box_image, minlength=image_height.shape[0])
    empty = counts == 0
    if empty.any():
        first_empty = _first(empty)
        original = first_empty if new_index is None else int(np.flatnonzero(~bad_image)[
            first_empty])
        skips.add("images_without_boxes", int(empty.sum()), raw.where(original))
    return BoxSet(
        image_height=image_height.astype(np.int32, copy=False),
        image_width=raw.image_width[images].astype(np.int32, copy=False),
        image_key=raw.image_key[images],
        box_image=out_box_image.astype(np.int32, copy=False),
        boxes=np.ascontiguousarray(raw.boxes[kept], dtype=np.float32),
        label=raw.label[kept].astype(np.int32, copy=False),
        difficult=raw.difficult[kept].astype(bool, copy=False),
        group_of=raw.group_of[kept].astype(bool, copy=False),
        is_crowd=raw.is_crowd[kept].astype(bool, copy=False),
        skipped=dict(skips.counts),
        sources=list(dict.fromkeys(raw.files)),
        skip_examples=dict(skips.first),
    )


def keep_first_boxes(boxset: BoxSet, max_number_of_boxes: int | None) -> BoxSet:
    """Step 6 alone, on boxes already read: each image keeps its first
    ``max_number_of_boxes`` boxes (``None``: all), counted in ``boxes_over_max``.

    For boxes read without the limit (the augmented path reads them so, since TFOD
    truncates after augmentation) when the static view is wanted as well.
    """
    if max_number_of_boxes is None or boxset.num_boxes == 0:
        return boxset
    box_image = boxset.box_image
    order = np.argsort(box_image, kind="stable")
    sorted_image = box_image[order]
    rank = np.empty(box_image.shape[0], dtype=np.int64)
    rank[order] = np.arange(order.size) - np.searchsorted(sorted_image, sorted_image, "left")
    keep = rank < max_number_of_boxes
    if keep.all():
        return boxset
    skipped, examples = dict(boxset.skipped), dict(boxset.skip_examples)
    first = _first(~keep)
    skipped["boxes_over_max"] = skipped.get("boxes_over_max", 0) + int((~keep).sum())
    examples.setdefault("boxes_over_max", (
        f"image {boxset.image_key[box_image[first]]} box {int(rank[first])}: "
        f"[ymin, xmin, ymax, xmax] = {_fmt_box(boxset.boxes[first])}"))
    return BoxSet(
        image_height=boxset.image_height, image_width=boxset.image_width,
        image_key=boxset.image_key, box_image=box_image[keep], boxes=boxset.boxes[keep],
        label=boxset.label[keep], difficult=boxset.difficult[keep],
        group_of=boxset.group_of[keep], is_crowd=boxset.is_crowd[keep],
        skipped=skipped, sources=list(boxset.sources), skip_examples=examples)
