"""Writing a box cache (:mod:`.cache`): new shards beside the old ones, the manifest
last and atomically (the swap, :mod:`.cache_output`), so an interrupted or failed
extraction never leaves a directory that looks complete, nor loses the previous cache.

:func:`extract_local` is the embedded extraction (the local readers, no Beam);
:mod:`tfod_anchors.beam` writes the same layout from a Beam pipeline and shares
:func:`build_manifest` and :mod:`.cache_output`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any

from .._version import __version__
from ..boxes import BoxSet
from ..errors import UsageError
from .cache import MANIFEST, file_stamp, pyarrow_modules, rows_to_table
from .cache_manifest import FORMAT, FORMAT_VERSION
from .cache_output import (
    abandon,
    absolute_specs,
    check_output,
    output_lock,
    remove_unlisted,
    shard_entry,
    shard_name,
    start_generation,
)
from .fileio import is_remote, join, read_bytes
from .filtering import apply_tfod_filters, raise_if_fatal
from .labelmap import LabelMap, load_label_map
from .progress import Progress, ProgressArg
from .raw import SKIP_KEYS, Skips
from .tfrecord.files import expand_paths, inspect_files
from .tfrecord.rows import RecordRows, read_tfrecord_rows, rows_to_raw

#: Rows (records) per Parquet shard written by the local extraction.
SHARD_ROWS = 500_000


def check_tfrecord_specs(specs: list[str]) -> None:
    """Only TFRecords are cached (COCO/VOC/CSV files are small and read directly)."""
    from . import source_kind

    for spec in specs:
        # remote paths are judged by their suffix alone: the Beam launcher may have no
        # TensorFlow filesystem for them
        suffix = os.path.splitext(spec.lower())[1]
        kind = source_kind(spec) if not is_remote(spec) else \
            {".json": "coco", ".csv": "csv", ".xml": "voc"}.get(suffix, "tfrecord")
        if kind != "tfrecord":
            raise UsageError(f"{spec}: extract caches TFRecord files; a {kind} input is read "
                             "directly by every command (no cache needed)")


def label_map_record(path: str | None) -> dict[str, Any]:
    """How the manifest names a label map: path and sha256 of its bytes."""
    if path is None:
        return {"label_map": None, "label_map_sha256": None}
    return {"label_map": path, "label_map_sha256": hashlib.sha256(read_bytes(path)).hexdigest()}


def boxset_for(rows: RecordRows, files: list[str], stored: Skips, *, label_map: LabelMap | None,
               max_number_of_boxes: int | None, drop_difficult: bool) -> BoxSet:
    """What reading these rows gives with these options (``stored`` is not modified)."""
    skips = Skips()
    skips.merge(stored)
    raw = rows_to_raw(rows, files, label_map, skips)
    return apply_tfod_filters(raw, skips, max_number_of_boxes=max_number_of_boxes,
                              drop_difficult=drop_difficult)


@dataclass(frozen=True)
class ManifestInputs:
    """What an extraction knows before reading: the specs, every input file's stamp
    (``{"path", "size", "mtime_ns"}``), the files read (the rows' ``file_index``
    points into them), the manifest's ``options`` and the extractor's name."""

    specs: list[str]
    stamps: list[dict[str, Any]]
    read: list[str]
    options: dict[str, Any]
    extractor: str


def build_manifest(inputs: ManifestInputs, *, stored: Skips, boxset_skipped: dict[str, int],
                   skip_examples: dict[str, str], counts: dict[str, int],
                   shards: list[dict[str, Any]]) -> dict[str, Any]:
    """The manifest document (no timestamps: the same inputs give the same bytes).

    ``skipped`` is every ``stats --json`` key with the count a read with ``options``
    gives; ``stored_skips`` the part decided when extracting (added back on reads).
    """
    read_set = set(inputs.read)
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "tool": "tfod-anchors",
        "tool_version": __version__,
        "extractor": inputs.extractor,
        "inputs": {"specs": list(inputs.specs),
                   "files": [{**s, "read": s["path"] in read_set} for s in inputs.stamps]},
        "options": inputs.options,
        "counts": counts,
        "skipped": {**{k: 0 for k in SKIP_KEYS}, **boxset_skipped},
        "skip_examples": dict(skip_examples),
        "stored_skips": {"counts": dict(stored.counts), "examples": dict(stored.first)},
        "shards": shards,
        "columns": "file_index, source_file, record, image_key, image_height, image_width, "
                   "ymin, xmin, ymax, xmax, class_label, class_text, difficult, group_of, "
                   "is_crowd (raw per-record lists; see tfod_anchors/sources/cache.py)",
    }


def _write_bytes_atomic(path: str, data: bytes) -> None:
    """Local: temporary file, fsync, rename. Remote: one object write (atomic there)."""
    if is_remote(path):
        import tensorflow as tf

        with tf.io.gfile.GFile(path, "wb") as f:
            f.write(data)
        return
    temp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(temp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    finally:
        if os.path.lexists(temp):
            os.remove(temp)


def write_manifest(directory: str, manifest: dict[str, Any]) -> str:
    """Write ``manifest.json`` (the swap: the last step of an extraction)."""
    path = join(directory, MANIFEST)
    text = json.dumps(manifest, indent=2, sort_keys=False, allow_nan=False) + "\n"
    _write_bytes_atomic(path, text.encode("utf-8"))
    return path


def shard_table_bytes(rows: RecordRows, files: list[str]) -> bytes:
    """One shard's Parquet bytes (zstd, page CRCs written)."""
    import io

    _, pq = pyarrow_modules()
    buffer = io.BytesIO()
    pq.write_table(rows_to_table(rows, files), buffer, compression="zstd",
                   write_page_checksum=True)
    return buffer.getvalue()


