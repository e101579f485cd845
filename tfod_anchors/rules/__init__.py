"""The ``check`` rules: findings on a config alone (:mod:`.config`) and on the coverage
measured with boxes (:mod:`.coverage`), reported as :class:`.findings.Finding`."""

from tfod_anchors.rules.config import (
    TOO_LARGE_FACTOR,
    anchor_value_findings,
    augmentation_findings,
    check_rules,
    config_findings,
)
from tfod_anchors.rules.coverage import (
    BAND_MIN_SHARE,
    BAND_RECALL_ERROR,
    LOW_RECALL_ERROR,
    LOW_RECALL_WARNING,
    coverage_findings,
)
from tfod_anchors.rules.findings import (
    ERROR,
    INFO,
    SEVERITY,
    UNMEASURABLE,
    WARNING,
    Finding,
    finding,
    has_errors,
)

__all__ = [
    "BAND_MIN_SHARE", "BAND_RECALL_ERROR", "ERROR", "INFO", "LOW_RECALL_ERROR",
    "LOW_RECALL_WARNING", "SEVERITY", "TOO_LARGE_FACTOR", "UNMEASURABLE", "WARNING", "Finding",
    "anchor_value_findings", "augmentation_findings", "check_rules", "config_findings",
    "coverage_findings", "finding", "has_errors",
]
