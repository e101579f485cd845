"""What would change coverage when the anchors cannot: other input sizes, strides and
levels, evaluated in memory (nothing is written).

:mod:`.fields` sets config fields by path (``--what-if FIELD=VALUE``); :mod:`.changes`
lists the changes worth trying for a config (a larger resizer, a finer stride or lower
first level where the extractor supports it, an FPN generator for Faster R-CNN);
:mod:`.evaluate` measures a changed config as ``fit`` would leave it (the config's
anchors at the new geometry, then a fit of them) and what it costs.
"""

from tfod_anchors.whatif.changes import Change, candidate_changes
from tfod_anchors.whatif.evaluate import advise, evaluate_change
from tfod_anchors.whatif.fields import apply_assignments, parse_assignment

__all__ = ["Change", "advise", "apply_assignments", "candidate_changes", "evaluate_change",
           "parse_assignment"]
