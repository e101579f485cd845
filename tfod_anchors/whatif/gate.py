"""``check``'s coverage verdict with what would fix it: whether a fit of the config's
own anchors gains at least the minimum gain, and when it does not (or a band or the
whole set still fails after it), the advice list; plus ``--what-if`` changes."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from tfod_anchors.boxes import BoxSet
from tfod_anchors.errors import ConfigError, InputError, UsageError
from tfod_anchors.pipeline import AugmentOptions
from tfod_anchors.rules.coverage import (
    BAND_MIN_SHARE,
    BAND_RECALL_ERROR,
    LOW_RECALL_WARNING,
)
from tfod_anchors.whatif.changes import Change
from tfod_anchors.whatif.evaluate import advise, evaluate_change, measure

#: Coverage findings whose message says what to do.
COVERAGE_CODES = ("low_recall", "band_recall_collapse")
#: Every code :func:`~tfod_anchors.rules.coverage.coverage_findings` makes, in its order
#: (``degenerate_boxes`` is information, not a failing coverage).
FROM_COVERAGE = ("low_recall", "degenerate_boxes", "band_recall_collapse")


@dataclass(frozen=True)
class AdviceContext:
    """What ``check`` measured, kept for :func:`advise_outcome`: the config, the boxes as
    read, how they were drawn, and the coverage with its ``--min-recall``/``--strict``."""

    cfg: Any
    boxes: BoxSet
    augmentation: AugmentOptions
    seed: int
    coverage: dict[str, Any]
    min_recall: float | None
    strict: bool


@dataclass
class Verdict:
    """``fix``: the text the coverage findings end with; ``fit``: the config's own fit
    (``fit_improves``, ``as_is``, ``predicted``) or None; ``advice`` and ``what_if``:
    evaluated changes (:func:`~tfod_anchors.whatif.evaluate.evaluate_change`)."""

    fix: str | None = None
    fit: dict[str, Any] | None = None
    advice: list[dict[str, Any]] = field(default_factory=list)
    what_if: list[dict[str, Any]] = field(default_factory=list)


def still_failing(metrics: dict[str, Any]) -> bool:
    """Whether ``metrics`` (``_brief`` form) would still get a coverage finding."""
    recall = metrics.get("recall_matched")
    if recall is not None and recall < LOW_RECALL_WARNING:
        return True
    bands = metrics.get("by_size") or {}
    total = sum(e.get("count") or 0 for e in bands.values())
    return any(total and (e.get("count") or 0) / total >= BAND_MIN_SHARE
               and e.get("recall_matched") is not None
               and e["recall_matched"] < BAND_RECALL_ERROR for e in bands.values())


def _fix(fit: dict[str, Any]) -> str:
    before = fit["as_is"]["recall_matched"]
    after = fit["predicted"]["recall_matched"]
    if fit["fit_improves"] and not still_failing(fit["predicted"]):
        return (f"run `tfod-anchors fit` on this config (it predicts recall {before:.4f} -> "
                f"{after:.4f})")
    if fit["fit_improves"]:
        return (f"`tfod-anchors fit` helps (recall {before:.4f} -> {after:.4f}) but cannot fix "
                "it at this input size and stride: see the advice")
    return ("a fit of these anchors cannot gain the minimum gain at this input size and "
            "stride: see the advice (a larger input, a finer stride or pyramid levels)")


def coverage_verdict(cfg: Any, boxes: BoxSet, augmentation: AugmentOptions, seed: int,
                     failing: bool, what_if: list[str], advice: bool = True) -> Verdict:
    """Fit the config's anchors when coverage fails (``failing``) or changes are asked
    for (``what_if``), and evaluate the advice when the fit does not fix it."""
    if not (failing and advice) and not what_if:
        return Verdict()
    try:
        fit = measure(cfg, boxes, augmentation, seed)
    except (ConfigError, InputError, UsageError):  # e.g. a generator `fit` cannot fit
        if what_if:
            raise
        return Verdict()
    verdict = Verdict(fit={k: fit[k] for k in ("as_is", "predicted", "fit_improves")})
    if failing and advice:
        verdict.fix = _fix(fit)
        if not fit["fit_improves"] or still_failing(fit["predicted"]):
            verdict.advice = advise(cfg, boxes, augmentation, seed, fit)
    if what_if:
        change = Change("what-if " + "; ".join(what_if), "what_if", tuple(what_if))
        verdict.what_if = [evaluate_change(cfg, change, boxes, augmentation, seed, fit)]
    return verdict


def advise_outcome(outcome: Any, what_if: list[str], advice: bool) -> Any:
    """``outcome`` (a ``CheckOutcome``) with ``fit``, ``advice`` and ``what_if`` filled in
    and its coverage findings pointing where the fit says (:func:`coverage_verdict`)."""
    from tfod_anchors.config.query import as_pipeline
    from tfod_anchors.rules import WARNING
    from tfod_anchors.rules.coverage import coverage_findings
    from tfod_anchors.whatif.fields import apply_assignments

    ctx = outcome.context
    if ctx is None:
        if what_if:
            raise UsageError("--what-if needs boxes: coverage was not measured")
        return outcome
    apply_assignments(as_pipeline(ctx.cfg), what_if)  # bad paths fail before the work
    failing = any(f["code"] in COVERAGE_CODES for f in outcome.findings)
    verdict = coverage_verdict(ctx.cfg, ctx.boxes, ctx.augmentation, ctx.seed, failing,
                               what_if, advice)
    findings = list(outcome.findings)
    if verdict.fix is not None:
        pointed = iter(f.to_dict() for f in coverage_findings(ctx.coverage, ctx.min_recall,
                                                              verdict.fix))
        findings = [next(pointed) if f["code"] in FROM_COVERAGE else f for f in findings]
    failed = any(f["severity"] == "error" for f in findings) or (
        ctx.strict and any(f["severity"] == WARNING for f in findings))
    return replace(outcome, findings=findings, ok=not failed, fit=verdict.fit,
                   advice=verdict.advice, what_if=verdict.what_if)
