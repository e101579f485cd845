"""Stage 1 of the data flow: box sources -> :class:`~tfod_anchors.boxes.BoxSet`.

:func:`read_boxes` takes any mix of

* TFRecord paths or globs (local or ``gs://``; plain, GZIP or ZLIB) of TFOD
  ``tf.Example`` records, read with ``tf.data`` (:mod:`.tfrecord.tfdata`) or without
  TensorFlow (:mod:`.tfrecord.native`), chosen per read (:mod:`.tfrecord.choice`),
* COCO instances ``.json`` files (:mod:`.coco`),
* Pascal VOC ``.xml`` files or directories of them (:mod:`.voc`),
* ``.csv`` box tables in absolute pixels (:mod:`.csvfile`),
* prepared TensorFlow Datasets detection sets, ``tfds:NAME[:SPLIT]`` (:mod:`.tfds`;
  the ``tfds`` extra),
* box cache directories written by ``tfod-anchors extract`` (:mod:`.cache`;
  recognised by their ``manifest.json``), which give the same boxes as the
  records they were extracted from, with the same options,

and applies TFOD's training-time input filtering (:mod:`.filtering`), so the
boxes are the ones TFOD would train on.

``BoxSet.skipped`` keys (stable; ``BoxSet.skip_examples`` says where the first
instance of each was found):

Fatal unless ``skip_bad`` (then the record, box or rest of file is skipped;
unreadable paths always raise):

* ``corrupt_files`` - CRC mismatch, truncated file, or not a TFRecord at all;
  records before the damage are kept, the rest of that file is lost.
* ``malformed_records`` - a record/row/annotation that cannot be used: not a
  tf.Example, wrong feature types, bbox lists of different lengths, class or flag
  lists whose length differs from the boxes', non-numeric CSV/VOC/COCO values, an
  unreadable CSV row (e.g. a field over 131,072 characters), an image size beyond
  what TFOD can decode (a side >= 2^27 or >= 2^29 pixels, :mod:`.sizes`).
* ``missing_image_size`` - no usable stored image size (missing, 0 or negative)
  and no readable image header.
* ``not_normalized_records`` - a record with a coordinate > 1.1 (looks like
  absolute pixels); the whole image is skipped.
* ``inverted_boxes`` - ``ymax < ymin`` or ``xmax < xmin`` (TFOD training fails).

TFOD's own filtering (always applied, only counted):

* ``nan_boxes`` - a NaN coordinate.
* ``infinite_boxes`` - a +inf or -inf coordinate (dropped like NaN boxes).
* ``unknown_class_boxes`` - class text unknown to the label map, or a negative
  class label.
* ``boxes_without_class`` - a TFRecord with boxes but no class label/text (TFOD
  keeps no box without a class).
* ``difficult_boxes`` - dropped because ``drop_difficult``.
* ``boxes_over_max`` - beyond ``max_number_of_boxes`` in an image.
* ``zero_size_boxes``, ``out_of_image_boxes`` - COCO annotations that TFOD's
  ``create_coco_tf_record`` skips (``w <= 0 or h <= 0``; past the image edge).
* ``orphan_annotations`` - COCO annotations of image ids not in ``images``.

Information (nothing dropped):

* ``images_without_boxes`` - images kept with no boxes (they train as background).
* ``zero_area_boxes`` - boxes of zero width or height (kept, as in TFOD; no anchor
  can match them).
* ``fully_outside_boxes`` - boxes entirely outside the image (kept, as in TFOD; no
  anchor can match them).
* ``size_from_header`` - image size read from the encoded image (stored size
  missing or 0; VOC/CSV without a size).
* ``size_mismatch`` - with ``verify_sizes``: stored size differs from the
  encoded image's; the image's size is used (TFOD uses the decoded size).
* ``unverified_sizes`` - with ``verify_sizes``: no readable image header to check
  the stored size against (the stored size is used).
"""

from __future__ import annotations

from typing import Union

