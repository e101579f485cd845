"""TFOD ``tf.Example`` box features parsed with protobuf (no TensorFlow).

:class:`ExampleParser` turns a batch of serialized records into the same columns
that the ``tf.data`` reader's in-graph parser produces
(:func:`.tfexample.make_parse_fn`), so :func:`.tfexample.process_batch` and
everything after it are shared by both readers. The message classes come from
the shipped descriptor set ``_schema/tf_example.desc`` (our ``protos/tensorflow``,
wire-compatible with TensorFlow's), loaded into a private descriptor pool.

Only the keys the ``tf.data`` reader reads are looked at, with the same rules as
``tf.io.parse_example`` applies to them (each rule was checked against it):

* list features (box coordinates, ``class/label``, ``class/text``, the
  ``difficult``/``group_of``/``is_crowd`` flags): any number of values of the
  expected kind; a feature with no kind set counts as empty; another kind makes
  the record malformed;
* single values (``image/height``, ``image/width``, ``image/source_id``,
  ``image/filename``; ``image/encoded`` only for records that need their size
  from the image): absent or kind-less -> the default (0 or empty); of another
  kind, or not exactly one value -> malformed;
* bytes that are not an ``Example`` at all (including feature names that are
  not UTF-8, which both protobuf and TensorFlow reject) -> malformed.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError

from ..labelmap import UNKNOWN, LabelMap
from .tfexample import BOX_KEYS, FLAG_KEYS, LABEL_KEY, TEXT_KEY

DESCRIPTOR_SET = Path(__file__).resolve().parents[2] / "_schema" / "tf_example.desc"
EXAMPLE = "tensorflow.Example"
HEIGHT, WIDTH = "image/height", "image/width"
SOURCE_ID, FILENAME, ENCODED = "image/source_id", "image/filename", "image/encoded"
NOT_AN_EXAMPLE = "cannot parse the record as a tf.Example"
_KIND_NAME = {"float_list": "float", "int64_list": "int64", "bytes_list": "bytes"}


def _class_for(descriptor: Any) -> type:
    get_class = getattr(message_factory, "GetMessageClass", None)
    if get_class is not None:
        return get_class(descriptor)
    return message_factory.MessageFactory(descriptor.file.pool).GetPrototype(descriptor)


@functools.cache
def example_class() -> Any:
    """``tensorflow.Example`` from the shipped schema, in a private pool."""
    fds = descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTOR_SET.read_bytes())
    pool = descriptor_pool.DescriptorPool()
    for file_proto in fds.file:  # dependencies come first
        pool.Add(file_proto)
    return _class_for(pool.FindMessageTypeByName(EXAMPLE))


class Malformed(Exception):
    """One record ``tf.io.parse_example`` would reject; the message says why."""


def _kind_error(key: str, found: str, expected: str) -> Malformed:
    return Malformed(f"{key}: {_KIND_NAME[found]} values where {_KIND_NAME[expected]} values "
                     "are expected")


def _single(fmap: Any, key: str, kind: str, default: Any) -> Any:
    """The one value of a single-value feature (``default`` when absent or kind-less)."""
    if key not in fmap:
        return default
    feature = fmap[key]
    found = feature.WhichOneof("kind")
    if found is None:
        return default
    if found != kind:
        raise _kind_error(key, found, kind)
    values = getattr(feature, kind).value
    if len(values) != 1:
        raise Malformed(f"{key}: {len(values)} values where exactly 1 is expected")
    return values[0]


def bytes_array(values: list[bytes]) -> np.ndarray:
    """object ``[n]`` array of bytes (what ``Tensor.numpy()`` gives for strings)."""
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


class ExampleParser:
    """Parses batches of serialized ``tf.Example`` records into box columns.

    Args:
        label_map: when given, ``class/text`` is read and looked up as TFOD does
            (unknown text -> -1).
        verify_sizes: read ``image/encoded`` of every record, not only of those
            whose stored size is missing or zero.
        keep_text: without a label map, read ``class/text`` anyway and keep it as
            bytes (object array), as ``make_parse_fn(None, ..., keep_text=True)``
            does for the box cache.
    """

    def __init__(self, label_map: LabelMap | None, verify_sizes: bool,
                 keep_text: bool = False):
        self.verify = verify_sizes
        self.texts = label_map is not None or keep_text
        self.raw_text = label_map is None and keep_text
        self.lookup: dict[bytes, int] = {}
        if label_map is not None:
            for text in {**label_map.by_name, **label_map.by_display_name}:
                self.lookup[text.encode("utf-8")] = label_map.lookup(text)
        # (key, kind) of every list feature, in output order.
        self.lists = [(k, "float_list") for k in BOX_KEYS] + [(LABEL_KEY, "int64_list")]
        self.lists += [(k, "int64_list") for k in FLAG_KEYS]
        if self.texts:
            self.lists.append((TEXT_KEY, "bytes_list"))

    def parse(self, records: list[bytes]) -> tuple[dict[str, Any], np.ndarray,
                                                   list[tuple[int, str]]]:
        """Parse one batch.

        Args:
            records: serialized records (``n`` of them).
        Returns:
            ``(columns, kept, bad)``: ``columns`` as :func:`.tfexample.make_parse_fn`
            returns them for the ``kept`` records (int64 ``[k]`` positions in
            ``records``, in order); ``bad`` lists ``(position, reason)`` of the
            malformed ones.
        """
        cls = example_class()
        acc = _Collected([[] for _ in self.lists], [[] for _ in self.lists])
        bad: list[tuple[int, str]] = []
        for position, record in enumerate(records):
            marks = [len(v) for v in acc.values]
            try:
                try:
                    fmap = cls.FromString(record).features.feature
                except DecodeError:
                    raise Malformed(NOT_AN_EXAMPLE) from None
                self._collect(fmap, acc)
            except Malformed as err:
                for vals, cnt, mark in zip(acc.values, acc.counts, marks):
                    del vals[mark:]
                    del cnt[len(acc.kept):]
                bad.append((position, str(err)))
                continue
            acc.lengths.append(len(record))
            acc.kept.append(position)
        return self._columns(acc), np.array(acc.kept, dtype=np.int64), bad

    def _collect(self, fmap: Any, acc: _Collected) -> None:
        """Append one record's features to ``acc``.

        Raises:
            Malformed: a wanted feature of the wrong kind, or a single value not single
                (``acc``'s lists may then hold part of this record: the caller trims).
        """
        for (key, kind), vals, cnt in zip(self.lists, acc.values, acc.counts):
            n = 0
            if key in fmap:
                feature = fmap[key]
                found = feature.WhichOneof("kind")
                if found is not None:
                    if found != kind:
                        raise _kind_error(key, found, kind)
                    got = getattr(feature, kind).value
                    n = len(got)
                    vals.extend(got)
            cnt.append(n)
        height = _single(fmap, HEIGHT, "int64_list", 0)
        width = _single(fmap, WIDTH, "int64_list", 0)
        source_id = _single(fmap, SOURCE_ID, "bytes_list", b"")
        filename = _single(fmap, FILENAME, "bytes_list", b"")
        wants_image = self.verify or height <= 0 or width <= 0
        image = _single(fmap, ENCODED, "bytes_list", b"") if wants_image else b""
        acc.heights.append(height)
        acc.widths.append(width)
        acc.keys.append((source_id or filename).replace(b"\n", b" "))
        acc.need.append(wants_image)
        if wants_image:
            acc.encoded.append(image)

    def _columns(self, acc: _Collected) -> dict[str, Any]:
        """The collected features as :func:`.tfexample.make_parse_fn`'s columns."""
        columns: dict[str, Any] = {}
        for (key, kind), vals, cnt in zip(self.lists, acc.values, acc.counts):
            if kind == "float_list":
                columns[key] = np.array(vals, dtype=np.float32)
            elif kind == "int64_list":
                columns[key] = np.array(vals, dtype=np.int64)
            elif self.raw_text:
                columns[key] = bytes_array(vals)
            else:
                lookup = self.lookup
                columns[key] = np.array([lookup.get(t, UNKNOWN) for t in vals], dtype=np.int64)
            splits = np.zeros(len(cnt) + 1, dtype=np.int64)
            np.cumsum(cnt, out=splits[1:])
            columns[key + ":splits"] = splits
        columns[HEIGHT] = np.array(acc.heights, dtype=np.int64)
        columns[WIDTH] = np.array(acc.widths, dtype=np.int64)
        columns["need"] = np.array(acc.need, dtype=bool)
        columns["encoded"] = acc.encoded
        columns["length"] = np.array(acc.lengths, dtype=np.int64)
        columns["keys"] = b"\n".join(acc.keys)
        return columns


@dataclass
class _Collected:
    """Features of the records parsed so far: per wanted list its values and per-record
    counts, then per record the single values, image and length."""

    values: list[list[Any]]
    counts: list[list[int]]
    heights: list[int] = field(default_factory=list)
    widths: list[int] = field(default_factory=list)
    keys: list[bytes] = field(default_factory=list)
    need: list[bool] = field(default_factory=list)
    encoded: list[bytes] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)
    kept: list[int] = field(default_factory=list)
