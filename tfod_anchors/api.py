"""Python API: the commands' work as functions, for a pre-training step in a TF workflow.

Every function takes the config as a path (local or ``gs://``), a
``TrainEvalPipelineConfig`` (the bundled schema's or TFOD's own class) or the dict
that TFOD's ``config_util.get_configs_from_pipeline_file`` returns, and boxes as
``inputs`` (paths/globs, as ``--input``), a :class:`~tfod_anchors.boxes.BoxSet`, or
nothing (the config's ``train_input_reader``). How boxes are read is either one
:class:`~tfod_anchors.pipeline.SourceOptions` (``sources=``) or ``inputs`` plus the
``--input`` flags as keywords: ``compression``, ``label_map``, ``max_boxes``,
``drop_difficult``, ``skip_bad``, ``verify_sizes``, ``read_progress`` and ``reader``
(``"auto"``, ``"tf"`` or ``"native"``: the TFRecord reader). Nothing is written to disk
unless you ask: :func:`fit` returns the patched config (and its text
when the config came from a file); :func:`write_fitted` writes it safely.

Like the commands, :func:`fit`, :func:`check`, :func:`coverage` and :func:`resized_boxes`
work on the boxes TFOD trains on: drawn through the config's ``data_augmentation_options``
when a step changes boxes (``augment=None``, the default; ``augment=N`` draws N times per
image, ``augment=False`` gives the static boxes; ``seed=`` seeds the draws).

Example, before TFOD's training loop::

    import tfod_anchors
    from object_detection.utils import config_util

    configs = config_util.get_configs_from_pipeline_file("pipeline.config")
    result = tfod_anchors.fit(configs)
    print(result.fit.before["recall_matched"], "->", result.fit.after["recall_matched"])
    configs = config_util.create_configs_from_pipeline_proto(result.config)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from tfod_anchors import measured, pipeline
from tfod_anchors.boxes import BoxSet, ResizedBoxes
from tfod_anchors.config.files import (
    LoadedConfig,
    Written,
    ensure_replaceable,
    ensure_writable,
    load_config,
    same_file,
    write_config,
    write_new,
)
from tfod_anchors.config.query import PipelineLike
from tfod_anchors.errors import ConfigError, UsageError
from tfod_anchors.frameworks import ModelSpec, as_spec
from tfod_anchors.pipeline import SourceOptions
from tfod_anchors.rules import has_errors

if TYPE_CHECKING:
    from tfod_anchors.fitting.options import FitOptions
    from tfod_anchors.fitting.result import FitResult


@dataclass
class FitOutcome:
    """What :func:`fit` returns.

    Attributes:
        config: the patched ``TrainEvalPipelineConfig`` (same class as the input's;
            equal to the input when ``fit.improved`` is False and ``force`` not set).
        fit: the :class:`~tfod_anchors.fitting.FitResult` (before/after metrics,
            changed fields, diagnostics).
        text: the patched config text, when the config came from a file (only the
            anchor block differs from the original); else None.
        original_text: the original file text, or None.
        diff: unified diff of ``original_text`` -> ``text`` ("" when unchanged).
        patch_warning: set when a minimal textual patch was impossible and the
            whole file was re-serialised.
        boxes: the boxes that were fitted, in resized pixels: the augmented draws
            when ``augmentation`` is set, else the static boxes.
        loaded: the loaded file (path, fingerprint) when the config came from one.
        num_images: images read; ``skipped``: every ``stats`` skip reason with its
            count (zeros included), ``skip_examples`` where each was first seen.
        forced: ``force`` wrote the best candidate although it is not an improvement.
        new_findings: ``check`` findings of the patched config that the original does
            not have (dicts; an ``error`` among them means it must not be written).
        augmentation: the ``augmentation`` block
            (:func:`~tfod_anchors.pipeline.augmentation_summary`: steps, draws, seed,
            boxes dropped/added per step) when the fit was on augmented draws, else None.
        static_boxes: the static boxes in resized pixels when the fit was on augmented
            draws (``fit.static_before``/``static_after`` are measured on them), else None.
        data_dropped: what the read skipped or dropped, with counts and shares
            (:func:`~tfod_anchors.measured.read_dropped`), or None when nothing was.
        read_notes: notes on the read (a placeholder label map that turned class
            filtering off).
    """

    config: Any
    fit: FitResult
    text: str | None
    original_text: str | None
    diff: str
    patch_warning: str | None
    boxes: ResizedBoxes
    loaded: LoadedConfig | None = None
    num_images: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    skip_examples: dict[str, str] = field(default_factory=dict)
    forced: bool = False
    new_findings: list[dict[str, str]] = field(default_factory=list)
    augmentation: dict[str, Any] | None = None
    static_boxes: ResizedBoxes | None = None
    data_dropped: dict[str, Any] | None = None
    read_notes: list[str] = field(default_factory=list)
    model: Any = None
    config_path: str | None = None

    @property
    def changed(self) -> bool:
        if self.text is not None:
            return self.text != self.original_text
        return self.fit.improved or self.forced

    @property
    def blocking_findings(self) -> list[dict[str, str]]:
        """New error-level findings: the patched config must not be written."""
        return [f for f in self.new_findings if f["severity"] == "error"]

    def to_json(self, *, written: str | None = None, notes: Sequence[str] = (),
                report: Sequence[Any] = (), override: dict[str, Any] | None = None
                ) -> dict[str, Any]:
        """The ``fit --json`` document, in plain JSON types (the CLI prints this).

        ``written``: the path :func:`write_fitted` wrote, if any; ``notes``: its notes
        (listed under ``warnings``); ``report``: paths of the ``--report`` plots;
        ``override``: :func:`anchor_override`'s result (``--experiment`` alone).
        See :func:`fit` for an example."""
        from tfod_anchors.outcome import fit_document

        return fit_document(self, written=written, notes=notes, report=report,
                            override=override)


@dataclass
class CheckOutcome:
    """What :func:`check` returns: rule findings, coverage metrics (or None), ok, the
    ``augmentation`` block (:func:`~tfod_anchors.pipeline.augmentation_summary`)
    when coverage was measured on augmented draws (else None), ``data_dropped``
    (:func:`~tfod_anchors.rules.dropped.dropped_summary`: what was read but not
    measured, or None) and ``by_class`` (coverage per class id, when measured). After
    :func:`advise`: ``fit`` (the config's own fit: whether it gains the minimum gain,
    coverage before and predicted after), ``advice`` and ``what_if``
    (:mod:`tfod_anchors.whatif`: changes with predicted coverage and cost).
    ``config_path`` (None when the config was not a file) and ``strict`` as called."""

    findings: list[dict[str, str]]
    coverage: dict[str, Any] | None
    ok: bool
    augmentation: dict[str, Any] | None = None
    data_dropped: dict[str, Any] | None = None
    by_class: dict[str, dict[str, Any]] | None = None
    fit: dict[str, Any] | None = None
    advice: list[dict[str, Any]] = field(default_factory=list)
    what_if: list[dict[str, Any]] = field(default_factory=list)
    config_path: str | None = None
    strict: bool = False
    context: Any = field(default=None, repr=False)  # what :func:`advise` re-measures
    model: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """The ``check --json`` document, in plain JSON types (the CLI prints this)."""
        from tfod_anchors.outcome import check_document

        return check_document(self)


def model_names(model: ModelSpec) -> dict[str, Any]:
    """``framework``, ``family``, ``kind`` and the matcher rule of a spec (every output
    names them)."""
    from tfod_anchors.frameworks import spec_names

    rule = model.matcher_rule()
    return {**spec_names(model), "matcher_rule": {
        "kind": rule.kind, "threshold": rule.threshold, "force_match": rule.force_match,
        "source": rule.source}}


def _config_name(config: PipelineLike, path: str | None) -> str | None:
    """What the JSON documents call the config: the file read, or a Model Garden
    ``ExperimentRef`` as the command line gave it (None for an in-memory config)."""
    return str(config) if hasattr(config, "resolve_model") else path


def _check_names(model: ModelSpec) -> dict[str, Any]:
    """``check``'s ``model``: :func:`model_names`, without a matcher rule when the
    model has no anchors to match."""
    from tfod_anchors.frameworks import spec_names

    return model_names(model) if model.anchors is not None else spec_names(model)


def load_model(config: PipelineLike) -> tuple[ModelSpec, LoadedConfig | None]:
    """The model spec of ``config`` (a path: a ``pipeline.config`` or a Model Garden YAML;
    a Model Garden ``ExperimentRef``; a config object or spec) and the file as read."""
    return _config(config)


def _config(config: PipelineLike) -> tuple[ModelSpec, LoadedConfig | None]:
    """The API edge: the config resolved once into a model spec (and the file it was
    loaded from, when it was a path)."""
    if hasattr(config, "resolve_model"):  # e.g. a Model Garden ExperimentRef
        return config.resolve_model()
    if isinstance(config, (str, bytes)) or hasattr(config, "__fspath__"):
        from tfod_anchors.frameworks.modelgarden.load import ExperimentRef, is_yaml_path

        if is_yaml_path(str(config)):
            return ExperimentRef(path=str(config)).resolve_model()
        loaded = load_config(str(config))
        return as_spec(loaded.config, loaded.path), loaded
    return as_spec(config), None


def _source_options(inputs: str | Sequence[str] | None, sources: SourceOptions | None,
                    options: dict[str, Any]) -> SourceOptions:
    """One :class:`SourceOptions` from either ``sources`` or ``inputs`` + keywords
    (``read_progress`` is the keyword for ``progress``)."""
    if sources is not None:
        if inputs or options:
            raise UsageError("pass either sources=SourceOptions(...) or inputs and "
                             "source keywords, not both")
        return sources
    if isinstance(inputs, str):
        inputs = [inputs]
    progress = bool(options.pop("read_progress", False))
    try:
        return SourceOptions(inputs=tuple(inputs or ()), progress=progress, **options)
    except TypeError as err:
        raise UsageError(f"unknown source option: {err}") from None


def resized_boxes(config: PipelineLike, inputs: str | Sequence[str] | None = None, *,
                  boxes: BoxSet | None = None, sources: SourceOptions | None = None,
                  augment: int | bool | None = None, seed: int = 0,
                  **source_options: Any) -> ResizedBoxes:
    """Boxes in the pixels the config's model sees (its own image resizer): by default
    the augmented draws when the config has a step that changes boxes (one image per
    draw), else the static boxes; ``augment``/``seed`` as in :func:`coverage`.

    Examples (the shipped raccoon demo: 217 boxes; 4 draws of its horizontal flip)::

        >>> import tfod_anchors
        >>> raccoon = "configs/ssd_mobilenet_v2_300x300_raccoon.config"
        >>> tfod_anchors.resized_boxes(raccoon, augment=False).num_boxes
        217
        >>> tfod_anchors.resized_boxes(raccoon).num_boxes
        868
    """
    model, loaded = _config(config)
    options = _source_options(inputs, sources, source_options)
    augmentation = pipeline.AugmentOptions.from_value(augment, seed)
    return pipeline.training_boxes(model, loaded.path if loaded else None, options, augmentation,
                                   boxes=boxes).resized


def coverage(config: PipelineLike, inputs: str | Sequence[str] | None = None, *,
             boxes: BoxSet | None = None, sources: SourceOptions | None = None,
             augment: int | bool | None = None, seed: int = 0,
             **source_options: Any) -> dict[str, Any]:
    """Coverage metrics of the config's anchors (``mean_iou``, ``recall_matched``, ...).

    ``augment``: None (default) measures the distribution TFOD trains on: the config's
    ``data_augmentation_options`` drawn ``pipeline.default_draws`` times per image when
    one of them changes boxes, else the static boxes; False the static boxes; N draws N
    times. ``seed`` seeds the draws (same seed, same numbers).

    Examples (the shipped raccoon demo)::

        >>> import tfod_anchors
        >>> raccoon = "configs/ssd_mobilenet_v2_300x300_raccoon.config"
        >>> metrics = tfod_anchors.coverage(raccoon, augment=False)
        >>> metrics["num_boxes"], round(metrics["mean_iou"], 3), metrics["recall_matched"]
        (217, 0.727, 1.0)
    """
    model, loaded = _config(config)
    options = _source_options(inputs, sources, source_options)
    augmentation = pipeline.AugmentOptions.from_value(augment, seed)
    resized = pipeline.training_boxes(model, loaded.path if loaded else None, options,
                                      augmentation, boxes=boxes).resized
    return pipeline.measure_coverage(resized, model).metrics


#: The keywords of :func:`fit` that are :class:`~tfod_anchors.fitting.FitOptions`.
FIT_KEYWORDS = ("objective", "seed", "num_scales", "num_aspect_ratios", "guard", "effort")


def fit(config: PipelineLike, inputs: str | Sequence[str] | None = None, *,
        boxes: BoxSet | None = None, sources: SourceOptions | None = None,
        force: bool = False, progress: Callable[[str], None] | None = None,
        augment: int | bool | None = None, augment_seed: int = 0,
        **keywords: Any) -> FitOutcome:
    """Fit the config's own anchor generator to the boxes; no file is written.

    Keywords: the fit's options (:data:`FIT_KEYWORDS`: ``objective="recall"``,
    ``seed=0``, ``num_scales``, ``num_aspect_ratios``, ``guard``; validated at once into
    a :class:`~tfod_anchors.fitting.FitOptions`), and the source keywords of the module
    docstring. The config is patched only when the fit beats it on ``objective`` by at
    least the minimum gain within the guard; ``force`` patches in the best candidate
    measured anyway. ``guard``: a :class:`~tfod_anchors.fitting.Guard`, a ``--guard``
    spec string, or None (the default guard). The patched config is re-checked with
    the ``check`` rules (``FitOutcome.new_findings``). See
    :mod:`tfod_anchors.fitting.fit` for the search, in named steps.

    ``augment`` (as in :func:`coverage`): by default the fit is on the augmented
    distribution when the config has a step that changes boxes, and the guard holds
    on the static boxes too (``fit.static_before``/``static_after``); False fits the
    static boxes. ``seed`` seeds the search; ``augment_seed`` the draws (so fits with
    different search seeds are measured on the same boxes). ``effort``: how much search
    (``"low"``, ``"normal"``, ``"high"`` or a number; :mod:`tfod_anchors.fitting.effort`).

    Examples (the shipped COCO subset and its Faster R-CNN config; about 10 s)::

        >>> import os, tempfile
        >>> import tfod_anchors
        >>> coco = "configs/faster_rcnn_resnet50_640x640_coco_subset.config"
        >>> result = tfod_anchors.fit(coco, augment=False)
        >>> result.fit.improved, result.fit.matched_threshold
        (True, 0.7)
        >>> doc = result.to_json()   # what ``fit --json`` prints
        >>> round(doc["before"]["recall_matched"], 3), round(doc["after"]["recall_matched"], 3)
        (0.319, 0.378)
        >>> out = os.path.join(tempfile.mkdtemp(), "fitted.config")
        >>> tfod_anchors.write_fitted(result, output=out) == out
        True
        >>> after = tfod_anchors.coverage(out, augment=False)
        >>> round(after["recall_matched"], 6) == doc["after"]["recall_matched"]
        True
    """
    from tfod_anchors.fitting.fit import fit as fit_steps
    from tfod_anchors.fitting.verify import new_findings
    from tfod_anchors.sources.raw import SKIP_KEYS

    model, loaded = _config(config)
    path = loaded.path if loaded else None
    options = _source_options(inputs, sources,
                              {k: v for k, v in keywords.items() if k not in FIT_KEYWORDS})
    pipeline.require_anchors(model, path, "fit")
    settings = _fit_options({k: v for k, v in keywords.items() if k in FIT_KEYWORDS})
    augmentation = pipeline.AugmentOptions.from_value(augment, augment_seed)
    training = pipeline.training_boxes(model, path, options, augmentation, boxes=boxes,
                                       keep_static=True)
    summary = pipeline.augmentation_summary(training.augmentation)
    static = training.static if summary is not None else None
    resized = training.resized
    if summary is not None and static is not None and progress is not None:
        progress(f"fitting {resized.num_boxes} augmented boxes ({summary['draws']} draw(s) "
                 f"of {training.num_images} images); the guard holds on the "
                 f"{static.num_boxes} static boxes too")
    result = fit_steps(resized, model, settings, progress=progress, static=static)
    forced = force and not result.improved
    generator = result.best_generator if forced else result.generator
    take = result.improved or force
    new_cfg = model.config_with(generator) if take else model.config
    findings = [f.to_dict() for f in new_findings(model, generator)] if take else []
    text, diff, warning = _patched_text(loaded, model, generator if take else None)
    skipped = {**{k: 0 for k in SKIP_KEYS}, **training.skipped}
    dropped, read_notes = measured.read_dropped(
        model, path, options, skipped, training.skip_examples,
        boxes_kept=(static if static is not None else resized).num_boxes,
        images_kept=training.num_images, augmentation=summary)
    return FitOutcome(config=new_cfg, fit=result, text=text,
                      original_text=loaded.text if loaded else None, diff=diff,
                      patch_warning=warning, boxes=resized, loaded=loaded,
                      num_images=training.num_images, skipped=skipped,
                      skip_examples=training.skip_examples, forced=forced,
                      new_findings=findings, augmentation=summary, static_boxes=static,
                      data_dropped=dropped, read_notes=read_notes, model=model,
                      config_path=_config_name(config, path))


def _fit_options(keywords: dict[str, Any]) -> FitOptions:
    """The fit's options, validated once (a bad guard spec or objective name is a
    UsageError before any box is read)."""
    from tfod_anchors.fitting.options import FitOptions

    return FitOptions.build(**keywords)


def _patched_text(loaded: LoadedConfig | None, model: ModelSpec, generator: Any
                  ) -> tuple[str | None, str, str | None]:
    """``(text, diff, warning)`` of the file with ``generator`` patched in (the file's
    own text and no diff when ``generator`` is None; all None/"" without a file)."""
    from tfod_anchors.config.patch import unified_diff

    if loaded is None:
        return None, "", None
    if generator is None:
        return loaded.text, "", None
    patch = model.text_patch(loaded.text, generator, loaded.path)
    return patch.text, unified_diff(loaded.text, patch.text, loaded.path), patch.warning


def write_fitted(outcome: FitOutcome, *, output: str | None = None, in_place: bool = False,
                 backup: bool = True) -> str:
    """Write a :func:`fit` result: to ``output`` (atomic), or over the original file
    (atomic, refused if it changed since it was read; the previous text kept in
    ``NAME.bak``, or ``NAME.bak.1``, ``.2`` ... beside an earlier backup, unless
    ``backup=False``). An ``output`` that is the config itself (same path, or a path
    resolving to it) is written as ``in_place``. Returns the written path;
    :func:`write_fitted_details` also gives the backup and notes."""
    return write_fitted_details(outcome, output=output, in_place=in_place, backup=backup).path


def write_fitted_details(outcome: FitOutcome, *, output: str | None = None,
                         in_place: bool = False, backup: bool = True) -> Written:
    """:func:`write_fitted`, returning the :class:`~tfod_anchors.config.files.Written`
    record (path, backup path, notes such as removed stale temporary files)."""
    if outcome.text is None:
        from google.protobuf import text_format

        text = text_format.MessageToString(outcome.config)
    else:
        text = outcome.text
    if in_place == bool(output):
        raise UsageError("write_fitted needs exactly one of output=PATH or in_place=True")
    return write_patched(text, outcome.config, outcome.loaded, output=output,
                         in_place=in_place, backup=backup)


def write_patched(text: str, config: Any, loaded: LoadedConfig | None, *,
                  output: str | None = None, in_place: bool = False,
                  backup: bool = True) -> Written:
    """Write a patched config ``text`` (parsed: ``config``) read from ``loaded``, the
    way :func:`write_fitted` does: atomically to ``output`` (a note when relative paths
    stay behind), or over ``loaded`` (change check, backup)."""
    if output and loaded is not None and same_file(output, loaded.path):
        in_place = True
    if in_place:
        if loaded is None:
            raise UsageError("in_place needs a config that was read from a file")
        return write_config(text, loaded.path, backup=backup,
                            expected_fingerprint=loaded.fingerprint)
    written = write_new(text, str(output))
    if loaded is None:
        return written
    source = loaded.path
    behind = pipeline.paths_left_behind(config, source, str(output))
    if behind:
        written = replace(written, notes=(*written.notes, (
            f"{output} keeps the config's relative paths ({'; '.join(behind)}), found only "
            f"beside {source}: TFOD resolves them from its working directory, and from the "
            "new folder they are not found; make them absolute or relative to where "
            "training runs")))
    return written


def anchor_override(outcome: FitOutcome, *, output: str | None = None) -> dict[str, Any]:
    """The written anchors of a Model Garden fit without a config file: the
    ``--params_override`` string and, with ``output``, an override YAML for ``train.py
    --config_file`` (written atomically). Returns ``{"params_override", "file"}``."""
    from tfod_anchors.frameworks.modelgarden.yaml_patch import params_override

    fit = outcome.fit
    change = fit.best_generator if outcome.forced else fit.generator
    name = getattr(outcome.model, "name", None)
    written = override_file(change, output, name) if output else None
    return {"params_override": params_override(change), "file": written}


def override_file(change: dict[str, Any], output: str, experiment: str | None = None) -> str:
    """Write a Model Garden anchors value (a change) as an override YAML for ``train.py
    --config_file`` to ``output`` (atomically); returns the path."""
    from tfod_anchors.frameworks.modelgarden.yaml_patch import write_override

    return write_override(output, change, experiment).path


def check_writable(config: str, *, output: str | None = None,
                   in_place: bool = False) -> list[str]:
    """Refuse (WriteError) before any work what writing the fit would refuse later:
    a read-only config, a folder where no file can be created (read-only mount), an
    owner that could not be kept. Returns notes for the user (hard links; an
    ``output`` that is the config itself, which is then written as ``in_place``)."""
    if output and same_file(output, str(config)):
        return [f"--output {output} is the config itself: it is rewritten as with "
                "--in-place (change check, backup kept)"] + ensure_replaceable(str(config))
    if in_place:
        return ensure_replaceable(str(config))
    if output:
        return ensure_writable(output)
    return []


def _config_data_missing(model: ModelSpec, config_path: str | None) -> str | None:
    """Why the config's own training input cannot be read here, or None if it can."""
    import glob
    import os

    try:
        paths = pipeline.config_sources(model, config_path)
    except UsageError as err:
        return err.message
    for path in paths:
        if "://" not in path and not path.startswith("tfds:") and not glob.glob(path) \
                and not os.path.exists(path):
            return f"train input {path!r} does not exist here; pass --input SRC"
    return None


