"""Beam pipeline options (the arguments after ``--``), checked before anything runs.

Beam parses its options with ``argparse``, which prints its whole usage and calls
``sys.exit(2)`` on a bad value; some values it accepts fail much later (a negative
``--direct_num_workers``, a Dataflow job without its project). :func:`check_options`
parses them once, up front, and turns every such problem into one
:class:`UsageError` line (exit 2, one JSON document with ``--json``).
"""

from __future__ import annotations

import contextlib
import io
from typing import Any

from ..errors import UsageError


def _parse(beam_args: list[str]) -> dict[str, Any]:
    """All options with their values; argparse's complaint as one line."""
    from apache_beam.options.pipeline_options import PipelineOptions

    said = io.StringIO()
    try:
        with contextlib.redirect_stderr(said):
            return PipelineOptions(list(beam_args)).get_all_options(
                retain_unknown_options=False)
    except SystemExit:
        lines = [line for line in said.getvalue().strip().splitlines() if line.strip()]
        reason = lines[-1].split("error:", 1)[-1].strip() if lines else "cannot be parsed"
        raise UsageError(f"extract: Beam option after --: {reason}") from None


def _check_values(options: dict[str, Any]) -> None:
    workers = options.get("direct_num_workers")
    if workers is not None and int(workers) < 0:
        raise UsageError(f"extract: Beam option after --: --direct_num_workers must be >= 0 "
                         f"(0: one per core), got {workers}")


def _check_runner(runner: str, beam_args: list[str]) -> None:
    """Runner-specific requirements (Dataflow: project, region, GCS locations)."""
    if runner != "DataflowRunner":
        return
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.options.pipeline_options_validator import PipelineOptionsValidator

    try:
        from apache_beam.runners.dataflow.dataflow_runner import DataflowRunner
    except ImportError:
        raise UsageError("extract: --runner DataflowRunner needs apache-beam[gcp]: pip "
                         "install 'apache-beam[gcp]'") from None
    import logging

    beam_log = logging.getLogger("apache_beam")
    level = beam_log.level
    beam_log.setLevel(logging.CRITICAL)
    try:
        options = PipelineOptions(list(beam_args), runner=runner)
        problems = PipelineOptionsValidator(options, DataflowRunner()).validate()
    finally:
        beam_log.setLevel(level)
    if problems:
        listed = "; ".join(p.strip().rstrip(".") for p in problems)
        raise UsageError(f"extract: --runner DataflowRunner: {listed}; pass them "
                         "after -- (e.g. -- --project P --region R --temp_location gs://B/tmp)")


def check_options(runner: str, beam_args: list[str]) -> None:
    """Refuse bad Beam options before anything is read or written.

    Raises:
        UsageError: one line naming the option and what is wrong.
    """
    options = _parse(beam_args)
    _check_values(options)
    _check_runner(runner, beam_args)
