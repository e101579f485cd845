"""Reading a TF Model Garden experiment into a plain nested dict (a *resolved experiment*).

Two ways in, one result (what ``params.as_dict()`` gives, and what ``yaml.safe_load`` of a
resolved ``params.yaml`` gives):

* :func:`resolve_experiment`: ``--experiment NAME [--config-file Y.yaml]...
  [--params-override S]``, resolved by the Model Garden's own ``ExperimentParser`` stages in
  the order ``official/vision/train.py`` runs them (registry lookup, each config file in
  order, the runtime and data-service overrides, then ``--params_override``; every override
  strict), then ``validate()``. The vision and the YOLO project registries are both imported.
  Needs ``tf-models-official`` (the ``models`` extra); without it, one line naming the extra.
* :func:`read_params_yaml`: a fully resolved ``params.yaml`` (what ``train.py`` saves in
  ``model_dir``), read with PyYAML only (no Model Garden import). A partial YAML (an override
  file) is refused with a message asking for ``--experiment``.

:func:`detect_family` names the detector family from the dict alone.
"""

from __future__ import annotations

import os
from typing import Any

from tfod_anchors.errors import ConfigError, UsageError

#: The one line printed when the Model Garden is needed but not installed.
MISSING_EXTRA = ('the TF Model Garden is not installed; install the models extra: '
                 'pip install "tfod-anchors[models]" (alone: it brings its own tensorflow)')

#: Detector families (``detect_family``), as named in every output.
RETINANET = "retinanet"
FASTER_RCNN = "faster_rcnn"
MASK_RCNN = "mask_rcnn"
CASCADE_RCNN = "cascade_rcnn"
YOLO = "yolo"
YOLOV7 = "yolov7"
FAMILIES = (RETINANET, FASTER_RCNN, MASK_RCNN, CASCADE_RCNN, YOLO, YOLOV7)
RCNN_FAMILIES = (FASTER_RCNN, MASK_RCNN, CASCADE_RCNN)


class _Flags:
    """The flag values ``ExperimentParser`` reads (``train.py``'s absl flags, minus the rest)."""

    def __init__(self, experiment: str, config_file: list[str], params_override: str):
        self.experiment = experiment
        self.config_file = config_file
        self.params_override = params_override
        self.tpu = None
        self.tf_data_service = None

    def __contains__(self, name: str) -> bool:  # absl's FlagValues supports ``in``
        return hasattr(self, name)


def _model_garden():
    """``(train_utils, exp_factory)`` with the vision and YOLO experiments registered.

    Raises:
        UsageError: tf-models-official is not installed (or does not import).
    """
    try:
        import official.projects.yolo.common.registry_imports  # noqa: F401
        import official.vision.registry_imports  # noqa: F401
        from official.core import exp_factory, train_utils
    except ImportError as err:
        raise UsageError(f"{MISSING_EXTRA} ({err})") from None
    return train_utils, exp_factory


def registered_experiments() -> list[str]:
    """Every registered experiment name, sorted (imports the Model Garden)."""
    _, exp_factory = _model_garden()
    return sorted(exp_factory._REGISTERED_CONFIGS)  # the registry has no public listing


def _one_line(err: BaseException) -> str:
    text = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
    return " ".join(text.split())


def resolve_experiment(name: str, config_files: list[str] | tuple[str, ...] = (),
                       params_override: str | None = None) -> dict:
    """The experiment ``name`` resolved as ``train.py`` resolves it, as a nested dict.

    Args:
        name: a registered experiment (``retinanet_resnetfpn_coco``, ``coco_yolov7tiny``...).
        config_files: YAML files applied in order (``--config_file``), each strictly.
        params_override: ``--params_override`` (``a.b=1,c=[x,y]``, YAML or JSON), strict.
    Returns:
        ``params.as_dict()`` after ``validate()``.
    Raises:
        UsageError: the Model Garden is not installed, or ``name`` is not registered.
        ConfigError: a file that does not exist or does not apply (unknown key, wrong
            type), an override that does not apply, or a config ``validate()`` rejects;
            the message names the file (or ``--params-override``).
    """
    train_utils, exp_factory = _model_garden()
    if name not in exp_factory._REGISTERED_CONFIGS:
        raise UsageError(f"--experiment {name}: not a registered Model Garden experiment "
                         f"(registered: {', '.join(registered_experiments())})")
    stages = train_utils.ExperimentParser(_Flags(name, [], params_override or ""))
    params = stages.base_experiment()
    for path in config_files:
        if not os.path.isfile(path):
            raise ConfigError("no such file (--config-file)", path)
        one = train_utils.ExperimentParser(_Flags(name, [path], ""))
        try:
            params = one.parse_config_file(params)
        except (KeyError, ValueError, TypeError, AttributeError) as err:
            raise ConfigError(f"does not apply to experiment {name}: {_one_line(err)}",
                              path) from None
    params = stages.parse_runtime(params)
    params = stages.parse_data_service(params)
    try:
        params = stages.parse_params_override(params)
    except (KeyError, ValueError, TypeError, AttributeError) as err:
        raise ConfigError(f"--params-override does not apply to experiment {name}: "
                          f"{_one_line(err)}") from None
    try:
        params.validate()
    except (KeyError, ValueError, TypeError, AttributeError) as err:
        raise ConfigError(f"experiment {name}: the Model Garden rejects the resolved config "
                          f"(validate): {_one_line(err)}") from None
    return params.as_dict()


