"""TFRecord record framing read without TensorFlow, CRCs checked.

A TFRecord file is a sequence of records, each ``uint64 length`` (little endian),
``uint32`` masked CRC-32C of those 8 bytes, ``length`` bytes of data, ``uint32``
masked CRC-32C of the data; the whole file may be one GZIP (possibly several
members) or ZLIB stream. Every CRC is checked, with ``google-crc32c`` (C, hardware
CRC32 instructions where the CPU has them); there is no unchecked mode.

Damage is reported as :class:`RecordError` with the same record number, byte
offset and wording as the ``tf.data`` reader (:mod:`.tfdata`) reports, so both
readers count it the same way:

* a length CRC that does not match: ``CRC mismatch (corrupted record at byte P)``,
  ``P`` the offset of the record's header; a data CRC that does not match: the
  same with ``P`` the offset of its data (header + 12), as ``tf.data`` says;
* a header whose data runs past the end: ``file truncated (incomplete record at
  byte P)``;
* fewer than 12 bytes left after the last whole record of an uncompressed file:
  ``file truncated (N trailing bytes are not a whole record)`` (``tf.data`` stops
  silently there; both readers report it from the byte count). In a compressed
  stream that ended properly, such a tail is ignored, as ``tf.data`` does;
* a damaged or cut compressed stream: the record being read when the inflater
  failed or the input ran out (a cut at a record boundary, with only the stream
  trailer missing, reads as a clean end, as in ``tf.data``). ``tf.data`` inflates
  ahead into a buffer and may name an earlier record and keep fewer records
  before the damage; the file is counted as corrupt by both.

Offsets are in the uncompressed byte stream. Records before the damage are
yielded; nothing after it is read (``tf.data`` cannot continue past a framing
error either).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from typing import BinaryIO

from ...errors import UsageError, option

try:
    import google_crc32c
except ImportError:  # an environment installed before google-crc32c became a requirement
    google_crc32c = None  # type: ignore[assignment]

_HEADER = 12
_TRAILER = 4
_HEAD = struct.Struct("<QI")
_CRC = struct.Struct("<I")
_MASK_DELTA = 0xA282EAD8
_READ = 4 << 20  # bytes read from the file at a time
_INFLATE = 4 << 20  # at most this many uncompressed bytes per inflate call
_WBITS = {"GZIP": 16 + zlib.MAX_WBITS, "ZLIB": zlib.MAX_WBITS}

#: ``"c"`` when the CRC runs in compiled code (hardware CRC32C where available);
#: ``"python"``: google-crc32c fell back to its slow pure-Python version;
#: ``"missing"``: google-crc32c is not installed (the native reader refuses to run).
CRC_IMPLEMENTATION = google_crc32c.implementation if google_crc32c is not None else "missing"


def _crc_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc_table()


def _crc32c(data: bytes) -> int:
    """CRC-32C: google-crc32c's, or a slow table version for a few header bytes."""
    if google_crc32c is not None:
        return google_crc32c.value(data)
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


class RecordError(Exception):
    """Damage at record ``record`` (0-based) of a file; ``detail`` says what and where.

    ``hint`` is true when a wrong compression setting could explain it (the caller
    may add which compression the file looks like).
    """

    def __init__(self, record: int, detail: str, hint: bool = True):
        super().__init__(detail)
        self.record = record
        self.detail = detail
        self.hint = hint


def unmask(stored: int) -> int:
    """The CRC-32C that a TFRecord masked CRC ``stored`` (uint32) was made from."""
    rot = (stored - _MASK_DELTA) & 0xFFFFFFFF
    return ((rot << 15) | (rot >> 17)) & 0xFFFFFFFF


def masked_crc(data: bytes) -> int:
    """The masked CRC-32C that TFRecord stores for ``data`` (uint32)."""
    crc = _crc32c(data)
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + _MASK_DELTA) & 0xFFFFFFFF


class _Inflater:
    """Uncompressed bytes of a GZIP (one or more members) or ZLIB stream, in chunks."""

    def __init__(self, f: BinaryIO, compression: str):
        self._f = f
        self._wbits = _WBITS[compression]
        self._gzip = compression == "GZIP"
        self._d = zlib.decompressobj(self._wbits)
        self._pending = b""  # compressed bytes not yet given to the inflater
        self.ended = False  # the stream (last member) ended with its trailer

    def read(self) -> bytes:
        """Next uncompressed bytes, ``b""`` at the end of the input.

        Raises:
            RecordError: the stream cannot be inflated (record number filled in by
                the caller: ``record`` is -1 here).
        """
        d = self._d
        while True:
            if d.unconsumed_tail:
                data = self._inflate(d.unconsumed_tail)
            else:
                raw = self._pending or self._f.read(_READ)
                self._pending = b""
                if not raw:
                    return b""
                self.ended = False
                data = self._inflate(raw)
            if d.eof:
                self.ended = True
                rest = d.unused_data
                if self._gzip and (rest or self._more()):
                    # Another GZIP member follows (or garbage, which fails like tf.data).
                    self._d = d = zlib.decompressobj(self._wbits)
                    self._pending = rest
                    self.ended = False
                elif not self._gzip:
                    self._pending = b""  # ZLIB: bytes after the stream are ignored
                    self._f.seek(0, 2)
            if data:
                return data

    def _more(self) -> bool:
        self._pending = self._f.read(_READ)
        return bool(self._pending)

    def _inflate(self, raw: bytes) -> bytes:
        try:
            return self._d.decompress(raw, _INFLATE)
        except zlib.error as err:
            reason = str(err).split(":", 1)[-1].strip() or str(err)
            kind = "GZIP" if self._gzip else "ZLIB"
            raise RecordError(-1, f"{kind} stream damaged, cannot inflate: {reason}") from None


