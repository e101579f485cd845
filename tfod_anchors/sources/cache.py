"""The box cache: record rows (:mod:`.tfrecord.rows`) in Parquet shards plus ``manifest.json``.

Layout of a cache directory (local or ``gs://``)::

    manifest.json                       written last: a cache without it is incomplete
    boxes-a-00000-of-00004.parquet ...  one row per TFRecord record (generation a or b,
                                        see :mod:`.cache_output`)

Parquet columns (readable with any Parquet tool): ``file_index`` (int32, into the
manifest's ``inputs.files`` that were read), ``source_file`` (the path), ``record``
(int64, 0-based record number in the file), ``image_key``, ``image_height``,
``image_width`` (int64 pixels as stored, completed from the image header where the
record had none; sizes TFOD cannot decode are refused on read, as the records'
are), and the record's raw lists: ``ymin``, ``xmin``, ``ymax``, ``xmax`` (float32,
normalized), ``class_label`` (int64), ``class_text`` (string),
``difficult``, ``group_of``, ``is_crowd`` (bool).

What is decided when extracting and what when reading. Only what needs the
record bytes is decided when extracting: unreadable/corrupt files, records
``tf.io.parse_example`` rejects, image sizes from headers (``verify_sizes``).
Those counts are kept in the manifest (``stored_skips``) and added back on every
read. Everything that depends on reading options (label map, which also decides
which records are malformed; ``max_number_of_boxes``; NaN, unknown-class,
inverted and difficult boxes; ``skip_bad``) is applied when the cache is read,
by the same code the TFRecord reader runs, so a cache read gives the same
``BoxSet`` as the records with any of those options. ``compression`` and
``verify_sizes`` must match the extraction (else :class:`InputError`).

Integrity. The manifest is validated as a whole (:mod:`.cache_manifest`); a shard
is read only when its bytes have the SHA-256 the manifest lists, its Parquet pages
pass their CRCs (written with every shard), its rows are the manifest's count,
its ``source_file`` column names the manifest's input files, and no record appears
twice: a cache can only be read when its shards add up to its manifest.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import numpy as np

from ..errors import InputError, UsageError, option
from .cache_manifest import SHARD_PREFIX, read_files, validate_manifest
from .fileio import exists, is_dir, is_remote, join, one_line, read_bytes
from .labelmap import LabelMap
from .progress import Progress
from .raw import RawBoxes, Skips
from .tfrecord.rows import LIST_DTYPES, RecordRows, concat_rows, rows_to_raw

MANIFEST = "manifest.json"
#: Remote inputs are checked for changes only up to this many files (one stat each).
MAX_REMOTE_STATS = 64
_INFO_COLUMNS = ("file_index", "source_file", "record", "image_key", "image_height",
                 "image_width")


def pyarrow_modules() -> tuple[Any, Any]:
    """``(pyarrow, pyarrow.parquet)``, or a one-line :class:`UsageError` saying how to
    install them."""
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise UsageError("the box cache (Parquet) needs pyarrow: pip install "
                         "'tfod-anchors[cache]' (or pip install pyarrow)") from None
    return pyarrow, pyarrow.parquet


def is_cache(spec: str) -> bool:
    """Whether ``spec`` is a directory holding a box cache manifest."""
    return is_dir(spec) and exists(join(spec, MANIFEST))


def looks_incomplete(spec: str) -> bool:
    """A directory with cache shards, Beam temporaries or a manifest temporary but no
    manifest (an unfinished extraction)."""
    if not is_dir(spec) or exists(join(spec, MANIFEST)):
        return False
    import glob

    from .fileio import glob_files

    find = glob_files if is_remote(spec) else glob.glob
    return any(find(join(spec, pattern)) for pattern in (
        f"{SHARD_PREFIX}-*.parquet", "beam-temp-*", f"{MANIFEST}.tmp*"))


def arrow_schema(pa: Any) -> Any:
    """The Parquet schema of a cache shard."""
    text = pa.dictionary(pa.int32(), pa.string())
    fields = [("file_index", pa.int32()), ("source_file", text), ("record", pa.int64()),
              ("image_key", pa.string()), ("image_height", pa.int64()),
              ("image_width", pa.int64())]
    types = {np.float32: pa.float32(), np.int64: pa.int64(), np.int32: text,
             np.bool_: pa.bool_()}
    fields += [(name, pa.list_(types[dtype])) for name, dtype in LIST_DTYPES.items()]
    return pa.schema(fields)


def rows_to_table(rows: RecordRows, files: list[str]) -> Any:
    """Rows -> a ``pyarrow.Table`` with :func:`arrow_schema`."""
    pa, _ = pyarrow_modules()
    schema = arrow_schema(pa)
    names = pa.array(list(files), pa.string())
    columns = {
        "file_index": pa.array(rows.file_index, pa.int32()),
        "source_file": pa.DictionaryArray.from_arrays(pa.array(rows.file_index, pa.int32()),
                                                      names),
        "record": pa.array(rows.record, pa.int64()),
        "image_key": pa.array(rows.image_key.tolist(), pa.string()),
        "image_height": pa.array(rows.image_height, pa.int64()),
        "image_width": pa.array(rows.image_width, pa.int64()),
    }
    for name in LIST_DTYPES:
        values = rows.values[name]
        if name == "class_text":
            child = pa.DictionaryArray.from_arrays(pa.array(values, pa.int32()),
                                                   pa.array(rows.texts, pa.string()))
        else:
            child = pa.array(values, schema.field(name).type.value_type)
        offsets = pa.array(rows.splits[name].astype(np.int32), pa.int32())
        columns[name] = pa.ListArray.from_arrays(offsets, child)
    return pa.table(columns, schema=schema)


def _list_parts(column: Any) -> tuple[np.ndarray, Any]:
    """int64 splits ``[M + 1]`` and the flat child array of a list column."""
    array = column.combine_chunks() if hasattr(column, "combine_chunks") else column
    offsets = np.asarray(array.offsets.to_numpy(), dtype=np.int64)
    values = array.values.slice(int(offsets[0]), int(offsets[-1] - offsets[0]))
    return offsets - offsets[0], values


def table_to_rows(table: Any) -> RecordRows:
    """A shard's table (``class_text`` optional) -> rows."""
    table = table.unify_dictionaries() if "class_text" in table.column_names else table
    values: dict[str, np.ndarray] = {}
    splits: dict[str, np.ndarray] = {}
    texts: list[str] = []
    for name, dtype in LIST_DTYPES.items():
        if name not in table.column_names:
            values[name], splits[name] = np.zeros(0, dtype), np.zeros(table.num_rows + 1,
                                                                       np.int64)
            continue
        splits[name], child = _list_parts(table.column(name))
        if name == "class_text":
            texts = child.dictionary.to_pylist() if len(child) else []
            values[name] = np.asarray(child.indices.to_numpy(zero_copy_only=False),
                                      dtype=np.int32)
        else:
            values[name] = np.asarray(child.to_numpy(zero_copy_only=False), dtype=dtype)
    return RecordRows(
        file_index=np.asarray(table.column("file_index").to_numpy(), np.int32),
        record=np.asarray(table.column("record").to_numpy(), np.int64),
        image_key=table.column("image_key").to_numpy(zero_copy_only=False).astype(object),
        image_height=np.asarray(table.column("image_height").to_numpy(), np.int64),
        image_width=np.asarray(table.column("image_width").to_numpy(), np.int64),
        values=values, splits=splits, texts=texts)


