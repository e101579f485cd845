"""The TF Model Garden (``tf-models-official``): experiments read, anchors laid out, boxes
resized and matched exactly as its vision and YOLO code does, in numpy.

Modules, in data-flow order: :mod:`.experiment` (an experiment name, config files and an
override, or a resolved ``params.yaml``, to a plain nested dict, and its family),
:mod:`.resize` (the parsers' resize), :mod:`.geometry` (the anchors), :mod:`.matching` (each
family's positive-anchor rule and its metrics). Only :func:`.experiment.resolve_experiment`
imports the Model Garden; everything else works on the resolved dict.
"""

from tfod_anchors.frameworks.modelgarden.experiment import (
    FAMILIES,
    MISSING_EXTRA,
    detect_family,
    read_params_yaml,
    resolve_experiment,
)
from tfod_anchors.frameworks.modelgarden.geometry import (
    MultilevelAnchors,
    YoloAnchors,
    multilevel_anchors,
    yolo_anchors,
)
from tfod_anchors.frameworks.modelgarden.matching import MatchRule, matching_rule, yolo_match
from tfod_anchors.frameworks.modelgarden.resize import parser_resizer

__all__ = ["FAMILIES", "MISSING_EXTRA", "MatchRule", "MultilevelAnchors", "YoloAnchors",
           "detect_family", "matching_rule", "multilevel_anchors", "parser_resizer",
           "read_params_yaml", "resolve_experiment", "yolo_anchors", "yolo_match"]
