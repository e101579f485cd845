"""What the command modules share: the common flag groups, the output streams, tables, JSON.

Every module in :mod:`tfod_anchors.commands` has ``HELP`` (one line for ``--help``),
``add_arguments(parser)`` (its own flags) and ``run(args) -> exit code``;
:mod:`tfod_anchors.cli` only registers them.

Streams (git/ruff practice: stdout is the answer, stderr is the commentary):

* :func:`out` - results: tables, listings, the dry-run diff, findings. stdout;
  nothing in ``--json`` mode, where the one document of :func:`emit_json` is the answer.
* :func:`say` - commentary: progress and notes such as ``wrote FILE``. stderr;
  silenced by ``--quiet`` and by ``--json``.
* :func:`warn` - warnings, ``warning: ...`` on stderr in every mode (``--quiet`` and
  ``--json`` included). Errors are printed by :mod:`tfod_anchors.cli`, the same way.
* :func:`emit_json` - the one JSON document on stdout. While a ``--json`` command runs,
  :func:`json_streams` points ``sys.stdout`` at stderr, so a stray ``print`` from a
  library cannot break the document.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator
from typing import Any, TextIO

from tfod_anchors import pipeline
from tfod_anchors.config.files import LoadedConfig, load_config
from tfod_anchors.errors import UsageError
from tfod_anchors.outcome import FLOAT_DIGITS, jsonable  # noqa: F401  (the commands' import)
from tfod_anchors.pipeline import SourceOptions


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """``--json``, ``--debug`` and ``--quiet``, which every command takes."""
    parser.add_argument("--json", action="store_true",
                        help="print exactly one JSON document on stdout, errors included "
                             "(warnings and errors also on stderr, no progress)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument("--quiet", "-q", action="store_true",
                        help="no progress or notes on stderr (results, warnings and errors "
                             "still print)")


def add_source_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``box sources`` flags; :func:`source_options` turns them into
    :class:`~tfod_anchors.pipeline.SourceOptions`."""
    group = parser.add_argument_group("box sources")
    group.add_argument("--input", "-i", dest="inputs", action="append", default=[],
                       metavar="SRC",
                       help="TFRecord path/glob (gs:// allowed), COCO .json, VOC .xml directory or "
                            ".csv; repeatable. Default: the config's train_input_reader paths "
                            "(needed when the command has no config)")
    group.add_argument("--compression", choices=["auto", "none", "gzip", "zlib"], default="auto",
                       help="TFRecord compression (default: the config's, else detected)")
    group.add_argument("--label-map", metavar="PBTXT",
                       help="label map; boxes whose class text it does not know are dropped, "
                            "as in TFOD (default: the config's label_map_path)")
    group.add_argument("--max-boxes", type=int, metavar="N",
                       help="keep at most N boxes per image (default: the config's "
                            "max_number_of_boxes)")
    group.add_argument("--drop-difficult", action="store_true",
                       help="drop boxes flagged difficult (TFOD trains on them by default)")
    group.add_argument("--skip-bad", action="store_true",
                       help="skip and count bad records instead of stopping at the first one")
    group.add_argument("--verify-sizes", action="store_true",
                       help="check image/height and image/width against each encoded image header")
    group.add_argument("--reader", choices=["auto", "tf", "native"], default="auto",
                       help="TFRecord reader: tf.data, or native (no TensorFlow; local files); "
                            "default: chosen by input size and location")


