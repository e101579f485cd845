"""Write anchors into a Model Garden YAML experiment file, touching nothing else.

Three outputs for one set of anchor values (a *change*: dotted key -> value, keys from
:data:`EDITABLE`):

* :func:`patch_text`: the given YAML text with only the anchor values replaced. The text
  is parsed with ruamel.yaml's composer, which gives every value's exact span; each
  changed value is spliced into the original string at its span, so every byte outside
  the edited values (comments, key order, quoting, indentation, flow or block style) is
  unchanged. Keys absent from a partial file are inserted under the deepest mapping the
  file has, at its indentation. The result is parsed again and compared with the
  original plus the change; any other difference is refused, never written.
* :func:`override_text`: a YAML file holding only the anchor keys, for
  ``train.py --config_file`` (applied after the experiment's registered defaults).
* :func:`params_override`: the same change as one ``--params_override`` string (the
  ``a.b=1,c=[x,y]`` form, or a YAML flow mapping when YOLO boxes are in it: that form
  cannot express a list of mappings).

:func:`write_patched` and :func:`write_override` write them with the same protocol as
``pipeline.config`` (:mod:`tfod_anchors.config.files`: atomic, numbered backups, owner
and mode kept, refused when the file changed since it was read).

This module decides the edits and checks them; reading the file's nodes and spans and
writing values as YAML text are :mod:`.yaml_text`'s.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tfod_anchors.config import files
from tfod_anchors.errors import ConfigError, UsageError, WriteError
from tfod_anchors.frameworks.modelgarden.yaml_text import (
    block,
    compose,
    content_end,
    find_key,
    flow,
    indent_step,
    is_map,
    is_seq,
    line_end,
    load,
    nested,
)

#: The anchor keys this module writes (RetinaNet / R-CNN block, and YOLO's boxes with
#: their count per level, written only with ``fit --anchors-per-location``).
EDITABLE = (
    "task.model.anchor.num_scales",
    "task.model.anchor.aspect_ratios",
    "task.model.anchor.anchor_size",
    "task.model.anchor_boxes.boxes",
    "task.model.anchor_boxes.anchors_per_scale",
)
#: Keys read alongside them but never written (the head and the backbone depend on them).
READ_ONLY = ("task.model.min_level", "task.model.max_level", "task.model.input_size")


@dataclass(frozen=True)
class _Edit:
    """Replace ``text[start:end]`` with ``new`` (an insertion when start == end)."""

    start: int
    end: int
    new: str


# ----------------------------------------------------------------------------- values


def normalize_change(change: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a change (dotted key -> value) and put YOLO boxes in the config's form.

    ``task.model.anchor_boxes.boxes`` accepts ``[[w, h], ...]`` or ``[{"box": [w, h]}, ...]``
    (pixels at the model input) and is returned in the second form, which is how the
    Model Garden's ``AnchorBoxes.boxes`` serialises.

    Raises:
        UsageError: an unknown or read-only key, or a value of the wrong shape.
    """
    out: dict[str, Any] = {}
    for key, value in change.items():
        if key not in EDITABLE:
            what = "read-only" if key in READ_ONLY else "not an anchor key"
            raise UsageError(f"cannot write {key}: {what} (writable: {', '.join(EDITABLE)})")
        if key.endswith(".boxes"):
            value = [_box_item(item) for item in value]
        elif key.endswith(".aspect_ratios"):
            value = [_finite(float(r), key) for r in value]
        elif key.endswith(".anchor_size"):
            value = _finite(float(value), key)
        else:
            if int(value) != value or int(value) < 1:
                raise UsageError(f"{key} must be a positive integer, got {value!r}")
            value = int(value)
        out[key] = value
    return out


def _finite(value: float, key: str) -> float:
    if not math.isfinite(value) or value <= 0:
        raise UsageError(f"{key} must be finite and positive, got {value!r}")
    return value


def _box_item(item: Any) -> dict[str, list]:
    pair = item["box"] if isinstance(item, Mapping) else item
    pair = [v.item() if hasattr(v, "item") else v for v in pair]
    if len(pair) != 2 or not all(isinstance(v, (int, float)) and math.isfinite(v) and v > 0
                                 for v in pair):
        raise UsageError(f"a YOLO anchor box is [width, height] in pixels, got {item!r}")
    return {"box": [int(v) if float(v).is_integer() else float(v) for v in pair]}


def _refuse_shared(node: Any, path: str) -> None:
    if getattr(node, "anchor", None):
        raise ConfigError(f"{path} is a YAML anchor (&{node.anchor}) shared through aliases; "
                          "edit it by hand, or write an override file with --output")


