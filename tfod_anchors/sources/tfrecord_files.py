"""TFRecord files: listing, compression sniffing and record framing.

A TFRecord file is a sequence of ``uint64 length, uint32 masked CRC-32C of the
length, data, uint32 masked CRC-32C of the data``, optionally inside one GZIP or
ZLIB stream. :func:`sniff` recognises the three forms from the first bytes (a
valid length CRC, or a stream that inflates to one), so compression can be
detected per file instead of guessed.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from ..errors import InputError, UsageError
from .fileio import one_line

COMPRESSIONS = {"": "", "none": "", "gzip": "GZIP", "zlib": "ZLIB"}

_HEADER = 12  # uint64 length + masked crc32c of the length
RECORD_OVERHEAD = 16  # header + masked crc32c of the data
_TARGET_BATCH_BYTES = 8 << 20
_MAX_BATCH = 1024
_MIN_BATCH = 16


def _crc32c_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _crc32c_table()


def masked_crc32c(data: bytes) -> int:
    """The masked CRC-32C that TFRecord stores after the length and the data."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    crc ^= 0xFFFFFFFF
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


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


def expand_paths(specs: list[str]) -> list[str]:
    """Every file matched by each spec (path or glob, local or ``gs://``), sorted per
    spec, specs in order (a file named twice is read twice, as TFOD would).

    Raises:
        InputError: a spec matches nothing or cannot be listed.
    """
    import tensorflow as tf

    files: list[str] = []
    for spec in specs:
        try:
            matched = sorted(tf.io.gfile.glob(spec))
        except Exception as err:  # noqa: BLE001 - gs:// without plugin, permissions...
            raise InputError(f"cannot list: {one_line(err)}", path=spec) from None
        matched = [m for m in matched if not tf.io.gfile.isdir(m)]
        if not matched:
            raise InputError("no such file (or the glob matches nothing)", path=spec)
        files.extend(matched)
    return files


def inspect_files(files: list[str], compression: str | None) -> list[FileInfo]:
    """Size, compression and first record length of each file.

    Args:
        compression: ``None``/``"auto"`` to detect per file; ``"none"``,
            ``"gzip"``, ``"zlib"`` (any case) to force one.
    Raises:
        UsageError: unknown compression name.
        InputError: a file cannot be read.
    """
    import tensorflow as tf

    forced: str | None = None
    if compression is not None and compression.lower() != "auto":
        key = compression.lower()
        if key not in COMPRESSIONS:
            raise UsageError(f"compression must be auto, none, gzip or zlib, got {compression!r}")
        forced = COMPRESSIONS[key]
    infos = []
    for path in files:
        try:
            size = int(tf.io.gfile.stat(path).length)
            with tf.io.gfile.GFile(path, "rb") as f:
                head = f.read(1 << 16)
        except Exception as err:  # noqa: BLE001
            raise InputError(f"cannot read: {one_line(err)}", path=path) from None
        detected, length = sniff(path, head, size)
        chosen = forced if forced is not None else detected
        infos.append(FileInfo(path, chosen if chosen is not None else "", size,
                              length if chosen == detected else None, detected))
    return infos


def batch_size(infos: list[FileInfo]) -> int:
    lengths = [i.first_length for i in infos if i.first_length]
    if not lengths:
        return 256
    per_record = max(lengths[:8]) + RECORD_OVERHEAD
    return int(np.clip(_TARGET_BATCH_BYTES // per_record, _MIN_BATCH, _MAX_BATCH))
