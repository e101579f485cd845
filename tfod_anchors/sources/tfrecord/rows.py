"""Record rows: the box features of TFOD ``tf.Example`` records, one row per record,
before any class resolution or filtering. The box cache stores exactly this.

A :class:`RecordRows` keeps, per record, its file and record number, image key and
image size (already completed from the image header where the stored size is
missing, or checked with ``verify_sizes``), and the *raw* feature lists:
``image/object/bbox/{ymin,xmin,ymax,xmax}``, ``class/label``, ``class/text``,
``difficult``, ``group_of``, ``is_crowd``, each as flat values plus row splits,
with whatever lengths the record had. Nothing that depends on the reading options
(label map, ``max_number_of_boxes``, difficult boxes, ``skip_bad``) has been
applied yet: :func:`rows_to_raw` runs the very same :func:`~.tfexample.process_batch`
as the TFRecord reader, so reading rows gives the same boxes as reading the
records with any of those options.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..labelmap import LabelMap
from ..progress import Progress
from ..raw import RawBoxes, Skips
from .files import FileInfo
from .tfdata import RecordReader, read_files_with
from .tfexample import (
    BOX_KEYS,
    FLAG_KEYS,
    LABEL_KEY,
    TEXT_KEY,
    Chunk,
    _fill_sizes,
    _image_keys,
    chunks_to_raw,
    make_parse_fn,
    process_batch,
)

#: The list features kept per record (feature key -> short column name).
LIST_COLUMNS = {
    BOX_KEYS[0]: "ymin", BOX_KEYS[1]: "xmin", BOX_KEYS[2]: "ymax", BOX_KEYS[3]: "xmax",
    LABEL_KEY: "class_label", TEXT_KEY: "class_text",
    FLAG_KEYS[0]: "difficult", FLAG_KEYS[1]: "group_of", FLAG_KEYS[2]: "is_crowd",
}
#: numpy dtype of each list's values (``class_text``: codes into ``RecordRows.texts``).
LIST_DTYPES = {"ymin": np.float32, "xmin": np.float32, "ymax": np.float32, "xmax": np.float32,
               "class_label": np.int64, "class_text": np.int32, "difficult": np.bool_,
               "group_of": np.bool_, "is_crowd": np.bool_}


@dataclass
class RecordRows:
    """Records as columns.

    Attributes:
        file_index: int32 ``[M]`` index into the reader's list of files.
        record: int64 ``[M]`` 0-based record number in its file.
        image_key: object ``[M]`` str (``source_id``, else ``filename``, else
            ``"<file>#<record>"``).
        image_height, image_width: int64 ``[M]`` image size in pixels as stored (0 =
            unknown; never cast to int32 here: sizes TFOD cannot decode are refused by
            :func:`~.tfexample.process_batch` when the rows are read, as for records).
        values: column name -> flat values ``[sum of lengths]`` (dtypes in
            ``LIST_DTYPES``; ``class_text`` holds codes into ``texts``).
        splits: column name -> int64 ``[M + 1]`` row splits into ``values``.
        texts: the distinct class texts (str).
    """

    file_index: np.ndarray
    record: np.ndarray
    image_key: np.ndarray
    image_height: np.ndarray
    image_width: np.ndarray
    values: dict[str, np.ndarray]
    splits: dict[str, np.ndarray]
    texts: list[str]

    @property
    def num_rows(self) -> int:
        return int(self.record.shape[0])

    @property
    def num_box_entries(self) -> int:
        """Length of the ``ymin`` lists, summed (boxes before any filtering)."""
        return int(self.splits["ymin"][-1] - self.splits["ymin"][0])

    def take(self, start: int, stop: int) -> RecordRows:
        """Rows ``start:stop`` (lists re-based to start at 0)."""
        values, splits = {}, {}
        for name, s in self.splits.items():
            lo, hi = int(s[start]), int(s[stop])
            values[name] = self.values[name][lo:hi]
            splits[name] = s[start:stop + 1] - lo
        return RecordRows(self.file_index[start:stop], self.record[start:stop],
                          self.image_key[start:stop], self.image_height[start:stop],
                          self.image_width[start:stop], values, splits, self.texts)

    def reorder(self, order: np.ndarray) -> RecordRows:
        """Rows in ``order`` (int ``[M]`` permutation)."""
        from ..raw import ragged_take

        values, splits = {}, {}
        for name, s in self.splits.items():
            lengths = np.diff(s)[order]
            values[name] = ragged_take(self.values[name], s[:-1][order], lengths)
            splits[name] = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        return RecordRows(self.file_index[order], self.record[order], self.image_key[order],
                          self.image_height[order], self.image_width[order], values, splits,
                          self.texts)

    def sorted(self) -> RecordRows:
        """Rows in file then record order (a no-op when they already are)."""
        key = self.file_index.astype(np.int64) * (1 << 40) + self.record
        if key.size < 2 or bool((np.diff(key) > 0).all()):
            return self
        return self.reorder(np.lexsort((self.record, self.file_index)))

    @staticmethod
    def empty() -> RecordRows:
        return RecordRows(np.zeros(0, np.int32), np.zeros(0, np.int64), np.zeros(0, object),
                          np.zeros(0, np.int64), np.zeros(0, np.int64),
                          {n: np.zeros(0, LIST_DTYPES[n]) for n in LIST_DTYPES},
                          {n: np.zeros(1, np.int64) for n in LIST_DTYPES}, [])


def rows_from_parsed(p: dict[str, np.ndarray], path: str, file_index: int,
                     records: np.ndarray, *, verify: bool, skips: Skips) -> RecordRows:
    """One batch parsed by ``make_parse_fn(None, verify, keep_text=True)`` -> rows.

    Image sizes are completed (or checked, with ``verify``) from the image headers
    here, counting ``size_from_header``/``size_mismatch``/``unverified_sizes``
    exactly as :func:`~.tfexample.process_batch` does for every record.
    """
    n = len(records)

    def where(row: int) -> str:
        return f"{path} (record {int(records[row])})"

    height, width = _fill_sizes(p, verify, where, skips)
    joined: Any = p["keys"]  # one newline-joined bytes string per batch
    keys = _image_keys(joined, np.arange(n), path, records)
    values, splits = {}, {}
    texts: list[str] = []
    for key, name in LIST_COLUMNS.items():
        flat = p[key]
        if name == "class_text":
            vocabulary: dict[bytes, int] = {}
            codes = np.empty(len(flat), np.int32)
            for i, text in enumerate(flat.tolist()):
                code = vocabulary.get(text)
                if code is None:
                    code = vocabulary[text] = len(vocabulary)
                codes[i] = code
            texts = [t.decode("utf-8", "replace") for t in vocabulary]
            flat = codes
        flat = np.asarray(flat)
        values[name] = (flat != 0) if LIST_DTYPES[name] is np.bool_ else \
            flat.astype(LIST_DTYPES[name], copy=False)
        splits[name] = p[key + ":splits"].astype(np.int64, copy=False)
    return RecordRows(np.full(n, file_index, np.int32), records.astype(np.int64),
                      keys, height.astype(np.int64), width.astype(np.int64), values, splits,
                      texts)


def concat_rows(parts: list[RecordRows]) -> RecordRows:
    """Rows of several batches, in order (text codes merged into one vocabulary)."""
    parts = [p for p in parts if p.num_rows]
    if not parts:
        return RecordRows.empty()
    if len(parts) == 1:
        return parts[0]
    vocabulary: dict[str, int] = {}
    remapped = []
    for part in parts:
        table = np.array([vocabulary.setdefault(t, len(vocabulary)) for t in part.texts],
                         dtype=np.int32)
        codes = part.values["class_text"]
        remapped.append(table[codes] if codes.size else codes)
    values, splits = {}, {}
    for name in LIST_DTYPES:
        values[name] = (np.concatenate(remapped) if name == "class_text" else
                        np.concatenate([p.values[name] for p in parts]))
        lengths = np.concatenate([np.diff(p.splits[name]) for p in parts])
        splits[name] = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)

    def cat(attr: str) -> np.ndarray:
        return np.concatenate([getattr(p, attr) for p in parts])

    return RecordRows(cat("file_index").astype(np.int32), cat("record").astype(np.int64),
                      cat("image_key"), cat("image_height").astype(np.int64),
                      cat("image_width").astype(np.int64), values, splits, list(vocabulary))


def _parsed_for(rows: RecordRows, label_map: LabelMap | None) -> dict[str, np.ndarray]:
    """The dict :func:`process_batch` expects, from rows of one file."""
    p: dict[str, np.ndarray] = {}
    for key, name in LIST_COLUMNS.items():
        values = rows.values[name]
        if name == "class_text":
            if label_map is None:
                continue
            ids = label_map.lookup_many(rows.texts).astype(np.int64)
            values = ids[values] if values.size else np.zeros(0, np.int64)
        elif values.dtype == np.bool_:
            values = values.astype(np.int64)
        p[key] = values
        p[key + ":splits"] = rows.splits[name]
    p["image/height"] = rows.image_height
    p["image/width"] = rows.image_width
    p["need"] = np.zeros(rows.num_rows, dtype=bool)  # sizes were completed when extracted
    p["encoded"] = np.zeros(0, dtype=object)
    p["image_keys"] = rows.image_key
    return p


def rows_to_raw(rows: RecordRows, files: list[str], label_map: LabelMap | None,
                skips: Skips) -> RawBoxes:
    """Rows -> :class:`RawBoxes` (unfiltered), file by file, through the TFRecord
    reader's own :func:`process_batch` (malformed records, missing sizes, boxes
    without class and class resolution are decided here, with ``label_map``)."""
    rows = rows.sorted()
    chunks: list[tuple[int, Chunk]] = []
    if rows.num_rows:
        change = np.flatnonzero(np.diff(rows.file_index)) + 1
        bounds = np.concatenate([[0], change, [rows.num_rows]])
        for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
            part = rows.take(lo, hi)
            index = int(part.file_index[0])
            chunk = process_batch(_parsed_for(part, label_map), files[index], part.record,
                                  use_text=label_map is not None, verify=False, skips=skips)
            chunks.append((index, chunk))
    return chunks_to_raw(chunks, files)


class _RowReader(RecordReader):
    """The TFRecord reader (both gears), producing rows instead of boxes."""

    def __init__(self, infos: list[FileInfo], verify: bool, progress: Progress):
        super().__init__(infos, None, verify, progress)
        self.parse = make_parse_fn(None, verify, keep_text=True)

    def _post(self, p, file_index, records, skips):
        rows = rows_from_parsed(p, self.files[file_index], file_index, records,
                                verify=self.verify, skips=skips)
        self.progress.update(len(records), rows.num_box_entries)
        return rows

    def _assemble(self, chunks):
        return concat_rows([rows for _, rows in chunks])


def _native_rows(infos: list[FileInfo], verify: bool, progress: Progress,
                 skips: Skips) -> RecordRows:
    """Rows of local TFRecord files with the native reader (no TensorFlow)."""
    from .example_skim import ExampleSkimmer
    from .native import native_batches

    parser = ExampleSkimmer(None, verify, keep_text=True)
    parts = []
    for index, columns, numbers in native_batches(infos, parser, skips):
        rows = rows_from_parsed(columns, infos[index].path, index, numbers, verify=verify,
                                skips=skips)
        progress.update(int(numbers.size), rows.num_box_entries)
        parts.append(rows)
    return concat_rows(parts)


def read_tfrecord_rows(infos: list[FileInfo], *, verify_sizes: bool = False,
                       skip_bad: bool = False, progress: Progress | None = None,
                       skips: Skips | None = None, reader: str | None = None
                       ) -> tuple[RecordRows, list[str], str]:
    """Read TFRecord files (``inspect_files`` output) into rows with the local reader
    ``reader`` picks (``"auto"``/``None``, ``"tf"``, ``"native"``; see
    :mod:`.choice`); returns the rows, the files they index (the readable
    ones: files that are not TFRecords are counted in ``skips`` with ``skip_bad``),
    and the reader used (``"tf"`` or ``"native"``).

    Raises:
        InputError: as :func:`~.tfdata.read_tfrecords`.
        UsageError: a reader that cannot read these files here.
    """
    from .choice import choose_reader
    from .tfdata import readable_files

    skips = skips if skips is not None else Skips()
    progress = progress if progress is not None else Progress(False)
    readable = readable_files(infos, skip_bad, skips)
    if not readable:
        return RecordRows.empty(), [], choose_reader(reader, infos)
    kept = [i.path for i in readable]
    chosen = choose_reader(reader, readable)
    if chosen == "native":
        return _native_rows(readable, verify_sizes, progress, skips), kept, chosen

    def make_reader(files: list[FileInfo], meter: Progress) -> _RowReader:
        return _RowReader(files, verify_sizes, meter)

    rows = read_files_with(readable, make_reader, skip_bad=skip_bad, progress=progress,
                           skips=skips)
    return (rows if rows is not None else RecordRows.empty()), kept, chosen
