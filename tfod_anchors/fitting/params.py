"""The parameters of each TFOD anchor generator that fitting may move.

A :class:`ParamSpace` maps a vector ``x`` of natural logs of positive parameter
values (scales, aspect ratios, ...) to the anchor shapes TFOD would place on each
level, and back to an ``AnchorGenerator`` message. Strides, offsets, base sizes,
levels and layer counts are never touched: they belong to the network.

Shapes are ``(height, width)`` in *shape units*: pixels for grid, multiscale and
flexible-grid generators; ``min(H, W) * base_anchor_{height,width}`` pixels for
``ssd_anchor_generator`` (see :func:`shape_unit`). Aspect ratio is width / height
as in TFOD: ``h = s / sqrt(a)``, ``w = s * sqrt(a)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from tfod_anchors.errors import ConfigError, UsageError

RATIO_BOUNDS = (0.05, 20.0)


def round_sig(value: float, digits: int = 4) -> float:
    """``value`` rounded to ``digits`` significant decimals (deterministic, via text)."""
    return float(f"{float(value):.{digits}g}")


def round_values(values: np.ndarray, digits: int = 4) -> np.ndarray:
    return np.array([round_sig(v, digits) for v in np.asarray(values, dtype=np.float64).ravel()])


@dataclass
class ParamSpace:
    """A generator's movable parameters as one log-space vector.

    Attributes:
        kind: the ``anchor_generator_oneof`` name.
        names: one readable name per coordinate (``"scales[2]"``...).
        groups: coordinate indices that form one list field, by field name.
        lower, upper: log bounds per coordinate.
        x0: the config's own values (log), possibly resampled to new counts.
        shapes_of: ``x -> [per level float64 [K_l, 2]]`` in shape units.
        write: ``(template message, values) -> new generator message``.
        coupled: True when one coordinate moves the shapes of many levels.
        diagonals: ``(size coordinate, ratio coordinate)`` pairs; moving them as
            ``(t, -2t)`` or ``(t, 2t)`` changes only the height or only the width.
        unordered: list fields whose order does not change the set of anchors (only
            which box-predictor slot gets which shape), see :meth:`in_config_order`.
        split_counts: ``(scales, aspect_ratios)`` counts of a one-map Cartesian space
            (the grid generator): the box predictor sees only their product, so the fit
            may try other splits of it, sharing one pool of shapes; None elsewhere.
        ascending: list fields whose values must not decrease from level to level (the
            first of them present; SSD's layer scales), see ``order_constraint``.
        free_shapes: every shape is its own ``(size, ratio)`` pair (a flexible grid): on
            one layer, a free set that IoU k-means also answers (its floors apply).
        from_shapes: for a space that holds any set of free shapes across its levels
            (YOLO's boxes): ``[K, 2]`` ``(w, h)`` in shape units -> the point holding
            them, so that k-means sets can start the search (:mod:`.shape_seeds`).
    """

    kind: str
    names: list[str]
    groups: dict[str, list[int]]
    lower: np.ndarray
    upper: np.ndarray
    x0: np.ndarray
    shapes_of: Callable[[np.ndarray], list[np.ndarray]]
    write: Callable[[Any, np.ndarray], Any]
    coupled: bool = False
    diagonals: list[tuple[int, int]] = field(default_factory=list)
    unordered: tuple[str, ...] = ()
    split_counts: tuple[int, int] | None = None
    ascending: tuple[str, ...] = ()
    free_shapes: bool = False
    from_shapes: Callable[[np.ndarray], np.ndarray] | None = None

    def __post_init__(self) -> None:
        self.shapes_of = _remembered(self.shapes_of)

    @property
    def dim(self) -> int:
        return len(self.names)

    def clip(self, x: np.ndarray) -> np.ndarray:
        return np.clip(x, self.lower, self.upper)

    def rounded(self, x: np.ndarray) -> np.ndarray:
        """``x`` with every value rounded to 4 significant decimals (still log)."""
        return np.log(round_values(np.exp(self.clip(x))))

    def rounded_coord(self, values: np.ndarray, i: int) -> np.ndarray:
        """Log values for coordinate ``i``, clipped to its bounds and rounded."""
        v = np.clip(np.asarray(values, dtype=np.float64), self.lower[i], self.upper[i])
        return np.log(round_values(np.exp(v)))

    def in_config_order(self, x: np.ndarray) -> np.ndarray:
        """``x`` with each unordered list re-sorted into the config's rank order, so
        box-predictor slot ``k`` keeps a shape close to its old one (fine-tuning from
        a checkpoint); the anchors as a set are unchanged."""
        out = np.asarray(x, dtype=np.float64).copy()
        for name in self.unordered:
            idx = self.groups[name]
            ranks = np.argsort(np.argsort(self.x0[idx], kind="stable"), kind="stable")
            out[idx] = np.sort(out[idx])[ranks]
        return out

    def values(self, x: np.ndarray) -> dict[str, list[float]]:
        """Rounded linear values by field name."""
        v = round_values(np.exp(self.clip(x)))
        return {name: [float(v[i]) for i in idx] for name, idx in self.groups.items()}


#: How many candidates' shapes a :class:`ParamSpace` remembers.
REMEMBERED_SHAPES = 64


def _remembered(shapes_of: Callable[[np.ndarray], list[np.ndarray]]
                ) -> Callable[[np.ndarray], list[np.ndarray]]:
    """``shapes_of`` remembering its last few answers: a search asks for the shapes of
    each candidate twice (its best-IoU columns, then the rules it must keep). The arrays
    returned are shared between callers: read them, do not write them."""
    if getattr(shapes_of, "remembers", False):
        return shapes_of
    memo: dict[tuple[str, bytes], list[np.ndarray]] = {}

    def remembered(x: np.ndarray) -> list[np.ndarray]:
        x = np.asarray(x)
        key = (x.dtype.str, x.tobytes())
        got = memo.get(key)
        if got is None:
            got = shapes_of(x)
            if len(memo) >= REMEMBERED_SHAPES:
                memo.clear()
            memo[key] = got
        return got

    remembered.remembers = True  # type: ignore[attr-defined]
    return remembered


def _ratio_shapes(sizes: np.ndarray, ratios: np.ndarray) -> np.ndarray:
    """float64 ``[K, 2]`` ``(size / sqrt(a), size * sqrt(a))`` for paired sizes and ratios."""
    root = np.sqrt(ratios)
    return np.stack([sizes / root, sizes * root], axis=1)


def _resample(values: list[float], count: int) -> list[float]:
    """``count`` values spread log-uniformly over the range of ``values`` (sorted)."""
    if count <= 0:
        raise UsageError(f"the number of scales / aspect ratios must be positive, got {count}")
    if count == len(values):
        return list(values)
    lo, hi = math.log(min(values)), math.log(max(values))
    if count == 1:
        return [math.exp((lo + hi) / 2.0)]
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    return [math.exp(lo + (hi - lo) * i / (count - 1)) for i in range(count)]


def _log(values: list[float], what: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        shown = ", ".join(str(np.float32(v)) for v in values)  # as written: 0.95, not 0.9499...
        raise ConfigError(f"anchor generator {what} must be non-empty and positive to fit, "
                          f"got [{shown}]")
    return np.log(arr)


def _set_list(msg: Any, name: str, values: list[float]) -> None:
    del getattr(msg, name)[:]
    getattr(msg, name).extend(values)


def _new_generator(template: Any, kind: str) -> tuple[Any, Any]:
    out = type(template)()
    out.CopyFrom(template)
    return out, getattr(out, kind)


def grid_space(msg: Any, num_scales: int | None, num_ratios: int | None,
               size_range: tuple[float, float]) -> ParamSpace:
    """``grid_anchor_generator``: ``scales`` x ``aspect_ratios`` (Cartesian product).

    ``size_range``: smallest and largest useful anchor side in pixels (bounds).
    """
    kind = str(msg.WhichOneof("anchor_generator_oneof"))
    g = msg.grid_anchor_generator
    base = (float(g.height), float(g.width))
    scales = _resample(list(g.scales), num_scales or len(g.scales)) if g.scales else []
    ratios = _resample(list(g.aspect_ratios), num_ratios or len(g.aspect_ratios)) \
        if g.aspect_ratios else []
    xs, xr = _log(scales, "scales"), _log(ratios, "aspect_ratios")
    ns, nr = len(xs), len(xr)
    ref = math.sqrt(base[0] * base[1])
    slo, shi = math.log(size_range[0] / ref), math.log(size_range[1] / ref)

    def shapes_of(x: np.ndarray) -> list[np.ndarray]:
        s, a = np.exp(x[:ns]), np.exp(x[ns:])
        ss, aa = np.meshgrid(s, a)  # aspect ratio outer, scale inner (TFOD order)
        sh = _ratio_shapes(ss.ravel(), aa.ravel())
        return [sh * np.array(base)]

    def write(template: Any, values: np.ndarray) -> Any:
        out, gen = _new_generator(template, kind)
        _set_list(gen, "scales", [float(v) for v in values[:ns]])
        _set_list(gen, "aspect_ratios", [float(v) for v in values[ns:]])
        return out

    x0 = np.concatenate([xs, xr])
    lower = np.array([min(slo, xs.min())] * ns + [math.log(RATIO_BOUNDS[0])] * nr)
    upper = np.array([max(shi, xs.max())] * ns + [math.log(RATIO_BOUNDS[1])] * nr)
    names = [f"scales[{i}]" for i in range(ns)] + [f"aspect_ratios[{i}]" for i in range(nr)]
    return ParamSpace(kind, names,
                      {"scales": list(range(ns)), "aspect_ratios": list(range(ns, ns + nr))},
                      lower, upper, x0, shapes_of, write,
                      diagonals=[(i, ns + j) for i in range(ns) for j in range(nr)],
                      unordered=("scales", "aspect_ratios"), split_counts=(ns, nr))


def ssd_layer_scales(min_scale: float, max_scale: float, num_layers: int,
                     explicit: list[float] | None) -> list[float]:
    """TFOD's per-layer scales plus the trailing 1.0 (``create_ssd_anchors``)."""
    if explicit:
        return [float(s) for s in explicit] + [1.0]
    if num_layers == 1:
        raise ConfigError("ssd_anchor_generator with num_layers 1 needs explicit scales")
    return [min_scale + (max_scale - min_scale) * i / (num_layers - 1.0)
            for i in range(num_layers)] + [1.0]


def ssd_layer_specs(scales: list[float], ratios: list[float], interp: float,
                    num_layers: int, reduce_lowest: bool) -> list[list[tuple[float, float]]]:
    """Per layer ``[(scale, aspect_ratio), ...]`` in TFOD's order within a location."""
    layers = []
    for k, (s, s_next) in enumerate(zip(scales[:-1], scales[1:])):
        if k >= num_layers:
            break
        if k == 0 and reduce_lowest:
            layers.append([(0.1, 1.0), (s, 2.0), (s, 0.5)])
            continue
        spec = [(s, a) for a in ratios]
        if interp > 0:
            spec.append((math.sqrt(s * s_next), interp))
        layers.append(spec)
    return layers


def ssd_space(msg: Any, num_scales: int | None, num_ratios: int | None) -> ParamSpace:
    """``ssd_anchor_generator``: ``min_scale``/``max_scale`` (or explicit ``scales``),
    ``aspect_ratios`` and ``interpolated_scale_aspect_ratio``."""
    kind = str(msg.WhichOneof("anchor_generator_oneof"))
    g = msg.ssd_anchor_generator
    if num_scales is not None:
        raise UsageError("ssd_anchor_generator has one scale per layer (num_layers belongs to "
                         "the network); --num-scales does not apply")
    layers = int(g.num_layers)
    explicit = list(g.scales)
    ratios = _resample(list(g.aspect_ratios), num_ratios or len(g.aspect_ratios)) \
        if g.aspect_ratios else []
    interp = float(g.interpolated_scale_aspect_ratio)
    reduce_lowest = bool(g.reduce_boxes_in_lowest_layer)
    if explicit:
        xs = _log(explicit, "scales")
        scale_names = [f"scales[{i}]" for i in range(len(xs))]
    else:
        xs = _log([float(g.min_scale), float(g.max_scale)], "min_scale/max_scale")
        scale_names = ["min_scale", "max_scale"]
    xr = _log(ratios, "aspect_ratios") if ratios else np.zeros(0)
    xi = np.log([interp]) if interp > 0 else np.zeros(0)
    ns, nr, ni = len(xs), len(xr), len(xi)

    def unpack(x: np.ndarray) -> tuple[list[float], list[float], float]:
        v = np.exp(x)
        s = [float(t) for t in v[:ns]]
        scales = ssd_layer_scales(s[0], s[-1], layers, s if explicit else None)
        return scales, [float(t) for t in v[ns:ns + nr]], float(v[ns + nr]) if ni else interp

    def shapes_of(x: np.ndarray) -> list[np.ndarray]:
        scales, rs, it = unpack(x)
        specs = ssd_layer_specs(scales, rs, it, layers, reduce_lowest)
        arr = np.array([p for spec in specs for p in spec], dtype=np.float64).reshape(-1, 2)
        every = _ratio_shapes(arr[:, 0], arr[:, 1])  # elementwise: as layer by layer
        return np.split(every, np.cumsum([len(spec) for spec in specs])[:-1])

    def write(template: Any, values: np.ndarray) -> Any:
        out, gen = _new_generator(template, kind)
        if explicit:
            _set_list(gen, "scales", [float(v) for v in values[:ns]])
        else:
            gen.min_scale, gen.max_scale = float(values[0]), float(values[1])
        _set_list(gen, "aspect_ratios", [float(v) for v in values[ns:ns + nr]])
        if ni:
            gen.interpolated_scale_aspect_ratio = float(values[ns + nr])
        return out

    names = scale_names + [f"aspect_ratios[{i}]" for i in range(nr)] + \
        (["interpolated_scale_aspect_ratio"] if ni else [])
    groups = {("scales" if explicit else "min_max_scale"): list(range(ns)),
              "aspect_ratios": list(range(ns, ns + nr))}
    if ni:
        groups["interpolated_scale_aspect_ratio"] = [ns + nr]
    lower = np.array([math.log(0.01)] * ns + [math.log(RATIO_BOUNDS[0])] * (nr + ni))
    upper = np.array([math.log(2.0)] * ns + [math.log(RATIO_BOUNDS[1])] * (nr + ni))
    x0 = np.concatenate([xs, xr, xi])
    return ParamSpace(kind, names, groups, np.minimum(lower, x0),
                      np.maximum(upper, x0), x0, shapes_of, write, coupled=True,
                      unordered=("aspect_ratios",) if nr else (),
                      ascending=("min_max_scale", "scales"))


def multiscale_space(msg: Any, num_scales: int | None, num_ratios: int | None) -> ParamSpace:
    """``multiscale_anchor_generator``: ``anchor_scale`` and ``aspect_ratios``;
    ``num_scales`` sets ``scales_per_octave``."""
    kind = str(msg.WhichOneof("anchor_generator_oneof"))
    g = msg.multiscale_anchor_generator
    spo = int(num_scales or g.scales_per_octave)
    if spo <= 0:
        raise UsageError(f"scales_per_octave must be positive, got {spo}")
    ratios = _resample(list(g.aspect_ratios), num_ratios or len(g.aspect_ratios)) \
        if g.aspect_ratios else []
    xr = _log(ratios, "aspect_ratios")
    xa = _log([float(g.anchor_scale)], "anchor_scale")
    levels = list(range(int(g.min_level), int(g.max_level) + 1))
    octave = np.array([2.0 ** (i / spo) for i in range(spo)])

    def shapes_of(x: np.ndarray) -> list[np.ndarray]:
        scale, rs = math.exp(x[0]), np.exp(x[1:])
        out = []
        for lev in levels:
            sizes = scale * 2.0 ** lev * octave
            ss, aa = np.meshgrid(sizes, rs)  # aspect ratio outer, scale inner
            out.append(_ratio_shapes(ss.ravel(), aa.ravel()))
        return out

    def write(template: Any, values: np.ndarray) -> Any:
        out, gen = _new_generator(template, kind)
        gen.anchor_scale = float(values[0])
        gen.scales_per_octave = spo
        _set_list(gen, "aspect_ratios", [float(v) for v in values[1:]])
        return out

    nr = len(xr)
    lower = np.array([math.log(0.25)] + [math.log(RATIO_BOUNDS[0])] * nr)
    upper = np.array([math.log(32.0)] + [math.log(RATIO_BOUNDS[1])] * nr)
    x0 = np.concatenate([xa, xr])
    return ParamSpace(kind,
                      ["anchor_scale"] + [f"aspect_ratios[{i}]" for i in range(nr)],
                      {"anchor_scale": [0], "aspect_ratios": list(range(1, 1 + nr))},
                      np.minimum(lower, x0), np.maximum(upper, x0), x0, shapes_of, write,
                      coupled=True, diagonals=[(0, 1 + j) for j in range(nr)],
                      unordered=("aspect_ratios",))


def flexible_space(msg: Any, num_scales: int | None, num_ratios: int | None,
                   size_range: tuple[float, float]) -> ParamSpace:
    """``flexible_grid_anchor_generator``: per layer paired ``base_sizes`` and
    ``aspect_ratios``; ``num_scales`` sets the number of pairs per layer."""
    kind = str(msg.WhichOneof("anchor_generator_oneof"))
    g = msg.flexible_grid_anchor_generator
    if num_ratios is not None:
        raise UsageError("flexible_grid_anchor_generator pairs base_sizes with aspect_ratios; "
                         "use --num-scales to change the number of pairs per layer")
    layer_sizes, layer_ratios = [], []
    for i, grid in enumerate(g.anchor_grid):
        if len(grid.base_sizes) != len(grid.aspect_ratios):
            raise ConfigError(f"anchor_grid[{i}]: base_sizes and aspect_ratios differ in length")
        count = num_scales or len(grid.base_sizes)
        layer_sizes.append(_resample(list(grid.base_sizes), count))
        layer_ratios.append(_resample(list(grid.aspect_ratios), count)
                            if count != len(grid.aspect_ratios) else list(grid.aspect_ratios))
    names: list[str] = []
    groups: dict[str, list[int]] = {}
    x0: list[float] = []
    lower: list[float] = []
    upper: list[float] = []
    slices = []
    for i, (sizes, ratios) in enumerate(zip(layer_sizes, layer_ratios)):
        start = len(names)
        k = len(sizes)
        names += [f"anchor_grid[{i}].base_sizes[{j}]" for j in range(k)]
        names += [f"anchor_grid[{i}].aspect_ratios[{j}]" for j in range(k)]
        groups[f"anchor_grid[{i}].base_sizes"] = list(range(start, start + k))
        groups[f"anchor_grid[{i}].aspect_ratios"] = list(range(start + k, start + 2 * k))
        xs, xr = _log(sizes, f"anchor_grid[{i}].base_sizes"), \
            _log(ratios, f"anchor_grid[{i}].aspect_ratios")
        x0 += list(xs) + list(xr)
        lower += [min(math.log(size_range[0]), xs.min())] * k + [math.log(RATIO_BOUNDS[0])] * k
        upper += [max(math.log(size_range[1]), xs.max())] * k + [math.log(RATIO_BOUNDS[1])] * k
        slices.append((start, k))

    def shapes_of(x: np.ndarray) -> list[np.ndarray]:
        return [_ratio_shapes(np.exp(x[s:s + k]), np.exp(x[s + k:s + 2 * k])) for s, k in slices]

    def write(template: Any, values: np.ndarray) -> Any:
        out, gen = _new_generator(template, kind)
        for grid, (s, k) in zip(gen.anchor_grid, slices):
            _set_list(grid, "base_sizes", [float(v) for v in values[s:s + k]])
            _set_list(grid, "aspect_ratios", [float(v) for v in values[s + k:s + 2 * k]])
        return out

    return ParamSpace(kind, names, groups, np.array(lower),
                      np.array(upper), np.array(x0), shapes_of, write,
                      diagonals=[(s + j, s + k + j) for s, k in slices for j in range(k)],
                      free_shapes=True)


def param_space(generator: Any, *, num_scales: int | None = None,
                num_aspect_ratios: int | None = None,
                size_range: tuple[float, float] = (4.0, 2048.0)) -> ParamSpace:
    """The :class:`ParamSpace` of an ``AnchorGenerator`` message.

    Raises:
        ConfigError: unknown or unset generator, empty lists.
        UsageError: a count option that does not apply to this generator.
    """
    from tfod_anchors.frameworks.tfod_generators import GENERATORS

    kind = generator.WhichOneof("anchor_generator_oneof") if generator is not None else None
    if kind not in GENERATORS:
        raise ConfigError(f"cannot fit anchor generator {kind or '(none)'}; "
                          f"supported: {', '.join(GENERATORS)}")
    return GENERATORS[kind].space(generator, num_scales, num_aspect_ratios, size_range)


def shape_unit(generator: Any, padded_shape: tuple[int, int]) -> tuple[float, float]:
    """Pixels per shape unit ``(y, x)`` for images of ``padded_shape`` ``(H, W)``
    (the generator kind's ``shape_unit``)."""
    from tfod_anchors.frameworks.tfod_generators import GENERATORS

    return GENERATORS[generator.WhichOneof("anchor_generator_oneof")].shape_unit(
        generator, padded_shape)


def pixel_unit(generator: Any, padded_shape: tuple[int, int]) -> tuple[float, float]:
    """Shapes in pixels of the padded input (grid, multiscale, flexible grid)."""
    return 1.0, 1.0


def ssd_unit(generator: Any, padded_shape: tuple[int, int]) -> tuple[float, float]:
    """``ssd_anchor_generator``: shapes in ``min(H, W) * base_anchor_{height,width}``."""
    g = generator.ssd_anchor_generator
    m = float(min(padded_shape))
    return float(g.base_anchor_height) * m, float(g.base_anchor_width) * m
