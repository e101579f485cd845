"""TFRecord files: listing, compression sniffing and record framing.

A TFRecord file is a sequence of ``uint64 length, uint32 masked CRC-32C of the
length, data, uint32 masked CRC-32C of the data``, optionally inside one GZIP or
ZLIB stream. :func:`sniff` recognises the three forms from the first bytes (a
valid length CRC, or a stream that inflates to one), so compression can be
detected per file instead of guessed.
"""

from __future__ import annotations

import glob
import os
import zlib
from dataclasses import dataclass

import numpy as np

from ...errors import InputError, UsageError
from ..fileio import has_glob, is_remote, one_line
from .framing import masked_crc

COMPRESSIONS = {"": "", "none": "", "gzip": "GZIP", "zlib": "ZLIB"}

_HEADER = 12  # uint64 length + masked crc32c of the length
RECORD_OVERHEAD = 16  # header + masked crc32c of the data
_TARGET_BATCH_BYTES = 8 << 20
_MAX_BATCH = 1024
_MIN_BATCH = 16


def masked_crc32c(data: bytes) -> int:
    """The masked CRC-32C that TFRecord stores after the length and the data."""
    return masked_crc(data)


def _record_length(head: bytes) -> int | None:
    """Length of the first record if ``head`` starts with a valid record header."""
    if len(head) < _HEADER:
        return None
    if int.from_bytes(head[8:12], "little") != masked_crc32c(head[:8]):
        return None
    return int.from_bytes(head[:8], "little")


def _inflate_head(data: bytes, wbits: int) -> bytes:
    try:
        return zlib.decompressobj(wbits).decompress(data, _HEADER)
    except zlib.error:
        return b""


@dataclass(frozen=True)
class FileInfo:
    """One TFRecord file: ``compression`` as ``tf.data`` spells it (``""``, ``GZIP``,
    ``ZLIB``), ``size`` in bytes, the first record's length (``None`` if unknown),
    and what the bytes look like (``detected``, ``None`` = not a TFRecord)."""

    path: str
    compression: str
    size: int
    first_length: int | None
    detected: str | None


def sniff(path: str, head: bytes, size: int) -> tuple[str | None, int | None]:
    """Compression and first record length from a file's first bytes.

    A file is plain if it starts with a record header whose CRC matches, GZIP or
    ZLIB if its first bytes inflate to one. Empty files are plain (0 records).
    """
    if size == 0:
        return "", None
    length = _record_length(head)
    if length is not None:
        return "", length
    if head[:2] == b"\x1f\x8b":
        length = _record_length(_inflate_head(head, 16 + zlib.MAX_WBITS))
        if length is not None:
            return "GZIP", length
    length = _record_length(_inflate_head(head, zlib.MAX_WBITS))
    if length is not None:
        return "ZLIB", length
    return None, None


def _tensorflow(path: str):
    """``tensorflow`` for a remote path, or a one-line error when it is not installed."""
    try:
        import tensorflow as tf
    except ImportError:
        raise UsageError("remote paths are read with TensorFlow, which is not installed: "
                         "pip install 'tfod-anchors[cpu]' (or tensorflow)", path=path) from None
    return tf


def _glob_local(spec: str) -> list[str]:
    if not has_glob(spec):
        return [spec] if os.path.exists(spec) else []
    try:
        return glob.glob(spec, include_hidden=True)  # like tf.io.gfile.glob (Python >= 3.11)
    except TypeError:  # pragma: no cover - older Python
        return glob.glob(spec)


def expand_paths(specs: list[str]) -> list[str]:
    """Every file matched by each spec (path or glob, local or ``gs://``), sorted per
    spec, specs in order (a file named twice is read twice, as TFOD would). Local
    specs are listed without TensorFlow; remote ones with ``tf.io.gfile``.

    Raises:
        InputError: a spec matches nothing or cannot be listed.
    """
    files: list[str] = []
    for spec in specs:
        if is_remote(spec):
            tf = _tensorflow(spec)
            try:
                matched = sorted(tf.io.gfile.glob(spec))
            except Exception as err:  # noqa: BLE001 - gs:// without plugin, permissions...
                raise InputError(f"cannot list: {one_line(err)}", path=spec) from None
            matched = [m for m in matched if not tf.io.gfile.isdir(m)]
        else:
            matched = sorted(m for m in _glob_local(spec) if not os.path.isdir(m))
        if not matched:
            raise InputError("no such file (or the glob matches nothing)", path=spec)
        files.extend(matched)
    return files


def _head(path: str) -> tuple[int, bytes]:
    """Size in bytes and the first 64 KiB of a file (local, or any tf.io.gfile path)."""
    if is_remote(path):
        tf = _tensorflow(path)
        size = int(tf.io.gfile.stat(path).length)
        with tf.io.gfile.GFile(path, "rb") as f:
            return size, f.read(1 << 16)
    with open(path, "rb") as f:
        return os.fstat(f.fileno()).st_size, f.read(1 << 16)


def inspect_files(files: list[str], compression: str | None) -> list[FileInfo]:
    """Size, compression and first record length of each file.

    Args:
        compression: ``None``/``"auto"`` to detect per file; ``"none"``,
            ``"gzip"``, ``"zlib"`` (any case) to force one.
    Raises:
        UsageError: unknown compression name.
        InputError: a file cannot be read.
    """
    forced: str | None = None
    if compression is not None and compression.lower() != "auto":
        key = compression.lower()
        if key not in COMPRESSIONS:
            raise UsageError(f"compression must be auto, none, gzip or zlib, got {compression!r}")
        forced = COMPRESSIONS[key]
    infos = []
    for path in files:
        try:
            size, head = _head(path)
        except Exception as err:  # noqa: BLE001 - OSError, tf.errors...
            reason = getattr(err, "strerror", None) or one_line(err)
            raise InputError(f"cannot read: {reason}", path=path) from None
        detected, length = sniff(path, head, size)
        chosen = forced if forced is not None else detected
        infos.append(FileInfo(path, chosen if chosen is not None else "", size,
                              length if chosen == detected else None, detected))
    return infos


def compression_hint(info: FileInfo) -> str:
    """`` (the file looks GZIP; try compression gzip)`` when the bytes look like another
    compression than the one used, else ``""``."""
    if info.detected is not None and info.detected != info.compression:
        name = info.detected.lower() or "none"
        return f" (the file looks {'uncompressed' if name == 'none' else name.upper()}; " \
               f"try compression {name})"
    return ""


def batch_size(infos: list[FileInfo]) -> int:
    lengths = [i.first_length for i in infos if i.first_length]
    if not lengths:
        return 256
    per_record = max(lengths[:8]) + RECORD_OVERHEAD
    return int(np.clip(_TARGET_BATCH_BYTES // per_record, _MIN_BATCH, _MAX_BATCH))
