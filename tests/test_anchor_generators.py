"""TFOD anchor generators in numpy: counts, sizes, order, offsets, units.

Expected numbers are derived by hand from TFOD's formulas
(``../shared/reference/tfod-facts.md`` §3); the float32 arrays were also compared
with TFOD's own generators outside the test suite (bit-identical).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from tfod_anchors.anchors import (
    FlexibleGridAnchorGenerator,
    GridAnchorGenerator,
    MultiscaleAnchorGenerator,
    SsdAnchorGenerator,
    build_anchor_generator,
    generator_kind,
)
from tfod_anchors.config.schema import parse_text, pipeline_pb2
from tfod_anchors.errors import ConfigError

SSD_MAPS_300 = [(19, 19), (10, 10), (5, 5), (3, 3), (2, 2), (1, 1)]


def gen(text: str, meta: str | None = None):
    msg = parse_text(text, pipeline_pb2().AnchorGenerator())
    return build_anchor_generator(msg, meta)


def layout_in_tfod_units(g, shapes, padded):
    """Layout boxes converted to the units TFOD returns (for order/value checks)."""
    layout = g.layout(shapes, padded)
    boxes = layout.boxes()
    if layout.normalized:
        boxes = boxes / np.array([padded[0], padded[1]] * 2, dtype=np.float64)
    return boxes


# --- grid -----------------------------------------------------------------------------

GRID = """grid_anchor_generator {
  scales: [0.5, 1.0] aspect_ratios: [0.5, 2.0] height_stride: 16 width_stride: 16 }"""


def test_grid_sizes_aspect_outer_scale_inner():
    g = gen(GRID)
    assert isinstance(g, GridAnchorGenerator)
    assert g.num_anchors_per_location() == [4]
    assert g.box_specs() == [[(0.5, 0.5), (1.0, 0.5), (0.5, 2.0), (1.0, 2.0)]]
    level = g.layout([(2, 3)], (32, 48)).levels[0]
    r = math.sqrt(2.0)
    # h = s / sqrt(a) * 256, w = s * sqrt(a) * 256
    expected = [(128 * r, 64 * r), (256 * r, 128 * r), (64 * r, 128 * r), (128 * r, 256 * r)]
    np.testing.assert_allclose(level.sizes, expected)
    np.testing.assert_allclose(level.sizes[0], [181.02, 90.51], atol=0.005)
    np.testing.assert_allclose(level.sizes[1], [362.04, 181.02], atol=0.005)
    assert level.offset == (0.0, 0.0) and level.stride == (16.0, 16.0)


def test_grid_tfod_array_order_and_units():
    g = gen(GRID)
    a = g.tfod_anchors([(2, 3)], (32, 48))
    assert a.dtype == np.float32 and a.shape == (2 * 3 * 4, 4)
    h, w = 128 * math.sqrt(2.0), 64 * math.sqrt(2.0)
    # first anchor centred on pixel (0, 0): offset defaults to 0, absolute pixels
    np.testing.assert_allclose(a[0], [-h / 2, -w / 2, h / 2, w / 2], rtol=1e-6)
    # anchor 4 is location (0, 1): same shape, centre x = 16
    np.testing.assert_allclose(a[4], a[0] + [0, 16, 0, 16], rtol=1e-6)
    # anchor 12 is location (1, 0): centre y = 16
    np.testing.assert_allclose(a[12], a[0] + [16, 0, 16, 0], rtol=1e-6)
    np.testing.assert_allclose(layout_in_tfod_units(g, [(2, 3)], (32, 48)), a, atol=1e-4)


def test_grid_defaults_and_offsets():
    g = gen("grid_anchor_generator { scales: 1.0 aspect_ratios: 1.0 "
            "height_offset: 8 width_offset: 4 }")
    assert g.base_size == (256.0, 256.0) and g.stride == (16.0, 16.0)
    a = g.tfod_anchors([(1, 2)], (16, 32))
    np.testing.assert_allclose(a, [[8 - 128, 4 - 128, 8 + 128, 4 + 128],
                                   [8 - 128, 20 - 128, 8 + 128, 20 + 128]])


def test_grid_empty_lists_give_no_anchors():
    g = gen("grid_anchor_generator { aspect_ratios: [1.0, 2.0] }")
    assert g.num_anchors_per_location() == [0]
    assert g.tfod_anchors([(38, 38)], (600, 600)).shape == (0, 4)
    assert g.layout([(38, 38)], (600, 600)).num_anchors == 0


def test_grid_rejects_several_maps_and_ssd():
    g = gen(GRID)
    with pytest.raises(ConfigError, match="exactly one feature map"):
        g.layout([(2, 2), (1, 1)], (32, 32))
    with pytest.raises(ConfigError, match="SSD"):
        gen(GRID, "ssd").tfod_anchors([(2, 2)], (32, 32))


# --- ssd ------------------------------------------------------------------------------

SSD_DEFAULT = """ssd_anchor_generator {
  num_layers: 6 min_scale: 0.2 max_scale: 0.95
  aspect_ratios: [1.0, 2.0, 0.5, 3.0, 0.3333] }"""


def test_ssd_default_config_1917_anchors_at_300():
    g = gen(SSD_DEFAULT)
    assert isinstance(g, SsdAnchorGenerator)
    assert g.num_anchors_per_location() == [3, 6, 6, 6, 6, 6]
    a = g.tfod_anchors(SSD_MAPS_300, (300, 300))
    assert a.shape == (1917, 4) and a.dtype == np.float32
    assert g.layout(SSD_MAPS_300, (300, 300)).num_anchors == 1917


def test_ssd_scales_lowest_layer_and_interpolated_anchor():
    specs = gen(SSD_DEFAULT).box_specs()
    f32 = np.float32
    # lowest layer: fixed 0.1 anchor, then s_0 with 2.0 and 0.5
    assert specs[0] == [(0.1, 1.0), (pytest.approx(0.2), 2.0), (pytest.approx(0.2), 0.5)]
    scales = [layer[0][0] for layer in specs[1:]]
    np.testing.assert_allclose(scales, [0.35, 0.5, 0.65, 0.8, 0.95], atol=1e-6)
    extra = [layer[-1] for layer in specs[1:]]
    np.testing.assert_allclose(
        [s for s, _ in extra],
        [math.sqrt(0.35 * 0.5), math.sqrt(0.5 * 0.65), math.sqrt(0.65 * 0.8),
         math.sqrt(0.8 * 0.95), math.sqrt(0.95 * 1.0)], atol=1e-6)
    np.testing.assert_allclose([s for s, _ in extra], [0.4183, 0.5701, 0.7211, 0.8718, 0.9747],
                               atol=1e-4)
    assert all(a == 1.0 for _, a in extra)
    assert specs[1][4][1] == float(f32(0.3333))  # 0.3333 as the proto's float32, not 1/3


def test_ssd_normalized_centres_and_min_side_scaling():
    g = gen(SSD_DEFAULT)
    a = g.tfod_anchors(SSD_MAPS_300, (300, 300))
    # first anchor: scale 0.1, aspect 1, centre (0.5 / 19, 0.5 / 19)
    c = 0.5 / 19
    np.testing.assert_allclose(a[0], [c - 0.05, c - 0.05, c + 0.05, c + 0.05], atol=1e-6)
    # non-square input 300 x 600: scales are fractions of min(H, W) = 300 pixels
    shapes = [(19, 38), (10, 19), (5, 10), (3, 5), (2, 3), (1, 2)]
    b = g.tfod_anchors(shapes, (300, 600))
    h, w = b[0, 2] - b[0, 0], b[0, 3] - b[0, 1]
    assert h == pytest.approx(0.1, abs=1e-6) and w == pytest.approx(0.05, abs=1e-6)
    lay = g.layout(shapes, (300, 600))
    np.testing.assert_allclose(lay.levels[0].sizes[0], [30.0, 30.0])
    assert lay.levels[0].stride == pytest.approx((300 / 19, 600 / 38))
    assert lay.normalized


def test_ssd_layout_matches_tfod_array():
    g = gen(SSD_DEFAULT)
    np.testing.assert_allclose(
        layout_in_tfod_units(g, SSD_MAPS_300, (300, 300)),
        g.tfod_anchors(SSD_MAPS_300, (300, 300)), atol=1e-6)


def test_ssd_explicit_strides_offsets_and_base():
    g = gen("""ssd_anchor_generator { num_layers: 2 scales: [0.2, 0.5] aspect_ratios: 1.0
        interpolated_scale_aspect_ratio: 0.0 reduce_boxes_in_lowest_layer: false
        base_anchor_height: 0.5 base_anchor_width: 1.0
        height_stride: [16, 32] width_stride: [16, 32]
        height_offset: [8, 0] width_offset: [4, 0] }""")
    assert g.num_anchors_per_location() == [1, 1]
    a = g.tfod_anchors([(2, 2), (1, 1)], (32, 64))
    # layer 0, cell (0, 0): centre (8/32, 4/64), h = 0.2 * 0.5 * 32 px, w = 0.2 * 1 * 32 px
    np.testing.assert_allclose(a[0], [(8 - 1.6) / 32, (4 - 3.2) / 64, (8 + 1.6) / 32,
                                      (4 + 3.2) / 64], atol=1e-6)
    # cell (1, 1): centre + one stride
    np.testing.assert_allclose(a[3] - a[0], [0.5, 0.25, 0.5, 0.25], atol=1e-6)
    lay = g.layout([(2, 2), (1, 1)], (32, 64))
    assert lay.levels[0].stride == (16.0, 16.0) and lay.levels[0].offset == (8.0, 4.0)


def test_ssd_explicit_scales_longer_than_layers_feed_the_last_extra_anchor():
    g = gen("""ssd_anchor_generator { num_layers: 2 scales: [0.2, 0.4, 0.9] aspect_ratios: 1.0
        reduce_boxes_in_lowest_layer: false }""")
    assert g.box_specs()[1][-1][0] == pytest.approx(math.sqrt(0.4 * 0.9), rel=1e-6)


def test_ssd_builder_validations():
    with pytest.raises(ConfigError, match="num_layers 1"):
        gen("ssd_anchor_generator { num_layers: 1 aspect_ratios: 1.0 }")
    with pytest.raises(ConfigError, match="height_stride"):
        gen("ssd_anchor_generator { num_layers: 3 aspect_ratios: 1.0 "
            "height_stride: [8, 16] width_stride: [8, 16] }")
    with pytest.raises(ConfigError, match="feature map"):
        gen(SSD_DEFAULT).tfod_anchors(SSD_MAPS_300[:5], (300, 300))
    # height_stride without width_stride: TFOD zips them to nothing and uses its defaults
    g = gen("ssd_anchor_generator { num_layers: 2 aspect_ratios: 1.0 height_stride: [8, 16] }")
    assert g.strides == ()


# --- multiscale -----------------------------------------------------------------------

RETINA = """multiscale_anchor_generator { min_level: 3 max_level: 7 anchor_scale: 4.0
  aspect_ratios: [1.0, 2.0, 0.5] scales_per_octave: 2 }"""


def pyramid(side: int, levels) -> list[tuple[int, int]]:
    return [(-(-side // 2**lv), -(-side // 2**lv)) for lv in levels]


def test_multiscale_retinanet_640_count():
    g = gen(RETINA)
    assert isinstance(g, MultiscaleAnchorGenerator)
    assert g.num_anchors_per_location() == [6] * 5
    shapes = pyramid(640, range(3, 8))
    assert shapes == [(80, 80), (40, 40), (20, 20), (10, 10), (5, 5)]
    assert g.tfod_anchors(shapes, (640, 640)).shape == (51150, 4)


def test_multiscale_efficientdet_d0_count():
    g = gen("""multiscale_anchor_generator { min_level: 3 max_level: 7 anchor_scale: 4.0
        aspect_ratios: [1.0, 2.0, 0.5] scales_per_octave: 3 }""")
    shapes = pyramid(512, range(3, 8))
    assert g.layout(shapes, (512, 512)).num_anchors == 49104
    assert g.tfod_anchors(shapes, (512, 512)).shape == (49104, 4)


def test_multiscale_sizes_and_order():
    g = gen(RETINA)
    lay = g.layout(pyramid(640, range(3, 8)), (640, 640))
    level3 = lay.levels[0]
    assert level3.level == 3 and level3.stride == (8.0, 8.0)
    r, o = math.sqrt(2.0), 2 ** 0.5
    # aspect outer, octave scale inner; base 32 px at level 3
    expected = [(32, 32), (32 * o, 32 * o), (32 / r, 32 * r), (32 * o / r, 32 * o * r),
                (32 * r, 32 / r), (32 * o * r, 32 * o / r)]
    np.testing.assert_allclose(level3.sizes, expected)
    assert lay.levels[4].sizes[0].tolist() == [512.0, 512.0]


def test_multiscale_offset_divisibility_rule():
    g = gen("""multiscale_anchor_generator { min_level: 4 max_level: 4 anchor_scale: 1.0
        aspect_ratios: 1.0 scales_per_octave: 1 normalize_coordinates: false }""")
    a72 = g.tfod_anchors([(5, 5)], (72, 72))       # 72 % 16 != 0 -> offset 0
    assert (a72[:, 0] + a72[:, 2])[:: 5].tolist() == [0.0, 32.0, 64.0, 96.0, 128.0]
    a64 = g.tfod_anchors([(4, 4)], (64, 64))       # 64 % 16 == 0 -> offset 8
    assert ((a64[:, 0] + a64[:, 2]) / 2)[::4].tolist() == [8.0, 24.0, 40.0, 56.0]
    mixed = g.layout([(5, 4)], (72, 64)).levels[0]
    assert mixed.offset == (0.0, 8.0)
    # TFOD sees tensors (dynamic input size): always half a stride
    import dataclasses
    dyn = dataclasses.replace(g, image_size_known=False)
    assert dyn.layout([(5, 5)], (72, 72)).levels[0].offset == (8.0, 8.0)
    # Faster R-CNN passes no image size: always half a stride
    frcnn = dataclasses.replace(g, meta_architecture="faster_rcnn")
    assert frcnn.layout([(5, 5)], (72, 72)).levels[0].offset == (8.0, 8.0)


def test_multiscale_normalization_and_frcnn_rule():
    g = gen(RETINA)
    shapes = pyramid(640, range(3, 8))
    a = g.tfod_anchors(shapes, (640, 640))
    # first anchor: level 3, centre 4 px, 32 px square
    np.testing.assert_allclose(a[0], np.array([-12, -12, 20, 20]) / 640, rtol=1e-6)
    np.testing.assert_allclose(layout_in_tfod_units(g, shapes, (640, 640)), a, atol=1e-6)
    with pytest.raises(ConfigError, match="normalize_coordinates"):
        gen(RETINA, "faster_rcnn").layout(shapes, (640, 640))
    frcnn = gen(RETINA.replace("}", " normalize_coordinates: false }"), "faster_rcnn")
    b = frcnn.tfod_anchors(shapes, (640, 640))
    np.testing.assert_allclose(b[0], [-12, -12, 20, 20])
    assert not frcnn.layout(shapes, (640, 640)).normalized


# --- flexible grid ---------------------------------------------------------------------

FLEX = """flexible_grid_anchor_generator {
  anchor_grid { base_sizes: [16, 32] aspect_ratios: [1.0, 4.0] height_stride: 8 width_stride: 8 }
  anchor_grid { base_sizes: [64] aspect_ratios: [0.25] height_stride: 16 width_stride: 16
                height_offset: 8 width_offset: 8 } }"""


def test_flexible_elementwise_pairs_offsets_and_normalization():
    g = gen(FLEX)
    assert isinstance(g, FlexibleGridAnchorGenerator)
    assert g.num_anchors_per_location() == [2, 1]
    assert g.box_specs() == [[(16.0, 1.0), (32.0, 4.0)], [(64.0, 0.25)]]
    lay = g.layout([(2, 2), (1, 1)], (16, 16))
    np.testing.assert_allclose(lay.levels[0].sizes, [[16, 16], [16, 64]])
    np.testing.assert_allclose(lay.levels[1].sizes, [[128, 32]])
    assert lay.levels[0].offset == (0.0, 0.0) and lay.levels[1].offset == (8.0, 8.0)
    a = g.tfod_anchors([(2, 2), (1, 1)], (16, 16))
    assert a.shape == (2 * 2 * 2 + 1, 4)
    np.testing.assert_allclose(a[0], np.array([-8, -8, 8, 8]) / 16)
    np.testing.assert_allclose(a[-1], np.array([8 - 64, 8 - 16, 8 + 64, 8 + 16]) / 16)
    np.testing.assert_allclose(layout_in_tfod_units(g, [(2, 2), (1, 1)], (16, 16)), a)


def test_flexible_validations():
    with pytest.raises(ConfigError, match="element-wise"):
        gen("flexible_grid_anchor_generator { anchor_grid { base_sizes: [16, 32] "
            "aspect_ratios: [1.0, 2.0, 0.5] height_stride: 8 width_stride: 8 } }")
    one_ratio = gen("flexible_grid_anchor_generator { anchor_grid { base_sizes: [16, 32] "
                    "aspect_ratios: 1.0 height_stride: 8 width_stride: 8 } }")
    assert one_ratio.box_specs() == [[(16.0, 1.0), (32.0, 1.0)]]
    with pytest.raises(ConfigError, match="normalize_coordinates"):
        gen(FLEX, "faster_rcnn").tfod_anchors([(2, 2), (1, 1)], (16, 16))


# --- builder -----------------------------------------------------------------------------

def test_builder_dispatch_and_empty():
    empty = pipeline_pb2().AnchorGenerator()
    assert generator_kind(empty) is None
    with pytest.raises(ConfigError, match="empty"):
        build_anchor_generator(empty)
    assert gen(GRID).meta_architecture == "faster_rcnn"
    assert gen(RETINA).meta_architecture == "ssd"
    assert gen(RETINA, "faster_rcnn").meta_architecture == "faster_rcnn"
    with pytest.raises(ConfigError, match="meta-architecture"):
        gen(RETINA, "center_net")
