"""Model anchor geometry: resizer + extractor + generator, window policy, the anchors command."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SHARED

from tfod_anchors.anchors.describe import describe_anchors, export_anchors
from tfod_anchors.anchors.model import model_anchor_layout, model_anchors
from tfod_anchors.config.schema import parse_pipeline_text
from tfod_anchors.errors import ConfigError, UsageError, WriteError

CONFIGS = SHARED / "tfod-configs"

SSD_300 = """model { ssd {
  num_classes: 1
  image_resizer { fixed_shape_resizer { height: 300 width: 300 } }
  feature_extractor { type: "ssd_mobilenet_v2_keras" }
  anchor_generator { ssd_anchor_generator { num_layers: 6 min_scale: 0.2 max_scale: 0.95
    aspect_ratios: [1.0, 2.0, 0.5, 3.0, 0.3333] } }
} }"""

FRCNN_64 = """model { faster_rcnn {
  num_classes: 1
  image_resizer { fixed_shape_resizer { height: 64 width: 64 } }
  feature_extractor { type: "faster_rcnn_resnet50_keras" first_stage_features_stride: 16 }
  first_stage_anchor_generator { grid_anchor_generator { scales: 1.0 aspect_ratios: 1.0
    height: 32 width: 32 height_stride: 16 width_stride: 16 } }
  %s
} }"""

RETINA_KEEP = """model { ssd {
  num_classes: 1
  image_resizer { keep_aspect_ratio_resizer { min_dimension: 600 max_dimension: 1024 } }
  feature_extractor { type: "ssd_resnet50_v1_fpn_keras" pad_to_multiple: 32 }
  anchor_generator { multiscale_anchor_generator { min_level: 3 max_level: 7 anchor_scale: 4.0
    aspect_ratios: [1.0, 2.0, 0.5] scales_per_octave: 2 } }
} }"""


def cfg(text: str):
    return parse_pipeline_text(text, "test.config")


def test_ssd_default_layout_1917():
    layout = model_anchor_layout(cfg(SSD_300), (300, 300))
    assert layout.num_anchors == 1917
    assert layout.window_policy == "none" and layout.normalized
    assert [lv.grid_shape for lv in layout.levels] == [(19, 19), (10, 10), (5, 5), (3, 3),
                                                        (2, 2), (1, 1)]


def test_frcnn_pruned_vs_clipped():
    pruned = model_anchors(cfg(FRCNN_64 % ""), (64, 64))
    assert pruned.layout.window_policy == "prune"
    assert pruned.extractor.feature_map_shapes == [(4, 4)]
    boxes = pruned.layout.boxes()
    # centres 0, 16, 32, 48 with 32-px anchors: the row or column at 0 sticks out
    outside = (boxes[:, 0] < 0) | (boxes[:, 1] < 0) | (boxes[:, 2] > 64) | (boxes[:, 3] > 64)
    assert boxes.shape == (16, 4) and int(outside.sum()) == 7
    np.testing.assert_allclose(boxes[-1], [32, 32, 64, 64])  # touching the border is kept
    d = describe_anchors(cfg(FRCNN_64 % ""), (64, 64))
    assert d["num_anchors"] == 16 and d["num_anchors_outside_image"] == 7
    assert d["window_policy"] == "prune" and d["units"] == "pixels"
    clipped = model_anchors(cfg(FRCNN_64 % "clip_anchors_to_image: true"), (64, 64))
    assert clipped.layout.window_policy == "clip"
    np.testing.assert_array_equal(clipped.tfod_anchors(), pruned.tfod_anchors())


def test_describe_anchors_keys_and_table():
    d = describe_anchors(cfg(SSD_300), (480, 640))
    assert d["image_size"] == [480, 640]
    assert d["resized_shape"] == [300, 300] and d["padded_shape"] == [300, 300]
    assert d["feature_map_shapes"][0] == [19, 19]
    assert d["anchors_per_location"] == [3, 6, 6, 6, 6, 6]
    assert d["num_anchors"] == 1917 and d["units"] == "normalized"
    assert len(d["per_location"]) == 33
    first = d["per_location"][0]
    assert first == {"level": 0, "height": 30.0, "width": 30.0, "scale": 0.1,
                     "aspect_ratio": 1.0, "pixel_aspect_ratio": 1.0}
    assert d["per_location"][1]["pixel_aspect_ratio"] == 2.0
    assert [lv["num_anchors"] for lv in d["levels"]] == [1083, 600, 150, 54, 24, 6]


def test_describe_grid_note_and_sizes():
    text = (FRCNN_64 % "").replace("scales: 1.0 aspect_ratios: 1.0\n    height: 32 width: 32",
                        "scales: [0.5, 1.0] aspect_ratios: [0.5, 2.0]")
    d = describe_anchors(cfg(text), (64, 64))
    rows = [(r["height"], r["width"], r["scale"], r["aspect_ratio"]) for r in d["per_location"]]
    assert rows == [(181.02, 90.51, 0.5, 0.5), (362.04, 181.02, 1.0, 0.5),
                    (90.51, 181.02, 0.5, 2.0), (181.02, 362.04, 1.0, 2.0)]
    assert any("Cartesian product" in n for n in d["notes"])


def test_multiscale_with_dynamic_resizer_uses_half_stride_offsets():
    c = cfg(RETINA_KEEP)
    d = describe_anchors(c, (480, 650))       # -> 600x812, padded internally to 608x832
    assert d["resized_shape"] == [600, 812] and d["padded_shape"] == [600, 812]
    assert d["feature_map_shapes"][0] == [76, 104]
    layout = model_anchor_layout(c, (600, 812))
    # 600 % 16 != 0, yet TFOD sees a dynamic shape and centres at stride / 2
    assert layout.levels[1].offset == (8.0, 8.0)


def test_anchor_free_and_empty_generator_raise():
    with pytest.raises(ConfigError, match="no anchor generator"):
        model_anchor_layout(cfg("model { center_net { num_classes: 1 } }"), (512, 512))
    empty = SSD_300.replace("anchor_generator { ssd_anchor_generator", "x { y").split("x {")[0]
    with pytest.raises(ConfigError):
        model_anchor_layout(cfg(empty + "} }"), (300, 300))
    with pytest.raises(ConfigError, match="not one TFOD registers"):
        model_anchor_layout(cfg(SSD_300.replace("ssd_mobilenet_v2_keras", "mine")), (300, 300))


def test_export_npy_and_csv(tmp_path):
    anchors = model_anchors(cfg(SSD_300), (300, 300)).tfod_anchors()
    npy = export_anchors(anchors, tmp_path / "a.npy")
    back = np.load(npy)
    assert back.dtype == np.float32 and back.shape == (1917, 4)
    np.testing.assert_array_equal(back, anchors)
    csv = export_anchors(anchors, tmp_path / "a.csv")
    lines = csv.read_text().splitlines()
    assert lines[0] == "ymin,xmin,ymax,xmax" and len(lines) == 1918
    np.testing.assert_array_equal(
        np.loadtxt(csv, delimiter=",", skiprows=1, dtype=np.float32), anchors)
    with pytest.raises(UsageError):
        export_anchors(anchors, tmp_path / "a.txt")
    with pytest.raises(WriteError):
        export_anchors(anchors, tmp_path / "missing" / "a.npy")


def anchored_configs():
    if not CONFIGS.is_dir():
        return []
    return sorted(p for p in CONFIGS.glob("*/*.config")
                  if "faster_rcnn {" in p.read_text() or "ssd {" in p.read_text())


@pytest.mark.skipif(not CONFIGS.is_dir(), reason="../shared/tfod-configs not available")
@pytest.mark.parametrize("path", anchored_configs(), ids=lambda p: p.name)
def test_describe_anchors_on_every_sample_config(path):
    c = parse_pipeline_text(path.read_text(), str(path))
    d = describe_anchors(c, (480, 640))
    assert d["num_anchors"] == sum(
        k * fh * fw for k, (fh, fw) in zip(d["anchors_per_location"], d["feature_map_shapes"]))
    assert d["num_anchors"] > 0
    anchors = model_anchors(c, tuple(d["padded_shape"])).tfod_anchors()
    assert anchors.shape == (d["num_anchors"], 4) and anchors.dtype == np.float32
