"""Writing anchors into Model Garden YAML experiment files (issue 18): the minimal
splice, inserted keys, the override file and string, and the safe write. The checks
against the Model Garden's own override machinery are in test_mg_yaml_overrides.py."""

from __future__ import annotations

import difflib
import os
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("ruamel.yaml", reason="YAML experiment files need ruamel.yaml (extra 'yaml')")

from tfod_anchors.config import atomic  # noqa: E402
from tfod_anchors.errors import ConfigError, UsageError, WriteError  # noqa: E402
from tfod_anchors.frameworks.modelgarden import yaml_patch as yp  # noqa: E402

FIXTURES = Path(__file__).parent / "mg_experiments"
RETINA = {"task.model.anchor.anchor_size": 3.0,
          "task.model.anchor.aspect_ratios": [0.25, 1.0, 4.0],
          "task.model.anchor.num_scales": 2}


def fixture_text(name: str) -> str:
    return (FIXTURES / f"{name}.yaml").read_text()


# ---------------------------------------------------------------- the splice


def test_resolved_params_yaml_changes_only_the_anchor_values():
    text = fixture_text("retinanet_resnetfpn_coco")
    new = yp.patch_text(text, RETINA)
    expected = (text.replace("anchor_size: 4.0", "anchor_size: 3.0", 1)
                .replace("aspect_ratios: [0.5, 1.0, 2.0]", "aspect_ratios: [0.25, 1.0, 4.0]", 1)
                .replace("num_scales: 3", "num_scales: 2", 1))
    assert new == expected
    assert yp.load(new)["task"]["model"]["anchor"] == {
        "anchor_size": 3.0, "aspect_ratios": [0.25, 1.0, 4.0], "num_scales": 2}


def test_comments_order_and_styles_are_kept():
    text = ("# RetinaNet, my settings\n"
            "task:\n"
            "    model:   # four-space indent\n"
            "        anchor:\n"
            "            num_scales: 3      # octaves\n"
            "            aspect_ratios:\n"
            "            - 0.5   # tall\n"
            "            - 1.0\n"
            "            - 2.0   # wide\n"
            "            anchor_size: 4     # x stride\n"
            "        min_level: 3\n"
            "# trailing note\n")
    new = yp.patch_text(text, {"task.model.anchor.anchor_size": 2.5,
                               "task.model.anchor.aspect_ratios": [0.7, 1.0, 1.4]})
    assert new == text.replace("- 0.5", "- 0.7").replace("- 2.0", "- 1.4").replace(
        "anchor_size: 4 ", "anchor_size: 2.5 ")


def test_a_block_list_of_another_length_is_rewritten_in_place():
    text = "task:\n  model:\n    anchor:\n      aspect_ratios:\n      - 0.5  # a\n      - 2.0\n" \
           "      num_scales: 1  # kept\n"
    new = yp.patch_text(text, {"task.model.anchor.aspect_ratios": [0.5, 1.0, 2.0, 4.0]})
    # the comments between the old items go with them; the one after the list stays
    assert new == ("task:\n  model:\n    anchor:\n      aspect_ratios:\n      - 0.5\n"
                   "      - 1.0\n      - 2.0\n      - 4.0\n      num_scales: 1  # kept\n")


def test_missing_keys_are_inserted_at_their_nesting():
    text = ("# partial experiment\n"
            "task:\n"
            "  model:\n"
            "    input_size: [640, 640, 3]   # big\n"
            "    max_level: 7\n"
            "  train_data:\n"
            "    parser: {aug_rand_hflip: true}\n")
    new = yp.patch_text(text, {"task.model.anchor.anchor_size": 3.0,
                               "task.model.anchor.aspect_ratios": [0.5, 1.0, 2.0]})
    assert new == ("# partial experiment\n"
                   "task:\n"
                   "  model:\n"
                   "    input_size: [640, 640, 3]   # big\n"
                   "    max_level: 7\n"
                   "    anchor:\n"
                   "      anchor_size: 3.0\n"
                   "      aspect_ratios: [0.5, 1.0, 2.0]\n"
                   "  train_data:\n"
                   "    parser: {aug_rand_hflip: true}\n")


