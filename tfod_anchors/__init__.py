"""tfod-anchors: fit and check TFOD anchor generators against a dataset's boxes.

The Python API is :mod:`tfod_anchors.api` (also re-exported here):
``fit``, ``check``, ``coverage``, ``resized_boxes``, ``anchors``, ``write_fitted``.
"""

__version__ = "0.1.0"

from tfod_anchors import api  # noqa: E402
from tfod_anchors.api import (  # noqa: E402
    anchors,
    check,
    coverage,
    fit,
    resized_boxes,
    write_fitted,
)

__all__ = ["api", "anchors", "check", "coverage", "fit", "resized_boxes", "write_fitted"]
