"""TFRecord files of TFOD ``tf.Example`` records -> :class:`RawBoxes`.

Only the keys TFOD's ``TfExampleDecoder`` uses for boxes are parsed, batched,
with ``tf.data`` (parallel reads over files, parallel ``parse_example``):
``image/object/bbox/{ymin,xmin,ymax,xmax}``, ``image/height``, ``image/width``,
``image/object/class/label`` (and ``class/text`` when a label map is given),
``image/object/{difficult,group_of,is_crowd}``, ``image/source_id``,
``image/filename``. ``image/encoded`` is parsed only for records whose stored size
is missing or zero (or for every record with ``verify_sizes``), and only its
header is looked at (:mod:`..imageheader`).

Reading is in two gears. The fast gear streams every file at once; if it hits
any error (CRC mismatch, truncation, a record ``parse_example`` rejects) the
read restarts in the careful gear, file by file, which finds the exact record,
keeps what is readable and counts the rest. Record numbers are 0-based
positions in their file.

Class ids follow TFOD: with a label map, ``class/text`` looked up by name and
display name decides (unknown -> -1); records without text fall back to
``class/label``; without a label map ``class/label`` is used. A record with
boxes but no class at all loses its boxes in TFOD (``boxes_without_class``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import InputError, option
from ..fileio import one_line
from ..labelmap import LabelMap
from ..progress import Progress
from ..raw import RawBoxes, Skips
from .choice import choose_reader
from .example_proto import NOT_AN_EXAMPLE
from .files import (
    RECORD_OVERHEAD,
    FileInfo,
    batch_size,
    compression_hint,
    expand_paths,
    inspect_files,
)
from .native import read_native
from .prescan import overruns
from .tfexample import Chunk, chunks_to_raw, make_parse_fn, process_batch


def _loss_detail(err: Any) -> str:
    text = one_line(err)
    match = re.search(r"corrupted record at (\d+)", text)
    if match:
        return f"CRC mismatch (corrupted record at byte {match.group(1)})"
    match = re.search(r"truncated record at (\d+)", text)
    if match:
        return f"file truncated (incomplete record at byte {match.group(1)})"
    return text


def _parse_detail(err: Any) -> str:
    if isinstance(err, UnicodeDecodeError):
        return NOT_AN_EXAMPLE
    text = one_line(err)
    if "Could not parse example input" in text:
        return NOT_AN_EXAMPLE
    match = re.search(r"Key: ([^,]+), Index: \d+\.\s*(.*)", text)
    if match:
        return f"{match.group(1)}: {match.group(2)}"
    return text




class RecordReader:
    """State of one TFRecord read (files, options, counters)."""

    def __init__(self, infos: list[FileInfo], label_map: LabelMap | None, verify: bool,
                 progress: Progress):
        self.infos = infos
        self.files = [i.path for i in infos]
        self.label_map = label_map
        self.verify = verify
        self.progress = progress
        self.batch = batch_size(infos)
        self.parse = make_parse_fn(label_map, verify)
        # headers tf.data would crash on: read those files up to that record only
        self.overruns = overruns(infos)

    def _limit(self, index: int) -> int:
        """Records of file ``index`` tf.data may read (-1: all)."""
        hit = self.overruns.get(index)
        return hit.record if hit is not None else -1

    def _count_overruns(self, skips: Skips) -> None:
        for index in sorted(self.overruns):
            self._count_overruns_of(index, skips)

    def _count_overruns_of(self, index: int, skips: Skips) -> None:
        info, hit = self.infos[index], self.overruns[index]
        skips.add("corrupt_files", 1, f"{info.path} (record {hit.record}): {hit.detail}"
                                      + compression_hint(info))

    def _assemble(self, chunks: list[tuple[int, Any]]) -> Any:
        """``(file index, chunk)`` pairs in file/record order -> the reader's result."""
        return chunks_to_raw(chunks, self.files)

    def _post(self, p, file_index, records, skips):
        chunk = process_batch(p, self.files[file_index], records,
                              use_text=self.label_map is not None, verify=self.verify,
                              skips=skips)
        self.progress.update(len(records), int(chunk.boxes.shape[0]))
        return chunk

    def _check_tails(self, lengths: dict[int, int], counts: dict[int, int], skips: Skips,
                     corrupt: set[int]) -> None:
        """Plain files whose bytes are not all whole records were cut inside a record
        header, which TensorFlow reads silently as the end of the file."""
        for index, info in enumerate(self.infos):
            if info.compression or index in corrupt:
                continue
            used = lengths.get(index, 0)
            if used != info.size:
                skips.add("corrupt_files", 1,
                          f"{info.path} (record {counts.get(index, 0)}): file truncated "
                          f"({info.size - used} trailing bytes are not a whole record)")

    def fast(self, skips: Skips) -> RawBoxes:
        """All files at once; any TensorFlow error propagates (caller switches gear)."""
        import tensorflow as tf

        batch = self.batch
        paths = tf.constant(self.files)
        comps = tf.constant([i.compression for i in self.infos])
        limits = tf.constant([self._limit(i) for i in range(len(self.infos))], tf.int64)
        plain = tf.autograph.experimental.do_not_convert

        @plain
        def per_file(index, path, comp, limit):
            records = tf.data.TFRecordDataset(path, compression_type=comp,
                                              buffer_size=1 << 20).take(limit).batch(batch)
            return records.enumerate().map(plain(lambda k, s: (index, k, s)))

        files = tf.data.Dataset.from_tensor_slices(
            (tf.range(len(self.files), dtype=tf.int64), paths, comps, limits))
        ds = files.interleave(per_file, cycle_length=min(len(self.files), 8), block_length=1,
                              num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        ds = ds.map(plain(lambda i, k, s: (i, k, self.parse(s))),
                    num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).prefetch(2)
        chunks: list[tuple[int, int, Chunk]] = []
        lengths: dict[int, int] = {}
        counts: dict[int, int] = {}
        local = Skips()
        for file_index, batch_index, parsed in ds.as_numpy_iterator():
            file_index, batch_index = int(file_index), int(batch_index)
            n = parsed["image/height"].shape[0]
            records = np.arange(batch_index * batch, batch_index * batch + n, dtype=np.int64)
            chunk = self._post(parsed, file_index, records, local)
            counts[file_index] = counts.get(file_index, 0) + n
            lengths[file_index] = (lengths.get(file_index, 0) + int(parsed["length"].sum())
                                   + RECORD_OVERHEAD * n)
            chunks.append((file_index, batch_index, chunk))
        chunks.sort(key=lambda c: (c[0], c[1]))
        self._count_overruns(local)
        self._check_tails(lengths, counts, local, set(self.overruns))
        skips.merge(local)
        return self._assemble([(fi, c) for fi, _, c in chunks])

    def careful(self, skips: Skips) -> RawBoxes:
        """File by file, locating every bad record; keeps all that can be read."""
        import tensorflow as tf

        parse = tf.function(self.parse, input_signature=[tf.TensorSpec([None], tf.string)])
        chunks: list[tuple[int, Chunk]] = []
        lengths: dict[int, int] = {}
        counts: dict[int, int] = {}
        corrupt: set[int] = set(self.overruns)
        for index, info in enumerate(self.infos):
            state = _FileState(index, info)
            self._careful_file(state, parse, skips, chunks)
            counts[index] = state.done
            lengths[index] = state.length
            if state.corrupt:
                corrupt.add(index)
            elif index in self.overruns:
                self._count_overruns_of(index, skips)
        self._check_tails(lengths, counts, skips, corrupt)
        return self._assemble(chunks)

    def _careful_file(self, state: _FileState, parse, skips: Skips,
                      chunks: list[tuple[int, Chunk]]) -> None:
        import tensorflow as tf

        info = state.info
        dataset = tf.data.TFRecordDataset(info.path, compression_type=info.compression,
                                          buffer_size=1 << 20).take(self._limit(state.index))
        iterator = iter(dataset.batch(self.batch))
        while True:
            try:
                serialized = next(iterator)
            except StopIteration:
                return
            except tf.errors.DataLossError:
                tail = []
                try:
                    for record in dataset.skip(state.done):
                        tail.append(record)
                    loss = "file changed while reading"
                except tf.errors.DataLossError as err:
                    loss = _loss_detail(err) + compression_hint(info)
                if tail:
                    self._consume(tf.stack(tail), state, parse, skips, chunks)
                skips.add("corrupt_files", 1, f"{info.path} (record {state.done}): {loss}")
                state.corrupt = True
                return
            except tf.errors.OpError as err:
                raise InputError(f"cannot read: {one_line(err)}", path=info.path) from None
            self._consume(serialized, state, parse, skips, chunks)

    def _consume(self, serialized, state: _FileState, parse, skips: Skips,
                 chunks: list[tuple[int, Chunk]]) -> None:
        """Parse one batch of a file, setting malformed records aside one by one."""
        import tensorflow as tf

        n = int(serialized.shape[0])
        records = np.arange(state.done, state.done + n, dtype=np.int64)
        state.done += n
        state.length += int(tf.reduce_sum(tf.strings.length(serialized))) + RECORD_OVERHEAD * n
        # TensorFlow quotes an unparsable record in its error message, and Python fails
        # to decode that message when the record is not UTF-8: both mean malformed.
        rejected = (tf.errors.InvalidArgumentError, UnicodeDecodeError)
        try:
            parsed = _to_numpy(parse(serialized))
        except rejected:
            good = []
            for j in range(n):
                try:
                    parse(serialized[j:j + 1])
                    good.append(j)
                except rejected as err:
                    skips.add("malformed_records", 1, f"{state.info.path} (record "
                                                      f"{int(records[j])}): {_parse_detail(err)}")
            if not good:
                return
            serialized = tf.gather(serialized, good)
            records = records[good]
            parsed = _to_numpy(parse(serialized))
        chunks.append((state.index, self._post(parsed, state.index, records, skips)))


@dataclass
class _FileState:
    index: int
    info: FileInfo
    done: int = 0
    length: int = 0
    corrupt: bool = False


def _to_numpy(parsed: dict[str, Any]) -> dict[str, np.ndarray]:
    return {key: value.numpy() for key, value in parsed.items()}


def read_tfrecords(specs: list[str], *, label_map: LabelMap | None = None,
                   verify_sizes: bool = False, compression: str | None = None,
                   skip_bad: bool = False, progress: Progress | None = None,
                   skips: Skips | None = None, reader: str | None = None) -> RawBoxes:
    """Read TFRecord paths/globs into :class:`RawBoxes` (unfiltered).

    Files that are not TFRecords (no valid record header, and not GZIP/ZLIB)
    count as ``corrupt_files`` and are not read. ``reader``: ``"auto"`` (``None``),
    ``"tf"`` or ``"native"``, see :mod:`.choice`; both give the same result.

    Raises:
        InputError: unreadable path; with ``skip_bad=False`` also the first bad
            file before any record is read.
        UsageError: a reader that cannot read these files here.
    """
    skips = skips if skips is not None else Skips()
    progress = progress if progress is not None else Progress(False)
    readable = readable_files(inspect_files(expand_paths(specs), compression), skip_bad, skips)
    if not readable:
        return RawBoxes.empty()
    if choose_reader(reader, readable) == "native":
        return read_native(readable, label_map=label_map, verify_sizes=verify_sizes,
                           progress=progress, skips=skips)

    def make_reader(files: list[FileInfo], meter: Progress) -> RecordReader:
        return RecordReader(files, label_map, verify_sizes, meter)

    raw = read_files_with(readable, make_reader, skip_bad=skip_bad, progress=progress,
                          skips=skips)
    return raw if raw is not None else RawBoxes.empty()


def readable_files(infos: list[FileInfo], skip_bad: bool, skips: Skips) -> list[FileInfo]:
    """The files that look like TFRecords; the others raise (or count, with ``skip_bad``)."""
    readable = []
    for info in infos:
        if info.detected is None and info.compression == "" and info.size:
            problem = "not a TFRecord file (no valid record header, and not GZIP or ZLIB " \
                      "compressed)"
            if not skip_bad:
                raise InputError(f"{problem} (skip and count it with {option('skip_bad')})",
                                 path=info.path)
            skips.add("corrupt_files", 1, f"{info.path}: {problem}")
            continue
        readable.append(info)
    return readable


def read_files_with(infos: list[FileInfo], make_reader: Callable[[list[FileInfo], Progress], Any],
                    *, skip_bad: bool = False, progress: Progress | None = None,
                    skips: Skips | None = None) -> Any:
    """Read ``infos`` with tf.data and the reader ``make_reader(readable infos, progress)``
    builds (a :class:`RecordReader` or a subclass): the fast gear, and the careful one if
    the fast one hits any TensorFlow error. ``None`` when no file is readable."""
    import tensorflow as tf

    skips = skips if skips is not None else Skips()
    progress = progress if progress is not None else Progress(False)
    readable = readable_files(infos, skip_bad, skips)
    if not readable:
        return None
    gears = make_reader(readable, progress)
    attempt = Skips()
    try:
        raw = gears.fast(attempt)
    except (tf.errors.OpError, UnicodeDecodeError):
        attempt = Skips()
        progress.records = progress.boxes = 0
        raw = gears.careful(attempt)
    skips.merge(attempt)
    return raw
