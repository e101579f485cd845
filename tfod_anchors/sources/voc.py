"""Pascal VOC XML annotations -> :class:`RawBoxes`, as TFOD's
``create_pascal_tf_record`` would have written the records.

* A directory is searched recursively for ``*.xml`` (sorted paths); a single
  ``.xml`` file is read alone. Each file is one image (messages name the file).
* Size from ``size/width`` and ``size/height``; when missing or 0, from the header
  of the image file (``filename`` next to the XML, in ``../JPEGImages/``, or the
  ``path`` element) - counted as ``size_from_header``.
* ``bndbox`` coordinates are divided by the image size with no -1, exactly as the
  converter does (VOC's 1-based pixel indices are taken as continuous
  coordinates). ``difficult`` is kept as a flag (missing = 0).
* Classes are the ``name`` texts; ids come from the label map, or, without one,
  from :func:`tfod_anchors.sources.read_boxes` (alphabetical).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np

from .fileio import dirname, exists, glob_files, has_glob, is_dir, join, read_bytes, walk_files
from .imageheader import file_image_size
from .raw import RawBoxes, Skips
from .sizes import oversize_message, parse_side, size_too_large
from .texts import NamedRaw, names_to_codes


def list_xml(path: str) -> list[str]:
    """The XML files a VOC spec stands for: a directory (recursively), a glob such as
    ``Annotations/*.xml``, or one file; sorted."""
    if has_glob(path):
        return glob_files(path)
    if is_dir(path):
        return walk_files(path, ".xml")
    return [path]


def _text(node: ET.Element | None, tag: str) -> str | None:
    if node is None:
        return None
    child = node.find(tag)
    if child is None or child.text is None:
        return None
    return child.text.strip()


def _int(text: str | None) -> int:
    """A size or flag: the integer part of a finite number, else 0."""
    value = parse_side(text) if text is not None else None
    return value if value is not None else 0


def _image_candidates(xml_path: str, root: ET.Element) -> list[str]:
    filename = _text(root, "filename")
    here = dirname(xml_path)
    found = []
    if filename:
        found.append(join(here, filename))
        found.append(join(dirname(here), "JPEGImages", filename))
    path_text = _text(root, "path")
    if path_text:
        found.append(path_text)
    return found


def _size_from_image(xml_path: str, root: ET.Element) -> tuple[int, int] | None:
    for candidate in _image_candidates(xml_path, root):
        if exists(candidate):
            size = file_image_size(candidate)
            if size is not None:
                return size
    return None


def read_voc(path: str, *, skips: Skips) -> NamedRaw:
    """Read a VOC XML file or a directory of them.

    Raises:
        InputError: the directory has no ``.xml`` files, or a file is unreadable.
    """
    from ..errors import InputError

    files = list_xml(path)
    if not files:
        raise InputError("no .xml files here (for TFRecords give a path or a glob such as "
                         "dir/*.tfrecord*)", path=path)
    heights: list[int] = []
    widths: list[int] = []
    keys: list[str] = []
    image_file: list[int] = []
    box_image: list[int] = []
    coords: list[list[float]] = []
    names: list[str] = []
    difficult: list[bool] = []
    for file_index, xml_path in enumerate(files):
        try:
            root = ET.fromstring(read_bytes(xml_path))
        except ET.ParseError as err:
            skips.add("malformed_records", 1, f"{xml_path}: not valid XML ({err})")
            continue
        size = root.find("size")
        height, width = _int(_text(size, "height")), _int(_text(size, "width"))
        if size_too_large(height, width):
            skips.add("malformed_records", 1, f"{xml_path}: {oversize_message(height, width)}")
            continue
        if height <= 0 or width <= 0:
            from_image = _size_from_image(xml_path, root)
            if from_image is None:
                what = "negative" if min(height, width) < 0 else "no"
                skips.add("missing_image_size", 1, f"{xml_path}: {what} size/width and "
                                                   "size/height and no readable image next to it")
                continue
            skips.add("size_from_header", 1, xml_path)
            height, width = from_image
        objects = []
        try:
            for obj in root.findall("object"):
                box = obj.find("bndbox")
                # a missing coordinate is None: float() raises TypeError, caught below
                values = [float(_text(box, tag))  # type: ignore[arg-type]
                          for tag in ("ymin", "xmin", "ymax", "xmax")]
                objects.append((values, _text(obj, "name") or "", _int(_text(obj, "difficult"))))
        except (TypeError, ValueError):
            skips.add("malformed_records", 1, f"{xml_path}: an object has no numeric bndbox "
                                              "xmin/ymin/xmax/ymax")
            continue
        image = len(heights)
        heights.append(height)
        widths.append(width)
        keys.append(_text(root, "filename") or xml_path.rsplit("/", 1)[-1])
        image_file.append(file_index)
        for values, name, diff in objects:
            box_image.append(image)
            coords.append(values)
            names.append(name)
            difficult.append(diff != 0)
    xyxy = np.array(coords, dtype=np.float64).reshape(-1, 4)
    img = np.array(box_image, dtype=np.int64)
    h = np.asarray(heights, dtype=np.float64)[img]
    w = np.asarray(widths, dtype=np.float64)[img]
    with np.errstate(invalid="ignore", over="ignore"):  # non-finite: counted by the filters
        boxes = (xyxy / np.stack([h, w, h, w], axis=1)).astype(np.float32)
    codes, vocabulary = names_to_codes(names)
    n = len(names)
    raw = RawBoxes(
        image_height=np.asarray(heights, dtype=np.int32),
        image_width=np.asarray(widths, dtype=np.int32),
        image_key=np.array(keys, dtype=object).reshape(-1),
        image_file=np.asarray(image_file, dtype=np.int32),
        image_record=np.full(len(heights), -1, dtype=np.int64),
        box_image=img.astype(np.int32), boxes=boxes, label=codes,
        difficult=np.asarray(difficult, dtype=bool), group_of=np.zeros(n, dtype=bool),
        is_crowd=np.zeros(n, dtype=bool), files=files, units=["record"] * len(files))
    return NamedRaw(raw, vocabulary)
