"""Run ``data_augmentation_options`` over a :class:`BoxSet`: N draws per image.

Order, as in TFOD's ``inputs.py`` (``transform_input_data`` then
``pad_input_data_to_static_shapes``): the steps run in config order on the decoded
image and its normalized boxes; then (outside this module) the image resizer;
then boxes with ``ymax < ymin`` or ``xmax < xmin`` are pruned and each image keeps
its first ``max_number_of_boxes`` boxes. Resizing scales both axes by positive
factors, so pruning and truncating here, before the resizer, gives the same boxes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..boxes import BoxSet, ResizedBoxes
from ..errors import ConfigError, UsageError
from .builders import BUILDERS, Step
from .catalogue import OPS, UNKNOWN, classify_ops, step_name
from .state import F32, State
from .streams import Streams, content_keys, instance_keys

PRUNED = "invalid_boxes"
TRUNCATED = "max_number_of_boxes"


@dataclass(frozen=True)
class PlannedStep:
    """One configured step.

    Attributes:
        index: position in ``data_augmentation_options``.
        name: oneof field name (or a description for unknown steps).
        status: catalogue status (``geometric``, ``label``, ``photometric``,
            ``unsupported``, ``unknown``).
        run: the numpy step, or None when it leaves boxes and size alone here.
    """

    index: int
    name: str
    status: str
    run: Step | None

    @property
    def label(self) -> str:
        """``"<index>:<name>"``, the key used in the per-step counts."""
        return f"{self.index}:{self.name}"


def plan(steps: Iterable[Any]) -> list[PlannedStep]:
    """Build every step once (parameters validated here).

    Raises:
        ConfigError: a step with values TFOD's builder rejects.
    """
    steps = list(steps)
    out = []
    for (index, name, status), step in zip(classify_ops(steps), steps):
        builder = BUILDERS.get(name) if status != UNKNOWN else None
        run = None
        if builder is not None:
            try:
                run = builder(getattr(step, name))
            except ConfigError as err:
                raise ConfigError(f"data_augmentation_options[{index}] {name}: "
                                  f"{err.message}") from None
        out.append(PlannedStep(index=index, name=name, status=status, run=run))
    return out


@dataclass
class AugmentResult:
    """N augmented draws of every image, ready for :func:`tfod_anchors.resize.resize_boxes`.

    Attributes:
        boxset: one "image" per draw, image-major (image ``i`` draw ``d`` at
            ``i * draws + d``), with its post-augmentation size and its surviving
            boxes normalized to it, already pruned and truncated to
            ``max_number_of_boxes``; ``image_key`` repeats the source image's key;
            ``difficult``/``group_of``/``is_crowd`` follow their source box.
        source_image: int32 ``[M * draws]``, index of the source image.
        draw: int32 ``[M * draws]``, draw number.
        source_box: int64 ``[N']``, index of each box's source box in the input.
        steps: the planned steps, in order.
        dropped: boxes removed, by ``"<index>:<name>"``, plus ``invalid_boxes`` and
            ``max_number_of_boxes``; every planned step has a key (0 included).
        added: boxes added (``random_self_concat_image``), by the same keys.
        draws, seed: as given.
        resized: the draws already in pixels of the network input, when the
            augmentation includes the resize (the Model Garden parsers scale and crop
            in one step); the pipeline then uses it instead of resizing ``boxset``
            (which is the same boxes normalized to the output size). None for TFOD.
        described: the JSON-ready step list when the steps are not TFOD's
            (:func:`describe_steps` of ``steps`` otherwise).
        note: what the draws approximate and how far they are from the framework's
            own (None: reproduced, nothing to say).
    """

    boxset: BoxSet
    source_image: np.ndarray
    draw: np.ndarray
    source_box: np.ndarray
    steps: list[PlannedStep]
    dropped: dict[str, int] = field(default_factory=dict)
    added: dict[str, int] = field(default_factory=dict)
    draws: int = 1
    seed: int = 0
    resized: ResizedBoxes | None = None
    described: list[dict[str, Any]] | None = None
    note: str | None = None


def _sorted_boxes(boxset: BoxSet) -> np.ndarray:
    """Box order grouped by image, keeping each image's own order."""
    box_image = boxset.box_image
    if box_image.size and np.any(box_image[1:] < box_image[:-1]):
        return np.argsort(box_image, kind="stable")
    return np.arange(box_image.shape[0])


def initial_state(boxset: BoxSet, draws: int) -> tuple[State, np.ndarray]:
    """The state before any step (every image repeated ``draws`` times) and the
    content keys of the images."""
    order = _sorted_boxes(boxset)
    box_image = boxset.box_image[order].astype(np.int64)
    boxes = np.asarray(boxset.boxes, dtype=F32)[order]
    label = boxset.label[order].astype(np.int32)
    keys = content_keys(boxset.image_height.astype(np.int64),
                        boxset.image_width.astype(np.int64), box_image, boxes, label)
    m = boxset.num_images
    counts = np.bincount(box_image, minlength=m)
    starts = np.concatenate([[0], np.cumsum(counts)])
    # image-major repetition: image i's boxes, draws times, then image i+1
    rep_counts = np.repeat(counts, draws)
    rep_start = np.repeat(starts[:-1], draws)
    total = int(rep_counts.sum())
    offsets = np.arange(total) - np.repeat(np.cumsum(rep_counts) - rep_counts, rep_counts)
    idx = np.repeat(rep_start, rep_counts) + offsets
    inst = np.repeat(np.arange(m * draws, dtype=np.int64), rep_counts)
    state = State(height=np.repeat(boxset.image_height.astype(np.int64), draws),
                  width=np.repeat(boxset.image_width.astype(np.int64), draws),
                  box_inst=inst, boxes=boxes[idx].copy(), label=label[idx].copy(),
                  origin=order[idx].astype(np.int64))
    return state, keys


def run_steps(state: State, streams: Streams, planned: list[PlannedStep],
              dropped: dict[str, int], added: dict[str, int]) -> None:
    """Apply every planned step to every instance, counting boxes removed/added."""
    everyone = np.arange(state.num_instances, dtype=np.int64)
    for step in planned:
        dropped.setdefault(step.label, 0)
        added.setdefault(step.label, 0)
        if step.run is None:
            continue
        before = state.num_boxes
        step.run(state, streams, everyone, (step.index, step.name))
        change = before - state.num_boxes
        if change > 0:
            dropped[step.label] += change
        elif change < 0:
            added[step.label] -= change


def finish(state: State, max_boxes: int | None, dropped: dict[str, int]) -> None:
    """TFOD's input pipeline after augmentation: prune inverted (or NaN) boxes, keep
    the first ``max_boxes`` per image."""
    b = state.boxes
    # prune_small_boxes(0) keeps height >= 0 and width >= 0 (NaN fails both)
    dropped[PRUNED] = state.keep((b[:, 2] >= b[:, 0]) & (b[:, 3] >= b[:, 1]))
    if max_boxes is not None:
        dropped[TRUNCATED] = state.keep(state.rank() < max_boxes)
    else:
        dropped[TRUNCATED] = 0


def augment(boxset: BoxSet, steps: Iterable[Any], draws: int = 1, seed: int = 0,
            max_boxes: int | None = None) -> AugmentResult:
    """Draw ``draws`` augmented samples of every image.

    Args:
        boxset: boxes as read, normalized to the decoded images; NOT yet truncated
            to ``max_number_of_boxes`` (TFOD truncates after augmentation).
        steps: ``train_config.data_augmentation_options`` (``PreprocessingStep``
            messages), in order.
        draws: samples per image (>= 1).
        seed: any int; the same seed gives the same result.
        max_boxes: ``train_input_reader.max_number_of_boxes`` (None: no limit).
    Returns:
        :class:`AugmentResult`.
    Raises:
        UsageError: ``draws`` < 1 or ``max_boxes`` < 1.
        ConfigError: a step with values TFOD's builder rejects.
    """
    if isinstance(draws, bool) or int(draws) < 1:
        raise UsageError(f"augmentation draws must be a positive integer, got {draws!r}")
    if max_boxes is not None and int(max_boxes) < 1:
        raise UsageError(f"max_boxes must be positive, got {max_boxes!r}")
    draws = int(draws)
    planned = plan(steps)
    state, keys = initial_state(boxset, draws)
    streams = Streams(instance_keys(keys, draws, int(seed)))
    dropped: dict[str, int] = {}
    added: dict[str, int] = {}
    run_steps(state, streams, planned, dropped, added)
    finish(state, max_boxes, dropped)
    return _result(boxset, state, planned, dropped, added, draws, int(seed))


def _result(boxset: BoxSet, state: State, planned: list[PlannedStep], dropped: dict[str, int],
            added: dict[str, int], draws: int, seed: int) -> AugmentResult:
    m = boxset.num_images
    origin = state.origin
    out = BoxSet(
        image_height=state.height.astype(np.int32),
        image_width=state.width.astype(np.int32),
        image_key=np.repeat(boxset.image_key, draws),
        box_image=state.box_inst.astype(np.int32),
        boxes=state.boxes.astype(np.float32, copy=False),
        label=state.label.astype(np.int32, copy=False),
        difficult=boxset.difficult[origin], group_of=boxset.group_of[origin],
        is_crowd=boxset.is_crowd[origin],
        skipped=dict(boxset.skipped), sources=list(boxset.sources),
        skip_examples=dict(boxset.skip_examples))
    return AugmentResult(
        boxset=out, source_image=np.repeat(np.arange(m, dtype=np.int32), draws),
        draw=np.tile(np.arange(draws, dtype=np.int32), m), source_box=origin,
        steps=planned, dropped=dropped, added=added, draws=draws, seed=seed)


def describe_steps(planned: list[PlannedStep]) -> list[dict[str, Any]]:
    """JSON-ready list: ``{index, op, status, modelled}`` per step."""
    return [{"index": s.index, "op": s.name, "status": s.status,
             "modelled": s.run is not None,
             "effect": OPS[s.name].effect if s.name in OPS else "unknown step"}
            for s in planned]


__all__ = ["AugmentResult", "PlannedStep", "augment", "describe_steps", "plan", "step_name"]
