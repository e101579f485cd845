"""Apache Beam integration: read TFOD boxes and box statistics inside any Beam job.

* :class:`ReadBoxes` - ``PTransform``: TFRecord paths/globs -> one dict per image,
  filtered as TFOD's input pipeline (and the local reader) would;
  :class:`ReadOptions` holds the reading options.
* :class:`BoxStatsFn` - mergeable ``CombineFn``: counts per class and per COCO size
  band, width/height histograms (original pixels).
* :func:`run_extraction` - the ``tfod-anchors extract --runner`` pipeline writing a
  box cache (:mod:`tfod_anchors.sources.cache`).

Apache Beam is imported only when one of these names is used, so this package
imports without it; install it with ``pip install "tfod-anchors[beam]"``.
"""

from __future__ import annotations

import importlib
from typing import Any

from ..errors import UsageError

#: The runners ``tfod-anchors extract --runner`` accepts.
RUNNERS = ("DirectRunner", "PrismRunner", "DataflowRunner", "FlinkRunner", "SparkRunner")

_NAMES = {
    "ReadBoxes": "read", "ReadOptions": "read", "ReadRows": "read", "BadInput": "read",
    "match_files": "read", "BoxStatsFn": "stats", "run_extraction": "extract",
    "unwrap_bad_input": "extract",
}

__all__ = sorted(_NAMES) + ["RUNNERS", "require_beam"]


def require_beam() -> None:
    """A one-line :class:`UsageError` saying how to install Apache Beam if it is missing."""
    try:
        import apache_beam  # noqa: F401
    except ImportError:
        raise UsageError("this needs Apache Beam: pip install 'tfod-anchors[beam]' "
                         "(Dataflow: also apache-beam[gcp])") from None


def __getattr__(name: str) -> Any:
    module = _NAMES.get(name)
    if module is None:
        raise AttributeError(f"module 'tfod_anchors.beam' has no attribute {name!r}")
    require_beam()
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
