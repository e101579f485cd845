"""The box cache manifest (:mod:`.cache`), validated as a whole when it is loaded.

A manifest is only trusted when every key a read uses has the expected type, every
shard is a plain file name of this cache (``boxes-...parquet``, listed once, with
its row count and the SHA-256 of its bytes), and the shards add up to the counts.
Any problem is one :class:`InputError` naming the manifest and the key, ending with
"run extract again".
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import InputError

#: Current format: int64 image sizes, per-shard SHA-256, Parquet page checksums.
FORMAT = "tfod-anchors box cache"
FORMAT_VERSION = 2
SHARD_PREFIX = "boxes"
_SHARD_NAME = re.compile(rf"^{SHARD_PREFIX}-[A-Za-z0-9_.-]+\.parquet$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
COUNT_KEYS = ("files", "records", "box_entries", "images", "boxes")


class ManifestError(InputError):
    """A manifest key with the wrong type or value (message names the key)."""


def _fail(path: str, key: str, problem: str) -> ManifestError:
    return ManifestError(f"box cache manifest: {key}: {problem}; run extract again",
                         path=path)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _need(path: str, doc: dict[str, Any], key: str, kind: type | tuple[type, ...],
          where: str) -> Any:
    """``doc[key]`` when present and of ``kind`` (ints exclude bools)."""
    name = f"{where}.{key}" if where else key
    if key not in doc:
        raise _fail(path, name, "missing")
    value = doc[key]
    if kind is int:
        ok = _is_int(value)
    elif kind is bool:
        ok = isinstance(value, bool)
    else:
        ok = isinstance(value, kind)
    if not ok:
        wanted = getattr(kind, "__name__", "value")
        raise _fail(path, name, f"expected {_WORDS.get(wanted, wanted)}, "
                                f"got {type(value).__name__} {_short(value)}")
    return value


_WORDS = {"int": "an integer", "bool": "true or false", "str": "a string", "list": "a list",
          "dict": "an object"}


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _count(path: str, doc: dict[str, Any], key: str, where: str) -> int:
    value = _need(path, doc, key, int, where)
    if value < 0:
        raise _fail(path, f"{where}.{key}", f"negative ({value})")
    return value


def _check_inputs(path: str, manifest: dict[str, Any]) -> None:
    inputs = _need(path, manifest, "inputs", dict, "")
    specs = _need(path, inputs, "specs", list, "inputs")
    if not specs or not all(isinstance(s, str) for s in specs):
        raise _fail(path, "inputs.specs", "expected a non-empty list of paths")
    files = _need(path, inputs, "files", list, "inputs")
    for i, entry in enumerate(files):
        where = f"inputs.files[{i}]"
        if not isinstance(entry, dict):
            raise _fail(path, where, "expected an object")
        _need(path, entry, "path", str, where)
        _count(path, entry, "size", where)
        _need(path, entry, "mtime_ns", int, where)
        _need(path, entry, "read", bool, where)


def _check_skips(path: str, doc: dict[str, Any], counts_key: str, examples_key: str,
                 where: str) -> None:
    counts = _need(path, doc, counts_key, dict, where)
    for key in counts:
        _count(path, counts, key, f"{where}.{counts_key}" if where else counts_key)
    examples = _need(path, doc, examples_key, dict, where)
    for key, text in examples.items():
        if not isinstance(text, str):
            name = f"{where}.{examples_key}" if where else examples_key
            raise _fail(path, f"{name}.{key}", "expected a string")


def _check_shards(path: str, manifest: dict[str, Any]) -> list[dict[str, Any]]:
    shards = _need(path, manifest, "shards", list, "")
    if not shards:
        raise _fail(path, "shards", "empty (a cache has at least one shard)")
    seen: set[str] = set()
    for i, shard in enumerate(shards):
        where = f"shards[{i}]"
        if not isinstance(shard, dict):
            raise _fail(path, where, "expected an object")
        name = _need(path, shard, "path", str, where)
        if not _SHARD_NAME.match(name) or name.startswith(".") or ".." in name:
            raise _fail(path, f"{where}.path", f"{name!r} is not a shard file name of this "
                        f"cache (plain names {SHARD_PREFIX}-*.parquet only)")
        if name in seen:
            raise _fail(path, f"{where}.path", f"{name} is listed twice")
        seen.add(name)
        _count(path, shard, "rows", where)
        _count(path, shard, "bytes", where)
        digest = _need(path, shard, "sha256", str, where)
        if not _SHA256.match(digest):
            raise _fail(path, f"{where}.sha256", "expected 64 lowercase hex digits")
    return shards


def validate_manifest(path: str, manifest: Any) -> dict[str, Any]:
    """Check a parsed manifest (``path`` names it in errors); returns it.

    Raises:
        InputError: not a manifest of this format and version, or a key a read
            uses missing or of the wrong type, or shards not adding up to the counts.
    """
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise InputError(f"not a box cache manifest (no \"format\": \"{FORMAT}\")", path=path)
    if manifest.get("format_version") != FORMAT_VERSION:
        raise InputError(f"box cache format version {manifest.get('format_version')!r} (written "
                         f"by tfod-anchors {manifest.get('tool_version')}) is not readable "
                         f"by this version (reads {FORMAT_VERSION}); run extract again",
                         path=path)
    _check_inputs(path, manifest)
    options = _need(path, manifest, "options", dict, "")
    _need(path, options, "compression", str, "options")
    _need(path, options, "verify_sizes", bool, "options")
    counts = _need(path, manifest, "counts", dict, "")
    for key in COUNT_KEYS:
        _count(path, counts, key, "counts")
    _check_skips(path, manifest, "skipped", "skip_examples", "")
    _check_skips(path, _need(path, manifest, "stored_skips", dict, ""), "counts", "examples",
                 "stored_skips")
    shards = _check_shards(path, manifest)
    files = manifest["inputs"]["files"]
    if counts["files"] != len(files):
        raise _fail(path, "counts.files", f"{counts['files']}, but inputs.files lists "
                                          f"{len(files)}")
    rows = sum(s["rows"] for s in shards)
    if rows != counts["records"]:
        raise _fail(path, "counts.records", f"{counts['records']}, but the shards hold {rows} "
                                            "rows")
    return manifest


def read_files(manifest: dict[str, Any]) -> list[str]:
    """The input files the shards' ``file_index`` points into (those read)."""
    return [e["path"] for e in manifest["inputs"]["files"] if e["read"]]
