"""k-means centroids as a Model Garden experiment's anchor fields (``cluster --config``).

Centroids are float ``[K, 2]`` ``(width, height)`` pixels at the model input (the parser's
resized boxes, :func:`tfod_anchors.cluster.kmeans.resized_wh`). Each mapping returns an
anchors value in :mod:`.params`' vocabulary (dotted key -> value); the counts the head's
shape depends on are the experiment's own.

* RetinaNet / R-CNN (``task.model.anchor``). ``Anchor`` lays on level ``l`` the sides
  ``anchor_size · 2**l · 2**(s / num_scales)`` for ``s < num_scales``, each at every ratio
  ``r`` (width ``side·sqrt(r)``, height ``side/sqrt(r)``): TFOD's multiscale ladder with
  ``anchor_scale`` named ``anchor_size``. So the mapping is
  :func:`~tfod_anchors.cluster.centroids.multiscale_from_centroids`: ``anchor_size`` is the
  one scale whose ladder ``A·2**(l + s/num_scales)`` (every level, every octave step) is
  nearest the centroids' sizes ``sqrt(w·h)`` in weighted squared log2 distance (exact), and
  ``aspect_ratios`` are the centroids' ``w/h`` reduced to the experiment's count by exact
  1-D k-means in log space (every distinct one when there are fewer: fewer ratios, so
  fewer anchors per location, which ``check``'s rules then weigh against the checkpoint).
  ``num_scales`` is kept.

  What the mapping loses: a centroid keeps only the rung of the ladder nearest its size
  (sizes between rungs, and any spacing other than ``2**(1/num_scales)``, are gone), and
  every ratio is paired with every size on every level (a centroid's own ratio-size
  pairing is gone). ``cluster`` measures the loss as the boxes' mean shape IoU against the
  centroids and against the mapped shapes.
* YOLO (``task.model.anchor_boxes.boxes``): the centroids are the boxes, sorted by area and
  handed to the levels ``anchors_per_scale`` at a time, smallest level first (as the Model
  Garden's own ``AnchorKMeans`` orders them). ``K`` must be the experiment's box count.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tfod_anchors.cluster.centroids import multiscale_from_centroids
from tfod_anchors.cluster.kmeans import check_wh
from tfod_anchors.errors import UsageError
from tfod_anchors.frameworks.modelgarden.geometry import MultilevelAnchors, YoloAnchors
from tfod_anchors.frameworks.modelgarden.params import ANCHOR, BOXES

#: Significant digits of a YOLO box written from a centroid (pixels, as ``fit`` writes).
BOX_DIGITS = 4


def multilevel_from_centroids(anchors: MultilevelAnchors, centroids: Any,
                              weights: Any = None) -> dict[str, Any]:
    """``task.model.anchor`` values implied by ``centroids`` ``[K, 2]`` (w, h) px (see the
    module docstring); ``num_scales`` and the levels are the experiment's.

    Raises:
        UsageError: centroids that are not positive ``(w, h)`` pairs.
    """
    c = check_wh(centroids, "centroids")
    distinct = np.unique(np.round(np.log(c[:, 0] / c[:, 1]), 12)).size
    n_ratios = min(len(anchors.aspect_ratios), distinct)
    fields = multiscale_from_centroids(c, min_level=anchors.min_level,
                                       max_level=anchors.max_level,
                                       scales_per_octave=anchors.num_scales,
                                       n_ratios=n_ratios, weights=weights)
    return {ANCHOR + "anchor_size": fields["anchor_scale"],
            ANCHOR + "aspect_ratios": fields["aspect_ratios"],
            ANCHOR + "num_scales": int(anchors.num_scales)}


def yolo_from_centroids(anchors: YoloAnchors, centroids: Any) -> dict[str, Any]:
    """``task.model.anchor_boxes.boxes`` from ``centroids`` ``[K, 2]`` (w, h) px: sorted
    by area (ties by width), :data:`BOX_DIGITS` significant digits.

    Raises:
        UsageError: ``K`` is not the experiment's box count (levels x anchors_per_scale).
    """
    c = check_wh(centroids, "centroids")
    levels = anchors.max_level - anchors.min_level + 1
    want = levels * anchors.anchors_per_scale
    if c.shape[0] != want:
        raise UsageError(f"the experiment has {want} YOLO boxes ({levels} levels x "
                         f"anchors_per_scale {anchors.anchors_per_scale}): cluster with --k "
                         f"{want}")
    order = np.lexsort((c[:, 0], c[:, 0] * c[:, 1]))
    return {BOXES: [[float(f"{w:.{BOX_DIGITS}g}"), float(f"{h:.{BOX_DIGITS}g}")]
                    for w, h in c[order]]}