@pytest.mark.parametrize("text, expected", [
    ("", "task:\n  model:\n    anchor:\n      num_scales: 2\n"),
    ("# only a comment", "# only a comment\ntask:\n  model:\n    anchor:\n      num_scales: 2\n"),
    ("task: {model: {min_level: 3}}\n", "task: {model: {min_level: 3, anchor: {num_scales: 2}}}\n"),
    ("task:\n  model: {}\n", "task:\n  model: {anchor: {num_scales: 2}}\n"),
    ("task:\n  model:\n    anchor:\n", "task:\n  model:\n    anchor: {num_scales: 2}\n"),
    ("task:\n  model:\n    anchor:  # set below\n",
     "task:\n  model:\n    anchor: {num_scales: 2}  # set below\n"),
    ("task:\n  model:\n    anchor: null\n", "task:\n  model:\n    anchor: {num_scales: 2}\n"),
    ("task:\n  model:\n    min_level: 3", "task:\n  model:\n    min_level: 3\n    anchor:\n"
     "      num_scales: 2\n"),
])
def test_partial_documents(text, expected):
    assert yp.patch_text(text, {"task.model.anchor.num_scales": 2}) == expected


def test_crlf_files_and_a_byte_order_mark():
    text = "task:\r\n  model:\r\n    anchor:\r\n      anchor_size: 4.0\r\n    min_level: 3\r\n"
    assert yp.patch_text(text, {"task.model.anchor.anchor_size": 3.0,
                                "task.model.anchor.num_scales": 2}) == (
        "task:\r\n  model:\r\n    anchor:\r\n      anchor_size: 3.0\r\n      num_scales: 2\r\n"
        "    min_level: 3\r\n")
    bom = "\ufefftask:\n  model:\n    anchor:\n      anchor_size: 4.0\n"
    assert yp.patch_text(bom, {"task.model.anchor.anchor_size": 3.0}) == \
        bom.replace("4.0", "3.0")


def test_yolo_boxes_keep_their_block_items():
    text = fixture_text("coco_yolov7tiny")
    boxes = [[10, 14], [17, 30], [33, 24], [30, 60], [62, 46], [60, 119], [116, 91], [157, 198],
             [373, 327]]
    new = yp.patch_text(text, {"task.model.anchor_boxes.boxes": boxes})
    old_lines = [ln for ln in text.splitlines() if "- box:" in ln]
    new_lines = [ln for ln in new.splitlines() if "- box:" in ln]
    assert new_lines == [f"      - box: [{w}, {h}]" for w, h in boxes]
    assert new.replace("\n".join(new_lines), "\n".join(old_lines)) == text
    assert [b["box"] for b in yp.load(new)["task"]["model"]["anchor_boxes"]["boxes"]] == boxes


def test_yolo_boxes_in_the_upstream_flow_form():
    text = ("task:\n  model:\n    anchor_boxes:\n      anchors_per_scale: 3\n"
            "      boxes: [box: [12, 16], box: [19, 36], box: [40, 28],  # level 3\n"
            "              box: [36, 75], box: [76, 55], box: [72, 146]]\n")
    new = yp.patch_text(text, {"task.model.anchor_boxes.boxes":
                               [[11, 15], [19, 36], [40.5, 28], [36, 75], [76, 55], [72, 150]]})
    assert new == text.replace("[12, 16]", "[11, 15]").replace("[40, 28]", "[40.5, 28]") \
        .replace("[72, 146]", "[72, 150]")
    shorter = yp.patch_text(text, {"task.model.anchor_boxes.boxes": [[1, 2], [3, 4], [5, 6]]})
    assert shorter == ("task:\n  model:\n    anchor_boxes:\n      anchors_per_scale: 3\n"
                       "      boxes: [box: [1, 2], box: [3, 4], box: [5, 6]]\n")


def test_number_formats_read_back_in_yaml_1_1_and_1_2():
    yaml = pytest.importorskip("yaml")  # PyYAML, the Model Garden's loader (YAML 1.1)
    values = [1e-05, 2.5e20, 0.1 + 0.2, 3.0, 1e16]
    new = yp.patch_text("task: {model: {anchor: {}}}", {"task.model.anchor.aspect_ratios": values})
    assert yaml.safe_load(new)["task"]["model"]["anchor"]["aspect_ratios"] == values
    assert yp.load(new)["task"]["model"]["anchor"]["aspect_ratios"] == values


# ---------------------------------------------------------------- refusals


@pytest.mark.parametrize("change, words", [
    ({"task.model.min_level": 2}, "read-only"),
    ({"task.model.input_size": [512, 512, 3]}, "read-only"),
    ({"task.model.anchor.bogus": 1}, "not an anchor key"),
    ({"task.model.anchor.anchor_size": float("inf")}, "finite and positive"),
    ({"task.model.anchor.aspect_ratios": [1.0, -2.0]}, "finite and positive"),
    ({"task.model.anchor.num_scales": 1.5}, "positive integer"),
    ({"task.model.anchor.num_scales": 0}, "positive integer"),
    ({"task.model.anchor_boxes.boxes": [[1, 2, 3]]}, "[width, height]"),
])
def test_bad_changes_are_refused(change, words):
    with pytest.raises(UsageError, match=words.replace("[", r"\[").replace("]", r"\]")):
        yp.patch_text("task: {}\n", change)


