"""The Model Garden's anchors in numpy, exactly (no TensorFlow once the experiment is resolved).

* RetinaNet and the R-CNNs (``official/vision/ops/anchor.py``, ``Anchor``): on each level
  ``l`` from ``min_level`` to ``max_level`` of an input ``(H, W)`` (the parser's padded size),
  a grid of ``ceil(H / 2**l) x ceil(W / 2**l)`` cells with stride ``H / fy`` (float32; equal to
  ``2**l`` only when ``H`` is a multiple of it) and centres ``(i + 0.5) * stride``. Every cell
  carries ``num_scales * len(aspect_ratios)`` anchors, scale-major: side
  ``anchor_size * 2**l * 2**(s / num_scales)``, width ``side * sqrt(r)``, height
  ``side / sqrt(r)`` (``r`` is width / height). Corners ``(ymin, xmin, ymax, xmax)`` in
  pixels, never clipped. Flat order: levels, then cells row-major, then the anchors of a cell,
  which is :meth:`AnchorLayout.boxes`' order.
* YOLO (``official/projects/yolo``): ``anchor_boxes.boxes`` (w, h pixels at the input size)
  handed to the levels in order, ``anchors_per_scale`` each; level ``l`` has stride ``2**l``,
  a grid of ``input // stride`` cells and centres ``(cell + 0.5) * stride`` (a zero logit of
  the head decodes there, with the anchor's own size).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tfod_anchors.anchors.layout import AnchorLayout, AnchorLevel
from tfod_anchors.errors import ConfigError


@dataclass(frozen=True)
class MultilevelAnchors:
    """``task.model.anchor`` with the model's levels (RetinaNet, Faster/Mask/Cascade R-CNN).

    Attributes:
        min_level, max_level: ``task.model.min_level`` / ``max_level``.
        num_scales: octave scales per location.
        aspect_ratios: width / height of each anchor shape.
        anchor_size: side of the smallest anchor in units of the level's nominal stride.
    """

    min_level: int
    max_level: int
    num_scales: int
    aspect_ratios: tuple[float, ...]
    anchor_size: float

    @property
    def anchors_per_location(self) -> int:
        return self.num_scales * len(self.aspect_ratios)

    def sizes(self, level: int) -> np.ndarray:
        """float64 ``[A, 2]`` ``(height, width)`` pixels of the anchors at one cell of
        ``level``, scale-major then ratio (the Model Garden's order)."""
        out = []
        for scale in range(self.num_scales):
            side = self.anchor_size * 2 ** level * 2 ** (scale / self.num_scales)
            for ratio in self.aspect_ratios:
                out.append((side * ratio ** -0.5, side * ratio ** 0.5))
        return np.asarray(out, dtype=np.float64).reshape(-1, 2)

    def layout(self, image_hw: tuple[int, int]) -> AnchorLayout:
        """Every anchor ``Anchor(..., image_size=image_hw).multilevel_boxes`` holds.

        Args:
            image_hw: ``(H, W)`` int pixels the anchors are laid on (the parser's padded
                size, or its output size with ``pad: false``).
        """
        h, w = int(image_hw[0]), int(image_hw[1])
        levels = []
        for level in range(self.min_level, self.max_level + 1):
            fy, fx = math.ceil(h / 2 ** level), math.ceil(w / 2 ** level)
            sy, sx = float(np.float32(h / fy)), float(np.float32(w / fx))
            levels.append(AnchorLevel(grid_shape=(fy, fx), stride=(sy, sx),
                                      offset=(sy / 2.0, sx / 2.0), sizes=self.sizes(level),
                                      level=level))
        return AnchorLayout(padded_shape=(h, w), levels=tuple(levels), window_policy="none")


@dataclass(frozen=True)
class YoloAnchors:
    """``task.model.anchor_boxes`` with the levels it is handed out to.

    Attributes:
        min_level, max_level: the levels (YOLO v4/scaled: the backbone's; YOLOv7: the
            model's).
        boxes: ``((w, h), ...)`` pixels at the model input size, in level order.
        anchors_per_scale: boxes per level.
    """

    min_level: int
    max_level: int
    boxes: tuple[tuple[float, float], ...]
    anchors_per_scale: int

    def per_level(self) -> dict[int, np.ndarray]:
        """``{level: float64 [k, 2] (w, h)}``, the boxes in order, ``anchors_per_scale``
        per level (``AnchorBoxes.get``)."""
        arr = np.asarray(self.boxes, dtype=np.float64).reshape(-1, 2)
        k = self.anchors_per_scale
        return {level: arr[i * k:(i + 1) * k]
                for i, level in enumerate(range(self.min_level, self.max_level + 1))}

    def layout(self, input_hw: tuple[int, int]) -> AnchorLayout:
        """The anchors the YOLO head decodes at zero logits, per level: grid
        ``input // 2**l``, centres ``(cell + 0.5) * 2**l``, the boxes' own sizes."""
        h, w = int(input_hw[0]), int(input_hw[1])
        levels = []
        for level, wh in self.per_level().items():
            stride = float(2 ** level)
            levels.append(AnchorLevel(grid_shape=(h // 2 ** level, w // 2 ** level),
                                      stride=(stride, stride), offset=(stride / 2, stride / 2),
                                      sizes=wh[:, ::-1].copy(), level=level))
        return AnchorLayout(padded_shape=(h, w), levels=tuple(levels), window_policy="none")


def padded_size(output_hw: tuple[int, int], max_level: int) -> tuple[int, int]:
    """``compute_padded_size``: each side up to a multiple of ``2**max_level``."""
    stride = 2 ** max_level
    return (int(math.ceil(output_hw[0] / stride) * stride),
            int(math.ceil(output_hw[1] / stride) * stride))


def _model(exp: dict) -> dict:
    return exp["task"]["model"]


def input_hw(exp: dict) -> tuple[int, int]:
    """``task.model.input_size`` as ``(H, W)``.

    Raises:
        ConfigError: no input size (the base ``retinanet`` experiment leaves it empty).
    """
    size = _model(exp).get("input_size") or []
    if len(size) < 2 or size[0] is None or size[1] is None or min(size[:2]) <= 0:
        raise ConfigError(f"task.model.input_size is {size!r}: set [H, W, 3] "
                          "(e.g. --params-override 'task.model.input_size=[640,640,3]')")
    return int(size[0]), int(size[1])


def multilevel_anchors(exp: dict) -> MultilevelAnchors:
    """The ``task.model.anchor`` block of a RetinaNet / R-CNN experiment.

    Raises:
        ConfigError: values ``Anchor`` cannot build (no ratios, a ratio or size <= 0,
            num_scales < 1, min_level > max_level).
    """
    model = _model(exp)
    anchor = model.get("anchor") or {}
    ratios = tuple(float(r) for r in anchor.get("aspect_ratios") or ())
    out = MultilevelAnchors(int(model["min_level"]), int(model["max_level"]),
                            int(anchor.get("num_scales", 0)), ratios,
                            float(anchor.get("anchor_size", 0.0)))
    if out.num_scales < 1 or not ratios or min(ratios) <= 0 or out.anchor_size <= 0:
        raise ConfigError(f"task.model.anchor cannot build anchors: num_scales "
                          f"{out.num_scales}, aspect_ratios {list(ratios)}, anchor_size "
                          f"{out.anchor_size} (need >= 1, a non-empty list of ratios > 0, > 0)")
    if out.min_level > out.max_level:
        raise ConfigError(f"task.model.min_level {out.min_level} > max_level {out.max_level}")
    return out


def yolo_levels(exp: dict) -> tuple[int, int]:
    """The levels YOLO's parser hands the boxes to: the backbone's ``min_level`` /
    ``max_level`` (``tasks/yolo.py`` and ``tasks/yolov7.py`` ``build_inputs``)."""
    backbone = _model(exp)["backbone"]
    inner = backbone.get(backbone.get("type")) or {}
    return int(inner["min_level"]), int(inner["max_level"])


def yolo_anchors(exp: dict) -> YoloAnchors:
    """The ``task.model.anchor_boxes`` block of a YOLO experiment.

    Raises:
        ConfigError: no boxes (the ``yolo`` and ``yolov7`` templates), anchor-free
            ``level_limits``, or a box count that is not ``anchors_per_scale`` per level.
    """
    block = _model(exp)["anchor_boxes"]
    lo, hi = yolo_levels(exp)
    if block.get("level_limits") is not None:
        raise ConfigError("task.model.anchor_boxes.level_limits is set: this YOLO runs "
                          "anchor-free (one [1, 1] anchor per level), nothing to fit")
    boxes = tuple((float(b["box"][0]), float(b["box"][1])) for b in block.get("boxes") or ())
    per = int(block.get("anchors_per_scale", 3))
    need = per * (hi - lo + 1)
    if not boxes:
        raise ConfigError("task.model.anchor_boxes.boxes is empty: this experiment expects "
                          f"{need} boxes (w, h pixels) from a config file or override")
    if len(boxes) != need or min(min(b) for b in boxes) <= 0:
        raise ConfigError(f"task.model.anchor_boxes has {len(boxes)} boxes: levels {lo}-{hi} "
                          f"with anchors_per_scale {per} need {need}, each w, h > 0")
    return YoloAnchors(lo, hi, boxes, per)
