"""Reading TFOD TFRecords in a Beam pipeline: ``ReadBoxes`` and the record-row reader.

Files are matched and sniffed (compression, "is this a TFRecord") when the
pipeline is built, with Beam's ``FileSystems``, so every file has a fixed index
as in the local reader. Each file is then read by one worker through Beam's
``FileSystems`` with the native reader's framing (:mod:`..sources.tfrecord.framing`: every
CRC checked, damage worded and located as the local readers do), records are counted (the
record numbers messages and the cache use) and parsed in batches by the
TensorFlow-free parser of the native reader (:mod:`..sources.tfrecord.example_skim`, which
accepts and rejects exactly what ``tf.io.parse_example`` does; workers need no
TensorFlow), and turned into record rows (:mod:`..sources.tfrecord.rows`). TFOD's input
filtering is the sources' own (:func:`~..sources.cache_write.boxset_for`), applied per batch: counts
add up to the local reader's exactly, since every filter is per image.

Skip counts are Beam counters in the namespace ``tfod_anchors`` with the
``stats --json`` keys. Without ``skip_bad`` the first bad file or record raises
:class:`BadInput`, whose text carries the one-line message across runners.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import apache_beam as beam
import numpy as np
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from ..errors import InputError
from ..sources.cache_write import boxset_for
from ..sources.filtering import apply_tfod_filters, raise_if_fatal
from ..sources.labelmap import LabelMap, load_label_map
from ..sources.raw import Skips
from ..sources.tfrecord.example_skim import ExampleSkimmer
from ..sources.tfrecord.files import (
    COMPRESSIONS,
    FileInfo,
    batch_size,
    compression_hint,
    sniff,
)
from ..sources.tfrecord.framing import RecordError, read_records
from ..sources.tfrecord.rows import RecordRows, rows_from_parsed, rows_to_raw
from ..sources.tfrecord.tfdata import readable_files

NAMESPACE = "tfod_anchors"
MARKER = "tfod-anchors-bad-input:"


class BadInput(Exception):
    """A bad file or record in a worker, without ``skip_bad``. Made with :meth:`of`,
    its text holds ``MARKER{"message": ...}`` so the launcher finds the message
    whatever the runner wraps it in (:func:`~.extract.unwrap_bad_input`); runners
    may re-create it with more text around."""

    @classmethod
    def of(cls, message: str, path: str | None = None, record: int | None = None) -> BadInput:
        """``message`` names ``path`` and ``record`` itself (kept for ``--json``)."""
        return cls(MARKER + json.dumps({"message": message, "file": path, "record": record}))


@dataclasses.dataclass(frozen=True)
class ReadOptions:
    """How the records are read and filtered (the ``box sources`` flags)."""

    label_map_path: str | None = None
    max_number_of_boxes: int | None = None
    drop_difficult: bool = False
    skip_bad: bool = False
    verify_sizes: bool = False
    compression: str | None = None


@dataclasses.dataclass(frozen=True)
class MatchedFiles:
    """Files of the specs, sorted per spec, specs in order (as the local reader).

    ``stamps``: ``{"path", "size", "mtime_ns"}`` of every file; ``readable``: the
    :class:`FileInfo` of those that look like TFRecords (their index is the file
    index of rows); ``skips``: files counted as not TFRecords (``skip_bad``)."""

    stamps: list[dict[str, Any]]
    readable: list[FileInfo]
    skips: Skips


def _head(path: str) -> bytes:
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        return f.read(1 << 16)


def match_files(specs: list[str], compression: str | None = None,
                skip_bad: bool = False) -> MatchedFiles:
    """Match and sniff every file with Beam's ``FileSystems`` (local, ``gs://``...).

    Raises:
        InputError: a spec matches nothing; without ``skip_bad`` a file that is not
            a TFRecord.
    """
    metas = []
    for spec in specs:
        try:
            found = FileSystems.match([spec])[0].metadata_list
        except Exception as err:  # noqa: BLE001 - BeamIOError, missing GCS extras...
            raise InputError(f"cannot list: {' '.join(str(err).split())}", path=spec) from None
        found = sorted(found, key=lambda m: m.path)
        if not found:
            raise InputError("no such file (or the glob matches nothing)", path=spec)
        metas.extend(found)
    with ThreadPoolExecutor(8) as pool:
        heads = list(pool.map(_head, [m.path for m in metas]))
    forced = None if compression in (None, "auto") else COMPRESSIONS[compression.lower()]
    stamps, infos, skips = [], [], Skips()
    for meta, head in zip(metas, heads):
        size = int(meta.size_in_bytes)
        stamps.append({"path": meta.path, "size": size,
                       "mtime_ns": int(round(meta.last_updated_in_seconds * 1e9))})
        detected, length = sniff(meta.path, head, size)
        chosen = forced if forced is not None else detected
        infos.append(FileInfo(meta.path, chosen or "", size,
                              length if chosen == detected else None, detected))
    return MatchedFiles(stamps, readable_files(infos, skip_bad, skips), skips)


def _count(skipped: dict[str, int]) -> None:
    for key, value in skipped.items():
        if value:
            Metrics.counter(NAMESPACE, key).inc(int(value))


class ReadRecordRows(beam.DoFn):
    """``(file index, FileInfo)`` -> batches of :class:`RecordRows` (main output) and,
    on the ``summary`` output, one dict per batch: its skip counts (stored ones and
    the filtered read's), first examples with an order key, and sizes."""

    def __init__(self, files: list[str], options: ReadOptions, label_map: LabelMap | None):
        self._files = files
        self._options = options
        self._label_map = label_map

    def setup(self) -> None:
        # the TensorFlow-free parser: workers need neither TensorFlow nor its start-up
        self._parser = ExampleSkimmer(None, self._options.verify_sizes, keep_text=True)

    def process(self, element: tuple[int, FileInfo]) -> Iterator[Any]:
        index, info = element
        done = 0
        try:
            with FileSystems.open(info.path,
                                  compression_type=CompressionTypes.UNCOMPRESSED) as f:
                for records in read_records(f, info.compression, batch_size([info])):
                    yield from self._batch(index, info.path, done, records, Skips())
                    done += len(records)
            return
        except RecordError as err:
            failure = err.detail + (compression_hint(info) if err.hint else "")
            done = err.record
        where = f"{info.path} (record {done})"
        if not self._options.skip_bad:
            raise BadInput.of(f"{where}: file corrupt or truncated ({failure}) (skip and count it "
                              "with skip_bad=True)", info.path, done)
        Metrics.counter(NAMESPACE, "corrupt_files").inc()
        example = {"corrupt_files": ((index, done), f"{where}: {failure}")}
        yield beam.pvalue.TaggedOutput("summary", _summary({"corrupt_files": 1}, example,
                                                           {"corrupt_files": 1}))

    def _parse_batch(self, path: str, start: int, records: list[bytes],
                     stored: Skips) -> tuple[dict[str, np.ndarray] | None, np.ndarray]:
        numbers = np.arange(start, start + len(records), dtype=np.int64)
        columns, kept, bad = self._parser.parse(records)
        for position, reason in bad:
            where = f"{path} (record {int(numbers[position])})"
            if not self._options.skip_bad:
                raise BadInput.of(f"{where}: not a usable tf.Example ({reason}) (skip and "
                                  "count it with skip_bad=True)", path,
                                  int(numbers[position]))
            stored.add("malformed_records", 1, f"{where}: {reason}")
        if not kept.size:
            return None, numbers[:0]
        return columns, numbers[kept]

    def _batch(self, index: int, path: str, start: int, records: list[bytes],
               stored: Skips) -> Iterator[Any]:
        parsed, numbers = self._parse_batch(path, start, records, stored)
        rows = RecordRows.empty()
        if parsed is not None:
            rows = rows_from_parsed(parsed, path, index, numbers,
                                    verify=self._options.verify_sizes, skips=stored)
        o = self._options
        boxset = boxset_for(rows, self._files, stored, label_map=self._label_map,
                            max_number_of_boxes=o.max_number_of_boxes,
                            drop_difficult=o.drop_difficult)
        check = Skips()
        check.counts, check.first = dict(boxset.skipped), dict(boxset.skip_examples)
        if not o.skip_bad:
            try:
                raise_if_fatal(check, False)
            except InputError as err:
                raise BadInput.of(str(err), err.path, err.record) from None
        _count(boxset.skipped)
        Metrics.counter(NAMESPACE, "records").inc(len(records))
        Metrics.counter(NAMESPACE, "images").inc(boxset.num_images)
        Metrics.counter(NAMESPACE, "boxes").inc(boxset.num_boxes)
        examples = {k: ((index, start), v) for k, v in boxset.skip_examples.items()}
        summary = _summary(boxset.skipped, examples, stored.counts)
        summary["sizes"] = {"records": rows.num_rows, "box_entries": rows.num_box_entries,
                            "images": boxset.num_images, "boxes": boxset.num_boxes}
        yield beam.pvalue.TaggedOutput("summary", summary)
        if rows.num_rows:
            yield rows


def _summary(skipped: dict[str, int], examples: dict[str, Any],
             stored: dict[str, int]) -> dict[str, Any]:
    """One batch's part of the manifest: ``skipped`` (every count a filtered read
    gives), ``stored`` (the counts decided when extracting), ``examples`` (key ->
    ``((file index, first record of the batch), text)``, the earliest one wins)."""
    return {"skipped": dict(skipped), "stored": dict(stored), "examples": examples,
            "sizes": {"records": 0, "box_entries": 0, "images": 0, "boxes": 0}}


def images_of(rows: RecordRows, files: list[str], options: ReadOptions,
              label_map: LabelMap | None) -> Iterator[dict[str, Any]]:
    """Per-image records of a batch of rows, filtered as TFOD (as the local reader)."""
    skips = Skips()
    raw = rows_to_raw(rows, files, label_map, skips)
    keys = raw.image_key
    tagged = dataclasses.replace(raw, image_key=np.arange(raw.num_images).astype(object))
    boxset = apply_tfod_filters(tagged, skips, max_number_of_boxes=options.max_number_of_boxes,
                                drop_difficult=options.drop_difficult)
    origin = boxset.image_key.astype(np.int64)
    bounds = np.searchsorted(boxset.box_image, np.arange(boxset.num_images + 1))
    for i, j in enumerate(origin.tolist()):
        lo, hi = int(bounds[i]), int(bounds[i + 1])
        yield {"source_file": files[int(raw.image_file[j])], "record": int(raw.image_record[j]),
               "image_key": str(keys[j]), "image_height": int(boxset.image_height[i]),
               "image_width": int(boxset.image_width[i]), "boxes": boxset.boxes[lo:hi],
               "label": boxset.label[lo:hi], "difficult": boxset.difficult[lo:hi],
               "group_of": boxset.group_of[lo:hi], "is_crowd": boxset.is_crowd[lo:hi]}


class _Images(beam.DoFn):
    def __init__(self, files: list[str], options: ReadOptions, label_map: LabelMap | None):
        self._files = files
        self._options = options
        self._label_map = label_map

    def process(self, rows: RecordRows) -> Iterator[dict[str, Any]]:
        yield from images_of(rows, self._files, self._options, self._label_map)


class ReadRows(beam.PTransform):
    """Specs -> ``(rows, summaries)``: record-row batches and per-batch summaries."""

    def __init__(self, specs: list[str] | str, options: ReadOptions | None = None):
        super().__init__()
        options = options if options is not None else ReadOptions()
        self.specs = [specs] if isinstance(specs, str) else list(specs)
        self.options = options
        self.matched = match_files(self.specs, options.compression, options.skip_bad)
        self.files = [i.path for i in self.matched.readable]
        # read here, once: workers get it parsed (and need no file system for it)
        path = options.label_map_path
        self.label_map = load_label_map(path) if path else None

    def expand(self, pbegin: Any) -> Any:
        elements = list(enumerate(self.matched.readable))
        launch = dict(self.matched.skips.counts)
        _ = (pbegin
             | "LaunchSkips" >> beam.Create([launch])
             | "CountLaunchSkips" >> beam.Map(_count))
        return (pbegin
                | "Files" >> beam.Create(elements)
                | "Spread" >> beam.Reshuffle()
                | "Read" >> beam.ParDo(ReadRecordRows(self.files, self.options,
                                                      self.label_map))
                .with_outputs("summary", main="rows"))


class ReadBoxes(beam.PTransform):
    """TFRecord paths/globs -> one dict per image, filtered as TFOD's input pipeline
    (and :func:`tfod_anchors.sources.read_boxes`) would.

    Each element: ``source_file``, ``record`` (0-based in the file), ``image_key``,
    ``image_height``, ``image_width`` (pixels), ``boxes`` float32 ``[n, 4]``
    ``[ymin, xmin, ymax, xmax]`` normalized, ``label`` int32 ``[n]``, ``difficult``,
    ``group_of``, ``is_crowd`` bool ``[n]``. Skips are counted in Beam counters
    (namespace ``tfod_anchors``, ``stats --json`` keys); files that are not
    TFRecords are found when the pipeline is built (``not_tfrecord_files`` here).

    Example::

        with beam.Pipeline() as p:
            stats = (p | ReadBoxes("gs://bucket/train-*.tfrecord",
                                   ReadOptions(label_map_path="label_map.pbtxt"))
                       | beam.CombineGlobally(BoxStatsFn()))
    """

    def __init__(self, specs: list[str] | str, options: ReadOptions | None = None):
        super().__init__()
        self._read = ReadRows(specs, options)
        self.not_tfrecord_files = self._read.matched.skips.counts.get("corrupt_files", 0)

    def expand(self, pbegin: Any) -> Any:
        parts = pbegin | "Rows" >> self._read
        return parts.rows | "Images" >> beam.ParDo(_Images(self._read.files, self._read.options,
                                                            self._read.label_map))
