"""TFOD's anchor generators: one record per ``anchor_generator_oneof`` name.

This table is the only code outside ``anchors/`` and ``config/`` that tells the four
generators apart by name. Each record binds, for one oneof name, the pieces the stages
need, each kept in the module of its stage (nothing here computes anything):

* ``build`` — the numpy generator (:data:`tfod_anchors.anchors.builder.BUILDERS`);
* ``space`` — the fittable fields as a :class:`~tfod_anchors.fitting.params.ParamSpace`;
* ``shape_unit`` — pixels per unit of those shapes;
* ``centroid_fields`` — the fields k-means centroids imply (``cluster``), or None with
  ``no_centroids`` saying why;
* ``structure_rules`` / ``value_fields`` — ``check``'s empty/repeated lists and its
  fields that must be finite and positive;
* ``oracle`` — the test that compares its anchors with TFOD's own numbers.

What is special about ``grid_anchor_generator`` (the Faster R-CNN first stage), in one
place: it is the only generator whose space is a one-map Cartesian product of
``scales`` x ``aspect_ratios`` (``ParamSpace.split_counts``). Because the box predictor
sees only the product, the fit tries every other split of it (12 = 4 x 3, 6 x 2, 3 x 4,
2 x 6) sharing one pool of shapes and its columns (``fitting/strategy.grid_pool``), seeds
its coarse search with factorised IoU k-means starts, and checks the stride rule in closed
form (``fitting/problem._grid_below``); ``cluster`` shows its naive Cartesian product
beside the factorised one; ``check`` compares its stride with
``first_stage_features_stride`` and refuses it under SSD. SSD's shapes are fractions of
``min(H, W)`` (its ``shape_unit``) and its layer scales must not decrease
(``ParamSpace.ascending``); a one-layer flexible grid is a free set of shapes
(``ParamSpace.free_shapes``), kept at least as good as IoU k-means.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tfod_anchors.anchors.builder import BUILDERS
from tfod_anchors.cluster import centroids
from tfod_anchors.fitting import params
from tfod_anchors.rules import config as rules


@dataclass(frozen=True)
class GeneratorKind:
    """Everything the stages need to know about one generator oneof name.

    Attributes:
        name: the ``anchor_generator_oneof`` name.
        build: ``(oneof message, meta-architecture) -> numpy generator``.
        space: ``(AnchorGenerator message, num_scales, num_ratios, size_range (px)) ->
            ParamSpace``; raises UsageError for counts that do not apply.
        shape_unit: ``(AnchorGenerator message, padded (H, W)) -> (y, x)`` pixels per
            shape unit.
        centroid_fields: ``(oneof message, centroids [K, 2] (w, h) px, padded (H, W) or
            None, CentroidCounts, weights) -> fields``, or None (``no_centroids`` says why).
        structure_rules: ``(name, oneof message) -> (empty fields, findings)``.
        value_fields: ``oneof message -> (ratios, scales)``, each ``[(field, bad values)]``.
        oracle: ``tests/test_anchor_generators.py`` test checking it against TFOD.
        no_centroids: why there is no centroid mapping (when ``centroid_fields`` is None).
        cartesian: one map of ``scales`` x ``aspect_ratios`` (the grid generator; see
            the module docstring for all that follows from it).
        image_relative: shapes are fractions of the padded input (SSD): its centroid
            mapping needs the padded shape.
    """

    name: str
    build: Callable[[Any, str], Any]
    space: Callable[[Any, int | None, int | None, tuple[float, float]], params.ParamSpace]
    shape_unit: Callable[[Any, tuple[int, int]], tuple[float, float]]
    centroid_fields: Callable[..., dict] | None
    structure_rules: Callable[[str, Any], rules.Structure]
    value_fields: Callable[[Any], rules.ValueFields]
    oracle: str
    no_centroids: str | None = None
    cartesian: bool = False
    image_relative: bool = False


def _without_size_range(space: Callable[[Any, int | None, int | None], params.ParamSpace]
                        ) -> Callable[..., params.ParamSpace]:
    """A space builder whose bounds do not depend on the boxes' size range."""
    return lambda generator, num_scales, num_ratios, _size_range: space(
        generator, num_scales, num_ratios)


