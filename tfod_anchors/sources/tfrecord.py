"""TFRecord files of TFOD ``tf.Example`` records -> :class:`RawBoxes`.

Only the keys TFOD's ``TfExampleDecoder`` uses for boxes are parsed, batched,
with ``tf.data`` (parallel reads over files, parallel ``parse_example``):
``image/object/bbox/{ymin,xmin,ymax,xmax}``, ``image/height``, ``image/width``,
``image/object/class/label`` (and ``class/text`` when a label map is given),
``image/object/{difficult,group_of,is_crowd}``, ``image/source_id``,
``image/filename``. ``image/encoded`` is parsed only for records whose stored size
is missing or zero (or for every record with ``verify_sizes``), and only its
header is looked at (:mod:`.imageheader`).

Reading is in two gears. The fast gear streams every file at once; if it hits
any error (CRC mismatch, truncation, a record ``parse_example`` rejects) the
read restarts in the careful gear, file by file, which finds the exact record,
keeps what is readable and counts the rest. Record numbers are 0-based
positions in their file.

Class ids follow TFOD: with a label map, ``class/text`` looked up by name and
display name decides (unknown -> -1); records without text fall back to
``class/label``; without a label map ``class/label`` is used. A record with
boxes but no class at all loses its boxes in TFOD (``boxes_without_class``).
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError, UsageError
from .imageheader import image_size
from .labelmap import LabelMap
from .progress import Progress
from .raw import RawBoxes, Skips, concat_raw, ragged_take

BOX_KEYS = ("image/object/bbox/ymin", "image/object/bbox/xmin",
            "image/object/bbox/ymax", "image/object/bbox/xmax")
LABEL_KEY = "image/object/class/label"
TEXT_KEY = "image/object/class/text"
FLAG_KEYS = ("image/object/difficult", "image/object/group_of", "image/object/is_crowd")
COMPRESSIONS = {"": "", "none": "", "gzip": "GZIP", "zlib": "ZLIB"}

_HEADER = 12  # uint64 length + masked crc32c of the length
_RECORD_OVERHEAD = 16  # header + masked crc32c of the data
_TARGET_BATCH_BYTES = 8 << 20
_MAX_BATCH = 1024
_MIN_BATCH = 16
_INT32_MAX = 2**31 - 1


# ------------------------------------------------------------------ files and formats

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
            raise InputError(f"cannot list: {_one_line(err)}", path=spec) from None
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
            raise InputError(f"cannot read: {_one_line(err)}", path=path) from None
        detected, length = sniff(path, head, size)
        chosen = forced if forced is not None else detected
        infos.append(FileInfo(path, chosen if chosen is not None else "", size,
                              length if chosen == detected else None, detected))
    return infos


def _batch_size(infos: list[FileInfo]) -> int:
    lengths = [i.first_length for i in infos if i.first_length]
    if not lengths:
        return 256
    per_record = max(lengths[:8]) + _RECORD_OVERHEAD
    return int(np.clip(_TARGET_BATCH_BYTES // per_record, _MIN_BATCH, _MAX_BATCH))


# ------------------------------------------------------------------ parsing in-graph

def make_parse_fn(label_map: LabelMap | None, verify_sizes: bool):
    """``serialized string [n] -> dict of dense tensors`` (flat values + row splits).

    ``encoded`` holds ``image/encoded`` only for the records flagged in ``need``
    (stored size missing/zero, or all with ``verify_sizes``).
    """
    import tensorflow as tf

    def ragged(dtype):
        return tf.io.RaggedFeature(dtype, row_splits_dtype=tf.int64)

    features = {key: ragged(tf.float32) for key in BOX_KEYS}
    features[LABEL_KEY] = ragged(tf.int64)
    for key in FLAG_KEYS:
        features[key] = ragged(tf.int64)
    if label_map is not None:
        features[TEXT_KEY] = ragged(tf.string)
    for key in ("image/height", "image/width"):
        features[key] = tf.io.FixedLenFeature([], tf.int64, default_value=0)
    for key in ("image/source_id", "image/filename"):
        features[key] = tf.io.FixedLenFeature([], tf.string, default_value="")
    encoded = {"image/encoded": tf.io.FixedLenFeature([], tf.string, default_value="")}
    lookup = label_map.tf_lookup() if label_map is not None else None

    @tf.autograph.experimental.do_not_convert  # plain graph code: skip AutoGraph's tracing cost
    def parse(serialized):
        parsed = tf.io.parse_example(serialized, features)
        out = {}
        for key, value in parsed.items():
            if isinstance(value, tf.RaggedTensor):
                out[key] = value.flat_values
                out[key + ":splits"] = value.row_splits
            else:
                out[key] = value
        if lookup is not None:
            out[TEXT_KEY] = lookup(out[TEXT_KEY])
        height, width = parsed["image/height"], parsed["image/width"]
        if verify_sizes:
            need = tf.ones_like(height, dtype=tf.bool)
        else:
            need = tf.logical_or(height <= 0, width <= 0)
        out["need"] = need
        out["encoded"] = tf.io.parse_example(tf.boolean_mask(serialized, need),
                                             encoded)["image/encoded"]
        out["length"] = tf.cast(tf.strings.length(serialized), tf.int64)
        # One newline-joined string of image keys per batch: far cheaper to bring to
        # Python than one bytes object per record.
        source_id = out.pop("image/source_id")
        filename = out.pop("image/filename")
        key = tf.where(tf.strings.length(source_id) > 0, source_id, filename)
        out["keys"] = tf.strings.reduce_join(tf.strings.regex_replace(key, "\n", " "),
                                             separator="\n")
        return out

    return parse


# ------------------------------------------------------------------ numpy post-processing

@dataclass
class Chunk:
    """Images and boxes of one parsed batch (a :class:`RawBoxes` without files)."""

    image_height: np.ndarray
    image_width: np.ndarray
    image_key: np.ndarray
    image_record: np.ndarray
    box_image: np.ndarray
    boxes: np.ndarray
    label: np.ndarray
    difficult: np.ndarray
    group_of: np.ndarray
    is_crowd: np.ndarray


def _image_keys(joined: bytes, rows: np.ndarray, path: str,
                records: np.ndarray) -> np.ndarray:
    """Keys of ``rows`` from a batch's newline-joined keys (``image/source_id``, else
    ``image/filename``), ``"<file>#<record>"`` when both are empty."""
    base = path.rsplit("/", 1)[-1]
    every = joined.decode("utf-8", "replace").split("\n")
    keys = np.empty(len(rows), dtype=object)
    keys[:] = [every[row] or f"{base}#{records[row]}" for row in rows.tolist()]
    return keys


def _fill_sizes(p: dict[str, np.ndarray], verify: bool, where, skips: Skips
                ) -> tuple[np.ndarray, np.ndarray]:
    """Stored sizes, completed (or checked) from image headers."""
    height = p["image/height"].copy()
    width = p["image/width"].copy()
    rows = np.flatnonzero(p["need"])
    for row, data in zip(rows, p["encoded"]):
        stored_ok = height[row] > 0 and width[row] > 0
        size = image_size(data) if data else None
        if size is None:
            if stored_ok:
                skips.add("unverified_sizes", 1, where(row))
            continue
        if not stored_ok:
            skips.add("size_from_header", 1, where(row))
        elif (height[row], width[row]) != size:
            skips.add("size_mismatch", 1, f"{where(row)}: stored {height[row]}x{width[row]}, "
                                          f"image {size[0]}x{size[1]} (the image size is used)")
        height[row], width[row] = size
    return height, width


def process_batch(p: dict[str, np.ndarray], path: str, records: np.ndarray, *,
                  use_text: bool, verify: bool, skips: Skips) -> Chunk:
    """One parsed batch -> a :class:`Chunk`; malformed or sizeless records are
    counted in ``skips`` and left out."""
    n = len(records)

    def where(row: int) -> str:
        return f"{path} (record {int(records[row])})"

    splits = [p[k + ":splits"] for k in BOX_KEYS]
    lens = [np.diff(s) for s in splits]
    nbox = lens[0]
    problem = np.zeros(n, dtype=bool)
    reasons: list[tuple[np.ndarray, str]] = []
    bad_len = (lens[1] != nbox) | (lens[2] != nbox) | (lens[3] != nbox)
    reasons.append((bad_len, "image/object/bbox/{ymin,xmin,ymax,xmax} have different lengths"))

    label_len = np.diff(p[LABEL_KEY + ":splits"])
    if use_text:
        text_len = np.diff(p[TEXT_KEY + ":splits"])
        from_text = text_len > 0
        class_len = np.where(from_text, text_len, label_len)
    else:
        from_text = np.zeros(n, dtype=bool)
        class_len = label_len
    reasons.append(((class_len != nbox) & (class_len > 0), "the class list and the box list "
                    "have different lengths"))
    flag_len = {k: np.diff(p[k + ":splits"]) for k in FLAG_KEYS}
    for key, flen in flag_len.items():
        reasons.append(((flen != nbox) & (flen > 0), f"{key} has a value count different "
                        "from the number of boxes"))
    for mask, text in reasons:
        mask &= ~problem
        if mask.any():
            row = int(np.flatnonzero(mask)[0])
            skips.add("malformed_records", int(mask.sum()), f"{where(row)}: {text}")
            problem |= mask

    height, width = _fill_sizes(p, verify, where, skips)
    missing = ((height <= 0) | (width <= 0)) & ~problem
    if missing.any():
        skips.add("missing_image_size", int(missing.sum()), where(int(np.flatnonzero(missing)[0])))
    keep = ~(problem | missing)

    no_class = keep & (class_len == 0) & (nbox > 0)
    if no_class.any():
        skips.add("boxes_without_class", int(nbox[no_class].sum()),
                  f"{where(int(np.flatnonzero(no_class)[0]))}: boxes but no "
                  f"{LABEL_KEY}" + (f" or {TEXT_KEY}" if use_text else ""))
    box_rows = np.flatnonzero(keep & ~no_class)
    counts = nbox[box_rows]
    if keep.all() and not no_class.any():
        coords = [p[k] for k in BOX_KEYS]
    else:
        coords = [ragged_take(p[k], s[:-1][box_rows], counts) for k, s in zip(BOX_KEYS, splits)]
    boxes = np.stack(coords, axis=1).astype(np.float32, copy=False)

    label_values = p[LABEL_KEY]
    label_starts = p[LABEL_KEY + ":splits"][:-1]
    if use_text:
        text_values = p[TEXT_KEY]
        label_values = np.concatenate([text_values, label_values])
        label_starts = np.where(from_text, p[TEXT_KEY + ":splits"][:-1],
                                len(text_values) + label_starts)
    label = ragged_take(label_values, label_starts[box_rows], counts)
    label = np.clip(label, -1, _INT32_MAX).astype(np.int32)

    flags = []
    pad = np.zeros(int(counts.max()) if counts.size else 0, dtype=np.int64)
    for key in FLAG_KEYS:
        values = p[key]
        has = flag_len[key][box_rows] == counts
        starts = np.where(has, p[key + ":splits"][:-1][box_rows], len(values))
        flags.append(ragged_take(np.concatenate([values, pad]), starts, counts) != 0)

    image_rows = np.flatnonzero(keep)
    position = np.full(n, -1, dtype=np.int64)
    position[image_rows] = np.arange(image_rows.size)
    box_image = np.repeat(position[box_rows], counts).astype(np.int32)
    return Chunk(
        image_height=height[image_rows].astype(np.int32),
        image_width=width[image_rows].astype(np.int32),
        image_key=_image_keys(p["keys"], image_rows, path, records),
        image_record=records[image_rows].astype(np.int64),
        box_image=box_image, boxes=boxes, label=label,
        difficult=flags[0], group_of=flags[1], is_crowd=flags[2],
    )


def chunks_to_raw(chunks: list[tuple[int, Chunk]], files: list[str]) -> RawBoxes:
    """Concatenate ``(file index, chunk)`` pairs (already in file/record order)."""
    parts = []
    for file_index, c in chunks:
        parts.append(RawBoxes(
            image_height=c.image_height, image_width=c.image_width, image_key=c.image_key,
            image_file=np.full(c.image_height.shape[0], file_index, dtype=np.int32),
            image_record=c.image_record, box_image=c.box_image, boxes=c.boxes, label=c.label,
            difficult=c.difficult, group_of=c.group_of, is_crowd=c.is_crowd))
    raw = concat_raw(parts) if parts else RawBoxes.empty()  # parts hold no files: no shift
    raw.files = list(files)
    raw.units = ["record"] * len(files)
    return raw


# ------------------------------------------------------------------ the two gears

def _one_line(err: Any) -> str:
    text = getattr(err, "message", None) or str(err)
    text = re.sub(r"\{\{function_node [^}]*\}\}", "", text)
    text = re.sub(r"\s*\[Op:[^\]]*\]", "", text)
    text = text.replace("name: ", "").strip()
    return " ".join(text.split())


def _loss_detail(err: Any) -> str:
    text = _one_line(err)
    match = re.search(r"corrupted record at (\d+)", text)
    if match:
        return f"CRC mismatch (corrupted record at byte {match.group(1)})"
    match = re.search(r"truncated record at (\d+)", text)
    if match:
        return f"file truncated (incomplete record at byte {match.group(1)})"
    return text


def _parse_detail(err: Any) -> str:
    text = _one_line(err)
    match = re.search(r"Key: ([^,]+), Index: \d+\.\s*(.*)", text)
    if match:
        return f"{match.group(1)}: {match.group(2)}"
    return text


def _hint(info: FileInfo) -> str:
    if info.detected is not None and info.detected != info.compression:
        name = info.detected.lower() or "none"
        return f" (the file looks {'uncompressed' if name == 'none' else name.upper()}; " \
               f"try compression {name})"
    return ""


class _Reader:
    """State of one TFRecord read (files, options, counters)."""

    def __init__(self, infos: list[FileInfo], label_map: LabelMap | None, verify: bool,
                 progress: Progress):
        self.infos = infos
        self.files = [i.path for i in infos]
        self.label_map = label_map
        self.verify = verify
        self.progress = progress
        self.batch = _batch_size(infos)
        self.parse = make_parse_fn(label_map, verify)

    def _post(self, p, file_index, records, skips):
        chunk = process_batch(p, self.files[file_index], records,
                              use_text=self.label_map is not None, verify=self.verify,
                              skips=skips)
        self.progress.update(len(records), int(chunk.boxes.shape[0]))
        return chunk

    def _check_tails(self, lengths: dict[int, int], counts: dict[int, int], skips: Skips,
                     corrupt: set[int]) -> None:
        """Plain files whose bytes are not all whole records were cut inside a record
        header, which TensorFlow reads silently as the end of the file."""
        for index, info in enumerate(self.infos):
            if info.compression or index in corrupt:
                continue
            used = lengths.get(index, 0)
            if used != info.size:
                skips.add("corrupt_files", 1,
                          f"{info.path} (record {counts.get(index, 0)}): file truncated "
                          f"({info.size - used} trailing bytes are not a whole record)")

    def fast(self, skips: Skips) -> RawBoxes:
        """All files at once; any TensorFlow error propagates (caller switches gear)."""
        import tensorflow as tf

        batch = self.batch
        paths = tf.constant(self.files)
        comps = tf.constant([i.compression for i in self.infos])
        plain = tf.autograph.experimental.do_not_convert

        @plain
        def per_file(index, path, comp):
            records = tf.data.TFRecordDataset(path, compression_type=comp,
                                              buffer_size=1 << 20).batch(batch)
            return records.enumerate().map(plain(lambda k, s: (index, k, s)))

        files = tf.data.Dataset.from_tensor_slices(
            (tf.range(len(self.files), dtype=tf.int64), paths, comps))
        ds = files.interleave(per_file, cycle_length=min(len(self.files), 8), block_length=1,
                              num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        ds = ds.map(plain(lambda i, k, s: (i, k, self.parse(s))),
                    num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).prefetch(2)
        chunks: list[tuple[int, int, Chunk]] = []
        lengths: dict[int, int] = {}
        counts: dict[int, int] = {}
        local = Skips()
        for file_index, batch_index, parsed in ds.as_numpy_iterator():
            file_index, batch_index = int(file_index), int(batch_index)
            n = parsed["image/height"].shape[0]
            records = np.arange(batch_index * batch, batch_index * batch + n, dtype=np.int64)
            chunk = self._post(parsed, file_index, records, local)
            counts[file_index] = counts.get(file_index, 0) + n
            lengths[file_index] = (lengths.get(file_index, 0) + int(parsed["length"].sum())
                                   + _RECORD_OVERHEAD * n)
            chunks.append((file_index, batch_index, chunk))
        chunks.sort(key=lambda c: (c[0], c[1]))
        self._check_tails(lengths, counts, local, set())
        skips.merge(local)
        return chunks_to_raw([(fi, c) for fi, _, c in chunks], self.files)

    def careful(self, skips: Skips) -> RawBoxes:
        """File by file, locating every bad record; keeps all that can be read."""
        import tensorflow as tf

        parse = tf.function(self.parse, input_signature=[tf.TensorSpec([None], tf.string)])
        chunks: list[tuple[int, Chunk]] = []
        lengths: dict[int, int] = {}
        counts: dict[int, int] = {}
        corrupt: set[int] = set()
        for index, info in enumerate(self.infos):
            state = _FileState(index, info)
            self._careful_file(state, parse, skips, chunks)
            counts[index] = state.done
            lengths[index] = state.length
            if state.corrupt:
                corrupt.add(index)
        self._check_tails(lengths, counts, skips, corrupt)
        return chunks_to_raw(chunks, self.files)

    def _careful_file(self, state: _FileState, parse, skips: Skips,
                      chunks: list[tuple[int, Chunk]]) -> None:
        import tensorflow as tf

        info = state.info
        dataset = tf.data.TFRecordDataset(info.path, compression_type=info.compression,
                                          buffer_size=1 << 20)
        iterator = iter(dataset.batch(self.batch))
        while True:
            try:
                serialized = next(iterator)
            except StopIteration:
                return
            except tf.errors.DataLossError:
                tail = []
                try:
                    for record in dataset.skip(state.done):
                        tail.append(record)
                    loss = "file changed while reading"
                except tf.errors.DataLossError as err:
                    loss = _loss_detail(err) + _hint(info)
                if tail:
                    self._consume(tf.stack(tail), state, parse, skips, chunks)
                skips.add("corrupt_files", 1, f"{info.path} (record {state.done}): {loss}")
                state.corrupt = True
                return
            except tf.errors.OpError as err:
                raise InputError(f"cannot read: {_one_line(err)}", path=info.path) from None
            self._consume(serialized, state, parse, skips, chunks)

    def _consume(self, serialized, state: _FileState, parse, skips: Skips,
                 chunks: list[tuple[int, Chunk]]) -> None:
        """Parse one batch of a file, setting malformed records aside one by one."""
        import tensorflow as tf

        n = int(serialized.shape[0])
        records = np.arange(state.done, state.done + n, dtype=np.int64)
        state.done += n
        state.length += int(tf.reduce_sum(tf.strings.length(serialized))) + _RECORD_OVERHEAD * n
        try:
            parsed = _to_numpy(parse(serialized))
        except tf.errors.InvalidArgumentError:
            good = []
            for j in range(n):
                try:
                    parse(serialized[j:j + 1])
                    good.append(j)
                except tf.errors.InvalidArgumentError as err:
                    skips.add("malformed_records", 1, f"{state.info.path} (record "
                                                      f"{int(records[j])}): {_parse_detail(err)}")
            if not good:
                return
            serialized = tf.gather(serialized, good)
            records = records[good]
            parsed = _to_numpy(parse(serialized))
        chunks.append((state.index, self._post(parsed, state.index, records, skips)))


@dataclass
class _FileState:
    index: int
    info: FileInfo
    done: int = 0
    length: int = 0
    corrupt: bool = False


def _to_numpy(parsed: dict[str, Any]) -> dict[str, np.ndarray]:
    return {key: value.numpy() for key, value in parsed.items()}


def read_tfrecords(specs: list[str], *, label_map: LabelMap | None = None,
                   verify_sizes: bool = False, compression: str | None = None,
                   skip_bad: bool = False, progress: Progress | None = None,
                   skips: Skips | None = None) -> RawBoxes:
    """Read TFRecord paths/globs into :class:`RawBoxes` (unfiltered).

    Files that are not TFRecords (no valid record header, and not GZIP/ZLIB)
    count as ``corrupt_files`` and are not read.

    Raises:
        InputError: unreadable path; with ``skip_bad=False`` also the first bad
            file before any record is read.
    """
    import tensorflow as tf

    skips = skips if skips is not None else Skips()
    progress = progress if progress is not None else Progress(False)
    infos = inspect_files(expand_paths(specs), compression)
    readable = []
    for info in infos:
        if info.detected is None and info.compression == "" and info.size:
            skips.add("corrupt_files", 1, f"{info.path}: not a TFRecord file (no valid record "
                                          "header, and not GZIP or ZLIB compressed)")
            if not skip_bad:
                from .filtering import raise_if_fatal

                raise_if_fatal(skips, skip_bad)
            continue
        readable.append(info)
    if not readable:
        return RawBoxes.empty()
    reader = _Reader(readable, label_map, verify_sizes, progress)
    attempt = Skips()
    try:
        raw = reader.fast(attempt)
    except tf.errors.OpError:
        attempt = Skips()
        progress.records = progress.boxes = 0
        raw = reader.careful(attempt)
    skips.merge(attempt)
    return raw
