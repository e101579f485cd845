"""Label maps (``StringIntLabelMap`` .pbtxt) and TFOD's class-text lookup.

TFOD's decoder maps ``image/object/class/text`` to an id through two tables, one
keyed by ``name`` and one by ``display_name``, and keeps the larger of the two
results, ``-1`` when neither knows the text. Boxes whose class ends up below 0
are then dropped for training. :class:`LabelMap` reproduces that lookup for numpy
and for ``tf.data`` pipelines.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from .fileio import read_bytes

UNKNOWN = -1
#: The largest class id a label can hold (labels are int32).
LABEL_MAX = 2**31 - 1


@dataclass(frozen=True)
class LabelMap:
    """Class text -> id, as TFOD's ``_ClassTensorHandler`` resolves it.

    Attributes:
        path: where it was read from (messages only).
        by_name: ``name`` -> id (later items win, as in a Python dict).
        by_display_name: ``display_name`` -> id (items without one map ``""``).
    """

    path: str
    by_name: dict[str, int]
    by_display_name: dict[str, int]

    def lookup(self, text: str) -> int:
        """Id of one class text, ``-1`` if unknown."""
        return max(self.by_name.get(text, UNKNOWN), self.by_display_name.get(text, UNKNOWN))

    def lookup_many(self, texts: list[str]) -> np.ndarray:
        """int32 ``[len(texts)]`` ids (``-1`` where unknown)."""
        cache: dict[str, int] = {}
        out = np.empty(len(texts), dtype=np.int32)
        for i, text in enumerate(texts):
            value = cache.get(text)
            if value is None:
                value = cache[text] = self.lookup(text)
            out[i] = value
        return out

    def tf_lookup(self):
        """A function ``string tensor -> int64 tensor`` doing the same lookup in-graph."""
        import tensorflow as tf

        def table(mapping: dict[str, int]):
            keys = list(mapping) or [""]
            values = list(mapping.values()) or [UNKNOWN]
            init = tf.lookup.KeyValueTensorInitializer(
                tf.constant(keys, tf.string), tf.constant(values, tf.int64))
            return tf.lookup.StaticHashTable(init, default_value=UNKNOWN)

        names = table(self.by_name)
        displays = table(self.by_display_name)

        def lookup(text):
            return tf.maximum(names.lookup(text), displays.lookup(text))

        return lookup


def parse_label_map(data: bytes, path: str = "<label map>") -> LabelMap:
    """Parse label-map text (or binary) the way TFOD's ``load_labelmap`` does.

    Raises:
        InputError: not a ``StringIntLabelMap``, a negative id, or id 0 used for a
            class other than ``background`` (TFOD rejects both).
    """
    from google.protobuf import text_format

    from ..config.schema import LABEL_MAP, get_schema

    message = get_schema().message_class(LABEL_MAP)()
    try:
        text_format.Merge(data.decode("utf-8"), message)
    except (text_format.ParseError, UnicodeDecodeError) as text_err:
        message.Clear()
        try:
            message.ParseFromString(data)
        except Exception:  # noqa: BLE001 - report the text error, the usual format
            detail = " ".join(str(text_err).split())
            raise InputError(f"not a label map (StringIntLabelMap text): {detail}",
                             path=path) from None
    by_name: dict[str, int] = {}
    by_display: dict[str, int] = {}
    for item in message.item:
        if item.id < 0:
            raise InputError(f"label map item {item.name!r} has a negative id {item.id}; "
                             "TFOD rejects it", path=path)
        if item.id == 0 and "background" not in (item.name, item.display_name):
            raise InputError(f"label map item {item.name!r} uses id 0, which TFOD reserves "
                             "for 'background'; start ids at 1", path=path)
        by_name[item.name] = int(item.id)
        by_display[item.display_name] = int(item.id)
    if not by_name:
        raise InputError("label map has no items", path=path)
    return LabelMap(path=path, by_name=by_name, by_display_name=by_display)


def load_label_map(path: str) -> LabelMap:
    """Read and parse a label map file (local or ``gs://``)."""
    return parse_label_map(read_bytes(path), path=path)
