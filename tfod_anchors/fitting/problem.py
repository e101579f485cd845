"""From resized boxes and a config to the arrays the search works on.

Boxes are grouped by their image's padded shape; each group's anchor layout
(feature-map sizes, strides, offsets, window policy) comes from the config via
:func:`tfod_anchors.anchors.model.model_anchor_layout` and is spread to per-box arrays
(:class:`~tfod_anchors.fitting.kernel.BoxGeometry`).

:func:`stride_constraint` keeps the search away from values ``check`` would flag as
``anchor_below_stride`` (the smallest anchor narrower than its feature-map stride) and
:func:`too_large_constraint` from ``anchor_too_large``, measured on the same input shape
the rules use.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from tfod_anchors.anchors.layout import AnchorLayout
from tfod_anchors.boxes import ResizedBoxes
from tfod_anchors.errors import ConfigError
from tfod_anchors.fitting.kernel import BoxGeometry, LevelGrid
from tfod_anchors.fitting.params import ParamSpace
from tfod_anchors.frameworks import ModelSpec, as_spec
from tfod_anchors.matcher import ShapeRule

LayoutFn = Callable[[tuple[int, int]], AnchorLayout]
#: The original image size ``check``'s size rules assume (``rules.check_rules``).
RULE_IMAGE_SIZE = (480, 640)


@dataclass
class Problem:
    """Everything the search and the verification share.

    Attributes:
        resized: all boxes, in resized pixels.
        shapes: int64 ``[G, 2]`` distinct padded shapes; ``group``: int64 ``[N]`` each
            box's shape index (:meth:`ResizedBoxes.padded_groups`).
        generator: the config's ``AnchorGenerator`` message; ``space``: its
            :class:`ParamSpace`.
        matched: the matcher's matched threshold.
        layout_for: padded ``(H, W)`` -> the config's :class:`AnchorLayout` (memoised).
        layouts, units: per shape group, the anchor layout and the shape unit.
        constraint: ``x -> violation >= 0`` of the size rules the fit keeps (None:
            nothing to keep, e.g. the config itself already breaks them).
        rule: the matcher's shape-only rule (YOLO's), which decides what is matched in
            place of IoU >= ``matched``; None for IoU matchers.
    """

    resized: ResizedBoxes
    shapes: np.ndarray
    group: np.ndarray
    generator: Any
    space: ParamSpace
    matched: float
    layout_for: LayoutFn
    layouts: list[AnchorLayout]
    units: list[tuple[float, float]]
    constraint: Callable[[np.ndarray], float] | None = None
    unit_of: Callable[[tuple[int, int]], tuple[float, float]] | None = None
    rule: ShapeRule | None = None

    @property
    def kind(self) -> str:
        """The anchor family fitted (the parameter space's kind: TFOD's generator oneof
        name, or the Model Garden's ``multilevel`` / ``yolo_boxes``)."""
        return self.space.kind

    @property
    def window_policy(self) -> str:
        return self.layouts[0].window_policy

    def geometry(self, index: np.ndarray) -> BoxGeometry:
        return build_geometry(self.resized.boxes[index], self.group[index], self.shapes,
                              self.layouts, self.units)


def build_problem(resized: ResizedBoxes, model: ModelSpec | Any, *, num_scales: int | None = None,
                  num_aspect_ratios: int | None = None, stride_rule: bool = True,
                  like: Problem | None = None) -> Problem:
    """The :class:`Problem` of fitting ``model``'s anchors (a spec, or a TFOD config) to
    ``resized`` boxes
    (``num_scales``/``num_aspect_ratios`` change the counts; ``stride_rule`` keeps the
    smallest anchor at least its stride, see :func:`stride_constraint`, where the matcher
    is positional: not under a shape-only rule, which no stride can make a box miss). ``like``: a
    problem of the same boxes and config whose grouping and layouts are reused.

    Raises:
        ConfigError: the config has no anchor generator.
    """
    model = as_spec(model)
    generator = model.anchors
    if generator is None:
        raise ConfigError("the config has no anchor generator to fit")
    if like is not None:
        shapes, group, layout_for = like.shapes, like.group, like.layout_for
    else:
        shapes, group = resized.padded_groups()
        layout_for = model.layout_function()
    pairs = [(int(h), int(w)) for h, w in shapes]
    side = np.sqrt(np.maximum(resized.heights * resized.widths, 1e-6))
    size_range = (max(2.0, float(side.min()) / 2.0), 2.0 * float(shapes.max()))
    space = model.param_space(num_scales=num_scales, num_aspect_ratios=num_aspect_ratios,
                              size_range=size_range)
    own = space if num_scales is None and num_aspect_ratios is None else \
        model.param_space(size_range=size_range)
    matcher = model.matcher()
    # a shape-only rule (YOLO's) gives a box its positives wherever it lies: an anchor
    # narrower than its stride loses no box to the grid, the stride rule's whole reason
    positional = matcher.shape_rule is None
    constraint = _combined([stride_constraint(model, space, layout_for, own)
                            if stride_rule and positional else None, order_constraint(space),
                            too_large_constraint(model, space, layout_for, own)])
    return Problem(resized=resized, shapes=shapes, group=group, generator=generator,
                   space=space, matched=matcher.matched_threshold,
                   layout_for=layout_for, layouts=[layout_for(p) for p in pairs],
                   units=[model.shape_unit(p) for p in pairs], constraint=constraint,
                   unit_of=model.shape_unit, rule=matcher.shape_rule)


def _combined(parts: list[Callable[[np.ndarray], float] | None]
              ) -> Callable[[np.ndarray], float] | None:
    fns = [p for p in parts if p is not None]
    if not fns:
        return None
    if len(fns) == 1:
        return fns[0]
    return lambda x: float(sum(f(x) for f in fns))


def order_constraint(space: ParamSpace) -> Callable[[np.ndarray], float] | None:
    """``x -> violation``: SSD layer scales must not decrease from layer to layer
    (``max_scale >= min_scale``, explicit ``scales`` ascending), as every sample config
    has them; TFOD accepts the reverse silently, giving the coarsest feature maps the
    smallest anchors. None for other generators, or when the config itself decreases."""
    idx = next((space.groups[g] for g in space.ascending if space.groups.get(g)), None)
    if not idx or len(idx) < 2:
        return None

    def violation(x: np.ndarray) -> float:
        return float(np.clip(-np.diff(np.asarray(x)[idx]), 0.0, None).sum())

    return None if violation(space.x0) > 0 else violation


def _grid_below(space: ParamSpace, generator: Any, unit: np.ndarray, many: np.ndarray,
                stride: np.ndarray) -> Callable[[np.ndarray], float]:
    """The grid generator's :func:`stride_constraint` in closed form (it is called for
    every candidate the search scores): the smallest anchors are the smallest scale at
    every ratio, ``h = s * height / sqrt(a)``, ``w = s * width * sqrt(a)``."""
    g = generator.grid_anchor_generator
    ns = len(space.groups["scales"])
    log_h = math.log(float(g.height) * float(unit[0]))
    log_w = math.log(float(g.width) * float(unit[1]))
    log_sy, log_sx = math.log(max(float(stride[0]), 1e-9)), math.log(max(float(stride[1]), 1e-9))
    check_y, check_x = bool(many[0]), bool(many[1])

    def violation(x: np.ndarray) -> float:
        values = x.tolist()
        s = min(values[:ns])
        total = 0.0
        for a in values[ns:]:
            if check_y:
                total += max(0.0, log_sy - (s + log_h - 0.5 * a))
            if check_x:
                total += max(0.0, log_sx - (s + log_w + 0.5 * a))
        return total

    return violation


def _rule_layout(model: ModelSpec, layout_for: LayoutFn
                 ) -> tuple[AnchorLayout, np.ndarray] | None:
    """The layout ``check``'s size rules see (the padded shape of
    :data:`RULE_IMAGE_SIZE`) and its float64 ``(y, x)`` shape unit, or None when it
    cannot be built here."""
    try:
        _, padded = model.resized_shapes(RULE_IMAGE_SIZE)
        layout = layout_for(padded)
    except ConfigError:
        return None
    return layout, np.array(model.shape_unit(padded), dtype=np.float64)


def stride_constraint(model: ModelSpec, space: ParamSpace, layout_for: LayoutFn,
                      own: ParamSpace | None = None) -> Callable[[np.ndarray], float] | None:
    """``x -> violation``: how far (log) the smallest anchor(s) of candidate ``x`` fall
    below their level's stride on an axis with more than one cell, on the padded shape
    ``check`` uses for its size rules; 0 when ``check`` would not report
    ``anchor_below_stride``. Every anchor of the smallest area counts (the rule looks
    at one of them, and which one depends on list order, which the fit may change).

    None when the config itself (``own.x0``, the config's values in its own space when
    ``space`` has other counts) is already below its stride (keeping it is not a new
    finding) or its layout cannot be built here.
    """
    found = _rule_layout(model, layout_for)
    if found is None:
        return None
    layout, unit = found
    generator = model.anchors
    grids = [(np.asarray(lev.grid_shape) > 1, np.asarray(lev.stride, dtype=np.float64))
             for lev in layout.levels]
    if not grids:
        return None

    def below(sp: ParamSpace, x: np.ndarray) -> float:
        shapes = [s * unit for s in sp.shapes_of(x)]
        areas = [s[:, 0] * s[:, 1] for s in shapes]
        smallest = min((float(a.min()) for a in areas if a.size), default=0.0)
        total = 0.0
        for (many, stride), s, a in zip(grids, shapes, areas):
            low = s[a <= smallest * (1 + 1e-9)]
            if low.size:
                short = np.log(np.maximum(stride[None, :], 1e-9)
                               / np.maximum(low, 1e-9)).clip(0.0, None)
                total += float((short * many[None, :]).sum())
        return total

    def generic(x: np.ndarray) -> float:
        return below(space, x)

    violation: Callable[[np.ndarray], float] = generic
    if space.split_counts is not None and len(grids) == 1:
        violation = _grid_below(space, generator, unit, *grids[0])
    own = own or space
    return None if below(own, own.x0) > 0 else violation


def too_large_constraint(model: ModelSpec, space: ParamSpace, layout_for: LayoutFn,
                         own: ParamSpace | None = None
                         ) -> Callable[[np.ndarray], float] | None:
    """``x -> violation``: how far (log) the anchors of candidate ``x`` are past what
    ``check``'s ``anchor_too_large`` allows on the padded shape its size rules use; 0
    when it would not report it. Without clipping (``none``) an anchor of ``h x w`` px
    on an ``H x W`` input reaches at best IoU ``min(h, H) min(w, W) / (h w)`` with a box
    inside the image, which must reach the matched threshold; with pruning (``prune``)
    it must fit inside the image; clipped anchors (``clip``) are never too large.

    Without it the search can end on a candidate the verification then ranks below every
    clean one (a new warning), so the written point depended on which basin a seed
    found first. Only where the framework's ``check`` has the rule
    (:attr:`~tfod_anchors.frameworks.base.ModelSpec.checks_too_large`); None when the config
    itself already breaks it (keeping it is not a new finding) or its layout cannot be
    built here.
    """
    if not model.checks_too_large:
        return None
    found = _rule_layout(model, layout_for)
    if found is None or found[0].window_policy not in ("none", "prune"):
        return None
    layout, unit = found
    policy = layout.window_policy
    limit = np.log(np.asarray(layout.padded_shape, dtype=np.float64))
    log_matched = math.log(max(float(model.matcher().matched_threshold), 1e-9))

    def past(sp: ParamSpace, x: np.ndarray) -> float:
        total = 0.0
        for shapes in sp.shapes_of(x):
            logs = np.log(np.maximum(np.asarray(shapes, dtype=np.float64) * unit, 1e-9))
            over = np.clip(logs - limit[None, :], 0.0, None)  # [A, 2]: log(h / H), log(w / W)
            if policy == "prune":
                total += float(over.sum())
            else:  # log reach = -(over_h + over_w); it must stay >= log(matched)
                total += float(np.clip(over.sum(axis=1) + log_matched, 0.0, None).sum())
        return total

    own = own or space
    if past(own, own.x0) > 0:
        return None
    return lambda x: past(space, x)


def other_geometry(problem: Problem, other: ResizedBoxes, index: np.ndarray) -> BoxGeometry:
    """Geometry of the boxes ``index`` of ``other`` (e.g. the static boxes of an
    augmented fit) under ``problem``'s config: each box on the layout of its own
    padded shape, so that ``problem``'s parameter vectors score them too."""
    unit_of = problem.unit_of or (lambda hw: (1.0, 1.0))
    shapes, group = other.padded_groups()
    pairs = [(int(h), int(w)) for h, w in shapes]
    return build_geometry(other.boxes[index], group[index], shapes,
                          [problem.layout_for(p) for p in pairs],
                          [unit_of(p) for p in pairs])


def build_geometry(boxes: np.ndarray, group: np.ndarray, shapes: np.ndarray,
                   layouts: list[AnchorLayout], units: list[tuple[float, float]]
                   ) -> BoxGeometry:
    """Per-box geometry for ``boxes [B, 4]`` whose padded shape is ``shapes[group]``.

    Raises:
        ConfigError: layouts of different shapes disagree on the number of levels or
            the window policy (the generator would not be the same network).
    """
    first = layouts[0]
    for lay in layouts[1:]:
        if len(lay.levels) != len(first.levels) or lay.window_policy != first.window_policy:
            raise ConfigError("anchor layouts differ in levels or window policy between "
                              "input shapes; cannot fit one generator to them")
    levels = []
    for li in range(len(first.levels)):
        cells = np.array([lay.levels[li].grid_shape for lay in layouts], dtype=np.int64)
        stride = np.array([lay.levels[li].stride for lay in layouts], dtype=np.float64)
        offset = np.array([lay.levels[li].offset for lay in layouts], dtype=np.float64)
        levels.append(LevelGrid(cells[group], stride[group], offset[group]))
    window = shapes.astype(np.float64)[group]
    unit = np.asarray(units, dtype=np.float64)[group]
    return BoxGeometry(np.asarray(boxes, dtype=np.float64), window, unit, tuple(levels),
                       first.window_policy)
