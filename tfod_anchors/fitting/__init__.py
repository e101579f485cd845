"""Direct fitting of a TFOD anchor generator's own parameters to a dataset's boxes.

Public entry points: :func:`fit_generator` (:mod:`tfod_anchors.fitting.fit`, the fit in
named steps; its options a :class:`FitOptions`, the guard in :mod:`.guard`) and
:func:`apply_fit` (:mod:`tfod_anchors.fitting.result`); objectives, the guard and the
minimum gain in :mod:`tfod_anchors.fitting.objective`.
"""

from tfod_anchors.fitting.fit import fit_generator
from tfod_anchors.fitting.guard import Guard
from tfod_anchors.fitting.objective import OBJECTIVES
from tfod_anchors.fitting.options import FitOptions
from tfod_anchors.fitting.result import FitResult, apply_fit, generator_diff, with_generator

__all__ = ["OBJECTIVES", "FitOptions", "FitResult", "Guard", "apply_fit", "fit_generator",
           "generator_diff", "with_generator"]
