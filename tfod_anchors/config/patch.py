"""Rewrite only the anchor generator block of a pipeline.config text.

The text is tokenised and parsed into a light syntax tree (protobuf text format:
``#`` comments, quoted strings, ``{}``/``<>`` blocks, optional ``:`` before a
block, ``[a, b]`` lists, repeated fields). The config with the new generator is
compared with the parsed one field by field, and only differing fields get new
text: a changed scalar keeps its line (and trailing comment) with just the value
replaced, a list keeps its ``[...]`` form, one-value-per-line fields stay one
value per line, new fields are inserted next to their neighbours in schema order
with the block's indentation. Everything outside the generator block is kept
byte for byte. Only the lines of the top-level ``model`` block are parsed into the
tree (found by one linear scan, :func:`~.textproto.top_level_blocks`), so the cost
of a huge config outside that block is linear and small. The patched block is
re-parsed and must equal the intended one; otherwise the whole config is
re-serialised and :attr:`PatchResult.warning` says so. Changed line ranges and the
unified diff come from :mod:`.linediff`, also linear.
"""


from __future__ import annotations

from dataclasses import dataclass

from google.protobuf import text_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from tfod_anchors.config.linediff import changed_line_ranges, unified_diff
from tfod_anchors.config.query import PipelineLike, anchor_generator_path, as_pipeline
from tfod_anchors.config.schema import is_repeated, parse_text
from tfod_anchors.config.textproto import (
    Entry,
    Node,
    Unsupported,
    block_lines,
    field_lines,
    field_values,
    format_scalar,
    is_message,
    parse_tree,
    render_inline,
    render_lines,
    tokenize,
    top_level_blocks,
)
from tfod_anchors.errors import ConfigError

__all__ = ["PatchResult", "patch_anchor_generator", "unified_diff", "parse_tree", "tokenize",
           "format_scalar", "render_lines", "render_inline"]


# ----------------------------------------------------------------------------- patching


class _Text:
    """Line helpers over the original text."""

    def __init__(self, text: str, newline: str | None = None):
        self.text = text
        self.nl = newline or ("\r\n" if "\r\n" in text else "\n")

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
    if is_repeated(fd):
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
    except Unsupported:
        if node.open is None or depth < rerender_depth:
            raise
        return [_rerender(t, node, new)]


def _node(entry: Entry) -> Node:
    """The block of a ``message`` entry (every such entry has one)."""
    assert entry.node is not None, entry.name
    return entry.node


