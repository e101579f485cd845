"""A prepared TensorFlow Datasets detection set as a box source: ``tfds:NAME[:SPLIT]``.

The Model Garden reads ``task.train_data.tfds_name`` (with ``tfds_split`` and
``tfds_data_dir``) instead of ``input_path``; its decoders
(``vision/dataloaders/tfds_detection_decoders.py``) know ``coco``, ``coco/2014``,
``coco/2017`` and ``scenic:objects365``. This module reads such a set's boxes
(``objects/bbox``: normalized ``ymin, xmin, ymax, xmax``; ``objects/label``: 0-based as
TFDS stores it; ``objects/is_crowd``) with ``tensorflow-datasets`` (the ``tfds`` extra),
image sizes from the encoded headers; nothing is decoded and nothing is downloaded.

A spec is ``tfds:NAME`` (split ``train``) or ``tfds:NAME:SPLIT``, with an optional
``@DATA_DIR`` at the end (:func:`tfds_spec` writes one).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError, UsageError
from .raw import RawBoxes

PREFIX = "tfds:"
#: The TFDS detection sets the Model Garden decodes, as in its decoder map.
TFDS_DETECTION = ("coco/2017", "coco/2014", "coco", "scenic:objects365")
#: The extra that brings tensorflow-datasets.
TFDS_EXTRA = "tfod-anchors[tfds]"


def is_tfds(spec: str) -> bool:
    """Whether an ``--input`` spec names a TFDS set."""
    return str(spec).startswith(PREFIX)


def tfds_spec(name: str, split: str = "", data_dir: str = "") -> str:
    """The spec of a TFDS set (``split`` default ``train``)."""
    return f"{PREFIX}{name}:{split or 'train'}" + (f"@{data_dir}" if data_dir else "")


def parse_spec(spec: str) -> tuple[str, str, str]:
    """``(name, split, data_dir)`` of a ``tfds:`` spec (names may hold one ``:``, as
    ``scenic:objects365`` does)."""
    body, _, data_dir = spec[len(PREFIX):].partition("@")
    for name in sorted(TFDS_DETECTION, key=len, reverse=True):
        if body == name or body.startswith(name + ":"):
            return name, body[len(name) + 1:] or "train", data_dir
    name, _, split = body.partition(":")
    return name, split or "train", data_dir


def open_examples(name: str, split: str, data_dir: str = "") -> Any:
    """The set's examples as numpy dicts, images left encoded.

    Raises:
        UsageError: tensorflow-datasets missing, or a set the Model Garden cannot decode.
        InputError: the set is not prepared in ``data_dir`` (nothing is downloaded).
    """
    if name not in TFDS_DETECTION:
        raise UsageError(f"tfds_name {name!r} is not a detection set the Model Garden "
                         f"decodes ({', '.join(TFDS_DETECTION)})")
    try:
        import tensorflow_datasets as tfds  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except ImportError:
        raise UsageError(f"tfds_name needs tensorflow-datasets: pip install "
                         f"'{TFDS_EXTRA}'") from None
    try:
        builder = tfds.builder(name, data_dir=data_dir or None)
        dataset = builder.as_dataset(split=split, decoders={"image": tfds.decode.SkipDecoding()})
    except Exception as err:  # noqa: BLE001 - tfds raises many kinds
        text = " ".join(str(err).split())[:200]
        raise InputError(f"cannot open TFDS {name} split {split!r} ({text}); prepare it "
                         "first (tfds build), nothing is downloaded here") from None
    return tfds.as_numpy(dataset)


def examples_to_raw(examples: Any, source: str) -> RawBoxes:
    """:class:`RawBoxes` of TFDS detection examples (encoded ``image``, ``image/id``,
    ``objects/{bbox,label,is_crowd}``), one record per example.

    Raises:
        InputError: an image whose header gives no size, or no example at all.
    """
    from .imageheader import image_size

    sizes, keys, counts, boxes, labels, crowds = [], [], [], [], [], []
    for i, example in enumerate(examples):
        size = image_size(bytes(example["image"]))
        if size is None:
            raise InputError("the encoded image's header gives no size", path=source, record=i)
        objects = example["objects"]
        sizes.append(size)
        keys.append(str(example.get("image/id", i)))
        counts.append(len(objects["bbox"]))
        boxes.append(np.asarray(objects["bbox"], np.float32).reshape(-1, 4))
        labels.append(np.asarray(objects["label"], np.int32))
        crowds.append(np.asarray(objects["is_crowd"], bool))
    if not sizes:
        raise InputError("no examples in this split", path=source)
    n, m = int(sum(counts)), len(sizes)
    hw = np.asarray(sizes, np.int32)
    return RawBoxes(
        image_height=hw[:, 0], image_width=hw[:, 1], image_key=np.asarray(keys, object),
        image_file=np.zeros(m, np.int32), image_record=np.arange(m, dtype=np.int64),
        box_image=np.repeat(np.arange(m, dtype=np.int32), counts),
        boxes=np.concatenate(boxes), label=np.concatenate(labels), difficult=np.zeros(n, bool),
        group_of=np.zeros(n, bool), is_crowd=np.concatenate(crowds), files=[source],
        units=["example"])


def read_tfds(spec: str) -> RawBoxes:
    """The boxes of a ``tfds:`` spec (see :func:`open_examples` for the errors)."""
    name, split, data_dir = parse_spec(spec)
    return examples_to_raw(open_examples(name, split, data_dir), f"{PREFIX}{name}:{split}")
