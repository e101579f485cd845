"""The bundled object_detection schema: in sync with protos/, TFOD-compatible, isolated."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import ROOT, SHARED_CONFIGS
from google.protobuf import descriptor_pool, text_format

from tfod_anchors.config import schema as schema_mod
from tfod_anchors.config.schema import LABEL_MAP, PIPELINE, get_schema, parse_pipeline_text
from tfod_anchors.errors import ConfigError, UsageError

REPO = ROOT
CONFIGS = sorted(SHARED_CONFIGS.glob("*/*.config"))


def _need_configs():
    if not CONFIGS:
        pytest.skip(f"sample configs not found under {SHARED_CONFIGS}")


@functools.cache
def _parsed(path: Path):
    return parse_pipeline_text(path.read_text(encoding="utf-8"), str(path), get_schema("bundled"))


def test_shipped_descriptor_set_matches_protos():
    pytest.importorskip("grpc_tools")
    # protoc runs in a child process: grpc_tools' compiler can crash a process that
    # already holds other protobuf runtimes (TensorFlow's) in memory.
    proc = subprocess.run([sys.executable, str(REPO / "tools" / "build_schema.py"), "--check"],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr + " (run python tools/build_schema.py)"


def test_bundled_schema_has_all_files_in_a_private_pool():
    bundled = get_schema("bundled")
    assert bundled.origin == "bundled"
    assert bundled.pool is not descriptor_pool.Default()
    files = {
        bundled.pool.FindMessageTypeByName(PIPELINE).file.name,
        bundled.pool.FindMessageTypeByName(LABEL_MAP).file.name,
    }
    assert files == {
        "object_detection/protos/pipeline.proto",
        "object_detection/protos/string_int_label_map.proto",
    }
    assert len(list((REPO / "protos" / "object_detection" / "protos").glob("*.proto"))) == 34
    assert bundled.message_class(PIPELINE) is bundled.TrainEvalPipelineConfig
    assert bundled.new_pipeline().DESCRIPTOR.full_name == PIPELINE
    with pytest.raises(AttributeError):
        bundled.NoSuchMessage  # noqa: B018


def test_interface_numbers_and_defaults_match_tfod():
    """Spot checks against TFOD's documented proto defaults (tfod-facts.md)."""
    s = get_schema("bundled")
    grid = s.GridAnchorGenerator()
    assert (grid.height, grid.width, grid.height_stride, grid.width_stride) == (256, 256, 16, 16)
    assert (grid.height_offset, grid.width_offset, list(grid.scales)) == (0, 0, [])
    ssd = s.SsdAnchorGenerator()
    assert ssd.num_layers == 6 and ssd.reduce_boxes_in_lowest_layer is True
    assert ssd.min_scale == pytest.approx(0.2) and ssd.max_scale == pytest.approx(0.95)
    assert ssd.interpolated_scale_aspect_ratio == 1.0
    multi = s.MultiscaleAnchorGenerator()
    assert (multi.min_level, multi.max_level, multi.anchor_scale) == (3, 7, 4.0)
    assert (multi.scales_per_octave, multi.normalize_coordinates) == (2, True)
    assert s.FlexibleGridAnchorGenerator().normalize_coordinates is True
    matcher = s.ArgMaxMatcher()
    assert (matcher.matched_threshold, matcher.unmatched_threshold) == (0.5, 0.5)
    assert matcher.force_match_for_each_row is False
    assert matcher.negatives_lower_than_unmatched is True
    keep = s.KeepAspectRatioResizer()
    assert (keep.min_dimension, keep.max_dimension, keep.pad_to_max_dimension) == (600, 1024, False)
    assert s.PadToMultipleResizer().multiple == 1
    frcnn = s.FasterRcnn()
    assert frcnn.clip_anchors_to_image is False
    assert frcnn.feature_extractor.first_stage_features_stride == 16
    assert s.InputReader().max_number_of_boxes == 100

    gen = s.AnchorGenerator.DESCRIPTOR
    assert [(f.name, f.number) for f in gen.oneofs_by_name["anchor_generator_oneof"].fields] == [
        ("grid_anchor_generator", 1),
        ("ssd_anchor_generator", 2),
        ("multiscale_anchor_generator", 3),
        ("flexible_grid_anchor_generator", 4),
    ]
    resizer = s.ImageResizer.DESCRIPTOR.oneofs_by_name["image_resizer_oneof"]
    assert [f.number for f in resizer.fields] == [1, 2, 3, 4, 5]
    model = s.DetectionModel.DESCRIPTOR.fields_by_name
    assert (model["faster_rcnn"].number, model["ssd"].number) == (1, 2)
    pipe = s.TrainEvalPipelineConfig.DESCRIPTOR
    assert [(f.name, f.number) for f in pipe.fields] == [
        ("model", 1),
        ("train_config", 2),
        ("train_input_reader", 3),
        ("eval_config", 4),
        ("eval_input_reader", 5),
        ("graph_rewriter", 6),
    ]
    assert pipe.extension_ranges == [(1000, 536870912)]


_CONFIG_PARAMS = [pytest.param(p, id=f"{p.parent.name}/{p.name}") for p in CONFIGS] or [
    pytest.param(
        None, marks=pytest.mark.skip(reason=f"sample configs not found under {SHARED_CONFIGS}")
    )
]