def _records() -> dict[str, GeneratorKind]:
    grid, ssd = "grid_anchor_generator", "ssd_anchor_generator"
    multi, flex = "multiscale_anchor_generator", "flexible_grid_anchor_generator"
    return {
        grid: GeneratorKind(grid, BUILDERS[grid], params.grid_space, params.pixel_unit,
                            centroids.grid_fields, rules.grid_structure, rules.grid_values,
                            "test_grid_tfod_array_order_and_units", cartesian=True),
        ssd: GeneratorKind(ssd, BUILDERS[ssd], _without_size_range(params.ssd_space),
                           params.ssd_unit, centroids.ssd_fields, rules.ssd_structure,
                           rules.ssd_values, "test_ssd_layout_matches_tfod_array",
                           image_relative=True),
        multi: GeneratorKind(multi, BUILDERS[multi],
                             _without_size_range(params.multiscale_space), params.pixel_unit,
                             centroids.multiscale_fields, rules.multiscale_structure,
                             rules.multiscale_values, "test_multiscale_sizes_and_order"),
        flex: GeneratorKind(flex, BUILDERS[flex], params.flexible_space, params.pixel_unit,
                            None, rules.flexible_structure, rules.flexible_values,
                            "test_flexible_elementwise_pairs_offsets_and_normalization",
                            no_centroids="per-layer mapping: use `fit` for flexible grids"),
    }


#: The registry: oneof name -> :class:`GeneratorKind`, in the schema's order.
GENERATORS: dict[str, GeneratorKind] = _records()


def generator_kind(name: str | None) -> GeneratorKind | None:
    """The record of a oneof name, or None (unset or unknown)."""
    return GENERATORS.get(name or "")


def free_set_generator(generator: Any, wh: Any) -> Any | None:
    """A one-layer ``flexible_grid_anchor_generator`` message of free ``(w, h)`` shapes
    (float ``[K, 2]``, resized pixels) on the grid of ``generator`` (an ``AnchorGenerator``
    message: a grid, or a one-layer flexible grid, whose stride and offsets are kept);
    None where a free set has no single map to sit on."""
    import math

    import numpy as np

    kind = generator.WhichOneof("anchor_generator_oneof") if generator is not None else None
    if kind not in ("grid_anchor_generator", "flexible_grid_anchor_generator"):
        return None
    out = type(generator)()
    fg = out.flexible_grid_anchor_generator
    fg.normalize_coordinates = False
    layer = fg.anchor_grid.add()
    if kind == "grid_anchor_generator":
        g = generator.grid_anchor_generator
        layer.height_stride, layer.width_stride = int(g.height_stride), int(g.width_stride)
        layer.height_offset, layer.width_offset = int(g.height_offset), int(g.width_offset)
    else:
        if len(generator.flexible_grid_anchor_generator.anchor_grid) != 1:
            return None
        src = generator.flexible_grid_anchor_generator.anchor_grid[0]
        layer.height_stride, layer.width_stride = src.height_stride, src.width_stride
        layer.height_offset, layer.width_offset = src.height_offset, src.width_offset
        fg.normalize_coordinates = generator.flexible_grid_anchor_generator.normalize_coordinates
    for w, h in np.asarray(wh, dtype=np.float64).reshape(-1, 2):
        if w > 0 and h > 0:
            layer.base_sizes.append(float(f"{math.sqrt(w * h):.4g}"))
            layer.aspect_ratios.append(float(f"{w / h:.4g}"))
    return out



def centroid_mapping(generator: Any, wh: Any, padded_shape: tuple[int, int] | None
                     ) -> tuple[dict[str, Any], Any | None]:
    """``(doc, generator)``: the fields of ``generator`` (an ``AnchorGenerator`` message)
    that centroids ``wh`` ``[K, 2]`` ``(w, h)`` px imply, as ``cluster`` shows them
    (``kind`` and the fields; for the grid the ``factorised`` set, which is written, and
    the ``naive_cartesian`` one beside it; ``note`` when there is no mapping), and the
    generator with them (None without a mapping). ``padded_shape`` ``(H, W)`` serves the
    generators sized by the image (SSD)."""
    from tfod_anchors.errors import UsageError

    kind = generator.WhichOneof("anchor_generator_oneof")
    record = generator_kind(kind)
    if record is not None and record.centroid_fields is None:
        return {"kind": kind, "note": record.no_centroids}, None
    shape = padded_shape if record is not None and record.image_relative else None
    try:
        fields = centroids.generator_fields(generator, wh, padded_shape=shape)
        doc: dict[str, Any] = {"kind": kind}
        if record is not None and record.cartesian:
            msg = getattr(generator, kind)
            doc["factorised"] = fields
            doc["naive_cartesian"] = centroids.grid_naive(
                wh, base_size=(float(msg.height), float(msg.width)))
        else:
            doc.update(fields)
    except UsageError as err:  # e.g. fewer distinct centroid values than the config's lists
        return {"kind": kind, "note": f"no mapping: {err.message}"}, None
    return doc, centroids.with_fields(generator, fields)
