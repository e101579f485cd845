"""Chains the stages for one config: sources -> augmentation -> resizer -> anchors -> coverage.

The commands and the Python API share these steps; each step is one call into
the module that owns the stage, so nothing here computes geometry itself.
:func:`training_boxes` is the "read -> augment -> resize" chain: the boxes the
matcher sees in training, drawn through the config's ``data_augmentation_options``
(:mod:`tfod_anchors.augment`) or static.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from tfod_anchors.anchors.layout import AnchorLayout
from tfod_anchors.augment import AugmentResult
from tfod_anchors.boxes import BoxSet, ResizedBoxes
from tfod_anchors.config.query import is_placeholder_path
from tfod_anchors.coverage.metrics import CoverageReport
from tfod_anchors.errors import ConfigError, UsageError
from tfod_anchors.frameworks import ModelSpec, as_spec


@dataclass(frozen=True)
class SourceOptions:
    """How to read boxes (the ``box sources`` flags of every command)."""

    inputs: tuple[str, ...] = ()
    compression: str = "auto"
    label_map: str | None = None
    max_boxes: int | None = None
    drop_difficult: bool = False
    skip_bad: bool = False
    verify_sizes: bool = False
    progress: bool = True
    reader: str = "auto"


def _found(path: str) -> bool:
    import glob

    return os.path.exists(path) or bool(glob.glob(path))


def _beside(path: str, config_path: str) -> str | None:
    """``path`` joined to the config's folder or, failing that, to the nearest of its
    parent folders where it exists (a path written relative to the project root, as
    TFOD configs usually are, found from anywhere); None if none holds it."""
    folder = os.path.dirname(os.path.abspath(config_path))
    while True:
        candidate = os.path.join(folder, path)
        if _found(candidate):
            return candidate
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent


def _resolve(path: str, config_path: str | None) -> str:
    """A config-relative path: as given if it exists from the working directory
    (TFOD's own rule) or is remote/glob-matched, else beside the config (its folder or
    the nearest parent folder holding it, :func:`_beside`)."""
    if "://" in path or os.path.isabs(path) or config_path is None or "://" in config_path:
        return path
    if _found(path):
        return path
    return _beside(path, config_path) or path


def paths_left_behind(model: ModelSpec | Any, config_path: str, output: str) -> list[str]:
    """The model config's (a spec, or a TFOD config) relative training paths (TFOD:
    ``train_input_reader``'s ``input_path`` and ``label_map_path``, as ``field: path``)
    that are found only beside the config: not from the working directory (where TFOD
    looks) and not beside ``output``, where a copy of the config is written (both as
    :func:`_beside` looks)."""
    if "://" in config_path or "://" in output:
        return []
    inputs = as_spec(model).inputs
    named = [("input_path", p) for p in inputs.paths]
    label_map = inputs.label_map
    if label_map:
        named.append(("label_map_path", label_map))
    return [f"{field}: {path}" for field, path in named
            if path and "://" not in path and not os.path.isabs(path)
            and not is_placeholder_path(path) and not _found(path)
            and _beside(path, config_path) is not None and _beside(path, output) is None]


def config_sources(model: ModelSpec, config_path: str | None) -> list[str]:
    """The config's ``train_input_reader`` TFRecord paths (or a Model Garden
    experiment's ``tfds:`` source), resolved.

    Raises:
        UsageError: the config names no usable input (template placeholders such as
            ``PATH_TO_BE_CONFIGURED``, another reader type): pass ``--input``.
    """
    train = model.inputs
    where = config_path or "config"
    if train.reader not in ("tf_record_input_reader", "tfds") or not train.paths:
        raise UsageError(
            f"{where}: train_input_reader names no TFRecord input; pass --input SRC")
    if any(is_placeholder_path(p) for p in train.paths):
        raise UsageError(
            f"{where}: train_input_reader.input_path is a template placeholder "
            f"({train.paths[0]!r}); pass --input SRC")
    return [_resolve(p, config_path) for p in train.paths]


@dataclass(frozen=True)
class ResolvedInputs:
    """What to read and how TFOD would filter it: the box sources, the label map and
    ``max_number_of_boxes`` (flags first, else the config's)."""

    specs: list[str]
    label_map: str | None
    max_boxes: int | None


def resolve_inputs(model: ModelSpec | None, config_path: str | None,
                   options: SourceOptions) -> ResolvedInputs:
    """``--input`` or, without it, the config's training input; the label map and
    ``max_number_of_boxes`` from the flags, else from the config (paths resolved as TFOD
    does, placeholders ignored).

    Raises:
        UsageError: no source at all, or a config whose input is a placeholder.
    """
    if options.inputs:
        specs = list(options.inputs)
    elif model is not None:
        specs = config_sources(model, config_path)
    else:
        raise UsageError("no box source: pass --input SRC")
    label_map = options.label_map
    if model is not None and label_map is None:
        label_map = model.inputs.label_map
        if label_map is not None and is_placeholder_path(label_map):
            label_map = None
        elif label_map is not None:
            label_map = _resolve(label_map, config_path)
    return ResolvedInputs(specs, label_map, effective_max_boxes(model, options))


def effective_max_boxes(model: ModelSpec | None, options: SourceOptions) -> int | None:
    """``--max-boxes``, else the config's ``train_input_reader.max_number_of_boxes``
    (None without a config)."""
    if options.max_boxes is not None or model is None:
        return options.max_boxes
    return model.inputs.max_boxes


def read_config_boxes(model: ModelSpec | None, config_path: str | None,
                      options: SourceOptions, *, truncate: bool = True) -> BoxSet:
    """Boxes from ``--input`` or, without it, from the config's training input, filtered
    as TFOD's input pipeline would (label map, and ``max_number_of_boxes`` unless
    ``truncate`` is False: the augmented path truncates after augmentation, as TFOD),
    then without the boxes the model's input pipeline never trains on
    (:meth:`~tfod_anchors.frameworks.ModelSpec.keep_trained_boxes`)."""
    from tfod_anchors.sources import read_boxes

    inputs = resolve_inputs(model, config_path, options)
    boxset = read_boxes(
        inputs.specs,
        label_map_path=inputs.label_map,
        max_number_of_boxes=inputs.max_boxes if truncate else None,
        drop_difficult=options.drop_difficult,
        skip_bad=options.skip_bad,
        verify_sizes=options.verify_sizes,
        compression=None if options.compression == "auto" else options.compression,
        progress=None if options.progress else False,
        reader=options.reader,
    )
    return model.keep_trained_boxes(boxset) if model is not None else boxset


# --- augmentation: the boxes the matcher sees in training --------------------------------------

#: Augmented draws per image when none are asked for ...
DEFAULT_DRAWS = 4
#: ... fewer on large datasets, so that draws x boxes read stays within this many boxes
#: (at least one draw): the cost of every later stage grows with the boxes drawn, while
#: the metrics' sampling error is already small at this size.
DRAW_BOX_BUDGET = 1_000_000

AUTO, ON, OFF = "auto", "on", "off"


@dataclass(frozen=True)
class AugmentOptions:
    """Whether and how to draw the config's ``data_augmentation_options``.

    Attributes:
        mode: ``"auto"``: draw when the config has a step that changes boxes
            (:func:`tfod_anchors.augment.needs_augmentation`; the default of
            ``check``, ``fit`` and the API); ``"on"``: always draw (``stats
            --augment N``); ``"off"``: the static boxes (``--no-augment``).
        draws: augmented samples per image (>= 1), or None for
            :func:`default_draws`.
        seed: seed of every random choice of the augmentation.
    """

    mode: str = AUTO
    draws: int | None = None
    seed: int = 0

    @classmethod
    def from_value(cls, augment: int | bool | None, seed: int = 0) -> AugmentOptions:
        """The API's ``augment=`` value: None or True (auto, default draws), False
        (static), or a positive int (auto, that many draws).

        Raises:
            UsageError: anything else, or a seed that is not an int.
        """
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise UsageError(f"seed must be an int, got {seed!r}")
        if augment is None or augment is True:
            return cls(AUTO, None, int(seed))
        if augment is False:
            return cls(OFF, None, int(seed))
        if isinstance(augment, (int, np.integer)) and int(augment) >= 1:
            return cls(AUTO, int(augment), int(seed))
        raise UsageError(f"augment must be None (the default: augmented when the config has "
                         f"a geometric step), False (static boxes) or a positive number of "
                         f"draws, got {augment!r}")


def default_draws(num_boxes: int) -> int:
    """:data:`DEFAULT_DRAWS`, lowered so that ``draws x num_boxes`` stays within
    :data:`DRAW_BOX_BUDGET` (at least 1)."""
    return max(1, min(DEFAULT_DRAWS, DRAW_BOX_BUDGET // max(int(num_boxes), 1)))


def wants_augmentation(model: ModelSpec, augmentation: AugmentOptions) -> bool:
    """Whether :func:`training_boxes` will draw augmented boxes for this model."""
    augmenter = model.augmenter
    if augmentation.mode == OFF or augmenter is None:
        return False
    return augmentation.mode == ON or augmenter.changes_boxes


@dataclass
class TrainingBoxes:
    """The boxes the matcher sees in training (what :func:`training_boxes` returns).

    Attributes:
        read: the boxes as read and filtered; when augmented, NOT truncated to
            ``max_number_of_boxes`` (TFOD truncates after augmentation).
        resized: the distribution to measure, in pixels of the padded resized image:
            the augmented draws (one image per draw, image-major) when
            ``augmentation`` is set, else the static boxes.
        augmentation: the engine's result (draws, per-step counts), or None (static).
        static_boxset: the static boxes (truncated as TFOD does); None when augmented
            and the static view was not asked for.
        static: ``static_boxset`` resized (the same object as ``resized`` when static).
        max_boxes: the ``max_number_of_boxes`` applied.
    """

    read: BoxSet
    resized: ResizedBoxes
    augmentation: AugmentResult | None
    static_boxset: BoxSet | None
    static: ResizedBoxes | None
    max_boxes: int | None

    @property
    def num_images(self) -> int:
        """Images read (each drawn ``augmentation.draws`` times when augmented)."""
        return self.read.num_images

    @property
    def skipped(self) -> dict[str, int]:
        """The read's skip counts; ``boxes_over_max`` from the static view when there is
        one (when augmented, the truncation per draw is ``augmentation.dropped``)."""
        source = self.static_boxset if self.static_boxset is not None else self.read
        return dict(source.skipped)

    @property
    def skip_examples(self) -> dict[str, str]:
        source = self.static_boxset if self.static_boxset is not None else self.read
        return dict(source.skip_examples)


def training_boxes(model: ModelSpec, config_path: str | None, options: SourceOptions,
                   augmentation: AugmentOptions, *, boxes: BoxSet | None = None,
                   keep_static: bool = False) -> TrainingBoxes:
    """Read -> augment -> resize: the boxes the matcher sees in training.

    Args:
        model: the model spec (its input, augmenter, resizer).
        config_path: where it was read from (relative input paths), or None.
        options: how to read the boxes (``--input`` flags).
        augmentation: whether/how to draw the augmentation (:class:`AugmentOptions`).
        boxes: boxes already read (instead of reading ``options``/the config's input);
            taken as not yet truncated to ``max_number_of_boxes``.
        keep_static: when augmenting, also give the static boxes (``fit`` measures
            both distributions).
    Raises:
        ConfigError: a step whose values TFOD's builder rejects, or no resizer.
        UsageError, InputError: as reading the boxes.
    """
    from tfod_anchors.sources.filtering import keep_first_boxes

    augmented = wants_augmentation(model, augmentation)
    max_boxes = effective_max_boxes(model, options)
    if boxes is None:
        read = read_config_boxes(model, config_path, options, truncate=not augmented)
    else:
        read = model.keep_trained_boxes(boxes)
    if not augmented:
        truncated = keep_first_boxes(read, max_boxes)
        resized = resize_for_config(truncated, model)
        return TrainingBoxes(read=truncated, resized=resized, augmentation=None,
                             static_boxset=truncated, static=resized, max_boxes=max_boxes)
    draws = augmentation.draws or default_draws(read.num_boxes)
    augmenter = model.augmenter
    assert augmenter is not None  # wants_augmentation is False without one
    try:
        result = augmenter(read, draws=draws, seed=augmentation.seed, max_boxes=max_boxes)
    except ConfigError as err:
        raise ConfigError(err.message, path=config_path) from None
    static_boxset: BoxSet | None = None
    static: ResizedBoxes | None = None
    if keep_static:
        static_boxset = keep_first_boxes(read, max_boxes)
        static = resize_for_config(static_boxset, model)
    # an augmenter that includes the resize (the Model Garden parsers) gives its boxes
    # already in the network input's pixels
    drawn = result.resized if result.resized is not None else \
        resize_for_config(result.boxset, model)
    return TrainingBoxes(read=read, resized=drawn, augmentation=result,
                         static_boxset=static_boxset, static=static, max_boxes=max_boxes)


def augmentation_summary(result: AugmentResult | None) -> dict[str, Any] | None:
    """The JSON ``augmentation`` block of ``stats``, ``check`` and ``fit``: the steps
    (index, op, status, modelled, effect), ``draws``, ``seed``, and the boxes each
    step ``dropped`` (plus ``invalid_boxes`` and ``max_number_of_boxes``) or
    ``added``, counted over all draws; ``note`` when the augmenter approximates the
    framework's (what and how far). None when the boxes are static."""
    from tfod_anchors.augment import describe_steps

    if result is None:
        return None
    steps = result.described if result.described is not None else describe_steps(result.steps)
    summary = {"steps": steps, "draws": result.draws, "seed": result.seed,
               "dropped": dict(result.dropped), "added": dict(result.added)}
    if result.note:
        summary["note"] = result.note
    return summary


def resize_for_config(boxset: BoxSet, model: ModelSpec) -> ResizedBoxes:
    """Stage 2: the model's own image resizer applied to every image."""
    return model.resizer().resize_boxes(boxset)


def layout_function(model: ModelSpec | Any) -> Callable[[tuple[int, int]], AnchorLayout]:
    """Stage 3: padded ``(H, W)`` -> every anchor the model generates for it (cached);
    ``model`` a spec, or a TFOD config (resolved here)."""
    model = as_spec(model)
    require_anchors(model, None, "coverage")
    return model.layout_function()


def measure_coverage(resized: ResizedBoxes, model: ModelSpec) -> CoverageReport:
    """Stage 4: positioned coverage under the model's matcher."""
    from tfod_anchors.coverage.metrics import evaluate

    return evaluate(resized, layout_function(model), model.matcher())


def require_anchors(model: ModelSpec, config_path: str | None, command: str) -> None:
    """Refuse (exit 2) configs without an anchor generator for commands that need one, and
    anchor values no anchor can be built from (``check`` reports them as errors)."""
    if model.anchors is None:
        kind = model.family or "(none)"
        raise ConfigError(
            f"model {kind} has no anchor generator, so `{command}` has nothing to work on "
            "(anchor-free models such as CenterNet are not supported)", path=config_path)
    bad = model.anchor_value_findings()
    if bad:
        raise ConfigError(f"{bad[0].code}: {bad[0].message}", path=config_path)



def resizer_description(model: ModelSpec) -> str:
    """One line naming the model's resizer and its settings."""
    return model.resizer().describe()


def anchor_shapes_hw(model: ModelSpec, resized: ResizedBoxes) -> np.ndarray | None:
    """float64 ``[S, 2]`` ``(height, width)`` in pixels of every anchor shape (all levels)
    for the most common padded shape, or None for models without anchors."""
    if model.anchors is None or resized.num_boxes == 0:
        return None
    layout = layout_function(model)(resized.most_common_shape())
    if not layout.levels:
        return np.zeros((0, 2))
    return np.concatenate([level.sizes for level in layout.levels], axis=0)