# ----------------------------------------------------------------------------- editing


def _insert_into(text: str, node: Any, missing: dict[str, Any], step: int) -> _Edit:
    """The insertion of the ``missing`` keys into the existing mapping ``node``."""
    if node.flow_style or not node.value:
        sep = ", " if node.value else ""
        at = content_end(node.value[-1][1]) if node.value else int(node.end_mark.index) - 1
        return _Edit(at, at, sep + flow(missing)[1:-1])
    at = line_end(text, content_end(node))
    lead = "\n" if at == len(text) and not text.endswith("\n") else ""
    return _Edit(at, at, lead + block(missing, int(node.value[0][0].start_mark.column), step))


def _replace(text: str, node: Any, value: Any, path: str, step: int) -> list[_Edit]:
    """Edits that make ``node`` (a value in the file) read as ``value``."""
    _refuse_shared(node, path)
    if is_seq(node) and isinstance(value, list) and len(node.value) == len(value):
        edits = []
        for i, (item, new) in enumerate(zip(node.value, value)):
            edits += _replace(text, item, new, f"{path}[{i}]", step)
        return edits
    if is_map(node) and isinstance(value, Mapping):
        return _merge(text, node, value, path, step)
    start, end = int(node.start_mark.index), content_end(node)
    if is_seq(node) and not node.flow_style and isinstance(value, list) and value:
        pad = "\n" + " " * node.start_mark.column
        items = [flow(v)[1:-1] if isinstance(v, Mapping) else flow(v) for v in value]
        return [_Edit(start, end, "- " + (pad + "- ").join(items))]
    if is_seq(node) and isinstance(value, list):  # flow: one-pair mappings as `k: v`
        pairs = [flow(v)[1:-1] if isinstance(v, Mapping) and len(v) == 1 else flow(v)
                 for v in value]
        return [_Edit(start, end, "[" + ", ".join(pairs) + "]")]
    return [_Edit(start, end, flow(value))]


def _fill_empty(text: str, key: Any, value: Any) -> _Edit:
    """Give ``key:`` (written with no value at all) the value ``value``, on its line."""
    start = int(key.end_mark.index)
    stop = text.find("\n", start)
    line = text[start:] if stop < 0 else text[start:stop]
    if not line.lstrip(" \t'\"").startswith(":"):
        raise ConfigError(f"{key.value} is written as an explicit key (?) with no value; "
                          "edit it by hand, or write an override file with --output")
    colon = start + line.index(":")
    return _Edit(colon + 1, colon + 1, " " + flow(value))


def _merge(text: str, node: Any, tree: Mapping[str, Any], path: str, step: int) -> list[_Edit]:
    """Edits that set every leaf of ``tree`` under the mapping ``node``."""
    _refuse_shared(node, path or "the document")
    if any(k.value == "<<" for k, _ in node.value):
        raise ConfigError(f"{path or 'the document'} uses a YAML merge key (<<); edit it "
                          "by hand, or write an override file with --output")
    edits, missing = [], {}
    for key, value in tree.items():
        key_node, child = find_key(node, key)
        where = f"{path}.{key}" if path else key
        if child is None:
            missing[key] = value
        elif child.start_mark.index == child.end_mark.index:
            edits.append(_fill_empty(text, key_node, value))
        elif isinstance(value, Mapping) and is_map(child):
            edits += _merge(text, child, value, where, step)
        elif isinstance(value, Mapping) and type(child).__name__ == "ScalarNode" \
                and child.tag.endswith(":null"):
            edits += _replace(text, child, value, where, step)
        elif isinstance(value, Mapping):
            raise ConfigError(f"{where} is not a mapping in this file; cannot set "
                              f"{', '.join(value)} under it")
        else:
            edits += _replace(text, child, value, where, step)
    if missing:
        edits.append(_insert_into(text, node, missing, step))
    return edits


def _apply(text: str, edits: list[_Edit]) -> str:
    out, last = [], len(text)
    for edit in sorted(edits, key=lambda e: (e.start, e.end), reverse=True):
        if edit.end > last:
            raise AssertionError("overlapping YAML edits")
        out.append(text[edit.end:last])
        out.append(edit.new)
        last = edit.start
    out.append(text[:last])
    return "".join(reversed(out))


