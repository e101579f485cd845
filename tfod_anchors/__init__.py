"""tfod-anchors: fit and check TFOD anchor generators against a dataset's boxes.

The Python API is :mod:`tfod_anchors.api` (also re-exported here):
``fit``, ``check``, ``coverage``, ``resized_boxes``, ``anchors``, ``write_fitted``.
"""

from tfod_anchors import api
from tfod_anchors._version import __version__ as __version__
from tfod_anchors.api import (
    anchors,
    check,
    coverage,
    fit,
    resized_boxes,
    write_fitted,
)

__all__ = ["api", "anchors", "check", "coverage", "fit", "resized_boxes", "write_fitted"]
