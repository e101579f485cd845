"""The boxes a Model Garden experiment trains on: ``task.train_data``.

* ``input_path``: TF Example records with the same box keys as TFOD's
  (``image/object/bbox/*``, ``image/object/class/label``, ``image/object/is_crowd``,
  ``image/height``/``width``), read by the project's own readers
  (:func:`tfod_anchors.sources.read_boxes`: native or tf.data, the cache). The path is
  split as ``official/core/input_reader.py`` ``match_files`` splits it: a string or a
  list of strings, each holding comma-separated paths or glob patterns.
* ``tfds_name``: a TensorFlow Datasets detection set the Model Garden can decode
  (``vision/dataloaders/tfds_detection_decoders.py``: ``coco``, ``coco/2014``,
  ``coco/2017``, ``scenic:objects365``), read as the ``tfds:NAME:SPLIT`` source
  (:mod:`tfod_anchors.sources.tfds`) with ``tensorflow-datasets`` when it is installed;
  image sizes come from the encoded headers, nothing is decoded.

Then the boxes the parser never sees are dropped and counted in ``skipped``:
``crowd_dropped`` (RetinaNet and R-CNN with ``parser.skip_crowd_during_training``,
the default) and ``coco91_to_80_dropped`` (YOLO's decoder with ``coco91_to_80``, which
keeps the 80 COCO classes of the 2014 list and drops the other ids).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from tfod_anchors.boxes import BoxSet
from tfod_anchors.errors import ConfigError
from tfod_anchors.sources.tfds import tfds_spec

#: The 80 COCO class ids YOLO's ``coco91_to_80`` keeps
#: (``projects/yolo/dataloaders/tf_example_decoder.py``).
COCO80_IDS = (
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27,
    28, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52,
    53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78,
    79, 80, 81, 82, 84, 85, 86, 87, 88, 89, 90,
)


@dataclass(frozen=True)
class TrainInputs:
    """Where an experiment's training boxes come from and what its parser drops.

    Attributes:
        patterns: the paths and glob patterns of ``input_path``, in order.
        tfds_name, tfds_split, tfds_data_dir: the TFDS source ('' when unused).
        drop_crowd: the parser drops ``is_crowd`` boxes.
        coco91_to_80: the decoder keeps only :data:`COCO80_IDS` (renumbered 0-79).
    """

    patterns: tuple[str, ...]
    tfds_name: str = ""
    tfds_split: str = ""
    tfds_data_dir: str = ""
    drop_crowd: bool = False
    coco91_to_80: bool = False


def input_patterns(input_path: Any) -> tuple[str, ...]:
    """``input_path`` split as the Model Garden splits it (see the module docstring).

    Raises:
        ConfigError: a mapping of named datasets (combined by a ``combine_fn``), or
            another type.
    """
    if isinstance(input_path, str):
        parts = [input_path]
    elif isinstance(input_path, (list, tuple)) and all(isinstance(p, str) for p in input_path):
        parts = list(input_path)
    elif isinstance(input_path, Mapping):
        raise ConfigError("task.train_data.input_path is a mapping of datasets (mixed by a "
                          "combine_fn); give the records with --input instead")
    else:
        raise ConfigError(f"task.train_data.input_path must be a string or a list of "
                          f"strings, got {input_path!r}")
    return tuple(p.strip() for part in parts for p in part.strip().split(",") if p.strip())


def train_inputs(params: Mapping) -> TrainInputs:
    """The :class:`TrainInputs` of a resolved experiment.

    Raises:
        ConfigError: both or neither of ``input_path`` and ``tfds_name`` (the Model
            Garden refuses both; neither leaves nothing to read: use ``--input``).
    """
    task = params["task"]
    data = task.get("train_data") or {}
    patterns = input_patterns(data.get("input_path") or "")
    name = data.get("tfds_name") or ""
    if patterns and name:
        raise ConfigError("task.train_data sets both input_path and tfds_name; the Model "
                          "Garden accepts at most one")
    if not patterns and not name:
        raise ConfigError("task.train_data has neither input_path nor tfds_name: give the "
                          "boxes with --input")
    drops = parser_drops(params)
    return TrainInputs(
        patterns=patterns, tfds_name=name, tfds_split=data.get("tfds_split") or "train",
        tfds_data_dir=data.get("tfds_data_dir") or "", drop_crowd=drops.drop_crowd,
        coco91_to_80=drops.coco91_to_80)


def parser_drops(params: Mapping) -> TrainInputs:
    """The drops of a resolved experiment's decoder and parser alone (whatever the
    source: ``--input`` boxes are dropped the same), as a :class:`TrainInputs` with no
    source."""
    task = params["task"]
    data = task.get("train_data") or {}
    parser = data.get("parser") or {}
    decoder = data.get("decoder") or {}
    own = decoder.get(decoder.get("type") or "", {}) or {}
    model = task["model"]
    anchored = "anchor" in model  # RetinaNet and R-CNN parsers drop crowds; YOLO keeps them
    return TrainInputs(
        patterns=(),
        drop_crowd=anchored and bool(parser.get("skip_crowd_during_training", True)),
        coco91_to_80="anchor_boxes" in model and bool(own.get("coco91_to_80", False)))


#: Source kinds (:func:`tfod_anchors.sources.source_kind`) whose class ids are the
#: dataset's own (COCO's 91-id numbering for COCO data): TF Example records, their box
#: cache (which names the records), a COCO json. CSV and VOC number class names in
#: sorted order and TFDS stores 0-based labels, so ``coco91_to_80`` cannot apply there.
ID_SOURCES = ("tfrecord", "coco")


def carries_dataset_ids(boxset: BoxSet) -> bool:
    """Whether every source ``boxset`` was read from gives the dataset's own class ids."""
    from tfod_anchors.sources import source_kind

    return bool(boxset.sources) and all(source_kind(s) in ID_SOURCES for s in boxset.sources)


