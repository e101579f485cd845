"""Patching only the anchor generator block of pipeline.config text."""

from __future__ import annotations

import functools
import re

import pytest
from conftest import SHARED_CONFIGS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tfod_anchors.config import query as q
from tfod_anchors.config.patch import (
    format_scalar,
    parse_tree,
    patch_anchor_generator,
    unified_diff,
)
from tfod_anchors.config.schema import get_schema, parse_pipeline_text
from tfod_anchors.errors import ConfigError

S = get_schema("bundled")


def _parse(text):
    return parse_pipeline_text(text.lstrip("\ufeff"), "test.config", S)


def _block_lines(text):
    """0-based [first, stop) line range of the anchor generator block, found independently."""
    lines = text.splitlines(True)
    opener = re.compile(r"\b(first_stage_)?anchor_generator\s*:?\s*[{<]")
    for first, line in enumerate(lines):
        found = opener.search(line.split("#", 1)[0])
        if found:
            depth = 0
            for stop in range(first, len(lines)):
                code = lines[stop].split("#", 1)[0]
                code = code[found.start() :] if stop == first else code
                depth += code.count("{") + code.count("<") - code.count("}") - code.count(">")
                if depth <= 0:
                    return first, stop + 1
    raise AssertionError("no anchor generator block")


def _assert_only_block_changed(old, new):
    first, stop = _block_lines(old)
    old_lines, new_lines = old.splitlines(True), new.splitlines(True)
    tail = len(old_lines) - stop
    assert new_lines[:first] == old_lines[:first]
    assert new_lines[len(new_lines) - tail :] == old_lines[stop:]


def _wrap(generator):
    """An AnchorGenerator holding ``generator`` (which may be a bare oneof message)."""
    if generator.DESCRIPTOR.full_name.endswith(".AnchorGenerator"):
        return generator
    kinds = {
        "GridAnchorGenerator": "grid_anchor_generator",
        "SsdAnchorGenerator": "ssd_anchor_generator",
        "MultiscaleAnchorGenerator": "multiscale_anchor_generator",
        "FlexibleGridAnchorGenerator": "flexible_grid_anchor_generator",
    }
    wrapped = S.AnchorGenerator()
    getattr(wrapped, kinds[generator.DESCRIPTOR.name]).CopyFrom(generator)
    return wrapped


def _intended(cfg, generator):
    generator = _wrap(generator)
    intended = type(cfg)()
    intended.CopyFrom(cfg)
    path = q.anchor_generator_path(intended)
    getattr(getattr(intended.model, path[1]), path[2]).CopyFrom(generator)
    return intended


def _check(text, generator, cfg=None):
    cfg = cfg if cfg is not None else _parse(text)
    result = patch_anchor_generator(text, cfg, generator, "test.config")
    assert result.method == "textual", result.warning
    assert result.warning is None
    assert _parse(result.text) == _intended(cfg, generator)
    return result


@functools.cache
def _samples():
    if not SHARED_CONFIGS.is_dir():
        pytest.skip(f"sample configs not found under {SHARED_CONFIGS}")
    out = {}
    for path in sorted(SHARED_CONFIGS.glob("*/*.config")):
        text = path.read_text(encoding="utf-8")
        out[f"{path.parent.name}/{path.name}"] = (text, parse_pipeline_text(text, str(path), S))
    return out


def _changed(generator):
    """A copy with scales/ratios changed the way a fit would change them."""
    new = type(generator)()
    new.CopyFrom(generator)
    kind = new.WhichOneof("anchor_generator_oneof")
    msg = getattr(new, kind)
    if kind == "grid_anchor_generator":
        msg.scales[:] = [0.3, 0.7, 1.4]
        msg.aspect_ratios[:] = [0.4, 1.1]
    elif kind == "ssd_anchor_generator":
        msg.min_scale = 0.15
        msg.aspect_ratios[:] = [1.0, 2.5, 0.4]
    elif kind == "multiscale_anchor_generator":
        msg.anchor_scale = 3.5
        msg.aspect_ratios[:] = [1.0, 1.7, 0.6, 0.3]
    else:
        msg.anchor_grid[0].base_sizes[:] = [24.0, 48.0]
        msg.anchor_grid[0].aspect_ratios[:] = [1.0, 2.0]
    return new