def _safe_loader():
    """PyYAML's safe loader, plus ``!!python/tuple`` read as a list (``yaml.dump`` of a
    ``params.as_dict()`` may write one)."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def tuple_as_list(loader, node):
        return loader.construct_sequence(node, deep=True)

    Loader.add_constructor("tag:yaml.org,2002:python/tuple", tuple_as_list)
    return Loader


def load_yaml(path: str) -> Any:
    """The YAML document of ``path`` (safe loading).

    Raises:
        ConfigError: unreadable file, or not YAML.
    """
    import yaml

    try:
        with open(path, encoding="utf-8") as f:
            return yaml.load(f, Loader=_safe_loader())  # noqa: S506 (a SafeLoader subclass)
    except OSError as err:
        raise ConfigError(f"cannot read: {err.strerror or err}", path) from None
    except yaml.YAMLError as err:
        raise ConfigError(f"not valid YAML: {_one_line(err)}", path) from None


#: Parser keys each family's adapter reads (a resolved experiment has them all).
_PARSER_KEYS = {
    "anchor": ("aug_scale_min", "aug_scale_max", "match_threshold", "unmatched_threshold"),
    "anchor_boxes": ("letter_box", "anchor_thresh", "best_match_only", "use_tie_breaker"),
}


def missing_for_resolved(doc: Any) -> list[str]:
    """The keys a resolved experiment has and ``doc`` lacks (dotted paths), among those
    the adapter reads: ``task.model`` (input size, classes, levels, the anchor block, the
    head), the parser's resize and matching keys; empty for a resolved experiment (also one
    cut to its ``task`` section)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("task"), dict):
        return ["task"]
    task = doc["task"]
    model = task.get("model")
    if not isinstance(model, dict):
        return ["task.model"]
    missing = [f"task.model.{k}" for k in ("input_size", "num_classes", "backbone")
               if k not in model]
    if "anchor" in model:
        block, need = "anchor", ("num_scales", "aspect_ratios", "anchor_size")
        missing += [f"task.model.{k}" for k in ("min_level", "max_level") if k not in model]
        if "head" not in model and "rpn_head" not in model:
            missing.append("task.model.head (or rpn_head)")
    elif "anchor_boxes" in model:
        block, need = "anchor_boxes", ("boxes", "anchors_per_scale", "level_limits")
        if "detection_generator" not in model:
            missing.append("task.model.detection_generator")
    else:
        return missing + ["task.model.anchor (or anchor_boxes)"]
    missing += [f"task.model.{block}.{k}" for k in need if k not in (model[block] or {})]
    train = task.get("train_data")
    parser = train.get("parser") if isinstance(train, dict) else None
    if not isinstance(parser, dict):
        return missing + ["task.train_data.parser"]
    return missing + [f"task.train_data.parser.{k}" for k in _PARSER_KEYS[block]
                      if k not in parser]


def read_params_yaml(path: str) -> dict:
    """A fully resolved experiment YAML (``model_dir/params.yaml``), without the Model Garden.

    Raises:
        ConfigError: unreadable or not YAML; or partial (an override file): the message
            says to name its base with ``--experiment NAME`` (the file then goes to
            ``--config-file``).
    """
    doc = load_yaml(path)
    missing = missing_for_resolved(doc)
    if missing:
        raise ConfigError(
            "a partial Model Garden YAML (no " + ", ".join(missing[:3])
            + (", ..." if len(missing) > 3 else "") + "): name its base experiment with "
            "--experiment NAME (the file is then applied to it as --config-file), or pass "
            "the resolved params.yaml train.py wrote in model_dir", path)
    return doc


def detect_family(exp: dict) -> str:
    """The detector family of a resolved experiment (one of :data:`FAMILIES`).

    RetinaNet has ``task.model.anchor`` and a ``head``; the R-CNNs have an ``rpn_head``
    (cascade when ``roi_sampler.cascade_iou_thresholds`` is set, mask when
    ``include_mask``); YOLO has ``anchor_boxes`` (``yolov7`` when the model has its own
    ``min_level``, as ``YoloV7`` does; v4/scaled YOLO keep the levels in the backbone).

    Raises:
        ConfigError: no anchor block of a known family (classification, segmentation...).
    """
    model = exp.get("task", {}).get("model")
    if not isinstance(model, dict):
        raise ConfigError("the experiment has no task.model: no anchors to read")
    if "anchor_boxes" in model:
        return YOLOV7 if "min_level" in model else YOLO
    if "anchor" in model and "rpn_head" in model:
        cascade = (model.get("roi_sampler") or {}).get("cascade_iou_thresholds")
        if cascade:
            return CASCADE_RCNN
        return MASK_RCNN if model.get("include_mask") else FASTER_RCNN
    if "anchor" in model:
        return RETINANET
    raise ConfigError("the experiment's model has no anchors (task.model.anchor or "
                      "anchor_boxes): only RetinaNet, Faster/Mask/Cascade R-CNN and YOLO "
                      "experiments are supported")


def with_change(exp: dict, change: dict) -> dict:
    """A deep copy of ``exp`` with each dotted key of ``change`` set (YOLO boxes given as
    ``[[w, h], ...]`` are stored as ``[{"box": [w, h]}, ...]``, as ``as_dict`` has them)."""
    import copy

    out = copy.deepcopy(exp)
    for key, value in change.items():
        *parents, leaf = key.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        if leaf == "boxes":
            value = [item if isinstance(item, dict) else {"box": list(item)} for item in value]
        node[leaf] = copy.deepcopy(value)
    return out
