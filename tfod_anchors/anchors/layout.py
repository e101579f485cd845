"""A generator-independent description of where TFOD puts its anchors.

Every TFOD anchor generator (grid, ssd, multiscale, flexible grid) lays anchors
out on regular per-level grids: on level ``l`` the cell ``(i, j)`` has its anchor
centres at ``(offset_y + i * stride_y, offset_x + j * stride_x)`` and carries the
same list of anchor shapes at every cell. Describing the anchors this way (in
pixels of the padded image) lets coverage search only the cells that can
matter, while :func:`AnchorLayout.boxes` still gives the full TFOD list.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: What TFOD does with anchors that leave the padded image at training time (see
#: :attr:`AnchorLayout.window_policy`).
WINDOW_POLICIES = ("none", "prune", "clip")


@dataclass(frozen=True)
class AnchorLevel:
    """One feature map's anchors, in pixels of the padded image.

    Attributes:
        grid_shape: ``(fh, fw)`` cells of the feature map.
        stride: ``(stride_y, stride_x)`` in pixels (may be fractional, e.g. SSD
            without explicit strides uses ``H / fh``).
        offset: ``(offset_y, offset_x)``, centre of cell ``(0, 0)`` in pixels.
        sizes: float64 ``[K, 2]``, ``(height, width)`` in pixels of each anchor
            shape at a cell, in TFOD's order within a location.
        level: the pyramid level or layer index, for reporting.
    """

    grid_shape: tuple[int, int]
    stride: tuple[float, float]
    offset: tuple[float, float]
    sizes: np.ndarray
    level: int = 0

    @property
    def num_anchors(self) -> int:
        return int(self.grid_shape[0] * self.grid_shape[1] * self.sizes.shape[0])

    def boxes(self) -> np.ndarray:
        """float64 ``[fh * fw * K, 4]`` anchors ``[ymin, xmin, ymax, xmax]`` in pixels,
        ordered row-major over cells, then anchor shape (TFOD's order)."""
        fh, fw = self.grid_shape
        cy = self.offset[0] + np.arange(fh, dtype=np.float64) * self.stride[0]
        cx = self.offset[1] + np.arange(fw, dtype=np.float64) * self.stride[1]
        cyy, cxx = np.meshgrid(cy, cx, indexing="ij")
        centers = np.stack([cyy.ravel(), cxx.ravel()], axis=1)[:, None, :]
        half = self.sizes[None, :, :] / 2.0
        out = np.concatenate([centers - half, centers + half], axis=2)
        return out.reshape(-1, 4)


@dataclass(frozen=True)
class AnchorLayout:
    """All anchors TFOD generates for one padded input shape.

    Attributes:
        padded_shape: ``(H, W)`` of the network input in pixels.
        levels: the feature maps in TFOD's concatenation order.
        window_policy: what TFOD does at training time with anchors that leave
            ``[0, 0, H, W]``: ``"none"`` (SSD keeps them), ``"prune"`` (Faster R-CNN
            default) or ``"clip"`` (Faster R-CNN ``clip_anchors_to_image: true``).
        normalized: True when TFOD's own anchors are normalized to ``(H, W)``
            (SSD, multiscale with ``normalize_coordinates``); only affects export.
    """

    padded_shape: tuple[int, int]
    levels: tuple[AnchorLevel, ...]
    window_policy: str = "none"
    normalized: bool = False

    @property
    def num_anchors(self) -> int:
        return sum(level.num_anchors for level in self.levels)

    def boxes(self) -> np.ndarray:
        """float64 ``[A, 4]`` every anchor in pixels, TFOD order, before pruning/clipping."""
        if not self.levels:
            return np.zeros((0, 4), dtype=np.float64)
        return np.concatenate([level.boxes() for level in self.levels], axis=0)