def drops_for(boxset: BoxSet, params: Mapping) -> TrainInputs:
    """:func:`parser_drops` for these boxes: ``coco91_to_80`` only where the class ids
    are the dataset's own (:func:`carries_dataset_ids`)."""
    drops = parser_drops(params)
    if drops.coco91_to_80 and not carries_dataset_ids(boxset):
        return TrainInputs((), drop_crowd=drops.drop_crowd, coco91_to_80=False)
    return drops


def apply_parser_drops(boxset: BoxSet, inputs: TrainInputs) -> BoxSet:
    """``boxset`` without the boxes the decoder and parser drop (counted in ``skipped``
    as ``crowd_dropped`` and ``coco91_to_80_dropped``); labels are kept as read."""
    keep = np.ones(boxset.num_boxes, bool)
    counts = {}
    if inputs.drop_crowd:
        counts["crowd_dropped"] = int(boxset.is_crowd.sum())
        keep &= ~boxset.is_crowd
    if inputs.coco91_to_80:
        coco = np.isin(boxset.label, COCO80_IDS)
        counts["coco91_to_80_dropped"] = int((keep & ~coco).sum())
        keep &= coco
    if keep.all():
        return boxset
    skipped = dict(boxset.skipped)
    for key, n in counts.items():
        if n:
            skipped[key] = skipped.get(key, 0) + n
    return BoxSet(
        image_height=boxset.image_height, image_width=boxset.image_width,
        image_key=boxset.image_key, box_image=boxset.box_image[keep],
        boxes=boxset.boxes[keep], label=boxset.label[keep], difficult=boxset.difficult[keep],
        group_of=boxset.group_of[keep], is_crowd=boxset.is_crowd[keep], skipped=skipped,
        sources=list(boxset.sources), skip_examples=dict(boxset.skip_examples))


def read_train_boxes(params: Mapping, **read_args: Any) -> BoxSet:
    """The boxes ``task.train_data`` names, as the parser sees them (before resize).

    ``read_args`` go to :func:`tfod_anchors.sources.read_boxes` (``reader``,
    ``skip_bad``, ``progress``, ``verify_sizes``, ``compression``) for ``input_path``.

    Raises:
        ConfigError: see :func:`train_inputs`; UsageError: ``tfds_name`` without
        tensorflow-datasets or not a detection set; InputError: unreadable records.
    """
    inputs = train_inputs(params)
    if inputs.tfds_name:
        boxset = read_tfds(inputs.tfds_name, inputs.tfds_split, inputs.tfds_data_dir)
    else:
        from tfod_anchors.sources import read_boxes

        boxset = read_boxes(list(inputs.patterns), **read_args)
    return apply_parser_drops(boxset, inputs)


def read_tfds(name: str, split: str, data_dir: str = "") -> BoxSet:
    """A prepared TFDS detection set's boxes (:mod:`tfod_anchors.sources.tfds`: the
    ``tfds:`` source every command reads), images not decoded.

    Raises:
        UsageError: tensorflow-datasets missing, or a set the Model Garden cannot decode.
        InputError: the set is not prepared in ``data_dir`` (nothing is downloaded).
    """
    from tfod_anchors.sources import read_boxes

    return read_boxes([tfds_spec(name, split, data_dir)], progress=False)


def _boxset(examples: Any, source: str) -> BoxSet:
    """A :class:`BoxSet` from TFDS detection examples (encoded ``image``, ``image/id``,
    ``objects/{bbox,label,is_crowd}``), filtered as every source is."""
    from tfod_anchors.sources.filtering import apply_tfod_filters
    from tfod_anchors.sources.raw import Skips
    from tfod_anchors.sources.tfds import examples_to_raw

    return apply_tfod_filters(examples_to_raw(examples, source), Skips())
