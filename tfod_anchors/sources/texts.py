"""Class names of text-labelled sources (VOC, CSV) -> class ids.

Those readers store, per box, a code into their own list of class names. Once
every source is read, :func:`resolve_names` turns codes into ids: through the
label map when there is one (TFOD's lookup; unknown -> -1, dropped later), else
by numbering all names seen in all such sources alphabetically from 1 (the ids
then only serve to tell classes apart).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .labelmap import LabelMap
from .raw import RawBoxes


@dataclass
class NamedRaw:
    """``raw.label`` holds codes into ``names`` (not ids yet)."""

    raw: RawBoxes
    names: list[str]


def names_to_codes(names: list[str]) -> tuple[np.ndarray, list[str]]:
    """int32 codes ``[N]`` into the returned list of distinct names (first-seen order)."""
    vocabulary: dict[str, int] = {}
    codes = np.empty(len(names), dtype=np.int32)
    for i, name in enumerate(names):
        code = vocabulary.get(name)
        if code is None:
            code = vocabulary[name] = len(vocabulary)
        codes[i] = code
    return codes, list(vocabulary)


def resolve_names(parts: list[NamedRaw], label_map: LabelMap | None) -> None:
    """Replace codes by class ids in every part's ``raw.label`` (in place)."""
    if label_map is None:
        every = sorted({name for part in parts for name in part.names})
        ids = {name: i + 1 for i, name in enumerate(every)}
        for part in parts:
            table = np.array([ids[n] for n in part.names], dtype=np.int32)
            part.raw.label = table[part.raw.label] if part.names else part.raw.label
        return
    for part in parts:
        table = label_map.lookup_many(part.names)
        part.raw.label = table[part.raw.label] if part.names else part.raw.label