@pytest.mark.parametrize("text, words", [
    ("base: &anc {anchor_size: 4.0}\ntask:\n  model:\n    anchor: *anc\n", "YAML anchor"),
    ("base: &anc {num_scales: 3}\ntask:\n  model:\n    anchor:\n      <<: *anc\n", "merge key"),
    ("- 1\n- 2\n", "top level is not a mapping"),
    ("task:\n  model: [1, 2]\n", "not a mapping in this file"),
    ("task: {model: [\n", "not valid YAML"),
    ("a: 1\n---\nb: 2\n", "not valid YAML"),
    ("task:\n  model:\n    ? anchor\n", "explicit key"),
])
def test_layouts_that_cannot_be_edited_safely_are_refused(text, words):
    with pytest.raises(ConfigError, match=words):
        yp.patch_text(text, {"task.model.anchor.num_scales": 2}, "exp.yaml")


# ---------------------------------------------------------------- property: round trip

KEYS = ("num_scales", "aspect_ratios", "anchor_size")
ratios = st.lists(st.floats(0.05, 20, allow_nan=False).map(lambda v: round(v, 4)),
                  min_size=1, max_size=6)


@st.composite
def documents(draw):
    """A YAML experiment with a random layout: indentation, block or flow lists,
    comments, other keys around the anchor block, and any subset of the anchor keys."""
    step = draw(st.sampled_from([2, 3, 4]))
    pad = [" " * (step * i) for i in range(4)]
    lines = ["# experiment"] if draw(st.booleans()) else []
    lines += ["runtime:", f"{pad[1]}distribution_strategy: mirrored"] if draw(st.booleans()) else []
    lines += ["task:", f"{pad[1]}model:"]
    lines += [f"{pad[2]}min_level: 3  # P3"] if draw(st.booleans()) else []
    present = draw(st.lists(st.sampled_from(KEYS), unique=True))
    if present or draw(st.booleans()):
        lines.append(f"{pad[2]}anchor:" + ("  # anchors" if draw(st.booleans()) else ""))
        for key in present:
            if key == "aspect_ratios" and draw(st.booleans()):
                lines.append(f"{pad[3]}aspect_ratios:")
                lines += [f"{pad[3]}- {r}" for r in draw(ratios)]
            elif key == "aspect_ratios":
                lines.append(f"{pad[3]}aspect_ratios: [{', '.join(map(str, draw(ratios)))}]")
            else:
                lines.append(f"{pad[3]}{key}: {draw(st.integers(1, 5))}"
                             + ("   # note" if draw(st.booleans()) else ""))
        if not present:
            lines[-1] = lines[-1].replace("anchor:", "anchor: {}")
    lines += [f"{pad[2]}max_level: 7"] if draw(st.booleans()) else []
    lines += [f"{pad[1]}train_data:", f"{pad[2]}input_path: 'a/train*'  # quoted"]
    return "\n".join(lines) + ("\n" if draw(st.booleans()) else "")


changes = st.fixed_dictionaries({}, optional={
    "task.model.anchor.num_scales": st.integers(1, 6),
    "task.model.anchor.aspect_ratios": ratios,
    "task.model.anchor.anchor_size": st.floats(0.5, 16, allow_nan=False),
}).filter(bool)

EDITED = ("num_scales:", "aspect_ratios:", "anchor_size:", "anchor:", "- ")


@settings(max_examples=150, deadline=None)
@given(documents(), changes)
def test_round_trip_property(text, change):
    new = yp.patch_text(text, change)
    expected = yp.load(text)
    for key, value in change.items():
        node = expected
        *parents, leaf = key.split(".")
        for part in parents:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[leaf] = value
    assert yp.load(new) == expected
    old_lines, new_lines = text.splitlines(), new.splitlines()
    matcher = difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False)
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op == "equal":
            continue
        added = new_lines[b0:b1]
        for line in old_lines[a0:a1]:  # an edited value, or a `key:` given its value
            extended = any(n.startswith(line.split("#")[0].rstrip() + " ") for n in added)
            assert extended or any(mark in line for mark in EDITED), (op, line, added)
        assert all(any(mark in line for mark in EDITED) for line in added), (op, added)
    assert yp.patch_text(new, change) == new  # idempotent


PIECES = ("task", "model", "anchor", "num_scales", ":", " ", "\n", "  ", "- ", "[", "]", "{", "}",
          ",", "1", "2.5", "null", "&a ", "*a", "<<: ", "? ", "#c", "'", '"', "|\n", "!!float ",
          "\t", "---\n", "anchor_boxes", "boxes", "box")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=30).map("".join), st.sampled_from([
    {"task.model.anchor.num_scales": 2}, {"task.model.anchor_boxes.boxes": [[1, 2], [3, 4]]}]))