def check(config: PipelineLike, inputs: str | Sequence[str] | None = None, *,
          boxes: BoxSet | None = None, sources: SourceOptions | None = None,
          min_recall: float | None = None, strict: bool = False,
          augment: int | bool | None = None, seed: int = 0,
          **source_options: Any) -> CheckOutcome:
    """Config rules, plus coverage when there are boxes: ``inputs``/``boxes``, or the
    config's own training input when it exists here (else an ``info`` finding).

    With boxes, coverage findings come by default (:func:`~tfod_anchors.rules.coverage_findings`:
    ``low_recall``, ``band_recall_collapse``); ``min_recall`` sets the error bar of
    ``low_recall``. ``ok`` is False on any error-level finding, and with ``strict`` on
    any warning too. :func:`advise` then says what would fix failing coverage (and
    corrects where the coverage findings point). Coverage is measured on the augmented
    distribution when the config has a step that changes boxes (``augment``/``seed`` as
    in :func:`coverage`; static when the steps are invalid, which is an
    ``invalid_augmentation`` error).

    Raises:
        UsageError: ``min_recall`` without any readable boxes.

    Examples (the shipped raccoon demo)::

        >>> import tfod_anchors
        >>> raccoon = "configs/ssd_mobilenet_v2_300x300_raccoon.config"
        >>> outcome = tfod_anchors.check(raccoon, augment=False)
        >>> outcome.ok, outcome.coverage["num_boxes"], outcome.coverage["recall_matched"]
        (True, 217, 1.0)
        >>> outcome.to_json()["exit_code"]   # what ``check --json`` prints
        0
    """
    from tfod_anchors.coverage.metrics import ordered_metrics
    from tfod_anchors.rules import WARNING, coverage_findings, finding
    from tfod_anchors.whatif.gate import AdviceContext

    model, loaded = _config(config)
    path = loaded.path if loaded else None
    options = _source_options(inputs, sources, source_options)
    augmentation = pipeline.AugmentOptions.from_value(augment, seed)
    findings = model.config_findings()
    if any(f.code == "invalid_augmentation" for f in findings):
        augmentation = pipeline.AugmentOptions(pipeline.OFF, None, augmentation.seed)
    tfod = model.framework == "tfod"  # the label map, num_classes, the advice: TFOD's
    labels = measured.label_map_info(model, path, options)
    findings += measured.label_findings(model, labels) if tfod else []
    cov = summary = dropped = by_class = None
    context = None
    if model.anchors is not None:
        why = None if options.inputs or boxes is not None else _config_data_missing(model, path)
        if why is not None and min_recall is not None:
            raise UsageError(f"--min-recall needs boxes: {why}")
        if why is not None:
            findings.append(finding("coverage_skipped", f"coverage not measured: {why}"))
        else:
            if boxes is None:
                boxes = pipeline.read_config_boxes(
                    model, path, options,
                    truncate=not pipeline.wants_augmentation(model, augmentation))
            result = _coverage_unless_broken(model, path, options, augmentation, boxes,
                                             findings)
            if result is not None:
                training, report = result
                summary = pipeline.augmentation_summary(training.augmentation)
                cov = {**ordered_metrics(report.metrics),
                       "distribution": "static" if summary is None else "augmented",
                       "num_images": training.num_images, "skipped": training.skipped}
                rule = model.rule_metrics(training.resized)
                if rule:
                    cov["rule"] = rule
                findings += coverage_findings(cov, min_recall)
                context = AdviceContext(model.config, boxes, augmentation, seed,
                                        cov, min_recall, strict) if tfod else None
                dropped, by_class = _check_measured(model, path, options, labels, training,
                                                    report, cov, findings)
    as_dicts = [f.to_dict() for f in findings]
    failed = has_errors(findings) or (strict and any(f.severity == WARNING for f in findings))
    return CheckOutcome(as_dicts, cov, not failed, summary, dropped, by_class,
                        config_path=_config_name(config, path), strict=strict,
                        context=context, model=_check_names(model))


