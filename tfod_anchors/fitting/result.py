"""What a fit returns, and how it is applied to a config.

:class:`FitResult` carries the new ``AnchorGenerator`` and the before/after
coverage; :func:`apply_fit` puts the generator into a copy of the pipeline
config; :func:`generator_diff` names the fields that changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tfod_anchors.config import query as config_query
from tfod_anchors.config.schema import is_repeated
from tfod_anchors.coverage.metrics import CoverageReport


@dataclass
class FitResult:
    """What :func:`fit_generator` found.

    Attributes:
        generator: the new ``AnchorGenerator`` message (same oneof as the config's);
            equal to the config's when nothing better was found.
        kind: the oneof name.
        changed: ``{field: new value}`` of the generator fields that differ
            (lists for repeated fields, dotted paths inside ``anchor_grid``).
        previous: ``{field: old value}`` for the same fields.
        before, after: coverage metrics on all boxes (``coverage.evaluate``).
        moved: ``{metric: after - before}`` for mean IoU and the recalls.
        improved: the generator changed, keeps the guard and gains at least
            ``min_gain`` on the objective (measured on all boxes).
        objective: objective name; ``guard``: ``{metric: floor}`` it respected
            (exact, all boxes).
        anchors_per_location: ``(before, after)`` per level.
        diagnostics: JSON-ready search details: ``num_boxes``, ``search_boxes``,
            ``coarse_boxes``, ``sampled``, ``error_bound_95`` (95 % half-widths of the
            search sample's metrics, when sampled), ``start_search_metrics``, scores
            ``[-violation, primary, mean_iou]`` per start (``pool``/``scan``,
            ``coarse``, ``refined``), ``verified`` (candidates scored on all boxes),
            ``columns_computed``, ``candidates_scored``, ``stage_seconds``
            (``{stage: [wall, cpu]}``) and ``seconds``.
        report_before, report_after: the per-box coverage behind ``before`` and
            ``after`` (``report_after`` is ``report_before`` when nothing improved).
        gain: objective gain of the best candidate measured on all boxes (0 if none);
            ``min_gain``: the gain needed to count as better, ``max(0.002, 10 / N)``.
        best_generator: the best candidate measured on all boxes even when it is not
            an improvement (what ``--force`` writes); the config's own generator when
            no candidate changed anything. ``best_after``: its metrics.
        guard_spec: the :class:`~tfod_anchors.fitting.objective.Guard` as a dict;
            ``bands``: the size bands it guarded.
        blocked: what the guard gave up, when an unguarded search reached a clearly
            better objective: ``{"message", "primary", "guarded_primary", "dropped":
            {metric: [before, after]}, "measured_on"}``; else None.
        could_do_better: an unguarded or other-objective point at least as good as the
            written anchors on every guarded metric and better on one
            (:mod:`.dominance`): ``{"flags", "metrics", "written", "message"}``; else None.
        findings: ``check`` findings (warnings, info) the best candidate's values add,
            as dicts, e.g. ``anchor_below_stride`` with ``--guard stride=off``.
        rejected: new ``check`` errors that ruled candidates out (dicts).
        reason: ``"better"``, or why not: ``"min_gain"`` (feasible but the gain is
            below ``min_gain``), ``"no_gain"``, ``"guard"`` (the best measured
            candidate breaks the guard), ``"static_guard"`` (it keeps the guard on the
            fitted augmented draws but breaks it on the static boxes), ``"rules"``
            (every candidate adds a check error), ``"no_candidate"`` (nothing changed
            the written values).
        static_before, static_after: when the fit was on augmented draws, the coverage
            metrics of the config and of the result on the static boxes (the guard
            holds there too); None otherwise. ``static_best_after``: the best
            candidate's (what ``--force`` writes). ``static_guard``: the floors there.
    """

    generator: Any
    kind: str
    changed: dict[str, Any]
    previous: dict[str, Any]
    before: dict
    after: dict
    moved: dict[str, float]
    improved: bool
    objective: str
    matched_threshold: float
    guard: dict[str, float]
    anchors_per_location: tuple[list[int], list[int]]
    diagnostics: dict = field(default_factory=dict)
    report_before: CoverageReport | None = None
    report_after: CoverageReport | None = None
    gain: float = 0.0
    min_gain: float = 0.0
    best_generator: Any = None
    best_after: dict | None = None
    guard_spec: dict = field(default_factory=dict)
    bands: tuple[str, ...] = ()
    blocked: dict | None = None
    could_do_better: dict | None = None
    findings: list[dict] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)
    reason: str = "no_candidate"
    static_before: dict | None = None
    static_after: dict | None = None
    static_best_after: dict | None = None
    static_guard: dict[str, float] = field(default_factory=dict)


def _plain(fd: Any, value: Any) -> Any:
    """Proto scalar as Python; float32 fields as their shortest decimal (0.35, not
    0.3499999940395355)."""
    if fd.type == fd.TYPE_FLOAT:
        return float(str(np.float32(value)))
    return value


def _field_values(msg: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for fd, value in msg.ListFields():
        name = prefix + fd.name
        if fd.message_type is not None:
            items = value if is_repeated(fd) else [value]
            for i, item in enumerate(items):
                out.update(_field_values(item, f"{name}[{i}]."))
        elif is_repeated(fd):
            out[name] = [_plain(fd, v) for v in value]
        else:
            out[name] = _plain(fd, value)
    return out


def generator_diff(old: Any, new: Any, kind: str) -> tuple[dict, dict]:
    """``(changed, previous)`` field values between two ``AnchorGenerator`` messages."""
    a, b = _field_values(getattr(old, kind)), _field_values(getattr(new, kind))
    keys = [k for k in dict.fromkeys(list(a) + list(b)) if a.get(k) != b.get(k)]
    return {k: b.get(k) for k in keys}, {k: a.get(k) for k in keys}


def apply_fit(cfg: Any, fit: FitResult) -> Any:
    """A new TFOD config (``TrainEvalPipelineConfig``): ``cfg`` (a TFOD config or its
    configs dict) with only its anchor generator replaced by the fit's."""
    return config_query.with_anchor_generator(cfg, fit.generator)


def with_generator(cfg: Any, generator: Any) -> Any:
    """A copy of the TFOD config ``cfg`` whose anchor generator is ``generator``
    (:func:`tfod_anchors.config.query.with_anchor_generator`)."""
    return config_query.with_anchor_generator(cfg, generator)


def copy_message(msg: Any) -> Any:
    """A copy of a protobuf message."""
    out = type(msg)()
    out.CopyFrom(msg)
    return out