def _grow(read, buf: bytes, pos: int, need: int, index: int) -> tuple[bytes, bool]:
    """``buf[pos:]`` plus chunks from ``read()`` until ``need`` bytes or the end;
    returns the new buffer (starting at the old ``pos``) and whether it has them.

    Raises:
        RecordError: the compressed stream broke (at record ``index``).
    """
    parts = [buf[pos:]]
    have = len(parts[0])
    while have < need:
        try:
            chunk = read()
        except RecordError as err:
            raise RecordError(index, err.detail) from None
        if not chunk:
            break
        parts.append(chunk)
        have += len(chunk)
    return b"".join(parts), have >= need


def _check_end(rest: int, index: int, inflater: _Inflater | None, offset: int) -> None:
    """The input ended with ``rest`` bytes (< a header) after the last whole record.

    Raises:
        RecordError: a cut inside a header (see the module docstring for when).
    """
    if rest == 0:
        return
    if inflater is None:
        raise RecordError(index, f"file truncated ({rest} trailing bytes are not a "
                                 "whole record)", hint=False)
    if not inflater.ended:  # tf.data ignores a partial header at the end of a whole stream
        raise RecordError(index, f"file truncated (incomplete record at byte {offset})")


def read_records(f: BinaryIO, compression: str, batch: int) -> Iterator[list[bytes]]:
    """Record payloads of one TFRecord file, ``batch`` at a time (the last batch
    may be shorter; empty batches are never yielded).

    Args:
        f: the file, opened in binary mode at its start.
        compression: ``""``, ``"GZIP"`` or ``"ZLIB"`` (as ``tf.data`` spells them).
        batch: records per yielded list.
    Raises:
        RecordError: damage (see the module docstring); the records before it
            have been yielded.
        OSError: the file cannot be read.
        UsageError: google-crc32c is not installed (CRCs are never skipped).
    """
    if google_crc32c is None:
        raise UsageError("the native TFRecord reader needs google-crc32c to check record CRCs: "
                         f"pip install google-crc32c (or use {option('reader_tf')})")
    inflater = _Inflater(f, compression) if compression else None
    read = inflater.read if inflater is not None else (lambda: f.read(_READ))
    crc = google_crc32c.value
    unpack = _HEAD.unpack_from
    buf = b""
    pos = 0
    base = 0  # stream offset of buf[0]
    index = 0
    out: list[bytes] = []
    try:
        while True:
            if len(buf) - pos < _HEADER:
                base, (buf, whole), pos = base + pos, _grow(read, buf, pos, _HEADER, index), 0
                if not whole:
                    _check_end(len(buf), index, inflater, base)
                    break
            length, stored = unpack(buf, pos)
            stored = (stored - _MASK_DELTA) & 0xFFFFFFFF  # unmask, inlined (hot loop)
            if ((stored << 15) | (stored >> 17)) & 0xFFFFFFFF != crc(buf[pos:pos + 8]):
                raise RecordError(index, f"CRC mismatch (corrupted record at byte {base + pos})")
            end = pos + _HEADER + length + _TRAILER
            if end > len(buf):
                need = _HEADER + length + _TRAILER
                base, (buf, whole), pos = base + pos, _grow(read, buf, pos, need, index), 0
                if not whole:
                    raise RecordError(index, f"file truncated (incomplete record at byte "
                                             f"{base})")
                end = need
            data = buf[pos + _HEADER:end - _TRAILER]
            stored = (_CRC.unpack_from(buf, end - _TRAILER)[0] - _MASK_DELTA) & 0xFFFFFFFF
            if ((stored << 15) | (stored >> 17)) & 0xFFFFFFFF != crc(data):
                raise RecordError(index, f"CRC mismatch (corrupted record at byte "
                                         f"{base + pos + _HEADER})")
            out.append(data)
            index += 1
            pos = end
            if len(out) >= batch:
                yield out
                out = []
    except RecordError:
        if out:
            yield out  # the records before the damage
        raise
    if out:
        yield out
