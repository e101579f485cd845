"""Progress of long reads on stderr: records/s and boxes, throttled, TTY only."""

from __future__ import annotations

import sys
import time
from typing import Callable, TextIO, Union

ProgressArg = Union[None, bool, Callable[[int, int], None]]


class Progress:
    """Counts records and boxes and reports them.

    ``progress`` argument of the readers:
        ``None`` - a line on stderr, refreshed at most every ``interval`` seconds,
        only when stderr is a terminal; ``False`` - silent; ``True`` - the line even
        when stderr is not a terminal; a callable - called as
        ``callback(records, boxes)`` with running totals after every batch.
    """

    def __init__(self, progress: ProgressArg = None, label: str = "reading",
                 stream: TextIO | None = None, interval: float = 0.5):
        self.records = 0
        self.boxes = 0
        self._label = label
        self._stream = stream if stream is not None else sys.stderr
        self._interval = interval
        self._callback: Callable[[int, int], None] | None = None
        self._enabled = False
        if callable(progress) and not isinstance(progress, bool):
            self._callback = progress
        elif progress is True:
            self._enabled = True
        elif progress is None:
            isatty = getattr(self._stream, "isatty", None)
            self._enabled = bool(isatty and isatty())
        self._start = time.monotonic()
        self._last = self._start
        self._shown = False

    def update(self, records: int, boxes: int) -> None:
        """Add ``records`` and ``boxes`` to the totals and report if due."""
        self.records += records
        self.boxes += boxes
        if self._callback is not None:
            self._callback(self.records, self.boxes)
        if not self._enabled:
            return
        now = time.monotonic()
        if now - self._last >= self._interval:
            self._last = now
            self._write(now, end="")

    def close(self) -> None:
        """Final line (only if a line was shown)."""
        if self._enabled and self._shown:
            self._write(time.monotonic(), end="\n")

    def _write(self, now: float, end: str) -> None:
        elapsed = max(now - self._start, 1e-9)
        rate = self.records / elapsed
        self._stream.write(f"\r{self._label}: {self.records:,} records ({rate:,.0f}/s), "
                           f"{self.boxes:,} boxes\x1b[K{end}")
        self._stream.flush()
        self._shown = True