def test_every_sample_with_anchors_patches_only_its_block():
    samples = _samples()
    patched = 0
    for name, (text, cfg) in samples.items():
        generator = q.anchor_generator(cfg)
        if generator is None:
            continue
        new = _changed(generator)
        result = _check(text, new, cfg)
        _assert_only_block_changed(text, result.text)
        assert result.text != text, name
        first, stop = _block_lines(text)
        assert all(first < lo and hi <= stop + 2 for lo, hi in result.changed_line_ranges), name
        patched += 1
    assert patched == 93


def test_one_value_per_line_style_is_kept():
    text, cfg = _samples()["samples/ssd_mobilenet_v1_coco.config"]
    result = _check(text, _changed(q.anchor_generator(cfg)))
    assert unified_diff(text, result.text, "ssd.config").splitlines()[2:] == [
        "@@ -31,13 +31,11 @@",
        "     anchor_generator {",
        "       ssd_anchor_generator {",
        "         num_layers: 6",
        "-        min_scale: 0.2",
        "+        min_scale: 0.15",
        "         max_scale: 0.95",
        "         aspect_ratios: 1.0",
        "-        aspect_ratios: 2.0",
        "-        aspect_ratios: 0.5",
        "-        aspect_ratios: 3.0",
        "-        aspect_ratios: 0.3333",
        "+        aspect_ratios: 2.5",
        "+        aspect_ratios: 0.4",
        "       }",
        "     }",
        "     image_resizer {",
    ]
    assert result.changed_line_ranges == [(34, 34), (37, 38)]


GRID = """\
# header { not a block }
model {
  faster_rcnn {
    num_classes: 1  # one
    first_stage_anchor_generator: <
      grid_anchor_generator {
        scales: [0.5, 1.0]  # scales
        aspect_ratios: 1.0
        height_stride: 16;
        width_stride: 16  # w
      }
    >
    feature_extractor { type: "x { # }" }
  }
}
"""


def test_comments_brackets_and_separators_survive():
    generator = S.AnchorGenerator()
    generator.CopyFrom(_parse(GRID).model.faster_rcnn.first_stage_anchor_generator)
    grid = generator.grid_anchor_generator
    grid.scales.append(2.0)
    grid.height_offset = 8
    grid.ClearField("width_stride")
    result = _check(GRID, generator)
    assert result.text == GRID.replace(
        "        scales: [0.5, 1.0]  # scales\n", "        scales: [0.5, 1.0, 2.0]  # scales\n"
    ).replace("        width_stride: 16  # w\n", "        height_offset: 8\n")


def test_bare_generator_message_and_oneof_switch():
    flexible = S.FlexibleGridAnchorGenerator()
    flexible.anchor_grid.add(
        base_sizes=[32, 64], aspect_ratios=[1, 2], height_stride=8, width_stride=8
    )
    result = _check(GRID, flexible)
    expected_block = (
        "    first_stage_anchor_generator: <\n"
        "      flexible_grid_anchor_generator {\n"
        "        anchor_grid {\n"
        "          base_sizes: [32.0, 64.0]\n"
        "          aspect_ratios: [1.0, 2.0]\n"
        "          height_stride: 8\n"
        "          width_stride: 8\n"
        "        }\n"
        "      }\n"
        "    >\n"
    )
    lines = GRID.splitlines(True)
    assert result.text == "".join(lines[:4]) + expected_block + "".join(lines[12:])


