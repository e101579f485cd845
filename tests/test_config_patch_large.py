"""Patching huge configs stays linear (issue 12, item 8): 8,000 identical lines used to
take 17 s (a 10 MB config more than 15 minutes) in line matching. No timing here: the
tests check that the superlinear parts (the syntax tree, line matching) only ever see
the model block and the changed region, whatever the size of the rest."""

from __future__ import annotations

import difflib
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tfod_anchors.config import linediff
from tfod_anchors.config import patch as patch_module
from tfod_anchors.config import query as q
from tfod_anchors.config.linediff import changed_line_ranges, unified_diff
from tfod_anchors.config.schema import get_schema, parse_pipeline_text
from tfod_anchors.config.textproto import Unsupported, parse_tree, top_level_blocks

S = get_schema("bundled")
MODEL = """\
model {
  faster_rcnn {
    num_classes: 1
    image_resizer { fixed_shape_resizer { height: 64 width: 64 } }
    feature_extractor { type: 'faster_rcnn_resnet50_keras' first_stage_features_stride: 16 }
    first_stage_anchor_generator {
      grid_anchor_generator {
        scales: [1.0, 3.0]
        aspect_ratios: [1.0]
      }
    }
%(inside)s  }
}
"""
AUGMENT = "  data_augmentation_options { random_horizontal_flip { } }\n"


def _config(before: str = "", inside: str = "", after: str = "") -> str:
    return before + MODEL % {"inside": inside} + after


def _new_generator(cfg):
    gen = type(q.anchor_generator(cfg))()
    gen.CopyFrom(q.anchor_generator(cfg))
    del gen.grid_anchor_generator.scales[:]
    gen.grid_anchor_generator.scales.extend([0.5, 1.5])
    return gen


class _Spy:
    """Records the sizes of what the quadratic-capable steps are given."""

    def __init__(self, monkeypatch):
        self.matcher_sizes: list[tuple[int, int]] = []
        self.tree_sizes: list[int] = []
        real_matcher, real_tree = difflib.SequenceMatcher, patch_module.parse_tree

        def matcher(isjunk, a, b, **kwargs):
            self.matcher_sizes.append((len(a), len(b)))
            return real_matcher(isjunk, a, b, **kwargs)

        def tree(text):
            self.tree_sizes.append(len(text))
            return real_tree(text)

        monkeypatch.setattr(linediff.difflib, "SequenceMatcher", matcher)
        monkeypatch.setattr(patch_module, "parse_tree", tree)


@pytest.mark.parametrize("where", ["train_config", "comments_before", "inside_model"])
def test_8k_identical_lines_only_the_model_block_is_worked_on(monkeypatch, where):
    if where == "train_config":
        text = _config(after="train_config {\n" + AUGMENT * 8000 + "}\n")
    elif where == "comments_before":
        text = _config(before="# the same comment on every line\n" * 8000)
    else:  # identical lines inside the model block itself: trimmed before matching
        text = _config(inside="    # the same comment on every line\n" * 8000)
    cfg = parse_pipeline_text(text, "big.config", S)
    spy = _Spy(monkeypatch)
    result = patch_module.patch_anchor_generator(text, cfg, _new_generator(cfg), "big.config")
    assert result.method == "textual", result.warning
    scales_line = text[: text.index("scales: [1.0, 3.0]")].count("\n") + 1
    assert result.changed_line_ranges == [(scales_line, scales_line)]
    assert result.text == text.replace("scales: [1.0, 3.0]", "scales: [0.5, 1.5]")
    model_size = len(MODEL % {"inside": ""})
    if where != "inside_model":
        assert spy.tree_sizes == [model_size]  # the tree is built for the model lines only
    assert all(a * b <= 4 for a, b in spy.matcher_sizes), spy.matcher_sizes
    diff = unified_diff(text, result.text, "big.config")
    assert all(a * b <= 100 for a, b in spy.matcher_sizes), spy.matcher_sizes
    assert "-        scales: [1.0, 3.0]\n+        scales: [0.5, 1.5]\n" in diff
    assert f"@@ -{scales_line - 3},7 +{scales_line - 3},7 @@" in diff


def test_odd_top_level_text_falls_back_to_the_whole_text(monkeypatch):
    text = _config().replace("model {", "model # a comment between name and brace\n{", 1)
    cfg = parse_pipeline_text(text, "odd.config", S)
    spy = _Spy(monkeypatch)
    result = patch_module.patch_anchor_generator(text, cfg, _new_generator(cfg), "odd.config")
    assert spy.tree_sizes == [len(text)]
    assert result.method == "textual"
    assert result.text == text.replace("scales: [1.0, 3.0]", "scales: [0.5, 1.5]")
    # a model block sharing its last line with another block
    text = _config().rstrip("\n") + " train_config { batch_size: 2 }\n"
    cfg = parse_pipeline_text(text, "shared.config", S)
    result = patch_module.patch_anchor_generator(text, cfg, _new_generator(cfg))
    assert result.method == "textual" and "batch_size: 2" in result.text


