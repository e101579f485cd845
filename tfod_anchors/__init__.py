"""tfod-anchors: fit and check TFOD anchor generators against a dataset's boxes.

The Python API is :mod:`tfod_anchors.api` (also re-exported here):
``fit``, ``check``, ``coverage``, ``resized_boxes``, ``anchors``, ``write_fitted``.

Two API names are also subpackage names (:mod:`tfod_anchors.coverage`,
:mod:`tfod_anchors.anchors`). Python binds a subpackage onto its parent the first time
it is imported, which would replace the function of the same name; both subpackages
are therefore imported here first, so that later imports of their modules find them
loaded and leave the package's names alone.
"""

import tfod_anchors.anchors  # noqa: F401  (loaded before the API names; see above)
import tfod_anchors.coverage  # noqa: F401
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