def write_shards(directory: str, rows: RecordRows, files: list[str], generation: str,
                 shard_rows: int = SHARD_ROWS) -> list[dict[str, Any]]:
    """Rows -> ``boxes-<generation>-XXXXX-of-YYYYY.parquet`` shards (each written to a
    temporary name, then renamed); returns the manifest's ``shards`` entries."""
    count = max(1, -(-rows.num_rows // shard_rows))
    shards = []
    for index in range(count):
        part = rows.take(index * shard_rows, min(rows.num_rows, (index + 1) * shard_rows))
        name = shard_name(generation, index, count)
        data = shard_table_bytes(part, files)
        _write_bytes_atomic(join(directory, name), data)
        shards.append(shard_entry(name, data, part.num_rows))
    return shards


@dataclass(frozen=True)
class ExtractOptions:
    """What an extraction reads and records (the filtering options only set the
    manifest's counts; see :mod:`.cache`)."""

    label_map_path: str | None = None
    max_number_of_boxes: int | None = None
    drop_difficult: bool = False
    skip_bad: bool = False
    verify_sizes: bool = False
    compression: str | None = None
    reader: str | None = None

    def record(self) -> dict[str, Any]:
        """The manifest's ``options``."""
        return extraction_options(self.compression, self.verify_sizes, self.skip_bad,
                                  self.label_map_path, self.max_number_of_boxes,
                                  self.drop_difficult)


def _read_rows(specs: list[str], opts: ExtractOptions, progress: ProgressArg
               ) -> tuple[RecordRows, list[str], list[dict[str, Any]], Skips, str]:
    """Rows of the TFRecords, the files they index, every input's stamp, the skips
    decided while reading, and which reader read them."""
    infos = inspect_files(expand_paths(specs), opts.compression)
    stamps = [file_stamp(i.path) for i in infos]
    meter = Progress(progress)
    stored = Skips()
    try:
        rows, read, reader = read_tfrecord_rows(
            infos, verify_sizes=opts.verify_sizes, skip_bad=opts.skip_bad, progress=meter,
            skips=stored, reader=opts.reader)
    finally:
        meter.close()
    return rows, read, stamps, stored, reader


def _checked_boxset(rows: RecordRows, read: list[str], stored: Skips,
                    opts: ExtractOptions) -> BoxSet:
    """What a read with ``opts`` gives; raises as that read would."""
    from . import _empty_error

    label_map = load_label_map(opts.label_map_path) if opts.label_map_path else None
    boxset = boxset_for(rows, read, stored, label_map=label_map,
                        max_number_of_boxes=opts.max_number_of_boxes,
                        drop_difficult=opts.drop_difficult)
    skips = Skips()
    skips.counts, skips.first = dict(boxset.skipped), dict(boxset.skip_examples)
    raise_if_fatal(skips, opts.skip_bad)
    if boxset.num_boxes == 0:
        raw = rows_to_raw(rows, read, label_map, Skips())
        raise _empty_error(raw, boxset, label_map)
    return boxset


def extract_local(specs: list[str], output: str, options: ExtractOptions | None = None, *,
                  progress: ProgressArg = None, shard_rows: int = SHARD_ROWS,
                  **legacy: Any) -> dict[str, Any]:
    """Read TFRecords with the local reader and write a box cache to ``output``.

    The previous cache in ``output`` stays readable until the new manifest replaces
    it (:mod:`.cache_output`); a concurrent extraction into ``output`` is refused.
    Without ``skip_bad``, anything the reader would stop on stops the extraction.
    ``legacy``: the fields of :class:`ExtractOptions` as keyword arguments.

    Returns:
        The manifest written.
    Raises:
        InputError, UsageError: as :func:`~tfod_anchors.sources.read_boxes`; an
            output that cannot hold a cache (before any record is read).
    """
    opts = dataclasses.replace(options or ExtractOptions(), **legacy)
    specs = absolute_specs(list(specs))
    check_tfrecord_specs(specs)
    pyarrow_modules()
    if opts.label_map_path:
        load_label_map(opts.label_map_path)
    check_output(output)
    with output_lock(output) as created:
        generation = start_generation(output)
        try:
            manifest = _extract_into(specs, output, opts, generation, progress, shard_rows)
        except BaseException:
            abandon(output, generation, created)
            raise
        remove_unlisted(output, {s["path"] for s in manifest["shards"]})
    return manifest


def _extract_into(specs: list[str], output: str, opts: ExtractOptions, generation: str,
                  progress: ProgressArg, shard_rows: int) -> dict[str, Any]:
    rows, read, stamps, stored, reader = _read_rows(specs, opts, progress)
    boxset = _checked_boxset(rows, read, stored, opts)
    shards = write_shards(output, rows, read, generation, shard_rows)
    inputs = ManifestInputs(list(specs), stamps, read, opts.record(),
                            f"local {'tf.data' if reader == 'tf' else 'native'} reader")
    manifest = build_manifest(
        inputs, stored=stored, boxset_skipped=boxset.skipped,
        skip_examples=boxset.skip_examples,
        counts={"files": len(stamps), "records": rows.num_rows,
                "box_entries": rows.num_box_entries, "images": boxset.num_images,
                "boxes": boxset.num_boxes},
        shards=shards)
    write_manifest(output, manifest)
    return manifest


def extraction_options(compression: str | None, verify_sizes: bool, skip_bad: bool,
                       label_map_path: str | None, max_number_of_boxes: int | None,
                       drop_difficult: bool) -> dict[str, Any]:
    """The manifest's ``options``: the first two bind every read, the others are the
    filtering the manifest's counts were computed with (reads may use others)."""
    return {"compression": (compression or "auto").lower(), "verify_sizes": bool(verify_sizes),
            "skip_bad": bool(skip_bad), **label_map_record(label_map_path),
            "max_number_of_boxes": max_number_of_boxes, "drop_difficult": bool(drop_difficult)}