def test_whole_rewrite_is_one_range_and_one_hunk(monkeypatch):
    monkeypatch.setattr(linediff, "MAX_PAIRS", 10)
    old = "".join(f"a{i}\n" for i in range(20))
    new = "".join(f"b{i}\n" for i in range(20))
    assert changed_line_ranges(old, new) == [(1, 20)]
    diff = unified_diff(old, new, "x")
    assert diff.splitlines()[2] == "@@ -1,20 +1,20 @@"
    assert _apply_unified(old, diff) == new


# ---------------------------------------------------------------- properties


def _apply_unified(old: str, diff: str) -> str:
    """Apply a unified diff (as :func:`unified_diff` writes it) to ``old``."""
    lines = old.splitlines(True)
    out, pos = [], 0
    body = diff.splitlines(True)[2:]
    i = 0
    while i < len(body):
        match = re.match(r"@@ -(\d+)(?:,(\d+))? \+\d+(?:,\d+)? @@", body[i])
        assert match, body[i]
        start, length = int(match.group(1)), int(match.group(2) or 1)
        start = start - 1 if length else start
        out += lines[pos:start]
        pos = start
        i += 1
        while i < len(body) and not body[i].startswith("@@"):
            tag, text = body[i][0], body[i][1:]
            if tag in " -":
                assert lines[pos] == text or lines[pos] + "\n" == text
                pos += 1
            if tag in " +":
                out.append(text)
            i += 1
    out += lines[pos:]
    return "".join(out)


_lines = st.lists(st.sampled_from(["a\n", "b\n", "c\n", "{\n", "}\n", "x y\n"]), max_size=40)


@settings(max_examples=200, deadline=None)
@given(_lines, _lines, _lines, _lines)
def test_unified_diff_applies_and_ranges_cover_the_change(prefix, old_mid, new_mid, suffix):
    old = "".join(prefix + old_mid + suffix)
    new = "".join(prefix + new_mid + suffix)
    diff = unified_diff(old, new, "p")
    assert (diff == "") == (old == new)
    if diff:
        assert _apply_unified(old, diff) == new
    new_lines = new.splitlines(True)
    ranges = changed_line_ranges(old, new)
    assert (ranges == []) == (old == new)
    changed = {n for first, last in ranges for n in range(first, last + 1)}
    kept = iter(line for n, line in enumerate(new_lines, 1) if n not in changed)
    remaining = iter(old.splitlines(True))
    # the lines outside the ranges are old lines, in their order
    assert all(any(line == candidate for candidate in remaining) for line in kept)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 10**6), unique=True, max_size=30),
       st.integers(0, 30), st.integers(0, 5), st.integers(0, 5))
def test_unified_diff_equals_difflib_on_distinct_lines(values, at, removed, added):
    old_lines = [f"line {v}\n" for v in values]
    new_lines = old_lines[:at] + [f"new {i}\n" for i in range(added)] + old_lines[at + removed:]
    old, new = "".join(old_lines), "".join(new_lines)
    expected = "".join(difflib.unified_diff(old_lines, new_lines, "p (before)", "p (after)"))
    assert unified_diff(old, new, "p") == expected


_names = st.sampled_from(["model", "train_config", "a", "b_2"])
_leaf = st.sampled_from(['x: 1', 's: "}{"', "t: '#{'", "# c { }\n", "y: [1, 2]"])


@st.composite
def _message(draw, depth=0):
    parts = draw(st.lists(_leaf, max_size=3))
    if depth < 3:
        for _ in range(draw(st.integers(0, 2))):
            name = draw(_names)
            open_, close = draw(st.sampled_from([("{", "}"), ("<", ">")]))
            sep = draw(st.sampled_from([" ", "\n", ": ", " # }\n"]))
            parts.append(f"{name}{sep}{open_}{draw(_message(depth + 1))}{close}")
    return draw(st.sampled_from([" ", "\n"])).join(parts)


@settings(max_examples=300, deadline=None)
@given(_message())
def test_top_level_blocks_agree_with_the_syntax_tree(text):
    try:
        root = parse_tree(text)
    except Unsupported:
        return
    expected = [(e.name, e.start, e.value_start, e.node.close)
                for e in root.entries if e.kind == "message"]
    found = top_level_blocks(text)
    assert [(b.open, b.close) for b in found] == [e[2:] for e in expected]
    for block, (name, start, _, _) in zip(found, expected):
        # a comment between name and brace leaves the name unknown (the patch then
        # works on the whole text)
        assert (block.name, block.start) in ((name, start), (None, block.open))
