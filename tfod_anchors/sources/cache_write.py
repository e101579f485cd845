"""Writing a box cache (:mod:`.cache`): shards first, the manifest last and atomically,
so an interrupted extraction never leaves a directory that looks complete.

:func:`extract_local` is the embedded extraction (the ``tf.data`` reader, no Beam);
:mod:`tfod_anchors.beam` writes the same layout from a Beam pipeline and shares
:func:`build_manifest`, :func:`prepare_output` and :func:`write_manifest`.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from .._version import __version__
from ..boxes import BoxSet
from ..errors import UsageError
from .cache import (
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    SHARD_PREFIX,
    file_stamp,
    pyarrow_modules,
    rows_to_table,
)
from .fileio import glob_files, is_remote, join, read_bytes
from .filtering import apply_tfod_filters, raise_if_fatal
from .labelmap import LabelMap, load_label_map
from .progress import Progress, ProgressArg
from .raw import SKIP_KEYS, Skips
from .rows import RecordRows, read_tfrecord_rows, rows_to_raw
from .tfrecord_files import expand_paths, inspect_files

#: Rows (records) per Parquet shard written by the local extraction.
SHARD_ROWS = 500_000
#: Temporary folders Beam's file sinks leave in the output when a job fails.
BEAM_TEMP = "beam-temp-"


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


def build_manifest(*, specs: list[str], stamps: list[dict[str, Any]], read: list[str],
                   stored: Skips, boxset_skipped: dict[str, int],
                   skip_examples: dict[str, str], counts: dict[str, int],
                   options: dict[str, Any], shards: list[dict[str, Any]],
                   extractor: str) -> dict[str, Any]:
    """The manifest document (no timestamps: the same inputs give the same bytes).

    ``skipped`` is every ``stats --json`` key with the count a read with ``options``
    gives; ``stored_skips`` the part decided when extracting (added back on reads).
    """
    read_set = set(read)
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "tool": "tfod-anchors",
        "tool_version": __version__,
        "extractor": extractor,
        "inputs": {"specs": list(specs),
                   "files": [{**s, "read": s["path"] in read_set} for s in stamps]},
        "options": options,
        "counts": counts,
        "skipped": {**{k: 0 for k in SKIP_KEYS}, **boxset_skipped},
        "skip_examples": dict(skip_examples),
        "stored_skips": {"counts": dict(stored.counts), "examples": dict(stored.first)},
        "shards": shards,
        "columns": "file_index, source_file, record, image_key, image_height, image_width, "
                   "ymin, xmin, ymax, xmax, class_label, class_text, difficult, group_of, "
                   "is_crowd (raw per-record lists; see tfod_anchors/sources/cache.py)",
    }


def prepare_output(directory: str) -> None:
    """Make ``directory`` ready for a new cache: create it; if it holds a cache,
    remove its manifest first (from now on it is incomplete), then its shards.

    Raises:
        UsageError: the directory holds other files (never write into a data folder).
    """
    if is_remote(directory):
        import tensorflow as tf

        gfile = tf.io.gfile
        gfile.makedirs(directory)
        present = [join(directory, n.rstrip("/")) for n in gfile.listdir(directory)]
    else:
        os.makedirs(directory, exist_ok=True)
        present = [join(directory, n) for n in os.listdir(directory)]
    ours = {join(directory, MANIFEST)} | set(glob_files(join(directory, f"{SHARD_PREFIX}-*")))
    ours |= {p for p in present if os.path.basename(p.rstrip("/")).startswith(BEAM_TEMP)}
    others = [p for p in present if p not in ours and not os.path.basename(p).startswith(".")]
    if others:
        raise UsageError(f"{directory}: output directory holds other files ({others[0]}, ...); "
                         "choose an empty or new directory for the box cache")
    manifest = join(directory, MANIFEST)
    for path in [manifest] + sorted(ours - {manifest}):
        _remove(path)


def _remove(path: str) -> None:
    if is_remote(path):
        import tensorflow as tf

        if tf.io.gfile.isdir(path):
            tf.io.gfile.rmtree(path)
        elif tf.io.gfile.exists(path):
            tf.io.gfile.remove(path)
    elif os.path.isdir(path):
        import shutil

        shutil.rmtree(path)
    elif os.path.exists(path):
        os.remove(path)


def _write_bytes_atomic(path: str, data: bytes) -> None:
    """Local: temporary file, fsync, rename. Remote: one object write (atomic there)."""
    if is_remote(path):
        import tensorflow as tf

        with tf.io.gfile.GFile(path, "wb") as f:
            f.write(data)
        return
    temp = f"{path}.tmp-{os.getpid()}"
    with open(temp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temp, path)


def write_manifest(directory: str, manifest: dict[str, Any]) -> str:
    """Write ``manifest.json`` (the last step of an extraction)."""
    path = join(directory, MANIFEST)
    text = json.dumps(manifest, indent=2, sort_keys=False, allow_nan=False) + "\n"
    _write_bytes_atomic(path, text.encode("utf-8"))
    return path


def write_shards(directory: str, rows: RecordRows, files: list[str],
                 shard_rows: int = SHARD_ROWS) -> list[dict[str, Any]]:
    """Rows -> ``boxes-XXXXX-of-YYYYY.parquet`` shards (each written to a temporary
    name, then renamed); returns the manifest's ``shards`` entries."""
    import io

    _, pq = pyarrow_modules()
    count = max(1, -(-rows.num_rows // shard_rows))
    shards = []
    for index in range(count):
        part = rows.take(index * shard_rows, min(rows.num_rows, (index + 1) * shard_rows))
        name = f"{SHARD_PREFIX}-{index:05d}-of-{count:05d}.parquet"
        buffer = io.BytesIO()
        pq.write_table(rows_to_table(part, files), buffer, compression="zstd")
        _write_bytes_atomic(join(directory, name), buffer.getvalue())
        shards.append({"path": name, "rows": part.num_rows})
    return shards


def extract_local(specs: list[str], output: str, *, label_map_path: str | None = None,
                  max_number_of_boxes: int | None = None, drop_difficult: bool = False,
                  skip_bad: bool = False, verify_sizes: bool = False,
                  compression: str | None = None, progress: ProgressArg = None,
                  shard_rows: int = SHARD_ROWS) -> dict[str, Any]:
    """Read TFRecords with the local reader and write a box cache to ``output``.

    The filtering options do not change what is stored (see :mod:`.cache`); they
    are recorded, and the manifest's counts are those a read with them gives.
    Without ``skip_bad``, anything the reader would stop on stops the extraction.

    Returns:
        The manifest written.
    Raises:
        InputError, UsageError: as :func:`~tfod_anchors.sources.read_boxes`.
    """
    from . import _empty_error

    check_tfrecord_specs(specs)
    pyarrow_modules()
    label_map = load_label_map(label_map_path) if label_map_path else None
    infos = inspect_files(expand_paths(specs), compression)
    stamps = [file_stamp(i.path) for i in infos]
    meter = Progress(progress)
    stored = Skips()
    try:
        rows, read = read_tfrecord_rows(infos, verify_sizes=verify_sizes, skip_bad=skip_bad,
                                        progress=meter, skips=stored)
    finally:
        meter.close()
    boxset = boxset_for(rows, read, stored, label_map=label_map,
                        max_number_of_boxes=max_number_of_boxes, drop_difficult=drop_difficult)
    skips = Skips()
    skips.counts, skips.first = dict(boxset.skipped), dict(boxset.skip_examples)
    raise_if_fatal(skips, skip_bad)
    if boxset.num_boxes == 0:
        raw = rows_to_raw(rows, read, label_map, Skips())
        raise _empty_error(raw, boxset, label_map)
    prepare_output(output)
    shards = write_shards(output, rows, read, shard_rows)
    manifest = build_manifest(
        specs=list(specs), stamps=stamps, read=read, stored=stored,
        boxset_skipped=boxset.skipped, skip_examples=boxset.skip_examples,
        counts={"files": len(infos), "records": rows.num_rows,
                "box_entries": rows.num_box_entries, "images": boxset.num_images,
                "boxes": boxset.num_boxes},
        options=extraction_options(compression, verify_sizes, skip_bad, label_map_path,
                                   max_number_of_boxes, drop_difficult),
        shards=shards, extractor="local tf.data reader")
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