def advise(outcome: CheckOutcome, *, what_if: Sequence[str] = (),
           advice: bool = True) -> CheckOutcome:
    """What would fix a :func:`check`'s failing coverage, and any ``what_if`` changes.

    When coverage fails (and ``advice``), the config's anchors are fitted in memory as
    ``fit`` would; the coverage findings then point to ``fit`` only when that fit gains
    at least the minimum gain and clears them, and otherwise to ``advice``: larger
    inputs, finer strides or lower pyramid levels where the extractor supports them, FPN
    levels for Faster R-CNN, each with predicted coverage and cost
    (:mod:`tfod_anchors.whatif`). ``what_if``: ``FIELD=VALUE`` config changes (field
    paths as in the config), evaluated together the same way; nothing is written.

    Raises:
        UsageError: a ``what_if`` that names no field or gives a bad value.
    """
    from tfod_anchors.whatif.gate import advise_outcome

    return advise_outcome(outcome, list(what_if), advice)


def _check_measured(model: ModelSpec, path: str | None, options: SourceOptions,
                    labels: measured.LabelMapInfo, training: pipeline.TrainingBoxes,
                    report: Any, cov: dict[str, Any], findings: list[Any]
                    ) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """What ``check`` adds once coverage is measured: ``data_dropped``, the placeholder
    label map note, per-class coverage and ``class_low_recall`` (into ``findings``)."""
    from tfod_anchors.rules.classes import class_low_recall_findings
    from tfod_anchors.rules.dropped import (
        class_filter_off_findings,
        data_dropped_findings,
        parser_dropped_findings,
    )

    dropped = measured.training_dropped(training, model, path, options, labels)
    findings += data_dropped_findings(dropped) + parser_dropped_findings(dropped)
    findings += class_filter_off_findings(labels.placeholder, given=False)
    t = float(cov["matched_threshold"])
    by_class = measured.per_class(report, training.resized, t, labels,
                                  measured.input_specs(model, path, options))
    findings += class_low_recall_findings(by_class, cov.get("recall_matched"), t)
    return dropped, by_class