def test_one_line_blocks_crlf_and_bom():
    text = "model { ssd { num_classes: 2 anchor_generator { "
    text += "ssd_anchor_generator { num_layers: 6 } } } }"
    result = _check(text, S.SsdAnchorGenerator(num_layers=5, aspect_ratios=[1, 2]))
    assert result.text == text.replace("num_layers: 6", "num_layers: 5 aspect_ratios: [1.0, 2.0]")
    assert result.changed_line_ranges == [(1, 1)]

    crlf = "\ufeffmodel {\r\n  ssd {\r\n    num_classes: 2\r\n  }\r\n}\r\n"
    result = _check(crlf, S.MultiscaleAnchorGenerator(aspect_ratios=[1, 2]))
    assert result.text == (
        "\ufeffmodel {\r\n  ssd {\r\n    num_classes: 2\r\n    anchor_generator {\r\n"
        "      multiscale_anchor_generator {\r\n        aspect_ratios: [1.0, 2.0]\r\n"
        "      }\r\n    }\r\n  }\r\n}\r\n"
    )


FLEX = """\
model {
  ssd {
    anchor_generator {
      flexible_grid_anchor_generator {
        anchor_grid {
          base_sizes: [32.0, 64.0]  # level 3
          aspect_ratios: [1.0, 1.0]
          height_stride: 8
          width_stride: 8
        }
        anchor_grid {
          base_sizes: 64.0
          aspect_ratios: 1.0
          height_stride: 16
          width_stride: 16
        }
      }
    }
    num_classes: 3
  }
}
"""


def test_flexible_grid_elements_are_edited_in_place():
    generator = S.AnchorGenerator()
    generator.CopyFrom(_parse(FLEX).model.ssd.anchor_generator)
    grids = generator.flexible_grid_anchor_generator.anchor_grid
    grids[1].base_sizes[:] = [60.0]
    grids.add(base_sizes=[128], aspect_ratios=[1], height_stride=32, width_stride=32)
    result = _check(FLEX, generator)
    assert result.text == FLEX.replace("base_sizes: 64.0", "base_sizes: 60.0").replace(
        "          width_stride: 16\n        }\n",
        "          width_stride: 16\n        }\n"
        "        anchor_grid {\n"
        "          base_sizes: [128.0]\n"
        "          aspect_ratios: [1.0]\n"
        "          height_stride: 32\n"
        "          width_stride: 32\n"
        "        }\n",
    )
    del grids[1:]
    result = _check(FLEX, generator)
    assert result.text == "".join(FLEX.splitlines(True)[:10] + FLEX.splitlines(True)[16:])


def test_falls_back_to_reserialising_when_cfg_differs_from_text():
    cfg = _parse(GRID)
    cfg.model.faster_rcnn.num_classes = 7
    generator = S.GridAnchorGenerator(scales=[1.0], aspect_ratios=[1.0])
    result = patch_anchor_generator(GRID, cfg, generator, "test.config")
    assert result.method == "reserialized"
    assert "re-serialised" in result.warning and "\n" not in result.warning
    assert _parse(result.text) == _intended(cfg, generator)


def test_models_without_anchors_and_bad_messages():
    cfg = _parse("model { center_net { num_classes: 1 } }")
    with pytest.raises(ConfigError, match="center_net has no anchors"):
        patch_anchor_generator("model { center_net { num_classes: 1 } }", cfg, S.AnchorGenerator())
    with pytest.raises(ConfigError, match="not an anchor generator"):
        patch_anchor_generator(GRID, _parse(GRID), S.ArgMaxMatcher())


def test_patch_works_across_descriptor_pools():
    from tfod_anchors.config import schema as schema_mod

    other = schema_mod._load_bundled()
    cfg = parse_pipeline_text(GRID, "x", other)
    generator = other.GridAnchorGenerator(
        scales=[2.0], aspect_ratios=[1.0], height_stride=16, width_stride=16
    )
    result = patch_anchor_generator(GRID, cfg, generator)
    assert result.method == "textual"
    assert (
        "        scales: 2.0\n" not in result.text
        and "        scales: [2.0]  # scales\n" in result.text
    )