from ..boxes import BoxSet
from ..errors import InputError, UsageError, option
from .coco import read_coco
from .csvfile import read_csv
from .fileio import has_glob, is_dir
from .filtering import apply_tfod_filters, raise_if_fatal
from .labelmap import LabelMap, load_label_map
from .progress import Progress, ProgressArg
from .raw import RawBoxes, Skips, concat_raw
from .texts import NamedRaw, resolve_names
from .tfds import is_tfds, read_tfds
from .tfrecord.choice import READERS
from .tfrecord.tfdata import read_tfrecords
from .voc import read_voc

__all__ = ["read_boxes", "source_kind", "LabelMap", "load_label_map", "Progress"]


def source_kind(spec: str) -> str:
    """``"coco"``, ``"csv"``, ``"voc"``, ``"cache"``, ``"tfds"`` or ``"tfrecord"`` for
    one ``--input`` spec.

    Raises:
        InputError: a directory with box cache shards but no manifest (an
            extraction that did not finish).
    """
    lower = spec.lower()
    if is_tfds(spec):
        return "tfds"
    if lower.endswith(".json"):
        return "coco"
    if lower.endswith(".csv"):
        return "csv"
    if lower.endswith(".xml"):
        return "voc"
    if not has_glob(spec) and is_dir(spec):
        from .cache import is_cache, looks_incomplete

        if is_cache(spec):
            return "cache"
        if looks_incomplete(spec):
            raise InputError("box cache without manifest.json: its extraction did not finish; "
                             "run extract again", path=spec)
        return "voc"
    return "tfrecord"


def _check_args(specs, max_number_of_boxes, reader) -> list[str]:
    if isinstance(specs, str):
        specs = [specs]
    specs = [str(s) for s in specs]
    if not specs:
        raise UsageError("no input given: pass TFRecord paths/globs, a COCO .json, a VOC "
                         "directory or a .csv")
    if max_number_of_boxes is not None and (
            isinstance(max_number_of_boxes, bool) or int(max_number_of_boxes) <= 0):
        raise UsageError(f"max_number_of_boxes must be a positive integer, got "
                         f"{max_number_of_boxes!r}")
    if reader is not None and str(reader).lower() not in READERS:
        raise UsageError(f"reader must be auto, tf or native, got {reader!r}")
    return specs


def _empty_error(raw: RawBoxes, boxset: BoxSet, label_map: LabelMap | None = None,
                 unknown: list[str] | None = None) -> InputError:
    """Why nothing is left; when the label map dropped everything, which map and (for
    sources with class names: CSV, COCO, VOC) a few of the names it does not know."""
    files = list(dict.fromkeys(raw.files))
    where = ", ".join(files) or "the input"
    one = files[0] if len(files) == 1 else None  # the file to name in --json
    if raw.num_images == 0:
        return InputError(f"empty dataset: no usable records or images in {where}", path=one,
                          located_in_message=True)
    classless = boxset.skipped.get("boxes_without_class", 0)
    if raw.num_boxes == 0 and classless:
        return InputError(
            f"all boxes of {where} were dropped (boxes_without_class: {classless}; first: "
            f"{boxset.skip_examples.get('boxes_without_class')}): TFOD keeps no box "
            "without a class; records with only image/object/class/text need the label "
            "map that names those classes", path=one, located_in_message=True)
    if raw.num_boxes == 0:
        return InputError(
            f"no boxes in {raw.num_images} images of {where}: TFRecords need "
            "image/object/bbox/{ymin,xmin,ymax,xmax} (normalized floats)")
    reasons = ", ".join(f"{k}: {v}" for k, v in boxset.skipped.items()
                        if k not in ("images_without_boxes",))
    hint = "check the label map and the flags"
    if label_map is not None and boxset.skipped.get("unknown_class_boxes", 0) * 2 > raw.num_boxes:
        names = ""
        if unknown:
            more = ", ..." if len(unknown) > 5 else ""
            names = f" ({', '.join(repr(n) for n in unknown[:5])}{more})"
        hint = (f"the label map {label_map.path} does not know their classes{names}: give the "
                f"dataset's own with {option('label_map')}, or fix the config's label_map_path")
    return InputError(f"all {raw.num_boxes} boxes of {where} were dropped ({reasons}); {hint}")


