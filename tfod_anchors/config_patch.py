"""Rewrite only the anchor generator block of a pipeline.config text.

The text is tokenised and parsed into a light syntax tree (protobuf text format:
``#`` comments, quoted strings, ``{}``/``<>`` blocks, optional ``:`` before a
block, ``[a, b]`` lists, repeated fields). The config with the new generator is
compared with the parsed one field by field, and only differing fields get new
text: a changed scalar keeps its line (and trailing comment) with just the value
replaced, a list keeps its ``[...]`` form, one-value-per-line fields stay one
value per line, new fields are inserted next to their neighbours in schema order
with the block's indentation. Everything outside the generator block is kept
byte for byte. The result is re-parsed and must equal the intended config;
otherwise the whole config is re-serialised and :attr:`PatchResult.warning` says so.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from google.protobuf import text_encoding, text_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from .config_query import anchor_generator_path, as_pipeline
from .errors import ConfigError
from .schema import parse_text

_TOKEN = re.compile(
    r"""(?P<ws>[ \t\r\n\f\v\ufeff]+)
      | (?P<comment>\#[^\n]*)
      | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
      | (?P<word>[A-Za-z0-9_.+\-]+)
      | (?P<punct>[{}<>\[\]:,;/])""",
    re.VERBOSE,
)
_CLOSER = {"{": "}", "<": ">"}


class _Unsupported(Exception):
    """The text cannot be patched safely in place (caller falls back)."""


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str
    start: int
    end: int


def tokenize(text: str) -> list[_Tok]:
    """Significant tokens (no whitespace/comments) of protobuf text format."""
    tokens, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise _Unsupported(f"unexpected character {text[pos]!r} at offset {pos}")
        if match.lastgroup not in ("ws", "comment"):
            tokens.append(_Tok(match.lastgroup, match.group(), match.start(), match.end()))
        pos = match.end()
    return tokens


@dataclass
class Node:
    """A message body: ``open``/``close`` are offsets of its braces (root: None / len(text))."""

    open: int | None
    close: int
    entries: list[Entry] = field(default_factory=list)


@dataclass
class Entry:
    """One ``name: value`` / ``name { ... }`` occurrence; offsets into the text.

    ``kind`` is ``"scalar"``, ``"list"`` or ``"message"``; ``end`` includes a
    trailing ``,``/``;`` separator.
    """

    name: str
    start: int
    value_start: int
    value_end: int
    end: int
    kind: str
    node: Node | None = None


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.toks = tokenize(text)
        self.i = 0

    def peek(self, value: str | None = None) -> _Tok | None:
        tok = self.toks[self.i] if self.i < len(self.toks) else None
        if value is not None and (tok is None or tok.kind != "punct" or tok.text != value):
            return None
        return tok

    def take(self) -> _Tok:
        if self.i >= len(self.toks):
            raise _Unsupported("unexpected end of text")
        self.i += 1
        return self.toks[self.i - 1]

    def body(self, open_tok: _Tok | None) -> Node:
        closer = _CLOSER[open_tok.text] if open_tok else None
        node = Node(open_tok.start if open_tok else None, len(self.text))
        while True:
            if self.i >= len(self.toks):
                if closer:
                    raise _Unsupported("unclosed block")
                return node
            if closer and self.peek(closer):
                node.close = self.take().start
                return node
            node.entries.append(self.entry())

    def entry(self) -> Entry:
        tok = self.take()
        if tok.kind == "punct" and tok.text == "[":
            parts = []
            while not self.peek("]"):
                parts.append(self.take().text)
            self.take()
            name = "[" + "".join(parts) + "]"
        elif tok.kind == "word":
            name = tok.text
        else:
            raise _Unsupported(f"expected a field name at offset {tok.start}")
        if self.peek(":"):
            self.take()
        nxt = self.peek()
        if nxt is None:
            raise _Unsupported("value missing")
        if nxt.kind == "punct" and nxt.text in _CLOSER:
            self.take()
            node = self.body(nxt)
            kind, vstart, vend = "message", nxt.start, node.close + 1
        elif nxt.kind == "punct" and nxt.text == "[":
            self.take()
            while not self.peek("]"):
                item = self.peek()
                if item is not None and item.kind == "punct" and item.text in _CLOSER:
                    self.take()
                    self.body(item)
                else:
                    self.scalar()
                if self.peek(","):
                    self.take()
            node, kind, vstart, vend = None, "list", nxt.start, self.take().end
        else:
            node, kind = None, "scalar"
            vstart, vend = self.scalar()
        end = vend
        if self.peek(",") or self.peek(";"):
            end = self.take().end
        return Entry(name, tok.start, vstart, vend, end, kind, node)

    def scalar(self) -> tuple[int, int]:
        tok = self.take()
        if tok.kind == "string":
            end = tok.end
            while self.i < len(self.toks) and self.toks[self.i].kind == "string":
                end = self.take().end
            return tok.start, end
        if tok.kind != "word":
            raise _Unsupported(f"unexpected {tok.text!r} at offset {tok.start}")
        return tok.start, tok.end


def parse_tree(text: str) -> Node:
    """Syntax tree of a text-format message (root node)."""
    return _Parser(text).body(None)


# ----------------------------------------------------------------------------- rendering


def format_scalar(fd: FieldDescriptor, value: Any) -> str:
    """Text-format literal for one value of field ``fd`` that re-parses to the same value."""
    if fd.type == FieldDescriptor.TYPE_FLOAT:
        return np.format_float_positional(np.float32(value), unique=True, trim="0")
    if fd.type == FieldDescriptor.TYPE_DOUBLE:
        return repr(float(value))
    if fd.type == FieldDescriptor.TYPE_BOOL:
        return "true" if value else "false"
    if fd.type == FieldDescriptor.TYPE_ENUM:
        enum_value = fd.enum_type.values_by_number.get(value)
        return enum_value.name if enum_value is not None else str(value)
    if fd.type == FieldDescriptor.TYPE_STRING:
        return '"' + text_encoding.CEscape(value, as_utf8=True) + '"'
    if fd.type == FieldDescriptor.TYPE_BYTES:
        return '"' + text_encoding.CEscape(value, as_utf8=False) + '"'
    return str(int(value))


def _is_repeated(fd: FieldDescriptor) -> bool:
    flag = getattr(fd, "is_repeated", None)  # protobuf >= 5.29; .label before
    return bool(flag) if flag is not None else fd.label == FieldDescriptor.LABEL_REPEATED


def _is_message(fd: FieldDescriptor) -> bool:
    return fd.type in (FieldDescriptor.TYPE_MESSAGE, FieldDescriptor.TYPE_GROUP)


def _values(msg: Message, fd: FieldDescriptor) -> list[Any]:
    if _is_repeated(fd):
        return list(getattr(msg, fd.name))
    return [getattr(msg, fd.name)] if msg.HasField(fd.name) else []


def _field_lines(msg: Message, fd: FieldDescriptor, unit: str, one_per_line: bool) -> list[str]:
    """Lines (no base indentation) for every value of ``fd`` in ``msg``."""
    values = _values(msg, fd)
    if not values:
        return []
    if _is_message(fd):
        if fd.message_type.GetOptions().map_entry:
            raise _Unsupported("map fields are not rendered")
        return [line for value in values for line in _block_lines(fd.name, value, unit)]
    if _is_repeated(fd) and not one_per_line:
        return [f"{fd.name}: [{', '.join(format_scalar(fd, v) for v in values)}]"]
    return [f"{fd.name}: {format_scalar(fd, v)}" for v in values]


def _block_lines(name: str, value: Message, unit: str) -> list[str]:
    return [f"{name} {{", *(unit + line for line in render_lines(value, unit)), "}"]


def render_lines(msg: Message, unit: str = "  ") -> list[str]:
    """Multi-line text of ``msg``'s set fields (schema order), indented by ``unit`` per level."""
    lines: list[str] = []
    for fd in msg.DESCRIPTOR.fields:
        lines += _field_lines(msg, fd, unit, one_per_line=False)
    return lines


def render_inline(msg: Message) -> str:
    """One-line text of ``msg`` (``a: 1 b: [1, 2] c { d: 3 }``)."""
    parts: list[str] = []
    for fd in msg.DESCRIPTOR.fields:
        if not _is_message(fd):
            parts += _field_lines(msg, fd, "", one_per_line=False)
            continue
        for value in _values(msg, fd):
            inner = render_inline(value)
            parts.append(f"{fd.name} {{ {inner} }}" if inner else f"{fd.name} {{ }}")
    return " ".join(parts)


# ----------------------------------------------------------------------------- patching


class _Text:
    """Line helpers over the original text."""

    def __init__(self, text: str):
        self.text = text
        self.nl = "\r\n" if "\r\n" in text else "\n"

    def line_start(self, pos: int) -> int:
        return self.text.rfind("\n", 0, pos) + 1

    def line_end(self, pos: int) -> int:
        end = self.text.find("\n", pos)
        return len(self.text) if end < 0 else end

    def next_line(self, pos: int) -> int:
        return min(self.line_end(pos) + 1, len(self.text))

    def indent(self, pos: int) -> str:
        start = self.line_start(pos)
        line = self.text[start : self.line_end(pos)]
        return line[: len(line) - len(line.lstrip(" \t"))]

    def alone(self, start: int, end: int) -> bool:
        """Only whitespace before ``start`` and whitespace/comment after ``end`` on their lines."""
        before = self.text[self.line_start(start) : start]
        after = self.text[end : self.line_end(end)].strip()
        return not before.strip() and (not after or after.startswith("#"))

    def same_line(self, a: int, b: int) -> bool:
        return "\n" not in self.text[a:b]


def _equal(old: Message, new: Message, fd: FieldDescriptor) -> bool:
    if _is_repeated(fd):
        return list(getattr(old, fd.name)) == list(getattr(new, fd.name))
    if old.HasField(fd.name) != new.HasField(fd.name):
        return False
    return not old.HasField(fd.name) or getattr(old, fd.name) == getattr(new, fd.name)


def _patch_node(
    t: _Text, node: Node, old: Message, new: Message, depth: int, rerender_depth: int
) -> list[tuple[int, int, str]]:
    """Edits ``(start, end, replacement)`` turning ``node`` (parsed as ``old``) into ``new``.

    A block at ``depth >= rerender_depth`` (the generator block and below) whose
    fields cannot be edited one by one is rewritten as a whole; shallower blocks
    are never rewritten (the caller then falls back).
    """
    try:
        return _patch_fields(t, node, old, new, depth, rerender_depth)
    except _Unsupported:
        if node.open is None or depth < rerender_depth:
            raise
        return [_rerender(t, node, new)]


def _rerender(t: _Text, node: Node, new: Message) -> tuple[int, int, str]:
    """Replace a block's whole content (used when fine-grained edits are not safe)."""
    if t.same_line(node.open, node.close):
        inner = render_inline(new)
        return node.open + 1, node.close, f" {inner} " if inner else " "
    parent = t.indent(node.open)
    unit = _unit(t, node, parent)
    lines = "".join(parent + unit + line + t.nl for line in render_lines(new, unit))
    if t.alone(node.close, node.close):
        return node.open + 1, t.line_start(node.close), t.nl + lines
    return node.open + 1, node.close, t.nl + lines + parent


def _unit(t: _Text, node: Node, parent: str) -> str:
    for entry in node.entries:
        child = t.indent(entry.start)
        if t.alone(entry.start, entry.start) and child.startswith(parent) and child != parent:
            return child[len(parent) :]
    return "  "


def _patch_fields(
    t: _Text, node: Node, old: Message, new: Message, depth: int, rerender_depth: int
) -> list[tuple[int, int, str]]:
    by_name: dict[str, list[Entry]] = {}
    for entry in node.entries:
        if entry.name not in old.DESCRIPTOR.fields_by_name:
            raise _Unsupported(f"unknown entry {entry.name}")
        by_name.setdefault(entry.name, []).append(entry)
    multiline = node.open is None or not t.same_line(node.open, node.close)
    edits: list[tuple[int, int, str]] = []
    fields = list(old.DESCRIPTOR.fields)
    for index, fd in enumerate(fields):
        if _equal(old, new, fd):
            continue
        entries = by_name.get(fd.name, [])
        old_vals, new_vals = _values(old, fd), _values(new, fd)
        if (
            _is_message(fd)
            and len(entries) == len(old_vals) > 0
            and new_vals
            and all(e.kind == "message" for e in entries)
            and (
                len(new_vals) == len(old_vals)
                or (multiline and t.alone(entries[-1].start, entries[-1].end))
            )
        ):  # edit common elements in place, then drop or append the rest
            for entry, o, n in zip(entries, old_vals, new_vals):
                if o != n:
                    edits += _patch_node(t, entry.node, o, n, depth + 1, rerender_depth)
            for entry in entries[len(new_vals) :]:
                if not t.alone(entry.start, entry.end):
                    raise _Unsupported(f"{fd.name} shares a line with other text")
                edits.append((t.line_start(entry.start), t.next_line(entry.end), ""))
            if len(new_vals) > len(entries):
                last = entries[-1]
                indent = t.indent(last.start)
                unit = _unit(t, last.node, indent)
                lines = [
                    ln for v in new_vals[len(entries) :] for ln in _block_lines(fd.name, v, unit)
                ]
                at = t.next_line(last.end)
                edits.append((at, at, "".join(indent + ln + t.nl for ln in lines)))
            continue
        if not _is_message(fd) and len(entries) == 1 and old_vals and new_vals:
            entry = entries[0]
            if not _is_repeated(fd) and entry.kind == "scalar":
                edits.append((entry.value_start, entry.value_end, format_scalar(fd, new_vals[0])))
                continue
            if _is_repeated(fd) and entry.kind == "list":
                literal = ", ".join(format_scalar(fd, v) for v in new_vals)
                edits.append((entry.value_start, entry.value_end, f"[{literal}]"))
                continue
        if (
            not _is_message(fd)
            and len(entries) == len(new_vals) > 0
            and all(e.kind == "scalar" for e in entries)
        ):  # one value per line, same count: replace values, keep lines and comments
            for entry, value in zip(entries, new_vals):
                edits.append((entry.value_start, entry.value_end, format_scalar(fd, value)))
            continue
        if not multiline:
            raise _Unsupported("structural change inside a one-line block")
        edits += _replace_field(t, node, by_name, fields, index, new)
    return edits


def _replace_field(
    t: _Text,
    node: Node,
    by_name: dict[str, list[Entry]],
    fields: list[FieldDescriptor],
    index: int,
    new: Message,
) -> list[tuple[int, int, str]]:
    """Delete every line of field ``fields[index]`` and write its new lines in their place."""
    fd = fields[index]
    entries = by_name.get(fd.name, [])
    for entry in entries:
        if not t.alone(entry.start, entry.end):
            raise _Unsupported(f"{fd.name} shares a line with other text")
    parent = t.indent(node.open) if node.open is not None else ""
    indent = next((t.indent(e.start) for e in node.entries if t.alone(e.start, e.end)), None)
    unit = _unit(t, node, parent)
    indent = indent if indent is not None else parent + unit
    one_per_line = bool(entries) and all(e.kind == "scalar" for e in entries)
    lines = _field_lines(new, fd, unit, one_per_line)
    block = "".join(indent + line + t.nl for line in lines)
    edits = [(t.line_start(e.start), t.next_line(e.end), "") for e in entries]
    if entries:
        start, end, _ = edits[0]
        edits[0] = (start, end, block)
        return edits
    if block:
        edits.append((_insertion_point(t, node, by_name, fields, index), None, block))
    return [(s, s if e is None else e, r) for s, e, r in edits]


def _insertion_point(
    t: _Text, node: Node, by_name: dict[str, list[Entry]], fields: list[FieldDescriptor], index: int
) -> int:
    """Offset of a line start where a new field line keeps schema order among its neighbours."""
    for fd in reversed(fields[:index]):
        if by_name.get(fd.name):
            last = by_name[fd.name][-1]
            if not t.alone(last.start, last.end):
                raise _Unsupported("neighbour shares a line")
            return t.next_line(last.end)
    for fd in fields[index + 1 :]:
        if by_name.get(fd.name):
            first = by_name[fd.name][0]
            if not t.alone(first.start, first.end):
                raise _Unsupported("neighbour shares a line")
            return t.line_start(first.start)
    if node.open is not None and t.alone(node.close, node.close):
        return t.line_start(node.close)
    raise _Unsupported("no line to insert at")


def _apply(text: str, edits: list[tuple[int, int, str]]) -> str:
    out, pos = [], 0
    for start, end, replacement in sorted(edits, key=lambda e: (e[0], e[1])):
        if start < pos:
            raise _Unsupported("overlapping edits")
        out += [text[pos:start], replacement]
        pos = end
    out.append(text[pos:])
    return "".join(out)


# ----------------------------------------------------------------------------- API


@dataclass(frozen=True)
class PatchResult:
    """Outcome of :func:`patch_anchor_generator`.

    Attributes:
        text: the complete new config text.
        changed_line_ranges: 1-based inclusive ``(first, last)`` line ranges of the
            new text that differ from the old one; a pure deletion shows as
            ``(n, n - 1)`` at the line where lines were removed.
        method: ``"textual"`` (only the block's text changed) or ``"reserialized"``.
        warning: why the textual patch was impossible (``None`` when textual).
    """

    text: str
    changed_line_ranges: list[tuple[int, int]]
    method: str
    warning: str | None = None


def _as_anchor_generator(target: Message, generator: Message) -> Message:
    """``generator`` as a message of ``target``'s class (wrapping a bare generator oneof)."""
    cls = type(target)
    if generator.DESCRIPTOR.full_name != target.DESCRIPTOR.full_name:
        for fd in target.DESCRIPTOR.oneofs_by_name["anchor_generator_oneof"].fields:
            if fd.message_type.full_name == generator.DESCRIPTOR.full_name:
                wrapped = cls()
                getattr(wrapped, fd.name).ParseFromString(generator.SerializeToString())
                getattr(wrapped, fd.name).SetInParent()
                return wrapped
        raise ConfigError(f"not an anchor generator message: {generator.DESCRIPTOR.full_name}")
    return cls.FromString(generator.SerializeToString())


def _line_ranges(old: str, new: str) -> list[tuple[int, int]]:
    matcher = difflib.SequenceMatcher(
        None, old.splitlines(True), new.splitlines(True), autojunk=False
    )
    return [(j1 + 1, j2) for tag, _, _, j1, j2 in matcher.get_opcodes() if tag != "equal"]


def patch_anchor_generator(
    text: str, cfg: Any, new_generator_msg: Message, path: str | None = None
) -> PatchResult:
    """New config text with the anchor generator replaced by ``new_generator_msg``.

    Args:
        text: the config file's text (as loaded).
        cfg: its parsed ``TrainEvalPipelineConfig`` (or TFOD configs dict).
        new_generator_msg: an ``AnchorGenerator`` or one of its oneof messages
            (``GridAnchorGenerator``...), from either schema.
        path: file name for error messages.
    Raises:
        ConfigError: the model has no anchor generator field (e.g. CenterNet) or
            ``text`` does not parse.
    """
    cfg = as_pipeline(cfg)
    field_path = anchor_generator_path(cfg)
    if field_path is None:
        raise ConfigError(
            f"model {cfg.model.WhichOneof('model') or '(none)'} has no anchors to patch", path
        )
    intended = type(cfg)()
    intended.CopyFrom(cfg)
    meta = getattr(intended.model, field_path[1])
    generator = _as_anchor_generator(getattr(meta, field_path[2]), new_generator_msg)
    getattr(meta, field_path[2]).CopyFrom(generator)

    body = text[1:] if text.startswith("\ufeff") else text
    old = parse_text(body, type(cfg)(), path)
    target = type(cfg)()
    target.CopyFrom(old)
    getattr(getattr(target.model, field_path[1]), field_path[2]).CopyFrom(generator)
    try:
        edits = _patch_node(_Text(text), parse_tree(text), old, target, 0, len(field_path))
        new_text = _apply(text, edits)
        reparsed = parse_text(
            new_text[1:] if new_text.startswith("\ufeff") else new_text, type(cfg)()
        )
        if reparsed != intended:
            raise _Unsupported("the config differs from its text outside the anchor generator")
        return PatchResult(new_text, _line_ranges(text, new_text), "textual")
    except (_Unsupported, ConfigError) as err:
        reason = str(err)
    new_text = text_format.MessageToString(intended)
    warning = (
        f"could not patch the anchor generator block in place ({reason}); the whole config was "
        "re-serialised, so comments and formatting elsewhere are lost"
    )
    return PatchResult(new_text, _line_ranges(text, new_text), "reserialized", warning)


def unified_diff(old: str, new: str, path: str = "pipeline.config") -> str:
    """``diff -u`` style text between two versions of a config (empty when equal)."""
    lines = difflib.unified_diff(
        old.splitlines(True),
        new.splitlines(True),
        fromfile=f"{path} (before)",
        tofile=f"{path} (after)",
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)
