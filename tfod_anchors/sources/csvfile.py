"""CSV box tables -> :class:`RawBoxes`.

One row per box, absolute pixel coordinates, a header naming the columns.
Accepted layouts (column names are matched case-insensitively):

* the TFOD tutorial / notebook layout (``xml_to_csv.py``, Roboflow's "TensorFlow
  Object Detection CSV"): ``filename,width,height,class,xmin,ymin,xmax,ymax``;
* the dataset-table layout ``image_id,image_width,image_height,xmin,ymin,xmax,ymax,
  label`` with optional extra columns such as ``difficult``;
* other spellings of the same columns (see ``ALIASES``).

Boxes are normalized like the tutorial's ``generate_tfrecord.py`` does:
``xmin / width`` ... (no -1). Rows of one image need not be adjacent; images
are ordered by first appearance. Without width/height columns the size is read
from the image file's header (path relative to the CSV). A table whose
coordinates all lie in [0, 1] is rejected as already normalized.
Messages name the CSV line of the image's first row.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InputError
from .fileio import dirname, is_remote, join, read_bytes
from .imageheader import file_image_size
from .raw import RawBoxes, Skips
from .sizes import oversize_message, parse_side, size_too_large
from .texts import NamedRaw, names_to_codes

ALIASES = {
    "image": ("filename", "image_id", "image", "image_name", "file_name", "file", "path",
              "image_path", "img"),
    "width": ("width", "image_width", "img_width", "imagewidth"),
    "height": ("height", "image_height", "img_height", "imageheight"),
    "class": ("class", "label", "class_name", "classname", "category", "name"),
    "xmin": ("xmin", "x_min", "x1", "left"),
    "ymin": ("ymin", "y_min", "y1", "top"),
    "xmax": ("xmax", "x_max", "x2", "right"),
    "ymax": ("ymax", "y_max", "y2", "bottom"),
    "difficult": ("difficult", "is_difficult"),
}
REQUIRED = ("image", "xmin", "ymin", "xmax", "ymax")


def _columns(header: list[str], path: str) -> dict[str, int]:
    lowered = [h.strip().lower() for h in header]
    found: dict[str, int] = {}
    for role, names in ALIASES.items():
        for name in names:
            if name in lowered:
                found[role] = lowered.index(name)
                break
    missing = [role for role in REQUIRED if role not in found]
    if missing:
        raise InputError(
            f"CSV header {','.join(header)!r} lacks {', '.join(missing)}; expected e.g. "
            "filename,width,height,class,xmin,ymin,xmax,ymax (absolute pixels)", path=path)
    return found


def _image_path(csv_path: str, name: str) -> str:
    if is_remote(name) or name.startswith("/"):
        return name
    return join(dirname(csv_path) or ".", name)


def _side(cell: str) -> int | None:
    """A width/height cell: an int, None when empty; ValueError when not a finite number."""
    value = parse_side(cell)
    if value is None and cell.strip():
        raise ValueError(cell)
    return value


def _rows(reader: Any, path: str, skips: Skips) -> Iterator[tuple[int, list[str]]]:
    """``(line, row)`` pairs; rows the csv module cannot read (a field over its
    131,072-character limit, a NUL byte) are counted as malformed and skipped."""
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            skips.add("malformed_records", 1, f"{path} (line {reader.line_num}): unreadable CSV "
                                              f"row ({err})")
            continue
        yield reader.line_num, row


@dataclass
class _Table:
    """The box rows of a CSV, per image the line of its first row and its stored size."""

    rows: list[tuple[str, list[float], str, bool]] = field(default_factory=list)
    first_line: dict[str, int] = field(default_factory=dict)
    sized: dict[str, tuple[int | None, int | None] | None] = field(default_factory=dict)


def _open_table(path: str) -> tuple[list[str], Any]:
    """The header and a ``csv.reader`` positioned after it."""
    try:
        text = read_bytes(path).decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InputError(f"not UTF-8 text: {err}", path=path) from None
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader, None)
    except csv.Error as err:
        raise InputError(f"unreadable CSV header: {err}", path=path) from None
    if not header:
        raise InputError("empty CSV file", path=path)
    return header, reader


def _table(reader: Any, col: dict[str, int], path: str, skips: Skips) -> _Table:
    """Every usable box row (unusable ones counted as malformed)."""
    table = _Table()
    for line, row in _rows(reader, path, skips):
        if not row or all(not cell.strip() for cell in row):
            continue
        try:
            image = row[col["image"]].strip()
            values = [float(row[col[k]]) for k in ("ymin", "xmin", "ymax", "xmax")]
            name = row[col["class"]].strip() if "class" in col else "object"
            diff = "difficult" in col and row[col["difficult"]].strip() not in ("", "0", "false",
                                                                                  "False")
            size = None
            if "width" in col and "height" in col:
                size = (_side(row[col["height"]]), _side(row[col["width"]]))
        except (IndexError, ValueError):
            skips.add("malformed_records", 1, f"{path} (line {line}): not a box row "
                                              f"({','.join(row)[:80]})")
            continue
        if image not in table.first_line:
            table.first_line[image] = line
            table.sized[image] = size
        table.rows.append((image, values, name, diff))
    return table


def _image_sizes(table: _Table, path: str, skips: Skips) -> dict[str, tuple[int, int]]:
    """Image -> ``(height, width)`` for the images with a usable size (stored, else from
    the image file's header), in first-appearance order; the others counted."""
    sizes: dict[str, tuple[int, int]] = {}
    for image, line in table.first_line.items():
        stored = table.sized[image]
        where = f"{path} (line {line})"
        sh, sw = stored if stored is not None else (None, None)
        if sh is not None and sw is not None and size_too_large(sh, sw):
            skips.add("malformed_records", 1, f"{where}: {oversize_message(sh, sw)}")
            continue
        if sh is not None and sw is not None and sh > 0 and sw > 0:
            sizes[image] = (sh, sw)
            continue
        from_file = file_image_size(_image_path(path, image))
        if from_file is None:
            negative = (sh is not None and sh < 0) or (sw is not None and sw < 0)
            what = "negative width/height" if negative else "no width/height"
            skips.add("missing_image_size", 1, f"{where}: {what} and no readable image "
                                               f"{image[:80]!r}")
            continue
        skips.add("size_from_header", 1, where)
        sizes[image] = from_file
    return sizes


def read_csv(path: str, *, skips: Skips) -> NamedRaw:
    """Read one CSV table of boxes.

    Raises:
        InputError: unreadable, no usable header, or coordinates that look normalized.
    """
    header, reader = _open_table(path)
    col = _columns(header, path)
    table = _table(reader, col, path, skips)
    sizes = _image_sizes(table, path, skips)
    position = {image: i for i, image in enumerate(sizes)}
    heights = [h for h, _ in sizes.values()]
    widths = [w for _, w in sizes.values()]
    kept = [(position[r[0]], r) for r in table.rows if r[0] in position]
    kept.sort(key=lambda item: item[0])  # stable: rows of an image keep their order
    img = np.array([k for k, _ in kept], dtype=np.int64)
    pixels = np.array([r[1] for _, r in kept], dtype=np.float64).reshape(-1, 4)
    finite = np.abs(pixels[np.isfinite(pixels)])
    if finite.size and finite.max() <= 1.0 and max(heights + widths) > 1:
        raise InputError("every coordinate is within [0, 1]: this CSV looks normalized, but "
                         "xmin/ymin/xmax/ymax must be absolute pixels", path=path)
    h = np.asarray(heights, dtype=np.float64)[img]
    w = np.asarray(widths, dtype=np.float64)[img]
    with np.errstate(invalid="ignore", over="ignore"):  # non-finite: counted by the filters
        boxes = (pixels / np.stack([h, w, h, w], axis=1)).astype(np.float32)
    codes, vocabulary = names_to_codes([r[2] for _, r in kept])
    n = len(kept)
    raw = RawBoxes(
        image_height=np.asarray(heights, dtype=np.int32),
        image_width=np.asarray(widths, dtype=np.int32),
        image_key=np.array(list(sizes), dtype=object).reshape(-1),
        image_file=np.zeros(len(heights), dtype=np.int32),
        image_record=np.array([table.first_line[i] for i in sizes], dtype=np.int64),
        box_image=img.astype(np.int32), boxes=boxes, label=codes,
        difficult=np.array([r[3] for _, r in kept], dtype=bool),
        group_of=np.zeros(n, dtype=bool), is_crowd=np.zeros(n, dtype=bool),
        files=[path], units=["line"], pixel_columns=[_coordinate_names(header, col)])
    return NamedRaw(raw, vocabulary)


def _coordinate_names(header: list[str], col: dict[str, int]) -> dict[str, str]:
    """Coordinate role -> the CSV's own column name, in the CSV's column order."""
    roles = sorted(("xmin", "ymin", "xmax", "ymax"), key=lambda role: col[role])
    return {role: header[col[role]].strip() for role in roles}