def load_manifest(spec: str) -> dict[str, Any]:
    """The manifest of the cache at ``spec``, validated (:func:`.validate_manifest`)."""
    path = join(spec, MANIFEST)
    try:
        manifest = json.loads(read_bytes(path).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise InputError(f"not a box cache manifest: {one_line(err)}", path=path) from None
    return validate_manifest(path, manifest)


def file_stamp(path: str) -> dict[str, Any]:
    """``{"path", "size", "mtime_ns"}`` of one input file (local or remote)."""
    if is_remote(path):
        import tensorflow as tf

        stat = tf.io.gfile.stat(path)
        return {"path": path, "size": int(stat.length), "mtime_ns": int(stat.mtime_nsec)}
    stat = os.stat(path)
    return {"path": path, "size": int(stat.st_size), "mtime_ns": int(stat.st_mtime_ns)}


def changed_inputs(manifest: dict[str, Any]) -> list[str]:
    """Descriptions of the inputs that differ from the manifest's record of them
    (missing, other size, other modification time, a glob matching other files).
    Remote files are checked up to ``MAX_REMOTE_STATS``; an mtime within 1 ms counts
    as unchanged (runners store it with different precision)."""
    inputs = manifest.get("inputs", {})
    recorded = inputs.get("files", [])
    changes: list[str] = []
    remote_checked = 0
    for entry in recorded:
        path = entry.get("path", "")
        if is_remote(path):
            remote_checked += 1
            if remote_checked > MAX_REMOTE_STATS:
                continue
        try:
            now = file_stamp(path)
        except Exception:  # noqa: BLE001 - any stat failure means "not as recorded"
            changes.append(f"{path} is missing")
            continue
        if now["size"] != entry.get("size"):
            changes.append(f"{path} size {entry.get('size')} -> {now['size']}")
        elif abs(now["mtime_ns"] - int(entry.get("mtime_ns", 0))) > 1_000_000:
            changes.append(f"{path} modified")
    paths = {e.get("path") for e in recorded}
    for spec in inputs.get("specs", []):
        if is_remote(spec):
            continue
        from .fileio import glob_files, has_glob

        if has_glob(spec):
            new = [p for p in glob_files(spec) if p not in paths]
            if new:
                changes.append(f"{spec} now also matches {len(new)} file(s) ({new[0]}, ...)")
    return changes


def _check_options(spec: str, manifest: dict[str, Any], verify_sizes: bool,
                   compression: str | None) -> None:
    options = manifest.get("options", {})
    recorded = bool(options.get("verify_sizes", False))
    if recorded != bool(verify_sizes):
        flag = "with" if recorded else "without"
        raise InputError(f"box cache was extracted {flag} {option('verify_sizes')} (image "
                         f"sizes from {'every image header' if recorded else 'the records'}); "
                         f"read it {flag} {option('verify_sizes')}, or run extract again",
                         path=spec)
    wanted = (compression or "auto").lower()
    stored = str(options.get("compression", "auto")).lower()
    if wanted != stored:
        raise InputError(f"box cache was extracted with {option('compression')} {stored}, not "
                         f"{wanted}; pass the same {option('compression')} or run extract "
                         "again", path=spec)


def shard_bytes(path: str) -> bytes:
    """The bytes of one shard file (local or remote)."""
    if is_remote(path):
        import tensorflow as tf

        with tf.io.gfile.GFile(path, "rb") as f:
            return f.read()
    with open(path, "rb") as f:
        return f.read()


def _read_shard(spec: str, shard: dict[str, Any], columns: list[str],
                files: list[str]) -> RecordRows:
    """One shard, checked against its manifest entry: SHA-256 of its bytes, Parquet
    page CRCs, row count, and ``source_file`` naming ``files[file_index]``."""
    import hashlib

    import pyarrow as pa

    _, pq = pyarrow_modules()
    path = join(spec, shard["path"])
    try:
        data = shard_bytes(path)
    except Exception as err:  # noqa: BLE001 - missing, unreadable...
        raise InputError(f"cannot read box cache shard: {one_line(err)}; run extract "
                         "again", path=path) from None
    if len(data) != shard["bytes"] or hashlib.sha256(data).hexdigest() != shard["sha256"]:
        raise InputError(f"box cache shard is not the one the manifest lists ({len(data)} "
                         f"bytes, SHA-256 differs); run extract again", path=path)
    try:
        table = pq.read_table(pa.BufferReader(data), columns=columns,
                              page_checksum_verification=True)
    except Exception as err:  # noqa: BLE001 - damaged Parquet, wrong schema...
        raise InputError(f"cannot read box cache shard: {one_line(err)}; run extract "
                         "again", path=path) from None
    if table.num_rows != shard["rows"]:
        raise InputError(f"box cache shard has {table.num_rows} rows, the manifest says "
                         f"{shard['rows']}; run extract again", path=path)
    try:
        _check_sources(table, files, path)
        return table_to_rows(table.drop_columns(["source_file"]))
    except InputError:
        raise
    except Exception as err:  # noqa: BLE001 - columns of other types or shapes
        raise InputError(f"box cache shard is damaged ({type(err).__name__}: "
                         f"{one_line(err)[:120]}); run extract again", path=path) from None


def _check_sources(table: Any, files: list[str], path: str) -> None:
    """Every row's ``source_file`` is the manifest's file at its ``file_index``
    (compared through the dictionary codes: no string per row)."""
    index = np.asarray(table.column("file_index").to_numpy(), np.int64)
    if index.size and (index.min() < 0 or index.max() >= len(files)):
        raise InputError("box cache shard points past the manifest's input files; run "
                         "extract again", path=path)
    column = table.column("source_file").combine_chunks()
    if not index.size:
        return
    position = {name: i for i, name in enumerate(files)}
    names = column.dictionary.to_pylist()
    code_to_file = np.array([position.get(n, -1) for n in names], dtype=np.int64)
    given = code_to_file[np.asarray(column.indices.to_numpy(zero_copy_only=False), np.int64)]
    wrong = np.flatnonzero(given != index)
    if wrong.size:
        row = int(wrong[0])
        code = int(column.indices[row].as_py())
        raise InputError(f"box cache shard row {row} comes from {names[code]}, not from the "
                         f"manifest's {files[int(index[row])]}; run extract again", path=path)


def read_cache_rows(spec: str, manifest: dict[str, Any], *, text: bool = True) -> RecordRows:
    """All rows of a cache (``class_text`` only when ``text``), file/record order.

    Raises:
        InputError: a shard missing, damaged or not the manifest's; shards holding a
            record twice or other box entries than the manifest counts.
    """
    columns = list(_INFO_COLUMNS[:2]) + list(_INFO_COLUMNS[2:]) + [
        n for n in LIST_DTYPES if text or n != "class_text"]
    files = read_files(manifest)
    parts = [_read_shard(spec, shard, columns, files) for shard in manifest["shards"]]
    rows = concat_rows(parts).sorted()
    where = join(spec, MANIFEST)
    key = rows.file_index.astype(np.int64) * (1 << 40) + rows.record
    if key.size > 1 and not bool((np.diff(key) > 0).all()):
        raise InputError("box cache shards hold a record twice; run extract again", path=where)
    if rows.num_box_entries != manifest["counts"]["box_entries"]:
        raise InputError(f"box cache shards hold {rows.num_box_entries} box entries, the "
                         f"manifest counts {manifest['counts']['box_entries']}; run extract "
                         "again", path=where)
    return rows


def read_cache(spec: str, *, label_map: LabelMap | None = None, verify_sizes: bool = False,
               compression: str | None = None, skips: Skips | None = None,
               progress: Progress | None = None) -> RawBoxes:
    """Read the cache at ``spec`` into :class:`RawBoxes` (unfiltered, like the
    TFRecord reader's result), adding the manifest's stored skips to ``skips``.

    Warns (one line on stderr) when the inputs changed since the extraction.

    Raises:
        InputError: not a readable cache, a damaged shard, or ``verify_sizes`` /
            ``compression`` different from the extraction's.
        UsageError: pyarrow missing.
    """
    pyarrow_modules()
    manifest = load_manifest(spec)
    _check_options(spec, manifest, verify_sizes, compression)
    changes = changed_inputs(manifest)
    if changes:
        more = f" and {len(changes) - 1} more" if len(changes) > 1 else ""
        print(f"tfod-anchors: warning: {spec}: inputs changed since this box cache was "
              f"extracted ({changes[0]}{more}); run extract again for current numbers",
              file=sys.stderr)
    skips = skips if skips is not None else Skips()
    stored = manifest["stored_skips"]
    for key, count in stored["counts"].items():
        skips.add(key, int(count), stored["examples"].get(key))
    files = read_files(manifest)
    rows = read_cache_rows(spec, manifest, text=label_map is not None)
    raw = rows_to_raw(rows, files, label_map, skips)
    if progress is not None:
        progress.update(rows.num_rows, raw.num_boxes)
    return raw