def _read_file(kind: str, spec: str, label_map: LabelMap | None, skips: Skips,
               verify_sizes: bool, compression: str | None) -> RawBoxes | NamedRaw:
    """One non-TFRecord source of :func:`read_boxes` (``kind`` from :func:`source_kind`);
    VOC and CSV give class names still to number (:class:`NamedRaw`)."""
    if kind == "coco":
        return read_coco(spec, label_map=label_map, skips=skips)
    if kind == "tfds":
        return read_tfds(spec)
    if kind == "cache":
        from .cache import read_cache

        return read_cache(spec, label_map=label_map, verify_sizes=verify_sizes,
                          compression=compression, skips=skips)
    return read_voc(spec, skips=skips) if kind == "voc" else read_csv(spec, skips=skips)


def read_boxes(specs: Union[list[str], str], *, label_map_path: str | None = None,
               max_number_of_boxes: int | None = None, drop_difficult: bool = False,
               skip_bad: bool = False, verify_sizes: bool = False,
               compression: str | None = None, progress: ProgressArg = None,
               reader: str | None = None) -> BoxSet:
    """Read boxes from every spec, in order, filtered as TFOD training would.

    Args:
        specs: TFRecord paths/globs (``gs://`` allowed), COCO ``.json``, VOC ``.xml``
            or directory, ``.csv``; a single string is one spec.
        label_map_path: ``StringIntLabelMap`` text file; class texts it does not
            know are dropped (TFOD). VOC/CSV without one: ids by sorted name.
        max_number_of_boxes: keep the first N boxes per image (TFOD truncates).
        drop_difficult: drop boxes flagged difficult (TFOD keeps them).
        skip_bad: count bad files/records/boxes in ``skipped`` instead of raising.
        verify_sizes: check every TFRecord's stored size against its encoded image
            header (parses ``image/encoded`` of every record: slower).
        compression: TFRecord compression ``None``/``"auto"`` (detect per file),
            ``"none"``, ``"gzip"`` or ``"zlib"``.
        progress: ``None`` (stderr line on a TTY), ``False``, ``True`` or a callable
            ``(records, boxes)``; see :class:`Progress`.
        reader: TFRecord reader ``None``/``"auto"`` (chosen per read, see
            :mod:`.tfrecord.choice`), ``"tf"`` (``tf.data``) or ``"native"`` (no
            TensorFlow, local files); both give the same boxes and counts.
    Returns:
        A :class:`BoxSet`; ``skipped`` keys are listed in this module's docstring.
    Raises:
        InputError: unreadable or invalid input (one line, file and record), a
            fatal problem without ``skip_bad``, or no boxes left at all.
        UsageError: bad arguments.
    """
    specs = _check_args(specs, max_number_of_boxes, reader)
    label_map = load_label_map(label_map_path) if label_map_path else None
    meter = progress if isinstance(progress, Progress) else Progress(progress)
    skips = Skips()
    parts: list[RawBoxes] = []
    named: list[NamedRaw] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            parts.append(read_tfrecords(list(pending), label_map=label_map,
                                        verify_sizes=verify_sizes, compression=compression,
                                        skip_bad=skip_bad, progress=meter, skips=skips,
                                        reader=reader))
            pending.clear()

    try:
        for spec in specs:
            kind = source_kind(spec)
            if kind == "tfrecord":
                pending.append(spec)
                continue
            flush()
            part = _read_file(kind, spec, label_map, skips, verify_sizes, compression)
            if isinstance(part, NamedRaw):
                named.append(part)
                part = part.raw
            parts.append(part)
            meter.update(parts[-1].num_images, parts[-1].num_boxes)
        flush()
    finally:
        meter.close()
    resolve_names(named, label_map)
    raw = concat_raw(parts)
    boxset = apply_tfod_filters(raw, skips, max_number_of_boxes=max_number_of_boxes,
                                drop_difficult=drop_difficult)
    raise_if_fatal(skips, skip_bad)
    if boxset.num_boxes == 0:
        unknown = sorted({n for part in named for n in part.names if label_map is not None
                          and label_map.lookup(n) < 0})
        raise _empty_error(raw, boxset, label_map, unknown)
    return boxset