@pytest.mark.parametrize("path", _CONFIG_PARAMS)
def test_sample_config_parses_strictly_and_round_trips(path):
    cfg = _parsed(path)
    assert cfg.HasField("model")
    again = get_schema("bundled").new_pipeline()
    text_format.Parse(text_format.MessageToString(cfg), again)
    assert again == cfg
    binary = type(cfg).FromString(cfg.SerializeToString())
    assert binary == cfg


def test_all_104_sample_configs_present():
    _need_configs()
    assert len(CONFIGS) == 104


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "model {\n  ssd {\n    num_classes: 'x'\n  }\n}\n",
            "line 3, column 18: Couldn't parse integer",
        ),
        (
            "model {\n  ssd { foo: 1 }\n}\n",
            'line 2, column 9: Message type "object_detection.protos.Ssd" has no field named "foo"',
        ),
        ("model {\n  ssd {\n", 'line 2, column 7: Expected "}"'),
        ("model { ssd: 3 }", 'line 1, column 14: Expected "{"'),
        ("train_config { batch_size: 1 batch_size: 2 }", "should not have multiple"),
    ],
)
def test_parse_errors_are_one_line_with_position(text, expected):
    with pytest.raises(ConfigError) as info:
        parse_pipeline_text(text, "dir/pipeline.config", get_schema("bundled"))
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("dir/pipeline.config: ")
    assert expected in message
    assert info.value.path == "dir/pipeline.config"


def test_schema_choice(monkeypatch):
    monkeypatch.setenv("TFOD_ANCHORS_SCHEMA", "Bundled")
    assert schema_mod.schema_choice() == "bundled"
    assert get_schema().origin == "bundled"
    monkeypatch.setenv("TFOD_ANCHORS_SCHEMA", "whatever")
    with pytest.raises(UsageError, match="TFOD_ANCHORS_SCHEMA"):
        get_schema()
    monkeypatch.delenv("TFOD_ANCHORS_SCHEMA")
    assert schema_mod.schema_choice() == "auto"
    assert get_schema("bundled").origin == "bundled"
    with pytest.raises(UsageError):
        get_schema("tfod")


_COEXIST = textwrap.dedent(
    """
    import os, sys
    from google.protobuf import descriptor_pool, text_format
    sys.path.insert(0, sys.argv[1])
    bundled_first = sys.argv[2] == "bundled-first"
    from tfod_anchors.config.schema import get_schema, parse_pipeline_text, LABEL_MAP
    if bundled_first:
        bundled = get_schema("bundled")
        bundled.new_pipeline()
    from object_detection.protos import pipeline_pb2
    bundled = get_schema("bundled")
    text = "model { ssd { anchor_generator { ssd_anchor_generator { num_layers: 4 } } } }"
    mine = parse_pipeline_text(text, "x", bundled)
    theirs = pipeline_pb2.TrainEvalPipelineConfig()
    text_format.Parse(text, theirs)
    assert type(mine) is not type(theirs)
    assert mine.SerializeToString() == theirs.SerializeToString()
    assert bundled.pool is not descriptor_pool.Default()
    assert theirs.DESCRIPTOR.file.pool is descriptor_pool.Default()
    chosen = get_schema()
    label_map = chosen.message_class(LABEL_MAP)
    print(chosen.origin, chosen.TrainEvalPipelineConfig is pipeline_pb2.TrainEvalPipelineConfig,
          label_map.DESCRIPTOR.file.pool is descriptor_pool.Default())
    """
)


@pytest.fixture(scope="module")
def installed_tfod(tmp_path_factory):
    """A real ``object_detection/protos/*_pb2.py`` package compiled from protos/."""
    pytest.importorskip("grpc_tools")
    root = tmp_path_factory.mktemp("tfod")
    files = sorted(str(p) for p in (REPO / "protos").rglob("*.proto"))
    # in a child process, like the descriptor check above
    proc = subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{REPO / 'protos'}",
                           f"--python_out={root}", *files], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    (root / "object_detection" / "__init__.py").write_text("")
    (root / "object_detection" / "protos" / "__init__.py").write_text("")
    return root


@pytest.mark.parametrize(
    ("env", "order", "expected"),
    [
        (None, "installed-first", "installed True True"),
        ("auto", "bundled-first", "installed True True"),
        ("bundled", "bundled-first", "bundled False False"),
        ("installed", "installed-first", "installed True True"),
    ],
)
def test_installed_and_bundled_coexist(installed_tfod, env, order, expected):
    environ = {k: v for k, v in os.environ.items() if k != "TFOD_ANCHORS_SCHEMA"}
    environ["PYTHONPATH"] = str(REPO)
    if env is not None:
        environ["TFOD_ANCHORS_SCHEMA"] = env
    proc = subprocess.run(
        [sys.executable, "-c", _COEXIST, str(installed_tfod), order],
        capture_output=True,
        text=True,
        env=environ,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == expected.strip()


def test_forced_installed_without_tfod_is_a_usage_error():
    environ = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    environ["PYTHONPATH"] = str(REPO)
    environ["TFOD_ANCHORS_SCHEMA"] = "installed"
    code = (
        "import sys\n"
        "sys.modules['object_detection'] = None\n"
        "from tfod_anchors.config.schema import get_schema\n"
        "from tfod_anchors.errors import UsageError\n"
        "try:\n    get_schema()\nexcept UsageError as e:\n    print(e)\n"
        "print(get_schema('auto').origin)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environ, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    first, second = proc.stdout.strip().splitlines()
    assert "cannot import object_detection.protos.pipeline_pb2" in first
    assert second == "bundled"
