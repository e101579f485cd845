"""Protobuf text format as text: tokens, a light syntax tree with byte offsets, rendering.

Used by :mod:`tfod_anchors.config.patch` to find a block of a pipeline.config and to
write new field text in the file's own style. Handles ``#`` comments, quoted strings
(adjacent strings concatenate), ``{}``/``<>`` blocks, an optional ``:`` before a
block, ``[a, b]`` lists and ``,``/``;`` separators. Anything it cannot represent
raises :class:`Unsupported`, and the caller falls back to re-serialising.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from google.protobuf import text_encoding
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from tfod_anchors.config.schema import is_repeated

_TOKEN = re.compile(
    r"""(?P<ws>[ \t\r\n\f\v\ufeff]+)
      | (?P<comment>\#[^\n]*)
      | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
      | (?P<word>[A-Za-z0-9_.+\-]+)
      | (?P<punct>[{}<>\[\]:,;/])""",
    re.VERBOSE,
)
_CLOSER = {"{": "}", "<": ">"}


class Unsupported(Exception):
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
            raise Unsupported(f"unexpected character {text[pos]!r} at offset {pos}")
        if match.lastgroup not in ("ws", "comment"):
            tokens.append(_Tok(str(match.lastgroup), match.group(), match.start(), match.end()))
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
            raise Unsupported("unexpected end of text")
        self.i += 1
        return self.toks[self.i - 1]

    def body(self, open_tok: _Tok | None) -> Node:
        closer = _CLOSER[open_tok.text] if open_tok else None
        node = Node(open_tok.start if open_tok else None, len(self.text))
        while True:
            if self.i >= len(self.toks):
                if closer:
                    raise Unsupported("unclosed block")
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
            raise Unsupported(f"expected a field name at offset {tok.start}")
        if self.peek(":"):
            self.take()
        nxt = self.peek()
        if nxt is None:
            raise Unsupported("value missing")
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
            raise Unsupported(f"unexpected {tok.text!r} at offset {tok.start}")
        return tok.start, tok.end


def parse_tree(text: str) -> Node:
    """Syntax tree of a text-format message (root node)."""
    return _Parser(text).body(None)


_QUOTED = re.compile(r"""(?:"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|\#[^\n]*)""")
_NAME_BEFORE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)[ \t\r\n\f\v]*:?[ \t\r\n\f\v]*$")


@dataclass(frozen=True)
class TopBlock:
    """A top-level ``name { ... }`` entry: ``name`` (None when what precedes the brace
    is not a plain field name), offsets of the name and of both braces."""

    name: str | None
    start: int
    open: int
    close: int


def top_level_blocks(text: str) -> list[TopBlock]:
    """Every top-level message entry of ``text``, in order.

    Linear in the text and vectorized with numpy: braces are found and counted over
    the whole text at once; only lines where a brace follows a quote or ``#`` are
    tokenized (to drop braces inside strings and comments). No entry is built,
    unlike :func:`parse_tree`.

    Raises:
        Unsupported: unbalanced braces.
    """
    if text.isascii():
        codes = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    else:
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    is_open = (codes == ord("{")) | (codes == ord("<"))
    at = np.flatnonzero(is_open | (codes == ord("}")) | (codes == ord(">")))
    # A brace can be inside a string or comment only if its line has a quote or '#'
    # before it; only those lines are tokenized (strings and comments end with the line).
    newlines = np.flatnonzero(codes == ord("\n"))
    quotes = np.flatnonzero((codes == ord("#")) | (codes == ord('"')) | (codes == ord("'")))
    line_of = np.searchsorted(newlines, at)
    line_start = np.where(line_of > 0, newlines[np.maximum(line_of - 1, 0)] + 1, 0) \
        if newlines.size else np.zeros_like(at)
    first_quote = np.searchsorted(quotes, line_start)
    doubtful = first_quote < quotes.size
    doubtful[doubtful] = quotes[first_quote[doubtful]] < at[doubtful]
    spans = []
    for start in np.unique(line_start[doubtful]).tolist():
        end = text.find("\n", start)
        spans += [m.span() for m in _QUOTED.finditer(text, start, len(text) if end < 0 else end)]
    if spans:  # drop braces inside strings and comments (sorted, disjoint spans)
        bounds = np.array(spans, dtype=np.int64)
        last = np.searchsorted(bounds[:, 0], at, side="right") - 1
        inside = (last >= 0) & (at < bounds[np.maximum(last, 0), 1])
        at = at[~inside]
    step = np.where(is_open[at], 1, -1).astype(np.int32)
    depth = np.cumsum(step, dtype=np.int32)
    if depth.size and (depth.min() < 0 or depth[-1] != 0):
        raise Unsupported("unbalanced braces")
    top_open = at[(step == 1) & (depth == 1)].tolist()
    top_close = at[(step == -1) & (depth == 0)].tolist()
    blocks = []
    for open_at, close_at in zip(top_open, top_close):
        found = _NAME_BEFORE.search(text, max(0, open_at - 256), open_at)
        name, start = (found.group(1), found.start(1)) if found else (None, open_at)
        blocks.append(TopBlock(name, start, open_at, close_at))
    return blocks


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


def is_message(fd: FieldDescriptor) -> bool:
    return fd.type in (FieldDescriptor.TYPE_MESSAGE, FieldDescriptor.TYPE_GROUP)


def field_values(msg: Message, fd: FieldDescriptor) -> list[Any]:
    if is_repeated(fd):
        return list(getattr(msg, fd.name))
    return [getattr(msg, fd.name)] if msg.HasField(fd.name) else []


def field_lines(msg: Message, fd: FieldDescriptor, unit: str, one_per_line: bool) -> list[str]:
    """Lines (no base indentation) for every value of ``fd`` in ``msg``."""
    values = field_values(msg, fd)
    if not values:
        return []
    if is_message(fd):
        if fd.message_type.GetOptions().map_entry:
            raise Unsupported("map fields are not rendered")
        return [line for value in values for line in block_lines(fd.name, value, unit)]
    if is_repeated(fd) and not one_per_line:
        return [f"{fd.name}: [{', '.join(format_scalar(fd, v) for v in values)}]"]
    return [f"{fd.name}: {format_scalar(fd, v)}" for v in values]


def block_lines(name: str, value: Message, unit: str) -> list[str]:
    return [f"{name} {{", *(unit + line for line in render_lines(value, unit)), "}"]


def render_lines(msg: Message, unit: str = "  ") -> list[str]:
    """Multi-line text of ``msg``'s set fields (schema order), indented by ``unit`` per level."""
    lines: list[str] = []
    for fd in msg.DESCRIPTOR.fields:
        lines += field_lines(msg, fd, unit, one_per_line=False)
    return lines


def render_inline(msg: Message) -> str:
    """One-line text of ``msg`` (``a: 1 b: [1, 2] c { d: 3 }``)."""
    parts: list[str] = []
    for fd in msg.DESCRIPTOR.fields:
        if not is_message(fd):
            parts += field_lines(msg, fd, "", one_per_line=False)
            continue
        for value in field_values(msg, fd):
            inner = render_inline(value)
            parts.append(f"{fd.name} {{ {inner} }}" if inner else f"{fd.name} {{ }}")
    return " ".join(parts)
