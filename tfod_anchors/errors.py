"""Exceptions that the command line turns into one-line messages and exit codes.

Every error a user can cause (bad config, bad records, bad flags) is raised as a
:class:`TfodAnchorsError`; the CLI prints ``str(err)`` on one line and exits with
``err.exit_code`` (:data:`EXIT_BAD_INPUT` for everything a user can fix).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

#: Exit codes of every command (the CLI contract).
EXIT_OK = 0
EXIT_CHECK_FAILED = 1  # ``check``: an error-level finding or coverage below the bar
EXIT_BAD_INPUT = 2  # bad usage, unreadable/invalid config or data, unexpected errors
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT, the shell convention)
EXIT_STDOUT_CLOSED = 141  # the reader of stdout went away (128 + SIGPIPE, as git does)


class TfodAnchorsError(Exception):
    """Base class. ``path`` and ``record`` locate the offending input when known
    (``record``: the record index within ``path``); ``str()`` starts with them, unless
    ``located_in_message`` says the message already names them. ``kind`` is the
    ``kind`` of the ``--json`` error document; a user error of no narrower class is
    ``error``."""

    exit_code = EXIT_BAD_INPUT
    kind = "error"

    def __init__(self, message: str, path: str | None = None, record: int | None = None, *,
                 located_in_message: bool = False):
        super().__init__(message)
        self.message = message
        self.path = path
        self.record = record
        self.located_in_message = located_in_message

    def __str__(self) -> str:
        where = ""
        if self.path is not None and not self.located_in_message:
            where = str(self.path)
            if self.record is not None:
                where += f" (record {self.record})"
            where += ": "
        return f"{where}{self.message}"


class UsageError(TfodAnchorsError):
    """Bad command-line usage or bad API arguments."""

    kind = "usage"


class ConfigError(TfodAnchorsError):
    """A pipeline.config that cannot be read, parsed, understood or written."""

    kind = "config"


class InputError(TfodAnchorsError):
    """Unreadable or invalid box data (TFRecord, COCO, VOC, CSV)."""

    kind = "input"


class WriteError(TfodAnchorsError):
    """A config could not be written safely; the original is untouched."""

    kind = "write"


# ------------------------------------------------------------------ interface words

#: How an error names an option: the command-line flag, or the Python keyword argument.
OPTION_WORDS = {
    "skip_bad": ("--skip-bad", "skip_bad=True"),
    "label_map": ("--label-map", "label_map_path="),
    "verify_sizes": ("--verify-sizes", "verify_sizes=True"),
    "compression": ("--compression", "compression="),
    "reader_tf": ("--reader tf", 'reader="tf"'),
}
_INTERFACE: contextvars.ContextVar[str] = contextvars.ContextVar("tfod_anchors_interface",
                                                                 default="api")


def option(name: str) -> str:
    """The words for option ``name`` (an ``OPTION_WORDS`` key) in the interface that is
    running: flags inside :func:`speaking` ``("cli")`` (the CLI), keyword arguments
    otherwise (the Python API)."""
    cli, api = OPTION_WORDS[name]
    return cli if _INTERFACE.get() == "cli" else api


@contextlib.contextmanager
def speaking(interface: str) -> Iterator[None]:
    """Errors raised inside name options in ``interface``'s words (``"cli"``/``"api"``)."""
    token = _INTERFACE.set(interface)
    try:
        yield
    finally:
        _INTERFACE.reset(token)


def in_interface_words(message: str) -> str:
    """``message`` written with API words (as Beam workers, which do not know the
    interface, write them) in the running interface's words."""
    if _INTERFACE.get() != "cli":
        return message
    for cli, api in OPTION_WORDS.values():
        message = message.replace(api, cli)
    return message
