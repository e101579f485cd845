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
from typing import Any

import numpy as np

from ..errors import InputError
from .fileio import read_bytes
from .labelmap import UNKNOWN, LabelMap
from .raw import RawBoxes, Skips


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(value)
    return float(value)


def read_coco(path: str, *, label_map: LabelMap | None, skips: Skips) -> RawBoxes:
    """Read one COCO instances file.

    Raises:
        InputError: not JSON, or no ``images``/``annotations`` lists.
    """
    try:
        data = json.loads(read_bytes(path))
    except (ValueError, UnicodeDecodeError) as err:
        raise InputError(f"not valid JSON: {err}", path=path) from None
    if not isinstance(data, dict) or not isinstance(data.get("images"), list) \
            or not isinstance(data.get("annotations"), list):
        raise InputError("not a COCO instances file: it needs 'images' and 'annotations' lists",
                         path=path)
    categories = {c.get("id"): str(c.get("name", "")) for c in data.get("categories") or []
                  if isinstance(c, dict)}

    image_ids: list[Any] = []
    heights: list[int] = []
    widths: list[int] = []
    keys: list[str] = []
    index: dict[Any, int] = {}
    for i, image in enumerate(data["images"]):
        image = image if isinstance(image, dict) else {}
        image_id = image.get("id", i)
        try:
            ih, iw = int(image.get("height", 0)), int(image.get("width", 0))
        except (TypeError, ValueError):
            ih = iw = 0
        if ih <= 0 or iw <= 0:
            skips.add("missing_image_size", 1, f"{path} (image id {image_id}): no positive "
                                               "width/height")
            continue
        index.setdefault(image_id, len(image_ids))
        image_ids.append(image_id)
        heights.append(ih)
        widths.append(iw)
        keys.append(str(image.get("file_name") or image_id))

    rows: list[tuple[int, int, float, float, float, float, Any, bool]] = []
    orphans = 0
    for order, ann in enumerate(data["annotations"]):
        ann = ann if isinstance(ann, dict) else {}
        at = index.get(ann.get("image_id"))
        if at is None:
            orphans += 1
            continue
        try:
            bbox = tuple(_number(v) for v in ann["bbox"])
            if len(bbox) != 4:
                raise ValueError("bbox needs 4 numbers")
        except (KeyError, TypeError, ValueError):
            skips.add("malformed_records", 1, f"{path} (image id {image_ids[at]}): annotation "
                                              f"{ann.get('id', order)} has no [x, y, w, h] bbox")
            continue
        rows.append((at, order, *bbox, ann.get("category_id"), bool(ann.get("iscrowd"))))
    skips.add("orphan_annotations", orphans, path if orphans else None)

    rows.sort(key=lambda r: (r[0], r[1]))
    img = np.array([r[0] for r in rows], dtype=np.int64)
    xywh = np.array([r[2:6] for r in rows], dtype=np.float64).reshape(-1, 4)
    x, y, w, h = xywh.T
    image_h = np.asarray(heights, dtype=np.float64)[img]
    image_w = np.asarray(widths, dtype=np.float64)[img]
    zero = (w <= 0) | (h <= 0)
    outside = ~zero & ((x + w > image_w) | (y + h > image_h))
    for mask, key in ((zero, "zero_size_boxes"), (outside, "out_of_image_boxes")):
        if mask.any():
            first = int(np.flatnonzero(mask)[0])
            skips.add(key, int(mask.sum()), f"{path} (image id {image_ids[img[first]]}): bbox "
                                            f"{[float(v) for v in xywh[first]]}")
    keep = ~(zero | outside)
    boxes = np.stack([y / image_h, x / image_w, (y + h) / image_h, (x + w) / image_w],
                     axis=1)[keep].astype(np.float32)
    cats = [r[6] for r, k in zip(rows, keep) if k]
    if label_map is None:
        label = np.array([c if isinstance(c, int) and not isinstance(c, bool) else UNKNOWN
                          for c in cats], dtype=np.int64)
    else:
        names = [categories.get(c) for c in cats]
        label = label_map.lookup_many([n if n is not None else "" for n in names])
        label[[i for i, n in enumerate(names) if n is None]] = UNKNOWN  # no such category
    crowd = np.array([r[7] for r, k in zip(rows, keep) if k], dtype=bool)
    n = int(keep.sum())
    return RawBoxes(
        image_height=np.asarray(heights, dtype=np.int32),
        image_width=np.asarray(widths, dtype=np.int32),
        image_key=np.array(keys, dtype=object),
        image_file=np.zeros(len(image_ids), dtype=np.int32),
        image_record=np.array([i if isinstance(i, int) else -1 for i in image_ids],
                              dtype=np.int64),
        box_image=img[keep].astype(np.int32),
        boxes=boxes.reshape(-1, 4),
        label=np.clip(label, UNKNOWN, np.iinfo(np.int32).max).astype(np.int32),
        difficult=np.zeros(n, dtype=bool), group_of=np.zeros(n, dtype=bool), is_crowd=crowd,
        files=[path], units=["image id"],
    )
