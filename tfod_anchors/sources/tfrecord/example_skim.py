"""Fast path of the native ``tf.Example`` parser: a vectorized wire-format skimmer.

Looking features up one by one in protobuf messages costs about a microsecond
each from Python, more than parsing the record itself. :class:`ExampleSkimmer`
reads the protobuf wire format of a whole batch with numpy instead, all records
at once, and keeps only the wanted features: the others (``image/encoded``
included) are skipped by their length, never copied.

It only accepts the layout that protobuf serializers write (TensorFlow's, and
Python's): an ``Example`` is one ``features`` field; ``Features`` is a series of
map entries, each ``key`` then ``value``; a ``Feature`` holds at most one list; a
float or int64 list is one packed field. A record laid out otherwise (unpacked
values, repeated or unknown fields, a wanted feature named twice), or one that
would be malformed, is handed to :class:`.example_proto.ExampleParser`, which
parses it with protobuf and gives the exact verdict. Both produce the same
columns: ``tests/test_sources_native.py`` checks them against each other and
against ``tf.io.parse_example``.

Wire format reminders: a field starts with a tag byte ``field_number << 3 |
wire_type`` (``0x0A``/``0x12``/``0x1A`` = fields 1/2/3, length-delimited), then a
varint length; varints keep 7 bits a byte, low bits first, the high bit set on
every byte but the last.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..labelmap import UNKNOWN, LabelMap
from ..raw import ragged_take
from .example_proto import (
    ENCODED,
    FILENAME,
    HEIGHT,
    SOURCE_ID,
    WIDTH,
    ExampleParser,
    bytes_array,
)

_PAD = 16  # zero bytes after the batch so fixed-size varint reads never run off the end
_VARINT = 5  # longest varint accepted for lengths (up to 2**35)
_KIND_TAG = {"bytes_list": 0x0A, "float_list": 0x12, "int64_list": 0x1A}


def _varints(a: np.ndarray, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Length varints at byte positions ``pos`` (int64 ``[n]``) of ``a`` (uint8).

    Returns:
        ``(value, size)`` int64 ``[n]``; ``size`` 0 where the varint is longer
        than 5 bytes (the caller treats that as an unusual layout).
    """
    pos = np.minimum(pos, a.size - 1)
    byte = a[pos]
    value = (byte & 0x7F).astype(np.int64)
    size = np.ones(pos.size, dtype=np.int64)
    more = np.flatnonzero(byte >= 0x80)  # most lengths fit in one byte
    for k in range(1, _VARINT):
        if not more.size:
            return value, size
        byte = a[np.minimum(pos[more] + k, a.size - 1)]
        value[more] |= (byte & 0x7F).astype(np.int64) << (7 * k)
        size[more] += 1
        more = more[byte >= 0x80]
    size[more] = 0
    return value, size


