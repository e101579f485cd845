"""YAML text in and out for :mod:`.yaml_patch`: the node tree of a file with every value's
exact span (ruamel.yaml's composer), the spans themselves, and anchor values written as
YAML text (flow and block style) that YAML 1.1 and 1.2 readers both read back unchanged.

Nothing here edits a file: :mod:`.yaml_patch` decides what to replace or insert where,
applies it and checks the result.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

from tfod_anchors.errors import ConfigError, UsageError

#: The extra that brings ruamel.yaml.
YAML_EXTRA = "tfod-anchors[yaml]"
#: Indentation used for inserted nesting when the file shows none to copy.
DEFAULT_STEP = 2


# ----------------------------------------------------------------------------- values


def nested(change: Mapping[str, Any]) -> dict[str, Any]:
    """``{"a.b.c": v}`` -> ``{"a": {"b": {"c": v}}}`` (keys in the given order)."""
    root: dict[str, Any] = {}
    for key, value in change.items():
        node = root
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return root


def _scalar(value: Any) -> str:
    """One YAML plain scalar that both YAML 1.1 (PyYAML) and 1.2 read back as ``value``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = repr(value)
        if "e" in text and "." not in text.split("e")[0]:  # 1e-05 is a string in YAML 1.1
            mantissa, exponent = text.split("e")
            text = f"{mantissa}.0e{exponent if exponent[0] in '+-' else '+' + exponent}"
        return text
    raise TypeError(f"no YAML scalar for {value!r}")


def flow(value: Any) -> str:
    """``value`` in YAML flow style (``[a, b]``, ``{k: v}``, plain scalars)."""
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(flow(v) for v in value) + "]"
    return _scalar(value)


def block(tree: Mapping[str, Any], indent: int, step: int = DEFAULT_STEP) -> str:
    """``tree`` as block-style YAML lines at column ``indent`` (lists of mappings as
    ``- k: v`` items, other lists in flow style); every line ends with a newline."""
    pad = " " * indent
    lines = []
    for key, value in tree.items():
        if isinstance(value, Mapping) and value:
            lines.append(f"{pad}{key}:\n{block(value, indent + step, step)}")
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            items = "".join(f"{pad}- {flow(v)[1:-1]}\n" for v in value)
            lines.append(f"{pad}{key}:\n{items}")
        else:
            lines.append(f"{pad}{key}: {flow(value)}\n")
    return "".join(lines)


# ----------------------------------------------------------------------------- parsing


def _ruamel() -> Any:
    try:
        from ruamel.yaml import YAML
    except ImportError:
        raise UsageError(f"reading and writing YAML experiment files needs ruamel.yaml: "
                         f"pip install '{YAML_EXTRA}'") from None
    return YAML


def compose(text: str, path: str | None = None) -> Any:
    """The node tree of a one-document YAML text (None for an empty document).

    Raises:
        ConfigError: a syntax error (with line and column) or several documents.
    """
    yaml = _ruamel()(typ="rt", pure=True)
    try:
        with warnings.catch_warnings():  # e.g. a reused anchor: judged by the edit's check
            warnings.simplefilter("ignore")
            return yaml.compose(text)
    except Exception as err:  # noqa: BLE001 - ruamel's YAMLError and ComposerError
        raise ConfigError(f"not valid YAML: {' '.join(str(err).split())[:300]}",
                          path=path) from None


def load(text: str, path: str | None = None) -> Any:
    """Plain Python data of a one-document YAML text (safe loader: no custom tags)."""
    yaml = _ruamel()(typ="safe", pure=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return yaml.load(text)
    except Exception as err:  # noqa: BLE001 - ruamel's YAMLError
        raise ConfigError(f"not valid YAML: {' '.join(str(err).split())[:300]}",
                          path=path) from None


def is_map(node: Any) -> bool:
    return type(node).__name__ == "MappingNode"


def is_seq(node: Any) -> bool:
    return type(node).__name__ == "SequenceNode"


def content_end(node: Any) -> int:
    """Offset just past the node's last character of content (a block collection's
    end mark also covers the line break and indentation after it)."""
    if (is_map(node) or is_seq(node)) and not node.flow_style and node.value:
        last = node.value[-1]
        return content_end(last[1] if is_map(node) else last)
    return int(node.end_mark.index)


def find_key(mapping: Any, key: str) -> tuple[Any, Any]:
    """The (key node, value node) of ``key`` in a mapping node, or (None, None)."""
    for k, v in mapping.value:
        if k.value == key:
            return k, v
    return None, None


def indent_step(root: Any) -> int:
    """The indentation step of the file's first nested block mapping (or the default)."""
    stack = [root]
    while stack:
        node = stack.pop()
        if is_map(node) and not node.flow_style:
            for key, value in node.value:
                if is_map(value) and not value.flow_style and value.value:
                    step = value.start_mark.column - key.start_mark.column
                    if step > 0:
                        return int(step)
                stack.append(value)
    return DEFAULT_STEP


def line_end(text: str, offset: int) -> int:
    """Offset just past the line break ending the line that holds ``offset - 1``."""
    if offset > 0 and text[offset - 1] == "\n":
        return offset
    nl = text.find("\n", offset)
    return len(text) if nl < 0 else nl + 1
