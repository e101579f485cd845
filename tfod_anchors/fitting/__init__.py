"""Direct fitting of a TFOD anchor generator's own parameters to a dataset's boxes.

Public entry points: :func:`fit_generator` and :func:`apply_fit` (see
:mod:`tfod_anchors.fitting.fit`); objectives in :mod:`tfod_anchors.fitting.objective`.
"""

from tfod_anchors.fitting.fit import FitResult, apply_fit, fit_generator, generator_diff
from tfod_anchors.fitting.objective import OBJECTIVES

__all__ = ["OBJECTIVES", "FitResult", "apply_fit", "fit_generator", "generator_diff"]
