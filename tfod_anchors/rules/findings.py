"""Findings: what every ``check`` rule reports (a stable code, a severity, a message).

Severities are ``error`` (TFOD fails, or trains with anchors that do not match the
network), ``warning`` (legal but almost surely unintended) and ``info``. Every code and
its severity is listed once, in :data:`SEVERITY`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

ERROR, WARNING, INFO = "error", "warning", "info"

SEVERITY = {
    "no_anchor_generator": ERROR,
    "anchor_free_model": INFO,
    "invalid_anchor_generator": ERROR,
    "invalid_image_resizer": ERROR,
    "generator_meta_mismatch": ERROR,
    "frcnn_normalized_anchors": ERROR,
    "ssd_unnormalized_anchors": ERROR,
    "zero_anchors": ERROR,
    "invalid_aspect_ratio": ERROR,
    "invalid_anchor_scale": ERROR,
    "duplicate_aspect_ratios": WARNING,
    "duplicate_scales": WARNING,
    "weight_shared_anchors_differ": ERROR,
    "unknown_extractor": WARNING,
    "extractor_wrong_meta_architecture": ERROR,
    "stride_not_allowed": ERROR,
    "stride_ignored": WARNING,
    "grid_stride_mismatch": ERROR,
    "feature_map_count_mismatch": ERROR,
    "num_layers_mismatch": ERROR,
    "multiscale_levels_mismatch": ERROR,
    "pyramid_levels_not_accepted": ERROR,
    "pyramid_not_supported": ERROR,
    "pyramid_input_not_divisible": ERROR,
    "explicit_padding_not_accepted": ERROR,
    "input_below_extractor_minimum": ERROR,
    "input_size_not_accepted": ERROR,
    "anchor_too_large": WARNING,
    "anchor_below_stride": WARNING,
    "max_boxes_ignored": WARNING,
    "unknown_augmentation": WARNING,
    "invalid_augmentation": ERROR,
    "coverage_skipped": INFO,
    "mg_augmentation_static": INFO,
    # coverage findings (:func:`coverage_findings`); low_recall escalates to an error
    "low_recall": WARNING,
    "band_recall_collapse": ERROR,
    "degenerate_boxes": INFO,
    # what was not measured, and classes (rules/dropped.py, rules/classes.py)
    "data_dropped": WARNING,
    "parser_dropped": INFO,
    "class_filter_off": INFO,
    "num_classes_too_small": ERROR,
    "num_classes_too_large": WARNING,
    "class_low_recall": WARNING,
}

#: Findings that leave no anchor geometry to measure coverage with (``check`` then skips
#: coverage with a ``coverage_skipped`` finding instead of computing NaN metrics).
UNMEASURABLE = ("invalid_aspect_ratio", "invalid_anchor_scale", "zero_anchors")

@dataclass(frozen=True)
class Finding:
    """One rule result: a stable ``code``, ``severity`` and a message saying what to change."""

    code: str
    severity: str
    message: str

    def to_dict(self) -> dict:
        return asdict(self)


def finding(code: str, message: str) -> Finding:
    return Finding(code, SEVERITY[code], message)


def has_errors(findings: list[Finding]) -> bool:
    """True when any finding is an error (``check`` then exits 1)."""
    return any(f.severity == ERROR for f in findings)
