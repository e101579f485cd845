"""A walk over TFRecord record headers before ``tf.data`` reads a file.

``tf.data`` trusts a record's length field once the header CRC matches: a length of
2^40 with a valid CRC makes it allocate that much and kill the process (SIGSEGV or
an abort, nothing printed). :func:`overrun` walks the headers with our own framing
(length, masked CRC-32C of the length; data skipped, never checked or kept) and
finds the first record whose header is valid but whose data would run past the end
of the file (or of the uncompressed stream). The ``tf.data`` reader then reads that
file only up to that record and counts the damage itself, in the words ``tf.data``
would use (``file truncated (incomplete record at byte P)``).

A header whose CRC does not match is safe: ``tf.data`` checks it before using the
length, so it stops there and reports it (the walk checks the CRC of an overlong
header only; in compressed streams, of every header). Cost: plain local
files seek from header to header (large records) or walk 4 MB blocks (small ones);
compressed files are inflated once more. ``benchmarks/bench_readers.py --prescan``
measures it against the read.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from ..fileio import is_remote
from .files import FileInfo
from .framing import RecordError, _Inflater, masked_crc

_HEADER = 12
_TRAILER = 4
_HEAD = struct.Struct("<QI")
_LENGTH = struct.Struct("<Q")
_CRC = struct.Struct("<I")
_BLOCK = 4 << 20


@dataclass(frozen=True)
class Overrun:
    """Record ``record`` (0-based) of a file has a valid header whose data runs past
    the end; ``detail`` says so as ``tf.data`` would."""

    record: int
    detail: str


def _open(path: str) -> BinaryIO:
    if is_remote(path):
        import tensorflow as tf

        return tf.io.gfile.GFile(path, "rb")
    return open(path, "rb", buffering=0)


def _walk_plain(f: BinaryIO, size: int) -> Overrun | None:
    """Headers of an uncompressed file of ``size`` bytes.

    Only an overlong header's CRC is checked: a plausible length with a bad CRC makes
    ``tf.data`` stop at that record with its own error, so whatever this walk finds
    after it is never reached (and is not counted: the read marks the file corrupt).
    """
    pos = index = 0
    base, buf = 0, b""
    unpack = _LENGTH.unpack_from
    while pos + _HEADER <= size:
        off = pos - base
        if off + _HEADER > len(buf):
            f.seek(pos)
            buf, base, off = f.read(_BLOCK), pos, 0
            if len(buf) < _HEADER:
                return None  # the file shrank: the read reports it
        end = pos + _HEADER + unpack(buf, off)[0] + _TRAILER
        if end > size:
            if masked_crc(buf[off:off + 8]) != _CRC.unpack_from(buf, off + 8)[0]:
                return None
            return Overrun(index, f"file truncated (incomplete record at byte {pos})")
        pos = end
        index += 1
    return None


def _chunks(f: BinaryIO, compression: str) -> Iterator[bytes]:
    inflater = _Inflater(f, compression)
    while True:
        try:
            data = inflater.read()
        except RecordError:
            return  # a damaged stream: tf.data stops there and says so
        if not data:
            return
        yield data


def _walk_stream(f: BinaryIO, compression: str) -> Overrun | None:
    """Headers of a GZIP/ZLIB file (inflated, data skipped chunk by chunk)."""
    buf, off, skip = b"", 0, 0
    index = pos = 0
    last = -1  # offset of the header whose data is being skipped
    for chunk in _chunks(f, compression):
        buf, off = buf[off:] + chunk, 0
        while True:
            if skip:
                take = min(skip, len(buf) - off)
                off, skip = off + take, skip - take
                if skip:
                    buf, off = b"", 0
                    break
            if len(buf) - off < _HEADER:
                break
            length, stored = _HEAD.unpack_from(buf, off)
            if masked_crc(buf[off:off + 8]) != stored:
                return None
            last, skip = pos, length + _TRAILER
            off += _HEADER
            pos += _HEADER + length + _TRAILER
            index += 1
    if skip:
        return Overrun(index - 1, f"file truncated (incomplete record at byte {last})")
    return None


def overrun(info: FileInfo) -> Overrun | None:
    """The first record of ``info`` whose valid header promises more bytes than the
    file holds, or ``None``. Unreadable files give ``None`` (the read reports them)."""
    try:
        with _open(info.path) as f:
            if info.compression:
                return _walk_stream(f, info.compression)
            return _walk_plain(f, info.size)
    except (OSError, zlib.error):
        return None
    except Exception as err:  # noqa: BLE001 - tf.errors from remote file systems
        if type(err).__module__.startswith("tensorflow"):
            return None
        raise


def overruns(infos: list[FileInfo]) -> dict[int, Overrun]:
    """:func:`overrun` of every file, by file index (only the damaged ones)."""
    found = {}
    for index, info in enumerate(infos):
        hit = overrun(info)
        if hit is not None:
            found[index] = hit
    return found
