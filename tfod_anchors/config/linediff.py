"""Line differences between two versions of a config, in time linear in their size.

``difflib`` may compare every line with every other (thousands of identical lines
make it quadratic: 8,000 took 17 s, a 10 MB config more than 15 minutes). A patched
config differs from its original in one small region, the anchor block, so the
lines equal at both ends are trimmed first (one pass), and ``difflib`` only sees the
region in between. When that region is too large to match line by line (a config
re-serialised as a whole), it is reported as one replaced range.
"""

from __future__ import annotations

import difflib
import re

#: Above this many line pairs (old x new lines in the changed region) the region is
#: not matched line by line but reported as replaced as a whole.
MAX_PAIRS = 1_000_000

_HUNK = re.compile(r"^@@ -(\d+)(,\d+)? \+(\d+)(,\d+)? @@")


def _lines(text: str) -> list[str]:
    return text.splitlines(True)


def common_ends(a: list[str], b: list[str]) -> tuple[int, int]:
    """``(prefix, suffix)``: how many lines are equal at the start and at the end of
    both lists (never overlapping)."""
    limit = min(len(a), len(b))
    prefix = 0
    while prefix < limit and a[prefix] == b[prefix]:
        prefix += 1
    suffix = 0
    while suffix < limit - prefix and a[-1 - suffix] == b[-1 - suffix]:
        suffix += 1
    return prefix, suffix


def changed_line_ranges(old: str, new: str) -> list[tuple[int, int]]:
    """1-based inclusive ``(first, last)`` ranges of lines of ``new`` that differ from
    ``old``; a pure deletion shows as ``(n, n - 1)`` where lines were removed."""
    a, b = _lines(old), _lines(new)
    prefix, suffix = common_ends(a, b)
    mid_a, mid_b = a[prefix:len(a) - suffix], b[prefix:len(b) - suffix]
    if not mid_a and not mid_b:
        return []
    if len(mid_a) * len(mid_b) > MAX_PAIRS:
        return [(prefix + 1, prefix + len(mid_b))]
    matcher = difflib.SequenceMatcher(None, mid_a, mid_b, autojunk=False)
    return [(prefix + j1 + 1, prefix + j2) for tag, _, _, j1, j2 in matcher.get_opcodes()
            if tag != "equal"]


def _range(start: int, stop: int) -> str:
    """A unified-diff range (1-based start, length; ``start - 1`` when empty)."""
    length = stop - start
    if length == 1:
        return str(start + 1)
    return f"{start + (1 if length else 0)},{length}"


def _shift(line: str, offset: int) -> str:
    match = _HUNK.match(line)
    if not match:
        return line
    a, a_len, b, b_len = match.groups()
    return (f"@@ -{int(a) + offset}{a_len or ''} +{int(b) + offset}{b_len or ''} @@"
            + line[match.end():])


def unified_diff(old: str, new: str, path: str = "pipeline.config", context: int = 3) -> str:
    """``diff -u`` style text between two versions of a config (empty when equal)."""
    a, b = _lines(old), _lines(new)
    prefix, suffix = common_ends(a, b)
    if prefix == len(a) == len(b):
        return ""
    lo = max(0, prefix - context)
    hi_a, hi_b = min(len(a), len(a) - suffix + context), min(len(b), len(b) - suffix + context)
    head = [f"--- {path} (before)\n", f"+++ {path} (after)\n"]
    if (len(a) - suffix - prefix) * (len(b) - suffix - prefix) > MAX_PAIRS:
        out = head + [f"@@ -{_range(lo, hi_a)} +{_range(lo, hi_b)} @@\n"]
        out += [" " + line for line in a[lo:prefix]]
        out += ["-" + line for line in a[prefix:len(a) - suffix]]
        out += ["+" + line for line in b[prefix:len(b) - suffix]]
        out += [" " + line for line in a[len(a) - suffix:hi_a]]
    else:
        body = difflib.unified_diff(a[lo:hi_a], b[lo:hi_b], n=context)
        out = head + [_shift(line, lo) for line in list(body)[2:]]
    return "".join(line if line.endswith("\n") else line + "\n" for line in out)
