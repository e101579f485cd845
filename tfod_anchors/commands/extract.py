"""``tfod-anchors extract``: TFRecords -> a box cache every command reads as ``--input``.

Without ``--runner`` the local ``tf.data`` reader writes the cache (no Beam needed);
with ``--runner`` an Apache Beam pipeline does (:mod:`tfod_anchors.beam`), and the
arguments after ``--`` go to Beam's ``PipelineOptions``.
"""

from __future__ import annotations

import argparse
from typing import Any

from tfod_anchors.beam import RUNNERS
from tfod_anchors.commands._common import (
    add_experiment_arguments,
    add_output_arguments,
    add_source_arguments,
    emit_json,
    load_model,
    model_ref,
    out,
    say,
    skipped_lines,
    source_options,
)
from tfod_anchors.errors import EXIT_OK, UsageError
from tfod_anchors.pipeline import ResolvedInputs, resolve_inputs

HELP = "extract the boxes of TFRecords into a box cache (locally or with Apache Beam)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``extract`` flags (box source flags and ``--json/--quiet/--debug`` included)."""
    parser.add_argument("--config", metavar="CONFIG",
                        help="take inputs, label map and max_number_of_boxes from this "
                             "config's train_input_reader (flags override); a Model Garden "
                             "YAML: its task.train_data.input_path")
    add_experiment_arguments(parser)
    parser.add_argument("--output", "-o", required=True, metavar="DIR",
                        help="the cache directory (local or gs://; created; must be empty or "
                             "hold a previous cache, which is replaced)")
    parser.add_argument("--runner", choices=RUNNERS, metavar="NAME",
                        help="run an Apache Beam pipeline on this runner (" + ", ".join(RUNNERS)
                             + "); default: the local reader, no Beam")
    parser.add_argument("--num-shards", type=int, metavar="N",
                        help="Parquet shards with --runner (default: one or more per worker "
                             "bundle, written without a shuffle)")
    parser.add_argument("beam_args", nargs="*", metavar="-- BEAM_OPTION",
                        help="after --: options for Beam's PipelineOptions (e.g. --project, "
                             "--region, --temp_location, --extra_package)")
    add_source_arguments(parser)
    add_output_arguments(parser)


def _settings(args: Any) -> ResolvedInputs:
    """Inputs, label map and max boxes: the flags, else the config's."""
    if not args.inputs and not model_ref(args, required=False):
        raise UsageError("extract: pass --input SRC (TFRecord paths/globs) or --config CONFIG")
    model = load_model(args)[0] if model_ref(args, required=False) else None
    return resolve_inputs(model, model.path if model else None, source_options(args))


def quiet_beam_logging() -> None:
    """Beam logs worker failures with tracebacks and import-time warnings; the
    command prints its own one-line error instead (``--debug`` keeps Beam's logs)."""
    import logging

    logging.getLogger().setLevel(logging.ERROR)
    logging.getLogger("apache_beam").setLevel(logging.CRITICAL)


def run(args: Any) -> int:
    if args.beam_args and not args.runner:
        raise UsageError(f"extract: Beam options ({args.beam_args[0]} ...) need --runner NAME")
    if args.num_shards is not None and args.num_shards < 1:
        raise UsageError("extract: --num-shards must be >= 1")
    if args.runner:
        from tfod_anchors.beam import require_beam

        if not args.debug:
            quiet_beam_logging()  # before Beam's import-time warnings
        require_beam()
        from tfod_anchors.beam.options import check_options

        check_options(args.runner, list(args.beam_args))
    inputs = _settings(args)
    specs, label_map, max_boxes = inputs.specs, inputs.label_map, inputs.max_boxes
    compression = None if args.compression == "auto" else args.compression
    if args.runner:
        from tfod_anchors.beam.extract import run_extraction

        beam_args = list(args.beam_args)
        if not args.debug and not any(a.startswith("--default_sdk_harness_log_level")
                                      for a in beam_args):
            # multi-processing workers log at INFO on our stderr otherwise
            beam_args.append("--default_sdk_harness_log_level=ERROR")
        from tfod_anchors.beam.read import ReadOptions

        say(args, f"extracting with Apache Beam ({args.runner}) ...")
        manifest = run_extraction(
            specs, args.output,
            ReadOptions(label_map_path=label_map, max_number_of_boxes=max_boxes,
                        drop_difficult=args.drop_difficult, skip_bad=args.skip_bad,
                        verify_sizes=args.verify_sizes, compression=compression),
            runner=args.runner, beam_args=beam_args,
            num_shards=args.num_shards).manifest
    else:
        from tfod_anchors.sources.cache_write import ExtractOptions, extract_local

        manifest = extract_local(
            specs, args.output,
            ExtractOptions(label_map_path=label_map, max_number_of_boxes=max_boxes,
                           drop_difficult=args.drop_difficult, skip_bad=args.skip_bad,
                           verify_sizes=args.verify_sizes, compression=compression,
                           reader=args.reader),
            progress=None if not (args.quiet or args.json) else False)
    counts = manifest["counts"]
    if args.json:
        emit_json({"output": args.output, "extractor": manifest["extractor"],
                   "counts": counts, "skipped": manifest["skipped"],
                   "skip_examples": manifest["skip_examples"],
                   "shards": [s["path"] for s in manifest["shards"]],
                   "options": manifest["options"]})
        return EXIT_OK
    out(args, f"wrote box cache {args.output}: {counts['records']} records of "
              f"{counts['files']} files, {counts['images']} images and {counts['boxes']} boxes "
              f"after filtering, {len(manifest['shards'])} shard(s) ({manifest['extractor']})")
    lines = skipped_lines(manifest["skipped"], manifest["skip_examples"])
    if lines:
        out(args, "skipped or noted:")
        for line in lines:
            out(args, line)
    return EXIT_OK
