"""Small run-time helpers of the fit: a background job and a clock of its steps."""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any


class Background:
    """Run ``fn()`` in a forked child process where the platform forks (a second core
    without sharing the GIL with the search), else in a thread; ``result()`` returns
    its value. Any failure in the child re-runs ``fn`` here so errors surface normally.

    A child that has not answered ``timeout`` seconds after :meth:`result` is asked
    (a fork of a process with foreign C++ threads, e.g. TensorFlow's, could in
    principle block on a lock) is terminated and ``fn`` runs here instead: slower,
    never stuck.
    """

    def __init__(self, fn: Callable[[], Any], timeout: float = 120.0):
        self.fn = fn
        self.timeout = timeout
        self._proc: BaseProcess | None = None
        self._recv: Connection | None = None
        self._future: Future[Any] | None = None
        self._pool: ThreadPoolExecutor | None = None

    def __enter__(self) -> Background:
        try:
            ctx = multiprocessing.get_context("fork")
        except ValueError:
            ctx = None
        if ctx is not None and threading.active_count() == 1:
            self._recv, send = ctx.Pipe(duplex=False)

            def child() -> None:
                try:
                    send.send(self.fn())
                except BaseException:  # noqa: BLE001 - the parent re-runs and raises
                    send.send(_FAILED)
                finally:
                    send.close()

            self._proc = ctx.Process(target=child, daemon=True)
            self._proc.start()
            send.close()
        else:
            self._pool = ThreadPoolExecutor(max_workers=1)
            self._future = self._pool.submit(self.fn)
        return self

    def result(self) -> Any:
        if self._future is not None:
            return self._future.result()
        assert self._recv is not None and self._proc is not None
        try:
            value = self._recv.recv() if self._recv.poll(self.timeout) else _FAILED
        except (EOFError, OSError):
            value = _FAILED
        failed = isinstance(value, str) and value == _FAILED
        if failed and self._proc.is_alive():
            self._proc.terminate()
        self._proc.join()
        return self.fn() if failed else value

    def __exit__(self, *exc: Any) -> None:
        if self._proc is not None and self._proc.is_alive():
            self._proc.terminate()
            self._proc.join()
        if self._pool is not None:
            self._pool.shutdown(wait=True)


_FAILED = "__tfod_anchors_background_failed__"


class Clock:
    """Wall and CPU seconds per named step of the fit."""

    def __init__(self) -> None:
        self.laps: dict[str, list[float]] = {}
        self._wall, self._cpu = time.perf_counter(), time.process_time()

    def lap(self, name: str) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        self.laps[name] = [round(wall - self._wall, 3), round(cpu - self._cpu, 3)]
        self._wall, self._cpu = wall, cpu


def split_map(fn: Callable[[Any], Any], items: list[Any], parent_share: int | None = None
              ) -> list[Any]:
    """``[fn(item) for item in items]`` with the last items computed in a
    :class:`Background` child (the other core) while the parent does the first
    ``parent_share`` (default: half, rounded up). ``fn`` must be deterministic: the
    result is the same as the plain list comprehension."""
    if len(items) < 2:
        return [fn(item) for item in items]
    k = (len(items) + 1) // 2 if parent_share is None else max(0, min(len(items), parent_share))
    with Background(lambda: [fn(item) for item in items[k:]]) as other:
        mine = [fn(item) for item in items[:k]]
        return mine + list(other.result())
