"""COCO instances JSON -> :class:`RawBoxes`, as TFOD's ``create_coco_tf_record`` would
have written the records.

* ``bbox`` is ``[x, y, width, height]`` in pixels; normalized as
  ``ymin = y / H``, ``xmin = x / W``, ``ymax = (y + h) / H``, ``xmax = (x + w) / W``
  (no -1), computed in double and stored as float32 like a tf.Example float.
* Like the converter, annotations with ``w <= 0`` or ``h <= 0``
  (``zero_size_boxes``) or reaching past the image (``x + w > W`` or
  ``y + h > H``, ``out_of_image_boxes``) are skipped.
* ``iscrowd`` becomes ``is_crowd`` (TFOD keeps crowd boxes for training).
* Class: without a label map the ``category_id``; with one, the category name
  looked up like ``class/text`` (unknown -> -1, dropped later).
* Images keep the file's order; annotations of an image keep theirs. Images
  without annotations are kept; annotations of unknown images are counted as
  ``orphan_annotations``. Record numbers in messages are COCO image ids.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InputError
from .fileio import read_bytes
from .labelmap import LABEL_MAX, UNKNOWN, LabelMap
from .raw import RawBoxes, Skips
from .sizes import oversize_message, parse_side, size_too_large

_INT64_MAX = 2**63 - 1


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(value)
    return float(value)  # a huge int raises OverflowError: the caller treats it as malformed


def _key(value: Any) -> Any:
    """An id usable as a dict key (JSON lists/objects become their text)."""
    return value if isinstance(value, (int, float, str, bool, type(None))) else repr(value)


def _image_size(image: dict[str, Any], path: str, image_id: Any,
                skips: Skips) -> tuple[int, int] | None:
    """The image's ``(height, width)``, or None after counting why it is unusable."""
    h, w = parse_side(image.get("height")), parse_side(image.get("width"))
    where = f"{path} (image id {image_id})"
    if h is None or w is None or h <= 0 or w <= 0:
        what = "negative" if (h or 0) < 0 or (w or 0) < 0 else "missing, 0 or not a number"
        skips.add("missing_image_size", 1, f"{where}: height x width "
                                           f"{image.get('height')!r} x {image.get('width')!r} "
                                           f"({what})")
        return None
    if size_too_large(h, w):
        skips.add("malformed_records", 1, f"{where}: {oversize_message(h, w)}")
        return None
    return h, w


@dataclass
class _Images:
    """The usable images of a COCO file, in file order."""

    ids: list[Any] = field(default_factory=list)
    heights: list[int] = field(default_factory=list)
    widths: list[int] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    index: dict[Any, int] = field(default_factory=dict)  # id -> first position


def _load(path: str) -> dict[str, Any]:
    """The parsed file, checked for ``images`` and ``annotations`` lists."""
    try:
        data = json.loads(read_bytes(path))
    except (ValueError, UnicodeDecodeError) as err:
        raise InputError(f"not valid JSON: {err}", path=path) from None
    except RecursionError:
        raise InputError("not valid JSON: nested too deeply", path=path) from None
    if not isinstance(data, dict) or not isinstance(data.get("images"), list) \
            or not isinstance(data.get("annotations"), list):
        raise InputError("not a COCO instances file: it needs 'images' and 'annotations' lists",
                         path=path)
    return data


def _images(data: dict[str, Any], path: str, skips: Skips) -> _Images:
    """Images with a usable size (the others counted in ``skips``)."""
    found = _Images()
    for i, image in enumerate(data["images"]):
        image = image if isinstance(image, dict) else {}
        image_id = _key(image.get("id", i))
        size = _image_size(image, path, image_id, skips)
        if size is None:
            continue
        found.index.setdefault(image_id, len(found.ids))
        found.ids.append(image_id)
        found.heights.append(size[0])
        found.widths.append(size[1])
        found.keys.append(str(image.get("file_name") or image_id))
    return found


def _annotations(data: dict[str, Any], images: _Images, path: str,
                 skips: Skips) -> list[tuple[Any, ...]]:
    """``(image position, order, x, y, w, h, category, iscrowd)`` per usable annotation,
    sorted by image then file order (orphans and bbox-less ones counted)."""
    rows: list[tuple[Any, ...]] = []
    orphans = 0
    for order, ann in enumerate(data["annotations"]):
        ann = ann if isinstance(ann, dict) else {}
        at = images.index.get(_key(ann.get("image_id")))
        if at is None:
            orphans += 1
            continue
        try:
            bbox = tuple(_number(v) for v in ann["bbox"])
            if len(bbox) != 4:
                raise ValueError("bbox needs 4 numbers")
        except (KeyError, TypeError, ValueError, OverflowError):
            skips.add("malformed_records", 1, f"{path} (image id {images.ids[at]}): annotation "
                                              f"{_key(ann.get('id', order))} has no numeric "
                                              "[x, y, w, h] bbox")
            continue
        rows.append((at, order, *bbox, _key(ann.get("category_id")), bool(ann.get("iscrowd"))))
    skips.add("orphan_annotations", orphans, path if orphans else None)
    rows.sort(key=lambda r: (r[0], r[1]))
    return rows