def test_hostile_text_gives_a_new_mapping_or_one_error(text, change):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing may reach the terminal either
        try:
            new = yp.patch_text(text, change, "exp.yaml")
        except (ConfigError, UsageError) as err:
            assert "\n" not in str(err) and str(err).startswith("exp.yaml: ")
            return
    assert isinstance(yp.load(new), dict)


# ---------------------------------------------------------------- override file and string


def test_override_text_holds_only_the_anchor_keys():
    text = yp.override_text(RETINA, "retinanet_resnetfpn_coco")
    assert text == ("# Anchors fitted by tfod-anchors for --experiment=retinanet_resnetfpn_coco; "
                    "pass this file with --config_file\n"
                    "task:\n  model:\n    anchor:\n      anchor_size: 3.0\n"
                    "      aspect_ratios: [0.25, 1.0, 4.0]\n      num_scales: 2\n")
    yolo = yp.override_text({"task.model.anchor_boxes.boxes": [[12, 16], [19.5, 36]]})
    assert yolo.endswith("task:\n  model:\n    anchor_boxes:\n      boxes:\n"
                         "      - box: [12, 16]\n      - box: [19.5, 36]\n")


def test_params_override_strings():
    assert yp.params_override(RETINA) == (
        "task.model.anchor.anchor_size=3.0,task.model.anchor.aspect_ratios=[0.25,1.0,4.0],"
        "task.model.anchor.num_scales=2")
    assert yp.params_override({"task.model.anchor_boxes.boxes": [[12, 16], [19, 36]]}) == (
        "{task: {model: {anchor_boxes: {boxes: [{box: [12, 16]}, {box: [19, 36]}]}}}}")


# ---------------------------------------------------------------- the safe write


@pytest.fixture
def experiment_file(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text(fixture_text("retinanet_resnetfpn_coco"))
    path.chmod(0o640)
    return path


def test_write_patched_keeps_a_backup_and_the_mode(experiment_file):
    before = experiment_file.read_bytes()
    done = yp.write_patched(str(experiment_file), RETINA)
    assert Path(done.backup).read_bytes() == before
    assert done.backup == str(experiment_file) + ".bak"
    assert stat.S_IMODE(os.stat(experiment_file).st_mode) == 0o640
    assert experiment_file.read_text() == yp.patch_text(before.decode(), RETINA)
    second = yp.write_patched(str(experiment_file), {"task.model.anchor.num_scales": 1})
    assert second.backup == str(experiment_file) + ".bak.1"
    assert not [n for n in os.listdir(experiment_file.parent)
                if atomic.temp_pattern("exp.yaml").match(n)]


def test_write_patched_refuses_a_file_changed_since_it_was_read(experiment_file):
    _, seen = yp.read_text(str(experiment_file))
    experiment_file.write_text(experiment_file.read_text() + "# edited meanwhile\n")
    after = experiment_file.read_bytes()
    with pytest.raises(WriteError, match="changed on disk"):
        yp.write_patched(str(experiment_file), RETINA, expected_fingerprint=seen)
    assert experiment_file.read_bytes() == after
    assert os.listdir(experiment_file.parent) == ["exp.yaml"]


def test_write_patched_refuses_before_writing_when_the_edit_is_unsafe(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("base: &a {num_scales: 3}\ntask: {model: {anchor: *a}}\n")
    with pytest.raises(ConfigError, match="YAML anchor"):
        yp.write_patched(str(path), {"task.model.anchor.num_scales": 2})
    assert os.listdir(tmp_path) == ["exp.yaml"]


def test_read_text_refuses_binary_and_non_utf8(tmp_path):
    (tmp_path / "a.yaml").write_bytes(b"task:\x00\n")
    (tmp_path / "b.yaml").write_bytes(b"task: \xff\n")
    with pytest.raises(ConfigError, match="binary"):
        yp.read_text(str(tmp_path / "a.yaml"))
    with pytest.raises(ConfigError, match="UTF-8"):
        yp.read_text(str(tmp_path / "b.yaml"))
    with pytest.raises(ConfigError, match="no such file"):
        yp.read_text(str(tmp_path / "c.yaml"))


def test_write_override_creates_the_folder(tmp_path):
    target = tmp_path / "out" / "anchors.yaml"
    yp.write_override(str(target), RETINA, "retinanet_resnetfpn_coco")
    assert yp.load(target.read_text()) == {"task": {"model": {"anchor": {
        "anchor_size": 3.0, "aspect_ratios": [0.25, 1.0, 4.0], "num_scales": 2}}}}