def _rerender(t: _Text, node: Node, new: Message) -> tuple[int, int, str]:
    """Replace a block's whole content (used when fine-grained edits are not safe)."""
    assert node.open is not None and node.close is not None  # a block, not the file
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
            raise Unsupported(f"unknown entry {entry.name}")
        by_name.setdefault(entry.name, []).append(entry)
    multiline = node.open is None or not t.same_line(node.open, node.close)
    edits: list[tuple[int, int, str]] = []
    fields = list(old.DESCRIPTOR.fields)
    for index, fd in enumerate(fields):
        if _equal(old, new, fd):
            continue
        entries = by_name.get(fd.name, [])
        old_vals, new_vals = field_values(old, fd), field_values(new, fd)
        if (
            is_message(fd)
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
                    edits += _patch_node(t, _node(entry), o, n, depth + 1, rerender_depth)
            for entry in entries[len(new_vals) :]:
                if not t.alone(entry.start, entry.end):
                    raise Unsupported(f"{fd.name} shares a line with other text")
                edits.append((t.line_start(entry.start), t.next_line(entry.end), ""))
            if len(new_vals) > len(entries):
                last = entries[-1]
                indent = t.indent(last.start)
                unit = _unit(t, _node(last), indent)
                lines = [
                    ln for v in new_vals[len(entries) :] for ln in block_lines(fd.name, v, unit)
                ]
                at = t.next_line(last.end)
                edits.append((at, at, "".join(indent + ln + t.nl for ln in lines)))
            continue
        if not is_message(fd) and len(entries) == 1 and old_vals and new_vals:
            entry = entries[0]
            if not is_repeated(fd) and entry.kind == "scalar":
                edits.append((entry.value_start, entry.value_end, format_scalar(fd, new_vals[0])))
                continue
            if is_repeated(fd) and entry.kind == "list":
                literal = ", ".join(format_scalar(fd, v) for v in new_vals)
                edits.append((entry.value_start, entry.value_end, f"[{literal}]"))
                continue
        if (
            not is_message(fd)
            and len(entries) == len(new_vals) > 0
            and all(e.kind == "scalar" for e in entries)
        ):  # one value per line, same count: replace values, keep lines and comments
            for entry, value in zip(entries, new_vals):
                edits.append((entry.value_start, entry.value_end, format_scalar(fd, value)))
            continue
        if not multiline:
            raise Unsupported("structural change inside a one-line block")
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
            raise Unsupported(f"{fd.name} shares a line with other text")
    parent = t.indent(node.open) if node.open is not None else ""
    indent = next((t.indent(e.start) for e in node.entries if t.alone(e.start, e.end)), None)
    unit = _unit(t, node, parent)
    indent = indent if indent is not None else parent + unit
    one_per_line = bool(entries) and all(e.kind == "scalar" for e in entries)
    lines = field_lines(new, fd, unit, one_per_line)
    block = "".join(indent + line + t.nl for line in lines)
    edits = [(t.line_start(e.start), t.next_line(e.end), "") for e in entries]
    if entries:
        start, end, _ = edits[0]
        edits[0] = (start, end, block)
        return edits
    if block:
        at = _insertion_point(t, node, by_name, fields, index)
        return [(at, at, block)]
    return []


def _insertion_point(
    t: _Text, node: Node, by_name: dict[str, list[Entry]], fields: list[FieldDescriptor], index: int
) -> int:
    """Offset of a line start where a new field line keeps schema order among its neighbours."""
    for fd in reversed(fields[:index]):
        if by_name.get(fd.name):
            last = by_name[fd.name][-1]
            if not t.alone(last.start, last.end):
                raise Unsupported("neighbour shares a line")
            return t.next_line(last.end)
    for fd in fields[index + 1 :]:
        if by_name.get(fd.name):
            first = by_name[fd.name][0]
            if not t.alone(first.start, first.end):
                raise Unsupported("neighbour shares a line")
            return t.line_start(first.start)
    if node.open is not None and t.alone(node.close, node.close):
        return t.line_start(node.close)
    raise Unsupported("no line to insert at")


def _apply(text: str, edits: list[tuple[int, int, str]]) -> str:
    out, pos = [], 0
    for start, end, replacement in sorted(edits, key=lambda e: (e[0], e[1])):
        if start < pos:
            raise Unsupported("overlapping edits")
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


def _model_slice(text: str) -> tuple[int, int] | None:
    """``(a, b)``: whole lines of ``text`` holding its only top-level ``model`` block and
    no part of another top-level block, or None (the whole text is patched then)."""
    try:
        blocks = top_level_blocks(text)
    except Unsupported:
        return None
    models = [b for b in blocks if b.name == "model"]
    if len(models) != 1 or any(b.name is None for b in blocks):
        return None
    t = _Text(text)
    a, b = t.line_start(models[0].start), t.next_line(models[0].close)
    if any(blk.start < a <= blk.close or blk.start < b <= blk.close for blk in blocks):
        return None
    return a, b


def _strip_bom(text: str) -> str:
    return text[1:] if text.startswith("\ufeff") else text


def _patch_text(text: str, intended: Message, generator: Message,
                field_path: list[str], path: str | None) -> str:
    """``text`` with the generator replaced, edited in place.

    Only the lines of the ``model`` block are parsed when they can be cut out (one
    linear scan finds them), so a huge config costs little more than a small one; the
    patched block is re-parsed and must equal ``intended.model``, and everything
    outside it is kept byte for byte. Raises Unsupported/ConfigError when no safe
    textual patch exists.
    """
    cls = type(intended)
    a, b = _model_slice(text) or (0, len(text))
    part = text[a:b]
    try:
        old = parse_text(_strip_bom(part), cls(), path)
    except ConfigError:
        if (a, b) == (0, len(text)):
            raise  # the config itself does not parse
        a, b, part = 0, len(text), text
        old = parse_text(_strip_bom(part), cls(), path)
    target = cls()
    target.CopyFrom(old)
    getattr(getattr(target.model, field_path[1]), field_path[2]).CopyFrom(generator)
    t = _Text(part, newline="\r\n" if "\r\n" in text else "\n")
    edits = _patch_node(t, parse_tree(part), old, target, 0, len(field_path))
    new_part = _apply(part, edits)
    try:
        reparsed = parse_text(_strip_bom(new_part), cls())
    except ConfigError as err:
        raise Unsupported(f"the patched text does not parse ({err})") from None
    whole = (a, b) == (0, len(text))
    if reparsed != target or reparsed.model != intended.model or (whole and reparsed != intended):
        raise Unsupported("the config differs from its text outside the anchor generator")
    return text[:a] + new_part + text[b:]


def patch_anchor_generator(
    text: str, cfg: PipelineLike, new_generator_msg: Message, path: str | None = None
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

    try:
        new_text = _patch_text(text, intended, generator, field_path, path)
        return PatchResult(new_text, changed_line_ranges(text, new_text), "textual")
    except Unsupported as err:
        reason = str(err)
    new_text = text_format.MessageToString(intended)
    warning = (
        f"could not patch the anchor generator block in place ({reason}); the whole config was "
        "re-serialised, so comments and formatting elsewhere are lost"
    )
    return PatchResult(new_text, changed_line_ranges(text, new_text), "reserialized", warning)