def positive_int(text: str) -> int:
    """An integer >= 1 (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def add_augment_arguments(parser: argparse.ArgumentParser, *, default_on: bool,
                          seed: bool = True) -> None:
    """The ``augmentation`` flags; :func:`augment_options` turns them into
    :class:`~tfod_anchors.pipeline.AugmentOptions`.

    ``default_on``: the command measures the augmented distribution unless
    ``--no-augment`` (check, fit); otherwise only with ``--augment N`` (stats).
    ``seed``: also accept ``--seed`` for ``--augment-seed`` (stats, check: their only
    random choice is the draws; fit's ``--seed`` is the search's).
    """
    group = parser.add_argument_group("augmentation (the config's data_augmentation_options)")
    flags = group.add_mutually_exclusive_group()
    if default_on:
        flags.add_argument("--augment", type=positive_int, metavar="N",
                           help="augmented draws per image (default: "
                                f"{pipeline.DEFAULT_DRAWS}, fewer above "
                                f"{pipeline.DRAW_BOX_BUDGET:,} boxes drawn); used when the "
                                "config has a step that changes boxes")
        flags.add_argument("--no-augment", action="store_true",
                           help="measure the static boxes instead of the augmented ones")
    else:
        flags.add_argument("--augment", type=positive_int, metavar="N",
                           help="draw N augmented samples per image through the config's "
                                "data_augmentation_options (needs --config)")
    names = ("--augment-seed", "--seed") if seed else ("--augment-seed",)
    group.add_argument(*names, dest="augment_seed", type=int, default=0, metavar="S",
                       help="seed of the augmentation draws (default 0)")


def augment_options(args: argparse.Namespace, *, default_on: bool) -> pipeline.AugmentOptions:
    """The ``augmentation`` flags as one :class:`~tfod_anchors.pipeline.AugmentOptions`."""
    seed = int(getattr(args, "augment_seed", 0) or 0)
    draws = getattr(args, "augment", None)
    if getattr(args, "no_augment", False):
        return pipeline.AugmentOptions(pipeline.OFF, None, seed)
    if default_on:
        return pipeline.AugmentOptions(pipeline.AUTO, draws, seed)
    if draws is None:
        return pipeline.AugmentOptions(pipeline.OFF, None, seed)
    return pipeline.AugmentOptions(pipeline.ON, draws, seed)


def augment_value(options: pipeline.AugmentOptions) -> int | bool | None:
    """The API's ``augment=`` for ``options`` (auto/off modes only)."""
    if options.mode == pipeline.OFF:
        return False
    return options.draws


def source_options(args: argparse.Namespace) -> SourceOptions:
    """The ``box sources`` flags as one :class:`~tfod_anchors.pipeline.SourceOptions`;
    the record-reading progress line is shown unless ``--quiet`` or ``--json``."""
    return SourceOptions(
        inputs=tuple(getattr(args, "inputs", ()) or ()),
        compression=getattr(args, "compression", "auto"),
        label_map=getattr(args, "label_map", None),
        max_boxes=getattr(args, "max_boxes", None),
        drop_difficult=bool(getattr(args, "drop_difficult", False)),
        skip_bad=bool(getattr(args, "skip_bad", False)),
        verify_sizes=bool(getattr(args, "verify_sizes", False)),
        reader=getattr(args, "reader", None) or "auto",
        progress=not getattr(args, "quiet", False) and not getattr(args, "json", False),
    )


class _JsonState:
    """The real stdout while a ``--json`` command runs, and whether the document went out."""

    stdout: TextIO | None = None
    emitted = False


@contextlib.contextmanager
def json_streams(enabled: bool) -> Iterator[None]:
    """While a ``--json`` command runs: ``sys.stdout`` points at stderr and only
    :func:`emit_json` writes to the real stdout. A no-op when not ``enabled``."""
    if not enabled:
        yield
        return
    _JsonState.stdout, _JsonState.emitted = sys.stdout, False
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        _JsonState.stdout = None


def json_emitted() -> bool:
    """True once :func:`emit_json` has written the document of this ``--json`` run."""
    return _JsonState.emitted


def emit_json(document: Any) -> None:
    """Print one JSON document on stdout, deterministically (numpy values made plain)."""
    stream = _JsonState.stdout or sys.stdout
    stream.write(json.dumps(jsonable(document), indent=2, allow_nan=False) + "\n")
    stream.flush()
    _JsonState.emitted = True


def out(args: Any, text: str = "") -> None:
    """A line of the result on stdout (nothing in ``--json`` mode)."""
    if not getattr(args, "json", False):
        print(text, file=sys.stdout)


def say(args: Any, text: str = "") -> None:
    """Commentary (progress, notes) on stderr, unless ``--quiet`` or ``--json``."""
    if not getattr(args, "quiet", False) and not getattr(args, "json", False):
        print(text, file=sys.stderr)


def warn(args: Any, text: str) -> None:
    """A warning on stderr, in every mode (``args`` kept for symmetry with :func:`say`)."""
    del args
    print(f"tfod-anchors: warning: {text}", file=sys.stderr)