def _with_change(data: Any, tree: Mapping[str, Any]) -> Any:
    """A copy of ``data`` (plain YAML data) with every leaf of ``tree`` set."""
    out = dict(data) if isinstance(data, Mapping) else {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            out[key] = _with_change(out.get(key), value)
        else:
            out[key] = value
    return out


def patch_text(text: str, change: Mapping[str, Any], path: str | None = None) -> str:
    """``text`` with the anchor values of ``change`` set (see the module docstring).

    Args:
        text: a YAML experiment file (a fully resolved ``params.yaml`` or a partial one).
        change: dotted key (:data:`EDITABLE`) -> value.
        path: the file's name, for messages.
    Returns:
        The new text; identical to ``text`` outside the edited values and insertions.
    Raises:
        UsageError: a key outside :data:`EDITABLE`, or a bad value.
        ConfigError: the file is not one YAML mapping, shares the edited values through
            anchors or merge keys, or the edit would change anything else.
    """
    tree = nested(normalize_change(change))
    try:
        return _patched(text, tree, path)
    except ConfigError as err:
        if err.path is None:
            err.path = path
        raise


def _patched(text: str, tree: Mapping[str, Any], path: str | None) -> str:
    root = compose(text, path)
    if root is None:
        lead = "" if not text or text.endswith("\n") else "\n"
        new = text + lead + block(tree, 0)
    elif not is_map(root):
        raise ConfigError("the top level is not a mapping, expected a Model Garden "
                          "experiment (task:, trainer:, runtime:)", path=path)
    else:
        edits = _merge(text, root, tree, "", indent_step(root))
        if "\r\n" in text:  # inserted lines end as the file's lines do
            edits = [_Edit(e.start, e.end, e.new.replace("\n", "\r\n")) for e in edits]
        new = _apply(text, edits)
    expected = _with_change(load(text, path) or {}, tree)
    if load(new, path) != expected:
        raise ConfigError("the anchor edit would change other values of this file (an "
                          "unusual YAML layout); nothing written: edit it by hand, or write "
                          "an override file with --output", path=path)
    return new


# ----------------------------------------------------------------------------- overrides


def override_text(change: Mapping[str, Any], experiment: str | None = None) -> str:
    """An override file for ``train.py --config_file`` holding only the anchor keys."""
    about = f" for --experiment={experiment}" if experiment else ""
    return (f"# Anchors fitted by tfod-anchors{about}; pass this file with --config_file\n"
            + block(nested(normalize_change(change)), 0))


def params_override(change: Mapping[str, Any]) -> str:
    """The change as one ``--params_override`` value.

    ``key=value`` pairs joined by commas (lists in brackets) when every value is a
    scalar or a list of scalars; otherwise (YOLO boxes: a list of mappings, which the
    comma form cannot carry) one YAML flow mapping, which the Model Garden reads after
    the comma form fails to parse.
    """
    values = normalize_change(change)
    if any(k.endswith(".boxes") for k in values):
        return flow(nested(values))
    return ",".join(f"{key}={flow(value).replace(' ', '')}" for key, value in values.items())


# ----------------------------------------------------------------------------- writing


def read_text(path: str) -> tuple[str, str]:
    """A YAML file's text and fingerprint (for :func:`write_patched`).

    Raises:
        ConfigError: missing, unreadable, empty, binary or not UTF-8.
    """
    data = files.read_bytes(path)
    if b"\x00" in data:
        raise ConfigError("binary data, expected a YAML experiment file", path=path)
    try:
        return data.decode("utf-8"), files.fingerprint(data)
    except UnicodeDecodeError as err:
        raise ConfigError(f"not UTF-8 text (invalid byte at offset {err.start})",
                          path=path) from None


def write_patched(path: str, change: Mapping[str, Any], *, backup: bool = True,
                  expected_fingerprint: str | None = None) -> files.Written:
    """Set the anchor values of ``change`` in the YAML file ``path``, in place.

    The file is read (and, given ``expected_fingerprint``, must still be what was
    read before), patched with :func:`patch_text`, and replaced atomically with a
    numbered backup, keeping its owner and mode; a change on disk meanwhile refuses.

    Raises:
        UsageError, ConfigError: see :func:`patch_text`; WriteError: refused or failed
        (the file is untouched).
    """
    text, found = read_text(path)
    if expected_fingerprint is not None and found != expected_fingerprint:
        raise WriteError("file changed on disk since it was read; nothing written "
                               "(re-run on the new file)", path=path)
    new = patch_text(text, change, path)
    files.ensure_replaceable(path)
    return files.write_config(new, path, backup=backup, expected_fingerprint=found)


def write_override(path: str, change: Mapping[str, Any],
                   experiment: str | None = None) -> files.Written:
    """Write :func:`override_text` to ``path`` atomically (``--output F.yaml``)."""
    return files.write_new(override_text(change, experiment), path)