def _converter_keeps(xywh: np.ndarray, img: np.ndarray, images: _Images, path: str,
                     skips: Skips) -> np.ndarray:
    """bool ``[N]``: boxes ``create_coco_tf_record`` keeps (zero-size and out-of-image
    ones counted); ``xywh`` float64 ``[N, 4]`` pixels, ``img`` int ``[N]`` image positions."""
    x, y, w, h = xywh.T
    image_h = np.asarray(images.heights, dtype=np.float64)[img]
    image_w = np.asarray(images.widths, dtype=np.float64)[img]
    with np.errstate(invalid="ignore", over="ignore"):
        zero = (w <= 0) | (h <= 0)
        outside = ~zero & ((x + w > image_w) | (y + h > image_h))
    for mask, key in ((zero, "zero_size_boxes"), (outside, "out_of_image_boxes")):
        if mask.any():
            first = int(np.flatnonzero(mask)[0])
            skips.add(key, int(mask.sum()), f"{path} (image id {images.ids[img[first]]}): bbox "
                                            f"{[float(v) for v in xywh[first]]}")
    return ~(zero | outside)


def _labels(cats: list[Any], categories: dict[Any, str],
            label_map: LabelMap | None) -> np.ndarray:
    """int32 class ids: ``category_id`` itself, or its name looked up in ``label_map``."""
    if label_map is None:
        label = np.array([c if isinstance(c, int) and not isinstance(c, bool)
                          and UNKNOWN <= c <= LABEL_MAX else UNKNOWN
                          for c in cats], dtype=np.int64)
    else:
        names = [categories.get(c) for c in cats]
        label = label_map.lookup_many([n if n is not None else "" for n in names])
        label[[i for i, n in enumerate(names) if n is None]] = UNKNOWN  # no such category
    return np.clip(label, UNKNOWN, LABEL_MAX).astype(np.int32)


def read_coco(path: str, *, label_map: LabelMap | None, skips: Skips) -> RawBoxes:
    """Read one COCO instances file.

    Raises:
        InputError: not JSON, or no ``images``/``annotations`` lists.
    """
    data = _load(path)
    cats = data.get("categories")
    categories = {_key(c.get("id")): str(c.get("name", "")) for c in
                  (cats if isinstance(cats, list) else []) if isinstance(c, dict)}
    images = _images(data, path, skips)
    rows = _annotations(data, images, path, skips)
    img = np.array([r[0] for r in rows], dtype=np.int64)
    xywh = np.array([r[2:6] for r in rows], dtype=np.float64).reshape(-1, 4)
    keep = _converter_keeps(xywh, img, images, path, skips)
    x, y, w, h = xywh.T
    image_h = np.asarray(images.heights, dtype=np.float64)[img]
    image_w = np.asarray(images.widths, dtype=np.float64)[img]
    with np.errstate(invalid="ignore", over="ignore"):  # non-finite: counted by the filters
        boxes = np.stack([y / image_h, x / image_w, (y + h) / image_h, (x + w) / image_w],
                         axis=1)[keep].astype(np.float32)
    n = int(keep.sum())
    return RawBoxes(
        image_height=np.asarray(images.heights, dtype=np.int32),
        image_width=np.asarray(images.widths, dtype=np.int32),
        image_key=np.array(images.keys, dtype=object),
        image_file=np.zeros(len(images.ids), dtype=np.int32),
        image_record=np.array([i if isinstance(i, int) and not isinstance(i, bool)
                               and 0 <= i <= _INT64_MAX else -1 for i in images.ids],
                              dtype=np.int64),
        box_image=img[keep].astype(np.int32),
        boxes=boxes.reshape(-1, 4),
        label=_labels([r[6] for r, k in zip(rows, keep) if k], categories, label_map),
        difficult=np.zeros(n, dtype=bool), group_of=np.zeros(n, dtype=bool),
        is_crowd=np.array([r[7] for r, k in zip(rows, keep) if k], dtype=bool),
        files=[path], units=["image id"],
    )