def add_model_arguments(parser: argparse.ArgumentParser, *, help: str | None = None) -> None:
    """``CONFIG`` (a ``pipeline.config``, or a Model Garden YAML) and the Model Garden's
    ``--experiment NAME [--config-file Y.yaml]... [--params-override S]``."""
    parser.add_argument("config", metavar="CONFIG", nargs="?", default=None,
                        help=help or "pipeline.config (local or gs://), or a Model Garden "
                        "experiment YAML (a resolved params.yaml, or a partial one with "
                        "--experiment)")
    add_experiment_arguments(parser)


def add_experiment_arguments(parser: argparse.ArgumentParser) -> None:
    """The Model Garden's ``--experiment NAME [--config-file Y.yaml]... [--params-override
    S]`` (commands whose config is the ``--config`` option take these alone)."""
    group = parser.add_argument_group("TF Model Garden (the models extra)")
    group.add_argument("--experiment", metavar="NAME",
                       help="a registered experiment (retinanet_resnetfpn_coco, "
                            "maskrcnn_resnetfpn_coco, coco_yolov7tiny...), resolved as "
                            "official/vision/train.py does; CONFIG, when given, is its first "
                            "config file")
    group.add_argument("--config-file", metavar="Y.yaml", action="append", default=[],
                       dest="config_files", help="a YAML applied to the experiment, in order "
                                                 "(train.py --config_file); repeatable")
    group.add_argument("--params-override", metavar="S",
                       help="applied last (train.py --params_override: a.b=1,c=[x,y] or YAML)")


def model_ref(args: argparse.Namespace, *, required: bool = True) -> Any:
    """The model the command names: the CONFIG path, or an ``ExperimentRef`` with
    ``--experiment`` (None when neither and not ``required``).

    Raises:
        UsageError: neither given (when ``required``).
    """
    from tfod_anchors.frameworks.modelgarden.load import ExperimentRef

    experiment = getattr(args, "experiment", None)
    files = tuple(getattr(args, "config_files", None) or ())
    override = getattr(args, "params_override", None)
    if experiment or files or override:
        return ExperimentRef(experiment, files, override, args.config)
    if not args.config and required:
        raise UsageError("pass CONFIG (a pipeline.config or a Model Garden YAML) or "
                         "--experiment NAME")
    return args.config


def load_model(args: argparse.Namespace) -> tuple[Any, Any]:
    """``(spec, loaded or None)`` of the model the command names (:func:`model_ref`)."""
    from tfod_anchors.api import load_model as api_load

    return api_load(model_ref(args))


def model_line(names: dict[str, Any] | None) -> str:
    """``model: tfod faster_rcnn (grid_anchor_generator); matcher IoU >= 0.7, forced best
    (source)``: the framework, family and rule an output is about."""
    names = names or {}
    text = f"model: {names.get('framework')} {names.get('family') or '(none)'}"
    if names.get("kind"):
        text += f" ({names['kind']})"
    rule = names.get("matcher_rule")
    if rule:
        test = (f"IoU >= {rule['threshold']:g}" if rule["kind"] == "iou"
                else f"w/h ratio < {rule['threshold']:g}")
        forced = ", forced best" if rule["force_match"] else ""
        text += f"; matcher {test}{forced} ({rule['source']})"
    return text


def load(path: str) -> LoadedConfig:
    """Read and strictly parse a pipeline.config (ConfigError on any problem)."""
    return load_config(path)


def fmt(value: Any, digits: int = 3) -> str:
    """A metric for a text table (``-`` when missing)."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def table(rows: list[list[str]]) -> str:
    """Left-aligned first column, right-aligned others."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for r in rows:
        cells = [r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:])]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def degenerate_line(deg: dict[str, Any], what: str) -> str:
    """One line on the boxes with a side under 2 px (``coverage.metrics.degenerate_summary``)."""
    text = (f"boxes with a side under {deg['under_px']:g} px: {deg['count']} of the {what} "
            f"({deg['share']:.1%} of the recall denominator; they stay in it, as training uses "
            "them)")
    if deg.get("recall_matched") is not None:
        text += f"; {deg['recall_matched']:.1%} of them reach the matched threshold"
    return text


def skipped_lines(skipped: dict[str, int], examples: dict[str, str]) -> list[str]:
    """One line per skip reason with its count and first example."""
    out = []
    for key, count in skipped.items():
        if not count:
            continue
        example = examples.get(key)
        out.append(f"  {key}: {count}" + (f" (first: {example})" if example else ""))
    return out
