"""Pieces shared by the multi-level generators (``ssd``, ``multiscale``, ``flexible_grid``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import ConfigError
from .grid import FASTER_RCNN


def check_normalizable(kind: str, meta_architecture: str, normalize_coordinates: bool) -> None:
    """Raise as TFOD does when Faster R-CNN, which passes no image size, would have to
    normalize the anchors (``normalize_coordinates`` true)."""
    if meta_architecture == FASTER_RCNN and normalize_coordinates:
        raise ConfigError(
            f"{kind} with normalize_coordinates true cannot be used by Faster R-CNN (TFOD "
            "raises: no image size is passed); set normalize_coordinates: false"
        )


def concat_levels_f32(parts: Sequence[np.ndarray]) -> np.ndarray:
    """float32 ``[A, 4]``: the levels' anchors in level order (``[0, 4]`` with no level)."""
    if not parts:
        return np.zeros((0, 4), dtype=np.float32)
    return np.concatenate(parts, axis=0)