def _coverage_unless_broken(model: ModelSpec, path: str | None, options: SourceOptions,
                            augmentation: pipeline.AugmentOptions, boxes: BoxSet,
                            findings: list[Any]
                            ) -> tuple[pipeline.TrainingBoxes, Any] | None:
    """The boxes measured (augmented or static, resized) and their coverage report, or
    None (plus a ``coverage_skipped`` finding) when the rules found anchor values no
    geometry can be built from, or the config's errors stop the augmentation, the resizer
    or the anchor layout: the findings say why, and ``check`` exits 1."""
    from tfod_anchors.rules import UNMEASURABLE, finding

    blocking = [f.code for f in findings if f.code in UNMEASURABLE]
    reason = f"the anchors cannot be built ({', '.join(blocking)})" if blocking else None
    if reason is None:
        try:
            training = pipeline.training_boxes(model, path, options, augmentation, boxes=boxes)
            return training, pipeline.measure_coverage(training.resized, model)
        except (ConfigError, UsageError) as err:  # e.g. a resizer or stride TFOD rejects
            if not has_errors(findings):
                raise
            reason = err.message
    findings.append(finding("coverage_skipped", f"coverage not measured: {reason}; fix the "
                                                "error findings first"))
    return None


def anchors(config: PipelineLike, image_size: tuple[int, int]) -> dict[str, Any]:
    """The ``anchors`` command's description for one original image size ``(h, w)``.

    Examples (SSD MobileNet v2 at 300x300: 19², 10², 5², 3², 2², 1² cells, three anchors
    per cell on the lowest layer and six on the others)::

        >>> import tfod_anchors
        >>> raccoon = "configs/ssd_mobilenet_v2_300x300_raccoon.config"
        >>> tfod_anchors.anchors(raccoon, (480, 640))["num_anchors"]
        1917
    """
    from tfod_anchors.anchors.describe import describe_anchors

    model, loaded = _config(config)
    pipeline.require_anchors(model, loaded.path if loaded else None, "anchors")
    return describe_anchors(model, image_size)