def _field(a: np.ndarray, pos: np.ndarray, tag: int | np.ndarray, end: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A length-delimited field with tag byte ``tag`` (one, or one per position) at
    ``pos`` ending by ``end``.

    Returns:
        ``(start, stop, ok)`` of its payload; ``ok`` false where the tag differs,
        the length varint is too long, or the payload runs past ``end``.
    """
    value, size = _varints(a, pos + 1)
    start = pos + 1 + size
    stop = start + value
    ok = (pos < end) & (a[np.minimum(pos, a.size - 1)] == tag) & (size > 0) & (stop <= end)
    return start, stop, ok


def _int64_stream(a: np.ndarray, starts: np.ndarray, stops: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode packed int64 varints in each byte range.

    Returns:
        ``(values int64, counts int64 [n], ok bool [n])``: ``ok`` false where a
        range does not end on a varint's last byte or holds a varint over 10 bytes.
    """
    lengths = stops - starts
    data = ragged_take(a, starts, lengths)
    last = data < 0x80
    ends = np.cumsum(lengths)
    ok = np.ones(starts.size, dtype=bool)
    nonempty = lengths > 0
    ok[nonempty] = last[ends[nonempty] - 1]
    terminators = np.concatenate([[0], np.cumsum(last, dtype=np.int64)])
    counts = terminators[ends] - terminators[ends - lengths]
    if not data.size:
        return np.zeros(0, np.int64), counts, ok
    group_start = np.flatnonzero(np.concatenate([[True], last[:-1]]))
    position = np.arange(data.size) - np.repeat(group_start, np.diff(
        np.append(group_start, data.size)))
    if position.max(initial=0) >= 10:
        bad_group = np.repeat(np.arange(group_start.size), np.diff(np.append(group_start,
                                                                             data.size)))
        too_long = np.unique(bad_group[position >= 10])
        owner = np.searchsorted(ends, group_start[too_long], side="right")
        ok[owner] = False
        position = np.minimum(position, 9)
    parts = (data & 0x7F).astype(np.uint64) << (7 * position).astype(np.uint64)
    values = np.add.reduceat(parts, group_start).view(np.int64)
    return values, counts, ok


def _repeated(a: np.ndarray, starts: np.ndarray, stops: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every field 1 (``0x0A``) filling each range ``[starts[i], stops[i])`` of ``a``: the
    map entries of a ``Features``, the values of a ``BytesList``.

    Returns:
        ``(owner, start, stop, ok)``: int64 ``[m]`` range index and byte span of each
        field, in range order and field order within; bool ``[n]`` False where a
        range is not a series of such fields (an unusual layout or malformed).
    """
    ok = np.ones(starts.size, dtype=bool)
    owners, field_starts, field_stops = [], [], []
    cursor = starts.copy()
    active = np.flatnonzero(cursor < stops)
    while active.size:
        s, e, good = _field(a, cursor[active], 0x0A, stops[active])
        ok[active[~good]] = False
        active, s, e = active[good], s[good], e[good]
        owners.append(active)
        field_starts.append(s)
        field_stops.append(e)
        cursor[active] = e
        active = active[e < stops[active]]
    if not owners:
        empty = np.zeros(0, np.int64)
        return empty, empty, empty, ok
    owner = np.concatenate(owners)
    order = np.argsort(owner, kind="stable")
    return owner[order], np.concatenate(field_starts)[order], \
        np.concatenate(field_stops)[order], ok


class ExampleSkimmer:
    """Same contract as :class:`.example_proto.ExampleParser` (``parse``), faster."""

    def __init__(self, label_map: LabelMap | None, verify_sizes: bool,
                 keep_text: bool = False):
        self.slow = ExampleParser(label_map, verify_sizes, keep_text)
        self.raw_text = self.slow.raw_text
        self.verify = verify_sizes
        self.lookup = self.slow.lookup
        self.lists = self.slow.lists
        singles = [(HEIGHT, "int64_list"), (WIDTH, "int64_list"), (SOURCE_ID, "bytes_list"),
                   (FILENAME, "bytes_list"), (ENCODED, "bytes_list")]
        self.wanted = self.lists + singles
        self.key_bytes = [k.encode() for k, _ in self.wanted]

    # ------------------------------------------------------------------ walking

    def _entries(self, a: np.ndarray, starts: np.ndarray, stops: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Map entries of every canonical record: (record, start, stop) and ``ok [n]``."""
        n = starts.size
        ok = np.ones(n, dtype=bool)
        fs, fe = starts.copy(), starts.copy()
        has = stops > starts
        s, e, good = _field(a, starts[has], 0x0A, stops[has])
        ok[has] = good & (e == stops[has])  # one features field, nothing else
        fs[has], fe[has] = s, e
        # records already found unusual are not walked (an empty range)
        record, entry_start, entry_stop, good = _repeated(a, fs, np.where(ok, fe, fs))
        return record, entry_start, entry_stop, ok & good

    def _match(self, a: np.ndarray, key_start: np.ndarray, key_len: np.ndarray) -> np.ndarray:
        """Index into ``self.wanted`` of each key, -1 for keys not wanted."""
        which = np.full(key_start.size, -1, dtype=np.int64)
        for length in sorted({len(k) for k in self.key_bytes}):
            rows = np.flatnonzero(key_len == length)
            if not rows.size:
                continue
            text = a[key_start[rows][:, None] + np.arange(length)]
            for index, key in enumerate(self.key_bytes):
                if len(key) == length:
                    hit = (text == np.frombuffer(key, np.uint8)).all(axis=1)
                    which[rows[hit]] = index
        return which

    # ------------------------------------------------------------------ parse

    def parse(self, records: list[bytes]) -> tuple[dict[str, Any], np.ndarray,
                                                   list[tuple[int, str]]]:
        """See :meth:`.example_proto.ExampleParser.parse`."""
        n = len(records)
        lengths = np.fromiter((len(r) for r in records), dtype=np.int64, count=n)
        stops = np.cumsum(lengths)
        starts = stops - lengths
        blob = b"".join(records) + bytes(_PAD)
        a = np.frombuffer(blob, dtype=np.uint8)
        record, es, ee, ok = self._entries(a, starts, stops)
        # entry = key field (0x0A) then value field (0x12), nothing else
        ks, ke, good = _field(a, es, 0x0A, ee)
        vs, ve, good2 = _field(a, ke, 0x12, ee)
        good &= good2 & (ve == ee)
        ok[record[~good]] = False
        which = self._match(a, ks, ke - ks)
        wanted = good & (which >= 0)
        record, which, vs, ve = record[wanted], which[wanted], vs[wanted], ve[wanted]
        # a wanted key twice in one record: leave it to protobuf (the last one wins)
        pair = record * len(self.wanted) + which
        twice = np.diff(np.sort(pair)) == 0
        if twice.any():
            ok[np.sort(pair)[1:][twice] // len(self.wanted)] = False
        # Feature: empty, or one list field of the expected kind spanning it
        tags = np.array([_KIND_TAG[kind] for _, kind in self.wanted])[which]
        empty = vs == ve
        ls, le, good = _field(a, vs, tags, ve)
        good = empty | (good & (le == ve))
        ok[record[~good]] = False
        batch = _Batch(records, blob, a)
        return self._columns(batch, ok, _Entries(record, which, empty, ls, le))

    def _columns(self, batch: _Batch, ok: np.ndarray, entries: _Entries
                 ) -> tuple[dict[str, Any], np.ndarray, list[tuple[int, str]]]:
        """Values of the wanted features of every entry (``record``/``which`` say whose)."""
        records, a = batch.records, batch.a
        n = len(records)
        keep_entry = ok[entries.record]
        record, which, empty, ls, le = (x[keep_entry] for x in (
            entries.record, entries.which, entries.empty, entries.ls, entries.le))
        kinds = [kind for _, kind in self.wanted]
        values: dict[int, Any] = {}
        counts = np.zeros((len(self.wanted), n), dtype=np.int64)
        byte_ranges: dict[int, tuple[np.ndarray, ...]] = {}
        for index, kind in enumerate(kinds):
            rows = np.flatnonzero((which == index) & ~empty)
            rec, s, e = record[rows], ls[rows], le[rows]
            if kind == "bytes_list":
                owner, vs, ve, good = _repeated(a, s, e)
                ok[rec[~good]] = False
                byte_ranges[index] = (rec, vs, ve, owner)
                counts[index, rec] = np.bincount(owner, minlength=rec.size)
                continue
            has = s < e
            ps, pe, good = _field(a, s, 0x0A, e)
            good = ~has | (good & (pe == e))
            ps, pe = np.where(has, ps, s), np.where(has, pe, s)
            if kind == "float_list":
                good &= (pe - ps) % 4 == 0
                ok[rec[~good]] = False
                values[index] = (rec, ps, pe)
                counts[index, rec] = (pe - ps) // 4
            else:
                vals, cnt, good3 = _int64_stream(a, ps, pe)
                ok[rec[~(good & good3)]] = False
                values[index] = (rec, vals, cnt)
                counts[index, rec] = cnt
        return self._assemble(batch, ok, _Skim(kinds, values, counts, byte_ranges))

    def _assemble(self, batch: _Batch, ok: np.ndarray, skim: _Skim
                  ) -> tuple[dict[str, Any], np.ndarray, list[tuple[int, str]]]:
        """Single-value checks, then columns: skimmed records, protobuf for the rest."""
        records, values, counts, byte_ranges = (batch.records, skim.values, skim.counts,
                                                skim.byte_ranges)
        index_of = {key: i for i, (key, _) in enumerate(self.wanted)}
        single = [index_of[k] for k in (HEIGHT, WIDTH, SOURCE_ID, FILENAME)]
        ok &= (counts[single] <= 1).all(axis=0)
        height = np.zeros(len(records), np.int64)
        width = np.zeros(len(records), np.int64)
        for key, out in ((HEIGHT, height), (WIDTH, width)):
            rec, vals, cnt = values[index_of[key]]
            out[rec[cnt == 1]] = vals[np.cumsum(cnt)[cnt == 1] - 1]
        # a Feature with a list of 0 values is malformed for single values (kind set)
        for key in (HEIGHT, WIDTH):
            rec, _, cnt = values[index_of[key]]
            ok[rec[cnt == 0]] = False
        for key in (SOURCE_ID, FILENAME):
            rec, vs, ve, owner = byte_ranges[index_of[key]]
            ok[rec[np.bincount(owner, minlength=rec.size) != 1]] = False
        need = (height <= 0) | (width <= 0) if not self.verify else np.ones(len(records), bool)
        enc = index_of[ENCODED]
        rec, vs, ve, owner = byte_ranges[enc]
        ok[rec[(np.bincount(owner, minlength=rec.size) != 1) & need[rec]]] = False
        fast = np.flatnonzero(ok)
        slow = np.flatnonzero(~ok)
        columns = self._fast_columns(batch, fast, skim, (height, width, need))
        if not slow.size:
            return columns, fast, []
        other, kept, bad = self.slow.parse([records[i] for i in slow])
        kept = slow[kept]
        bad = [(int(slow[position]), reason) for position, reason in bad]
        return _merge(columns, fast, other, kept, self.lists), np.union1d(fast, kept), bad

    def _fast_columns(self, batch: _Batch, fast: np.ndarray, skim: _Skim,
                      sizes: tuple[np.ndarray, np.ndarray, np.ndarray]) -> dict[str, Any]:
        """Columns of the records in ``fast`` (as :meth:`ExampleParser.parse` builds them);
        ``sizes``: height, width and ``need`` (image header wanted) per record."""
        records, blob, a = batch.records, batch.blob, batch.a
        values, counts, byte_ranges = skim.values, skim.counts, skim.byte_ranges
        height, width, need = sizes
        n = len(records)
        columns: dict[str, Any] = {}
        for index, (key, kind) in enumerate(self.lists):
            cnt = counts[index]
            if kind == "float_list":
                rec, ps, pe = values[index]
                sel = np.isin(rec, fast)
                data = ragged_take(a, ps[sel], (pe - ps)[sel])
                flat = data.view("<f4").astype(np.float32)
            elif kind == "int64_list":
                rec, vals, c = values[index]
                owner = np.repeat(rec, c)
                flat = vals[np.isin(owner, fast)]
            else:
                rec, vs, ve, owner = byte_ranges[index]
                keep = np.isin(rec[owner], fast)
                texts = [blob[s:e] for s, e in zip(vs[keep].tolist(), ve[keep].tolist())]
                if self.raw_text:
                    flat = bytes_array(texts)
                else:
                    lookup = self.lookup
                    flat = np.array([lookup.get(t, UNKNOWN) for t in texts], dtype=np.int64)
            splits = np.zeros(fast.size + 1, dtype=np.int64)
            np.cumsum(cnt[fast], out=splits[1:])
            columns[key] = flat
            columns[key + ":splits"] = splits
        columns[HEIGHT] = height[fast]
        columns[WIDTH] = width[fast]
        columns["need"] = need[fast]
        keys = [b""] * n
        index_of = {key: i for i, (key, _) in enumerate(self.wanted)}
        for key in (FILENAME, SOURCE_ID):  # source_id wins when both are set
            rec, vs, ve, owner = byte_ranges[index_of[key]]
            for r, s, e in zip(rec[owner].tolist(), vs.tolist(), ve.tolist()):
                if e > s:
                    keys[r] = blob[s:e].replace(b"\n", b" ")
        columns["keys"] = b"\n".join(keys[i] for i in fast.tolist())
        encoded = [b""] * n
        rec, vs, ve, owner = byte_ranges[index_of[ENCODED]]
        for r, s, e in zip(rec[owner].tolist(), vs.tolist(), ve.tolist()):
            if need[r]:
                encoded[r] = blob[s:e]
        columns["encoded"] = [encoded[i] for i in fast.tolist() if need[i]]
        columns["length"] = np.fromiter((len(records[i]) for i in fast.tolist()), np.int64,
                                        count=fast.size)
        return columns


@dataclass(frozen=True)
class _Batch:
    """A batch of serialized records: the list, their concatenation (padded), and that
    as uint8."""

    records: list[bytes]
    blob: bytes
    a: np.ndarray


@dataclass(frozen=True)
class _Entries:
    """The wanted map entries of a batch: owning record, wanted-feature index, whether the
    Feature is empty, and the byte range of its list field."""

    record: np.ndarray
    which: np.ndarray
    empty: np.ndarray
    ls: np.ndarray
    le: np.ndarray


@dataclass(frozen=True)
class _Skim:
    """What the skim found per wanted feature: kinds, values of float/int64 lists,
    value counts ``[features, n]`` and byte ranges of bytes lists."""

    kinds: list[str]
    values: dict[int, Any]
    counts: np.ndarray
    byte_ranges: dict[int, Any]


def _merge(one: dict[str, Any], rows_one: np.ndarray, two: dict[str, Any], rows_two: np.ndarray,
           lists: list[tuple[str, str]]) -> dict[str, Any]:
    """Columns of two disjoint record sets, interleaved back into record order."""
    rows = np.concatenate([rows_one, rows_two])
    order = np.argsort(rows, kind="stable")
    out: dict[str, Any] = {}
    for key, _ in lists:
        values = np.concatenate([one[key], two[key]])
        sizes = np.concatenate([np.diff(one[key + ":splits"]), np.diff(two[key + ":splits"])])
        starts = np.concatenate([one[key + ":splits"][:-1],
                                 one[key].size + two[key + ":splits"][:-1]])
        out[key] = ragged_take(values, starts[order], sizes[order])
        splits = np.zeros(rows.size + 1, dtype=np.int64)
        np.cumsum(sizes[order], out=splits[1:])
        out[key + ":splits"] = splits
    for key in (HEIGHT, WIDTH, "need", "length"):
        out[key] = np.concatenate([one[key], two[key]])[order]
    images = list(one["encoded"]) + list(two["encoded"])
    needed_rows = np.concatenate([rows_one[one["need"]], rows_two[two["need"]]])
    out["encoded"] = [images[i] for i in np.argsort(needed_rows, kind="stable")]
    keys = (one["keys"].split(b"\n") if rows_one.size else []) + \
        (two["keys"].split(b"\n") if rows_two.size else [])
    out["keys"] = b"\n".join(keys[i] for i in order.tolist())
    return out
