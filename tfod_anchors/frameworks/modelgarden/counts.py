"""Anchors per location for a Model Garden experiment (``fit --anchors-per-location N``,
``--num-scales``, ``--num-aspect-ratios``), and what a new count does to ``init_checkpoint``.

The box and class heads have one output group per anchor of a location, so their kernels'
shapes follow the count: RetinaNet / R-CNN ``num_scales x len(aspect_ratios)``
(``vision/modeling/heads``), YOLO ``anchors_per_scale`` boxes per level
(``projects/yolo/tasks/yolo.py`` and ``yolov7.py``: ``num_anchors *= anchors_per_scale``).
Whether the checkpoint still restores depends on ``task.init_checkpoint_modules``: ``all``
restores the whole model (``vision/tasks/retinanet.py`` ``initialize``, matched strictly),
so a changed head fails; ``backbone`` (and ``decoder``) leave the heads to their
initialisers, so the count is free to change.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from tfod_anchors.errors import UsageError
from tfod_anchors.frameworks.modelgarden.geometry import MultilevelAnchors, YoloAnchors
from tfod_anchors.rules.checkpoint import INFO, WARNING, CheckpointNote
from tfod_anchors.whatif.counts import nearest_divisor

#: The YOLO key a new count per level writes (beside the boxes).
ANCHORS_PER_SCALE = "task.model.anchor_boxes.anchors_per_scale"


def counts_for(anchors: MultilevelAnchors | YoloAnchors, n: int) -> tuple[int, int | None]:
    """``(num_scales, num_aspect_ratios)`` giving ``n`` anchors per location: RetinaNet /
    R-CNN keep the number of ratios when ``n`` allows it, else the divisor of ``n`` nearest
    to it; YOLO ``(n, None)``, its ``num_scales`` being boxes per level.

    Raises:
        UsageError: ``n`` below 1.
    """
    if n < 1:
        raise UsageError(f"--anchors-per-location must be at least 1, got {n}")
    if isinstance(anchors, YoloAnchors):
        return n, None
    ratios = nearest_divisor(n, max(1, len(anchors.aspect_ratios)))
    return n // ratios, ratios


def with_per_level(anchors: YoloAnchors, per_level: int) -> YoloAnchors:
    """``anchors`` with ``per_level`` boxes on every level: the boxes in area order,
    resampled by linear interpolation of ``log w`` and ``log h`` along that order (the
    fit's start; the same boxes when the count is unchanged)."""
    if per_level < 1:
        raise UsageError(f"YOLO needs at least one box per level, got {per_level}")
    wh = np.asarray(anchors.boxes, dtype=np.float64).reshape(-1, 2)
    wh = wh[np.argsort(wh[:, 0] * wh[:, 1], kind="stable")]
    n = (anchors.max_level - anchors.min_level + 1) * per_level
    if n != len(wh):
        at = np.linspace(0.0, len(wh) - 1.0, n)
        grid = np.arange(len(wh))
        wh = np.exp(np.stack([np.interp(at, grid, np.log(wh[:, i])) for i in (0, 1)], axis=1))
    return YoloAnchors(anchors.min_level, anchors.max_level,
                       tuple((float(w), float(h)) for w, h in wh), per_level)


def _restores_heads(experiment: Mapping) -> str | None:
    """``init_checkpoint`` when ``init_checkpoint_modules: all`` restores the heads from it."""
    task = experiment["task"]
    path = task.get("init_checkpoint")
    return str(path) if path and task.get("init_checkpoint_modules") == "all" else None


def refuse_head_change(experiment: Mapping, was: int, now: int) -> None:
    """Refuse (UsageError) a count ``was`` -> ``now`` the checkpoint cannot take (the
    ``mg_checkpoint_head_shape`` error, before the work rather than after it)."""
    path = _restores_heads(experiment)
    if was != now and path is not None:
        raise UsageError(f"anchors per location {was} -> {now} changes the heads' shapes, and "
                         f"init_checkpoint_modules: all restores them from {path}; set "
                         "init_checkpoint_modules: backbone, or keep the count")


def checkpoint_note(experiment: Mapping, before: list[int], after: list[int]
                    ) -> CheckpointNote | None:
    """What a count ``before`` -> ``after`` (per level) means for ``init_checkpoint``
    (None when the count does not change)."""
    if before == after:
        return None
    task = experiment["task"]
    change = (f"anchors per location change from {before} to {after}: the box and class "
              "heads change shape")
    path, modules = task.get("init_checkpoint"), task.get("init_checkpoint_modules") or ""
    if _restores_heads(experiment) is not None:
        return CheckpointNote(WARNING, f"{change}, and init_checkpoint_modules: all restores "
                                       f"them from {path}: the restore will fail; set "
                                       "init_checkpoint_modules: backbone, or keep the count")
    if not path:
        return CheckpointNote(INFO, f"{change}; no init_checkpoint is restored, so the whole "
                                    "model trains from its initialisers")
    return CheckpointNote(INFO, f"{change}; init_checkpoint_modules: {modules!r} restores only "
                                f"{modules or 'nothing'} from {path}, never the heads, so the "
                                "anchors per location are free to change")
