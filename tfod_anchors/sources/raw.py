"""Boxes exactly as a reader found them, before TFOD's input filtering.

Every reader (TFRecord, COCO, VOC, CSV) produces a :class:`RawBoxes`: columnar
numpy arrays plus, per image, where it came from (file index and record
number), so any later message can name the file and record. Boxes are grouped
by image, images in reading order. :mod:`.filtering` turns it into a ``BoxSet``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Every ``BoxSet.skipped`` key, in the order the ``sources`` docstring explains them
#: (fatal unless ``skip_bad``; TFOD's own filtering; information only).
SKIP_KEYS = (
    "corrupt_files", "malformed_records", "missing_image_size", "not_normalized_records",
    "inverted_boxes",
    "nan_boxes", "infinite_boxes", "unknown_class_boxes", "boxes_without_class",
    "difficult_boxes", "boxes_over_max", "zero_size_boxes", "out_of_image_boxes",
    "orphan_annotations",
    "images_without_boxes", "zero_area_boxes", "fully_outside_boxes", "size_from_header",
    "size_mismatch", "unverified_sizes",
)


def printable(text: str, limit: int = 400) -> str:
    """``text`` on one line: characters that are not printable (newlines, NUL, NEL ...)
    escaped, at most ``limit`` characters (the rest elided)."""
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class Skips:
    """Counts by reason, plus where the first instance of each reason was seen."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.first: dict[str, str] = {}

    def add(self, key: str, count: int = 1, where: str | None = None) -> None:
        if count <= 0:
            return
        self.counts[key] = self.counts.get(key, 0) + int(count)
        if where is not None and key not in self.first:
            self.first[key] = printable(where)

    def merge(self, other: Skips) -> None:
        for key, count in other.counts.items():
            self.add(key, count, other.first.get(key))


@dataclass
class RawBoxes:
    """Unfiltered boxes of one or more sources.

    Attributes:
        image_height, image_width: int32 ``[M]`` original image size in pixels.
        image_key: object ``[M]`` readable image id.
        image_file: int32 ``[M]`` index into ``files``.
        image_record: int64 ``[M]`` record number within its file (TFRecord record
            index, CSV line, COCO image id), ``-1`` when the file is the record (VOC).
        box_image: int32 ``[N]`` image index per box, non-decreasing.
        boxes: float32 ``[N, 4]`` ``[ymin, xmin, ymax, xmax]`` normalized.
        label: int32 ``[N]`` class id; negative = not recognised (TFOD drops it).
        difficult, group_of, is_crowd: bool ``[N]``.
        files: source file paths; ``units[i]`` names what a record of file ``i`` is.
        pixel_columns: per file, the names of a pixel table's coordinate columns
            (``xmin, ymin, xmax, ymax`` roles -> the file's own header names, in its
            column order), ``None`` (or missing) for normalized sources; messages
            quote such a box in those columns and pixels.
    """

    image_height: np.ndarray
    image_width: np.ndarray
    image_key: np.ndarray
    image_file: np.ndarray
    image_record: np.ndarray
    box_image: np.ndarray
    boxes: np.ndarray
    label: np.ndarray
    difficult: np.ndarray
    group_of: np.ndarray
    is_crowd: np.ndarray
    files: list[str] = field(default_factory=list)
    units: list[str] = field(default_factory=list)
    pixel_columns: list[dict[str, str] | None] = field(default_factory=list)

    @property
    def num_images(self) -> int:
        return int(self.image_height.shape[0])

    @property
    def num_boxes(self) -> int:
        return int(self.boxes.shape[0])

    def where(self, image: int) -> str:
        """``"path (record 7)"`` for image index ``image``."""
        path = self.files[int(self.image_file[image])]
        record = int(self.image_record[image])
        if record < 0:
            return path
        return f"{path} ({self.units[int(self.image_file[image])]} {record})"

    def columns_of(self, file_index: int) -> dict[str, str] | None:
        """:attr:`pixel_columns` of one file (``None`` when it has none)."""
        return self.pixel_columns[file_index] if file_index < len(self.pixel_columns) else None

    @staticmethod
    def empty(files: list[str] | None = None, units: list[str] | None = None) -> RawBoxes:
        return RawBoxes(
            image_height=np.zeros(0, np.int32), image_width=np.zeros(0, np.int32),
            image_key=np.zeros(0, object), image_file=np.zeros(0, np.int32),
            image_record=np.zeros(0, np.int64), box_image=np.zeros(0, np.int32),
            boxes=np.zeros((0, 4), np.float32), label=np.zeros(0, np.int32),
            difficult=np.zeros(0, bool), group_of=np.zeros(0, bool), is_crowd=np.zeros(0, bool),
            files=list(files or []), units=list(units or []))


def concat_raw(parts: list[RawBoxes]) -> RawBoxes:
    """One :class:`RawBoxes` from several, in order (file and image indices shifted)."""
    if not parts:
        return RawBoxes.empty()
    if len(parts) == 1:
        return parts[0]
    file_offsets = np.cumsum([0] + [len(p.files) for p in parts[:-1]])
    image_offsets = np.cumsum([0] + [p.num_images for p in parts[:-1]])

    def cat(name: str, dtype) -> np.ndarray:
        return np.concatenate([getattr(p, name) for p in parts]).astype(dtype, copy=False)

    return RawBoxes(
        image_height=cat("image_height", np.int32),
        image_width=cat("image_width", np.int32),
        image_key=cat("image_key", object),
        image_file=np.concatenate([p.image_file + off for p, off in zip(parts, file_offsets)])
        .astype(np.int32),
        image_record=cat("image_record", np.int64),
        box_image=np.concatenate([p.box_image + off for p, off in zip(parts, image_offsets)])
        .astype(np.int32),
        boxes=np.concatenate([p.boxes for p in parts]).astype(np.float32, copy=False)
        .reshape(-1, 4),
        label=cat("label", np.int32),
        difficult=cat("difficult", bool),
        group_of=cat("group_of", bool),
        is_crowd=cat("is_crowd", bool),
        files=[f for p in parts for f in p.files],
        units=[u for p in parts for u in p.units],
        pixel_columns=[p.columns_of(i) for p in parts for i in range(len(p.files))],
    )


def ragged_take(values: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenate ``values[starts[i] : starts[i] + lengths[i]]`` over rows ``i``,
    without a Python loop. ``starts``/``lengths`` int ``[R]``."""
    lengths = np.asarray(lengths, dtype=np.int64)
    total = int(lengths.sum())
    if total == 0:
        return values[:0]
    out_starts = np.cumsum(lengths) - lengths
    index = np.arange(total, dtype=np.int64) + np.repeat(
        np.asarray(starts, dtype=np.int64) - out_starts, lengths)
    return values[index]