def test_tokenizer_handles_strings_comments_and_lists():
    text = 'a { b: "x}#\\"y" c: [1, 2] d < e: \'q\' "r" > } # tail {\nf: -inf'
    root = parse_tree(text)
    assert [e.name for e in root.entries] == ["a", "f"]
    a = root.entries[0]
    assert [(e.name, e.kind) for e in a.node.entries] == [
        ("b", "scalar"),
        ("c", "list"),
        ("d", "message"),
    ]
    assert text[a.node.entries[0].value_start : a.node.entries[0].value_end] == '"x}#\\"y"'
    assert text[root.entries[1].value_start : root.entries[1].value_end] == "-inf"


@pytest.mark.parametrize(
    ("field", "value", "literal"),
    [
        ("min_scale", 0.3333, "0.3333"),
        ("min_scale", 1.0, "1.0"),
        ("min_scale", 1e-05, "0.00001"),
        ("num_layers", 6, "6"),
        ("reduce_boxes_in_lowest_layer", False, "false"),
    ],
)
def test_format_scalar_round_trips(field, value, literal):
    fd = S.SsdAnchorGenerator.DESCRIPTOR.fields_by_name[field]
    assert format_scalar(fd, value) == literal


def test_unified_diff():
    assert unified_diff("a\n", "a\n", "p") == ""
    assert unified_diff("a\nb", "a\nc", "p") == (
        "--- p (before)\n+++ p (after)\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n"
    )


# ----------------------------------------------------------------------------- property test

_floats = st.floats(0.0625, 8.0, width=32)
_ratios = st.lists(_floats, min_size=0, max_size=5)
_ints = st.integers(1, 64)


@st.composite
def _generators(draw):
    kind = draw(
        st.sampled_from(["grid", "ssd", "multiscale", "flexible"]),
    )
    if kind == "grid":
        msg = S.GridAnchorGenerator(scales=draw(_ratios), aspect_ratios=draw(_ratios))
        for name in ("height", "width", "height_stride", "width_stride", "height_offset"):
            if draw(st.booleans()):
                setattr(msg, name, draw(_ints))
    elif kind == "ssd":
        msg = S.SsdAnchorGenerator(aspect_ratios=draw(_ratios))
        if draw(st.booleans()):
            msg.num_layers = draw(st.integers(2, 6))
        if draw(st.booleans()):
            msg.min_scale = draw(_floats)
        if draw(st.booleans()):
            msg.reduce_boxes_in_lowest_layer = draw(st.booleans())
    elif kind == "multiscale":
        msg = S.MultiscaleAnchorGenerator(aspect_ratios=draw(_ratios))
        if draw(st.booleans()):
            msg.anchor_scale = draw(_floats)
        if draw(st.booleans()):
            msg.scales_per_octave = draw(st.integers(1, 4))
    else:
        msg = S.FlexibleGridAnchorGenerator()
        for _ in range(draw(st.integers(1, 3))):
            sizes = draw(st.lists(_floats, min_size=1, max_size=3))
            msg.anchor_grid.add(
                base_sizes=sizes,
                aspect_ratios=[1.0] * len(sizes),
                height_stride=draw(_ints),
                width_stride=draw(_ints),
            )
    return msg


_BASES = [
    GRID,
    FLEX,
    "model { ssd { anchor_generator { ssd_anchor_generator { num_layers: 6 } } } }",
]


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    base=st.sampled_from(range(len(_BASES) + (2 if SHARED_CONFIGS.is_dir() else 0))),
    first=_generators(),
    second=_generators(),
)
def test_random_patches_round_trip(base, first, second):
    if base < len(_BASES):
        text = _BASES[base]
    else:
        samples = _samples()
        name = [
            "samples/ssd_mobilenet_v1_coco.config",
            "tf2/ssd_efficientdet_d0_512x512_coco17_tpu-8.config",
        ]
        text = samples[name[base - len(_BASES)]][0]
    once = _check(text, first)
    _assert_only_block_changed(text, once.text)
    twice = _check(once.text, second)
    _assert_only_block_changed(once.text, twice.text)
