"""Read a pipeline.config losslessly and write one back without ever half-writing it.

Local paths use plain ``os`` calls (fsync, file modes and atomic ``os.replace``
need them, and ``check`` should not pay for importing TensorFlow); paths with a
URL scheme (``gs://``, ``s3://`` ...) go through ``tf.io.gfile``, imported on
first use.

Write protocol (local, :mod:`.atomic`): under a lock on the directory, the new
bytes go to a temporary file beside the target, are flushed and fsynced, get the
target's owner, group and mode, and replace it with ``os.replace``; the previous
bytes are first kept in ``NAME.bak`` (or the next free ``NAME.bak.N``; a backup
that differs is never overwritten). Before replacing, the target is re-read and
compared with the fingerprint taken when it was loaded; a change or a missing
file is refused. On any failure the target is left byte-identical and temporary
files are removed; those of a killed writer are removed by the next one. On
``gs://`` a temporary object is written and then renamed (copy + delete).
:func:`ensure_replaceable` / :func:`ensure_writable` refuse, before any work, what
the write would refuse later.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message

from tfod_anchors.config import atomic
from tfod_anchors.config.schema import Schema, get_schema, parse_pipeline_text
from tfod_anchors.errors import ConfigError, WriteError

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
BOM = "\ufeff"


@dataclass(frozen=True)
class LoadedConfig:
    """A pipeline.config as read from disk.

    Attributes:
        path: the path as given (local or URL).
        data: the exact bytes read.
        text: ``data`` decoded as UTF-8 (byte-exact; line endings untouched).
        fingerprint: ``sha256`` hex of ``data``; pass it to :func:`write_config`.
        config: the parsed ``TrainEvalPipelineConfig``.
        schema: the schema ``config`` belongs to.
    """

    path: str
    data: bytes
    text: str
    fingerprint: str
    config: Message
    schema: Schema


@dataclass(frozen=True)
class Written:
    """Result of a write: the target as given, the backup's real path (``None``
    without one) and notes for the user (stale temporary files removed, hard links)."""

    path: str
    backup: str | None = None
    notes: tuple[str, ...] = ()


def is_remote(path: str) -> bool:
    """True for ``scheme://`` paths (``gs://``, ``s3://`` ...), handled by tf.io.gfile."""
    return bool(_URL.match(str(path))) and not str(path).startswith("file://")


def _local(path: str) -> str:
    path = str(path)
    return path[len("file://") :] if path.startswith("file://") else path


def fingerprint(data: bytes) -> str:
    """Content fingerprint (sha256 hex) used to detect changes on disk."""
    return hashlib.sha256(data).hexdigest()


def _gfile() -> Any:
    try:
        import tensorflow as tf
    except ImportError as err:
        raise ConfigError(f"paths with a URL scheme need TensorFlow ({err})") from None
    return tf.io.gfile


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def read_bytes(path: str) -> bytes:
    """The file's bytes.

    Raises:
        ConfigError: missing, a directory, or unreadable.
    """
    try:
        if is_remote(path):
            gfile = _gfile()
            if not gfile.exists(path):
                raise ConfigError("no such file", path=path)
            if gfile.isdir(path):
                raise ConfigError("is a directory, expected a pipeline.config file", path=path)
            with gfile.GFile(path, "rb") as fh:
                return fh.read()
        with open(_local(path), "rb") as fh:
            return fh.read()
    except ConfigError:
        raise
    except FileNotFoundError:
        raise ConfigError("no such file", path=path) from None
    except IsADirectoryError:
        raise ConfigError("is a directory, expected a pipeline.config file", path=path) from None
    except Exception as err:  # noqa: BLE001 - OSError or tf.errors.OpError
        raise ConfigError(f"cannot read: {_one_line(err)}", path=path) from None


def decode_config_bytes(data: bytes, path: str | None = None) -> str:
    """UTF-8 text of a config file, rejecting empty and binary files.

    Raises:
        ConfigError: empty/blank, contains NUL bytes, or not UTF-8.
    """
    if not data.strip():
        raise ConfigError(
            "empty file, expected a TrainEvalPipelineConfig in text format", path=path
        )
    if b"\x00" in data:
        offset = data.index(b"\x00")
        raise ConfigError(
            f"binary data (NUL byte at offset {offset}), expected a text-format pipeline.config",
            path=path,
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"not UTF-8 text (invalid byte at offset {err.start}), expected a text-format "
            "pipeline.config",
            path=path,
        ) from None


def parse_config_text(text: str, path: str | None = None, schema: Schema | None = None) -> Message:
    """Strictly parse config text (a leading BOM is ignored); reject configs with no settings.

    Raises:
        ConfigError: one line naming ``path`` (syntax error with line:column,
            unknown field, wrong type, nothing set).
    """
    config = parse_pipeline_text(text[1:] if text.startswith(BOM) else text, path, schema)
    if not config.ListFields():
        raise ConfigError("no settings found (only comments or whitespace)", path=path)
    return config


def load_config(path: str, schema: Schema | None = None) -> LoadedConfig:
    """Read and strictly parse a pipeline.config (local path or ``gs://``).

    Raises:
        ConfigError: unreadable, empty, binary, non-UTF-8, syntax error, unknown
            field or wrong value type; one line naming the file.
    """
    path = str(path)
    schema = schema if schema is not None else get_schema()
    data = read_bytes(path)
    text = decode_config_bytes(data, path)
    config = parse_config_text(text, path, schema)
    return LoadedConfig(path, data, text, fingerprint(data), config, schema)


# ----------------------------------------------------------------------------- writing


def _check_unchanged(current: bytes | None, expected: str | None, path: str) -> None:
    if expected is None:
        return
    if current is None:
        raise WriteError("file vanished since it was read; nothing written", path=path)
    if fingerprint(current) != expected:
        raise WriteError(
            "file changed on disk since it was read; nothing written (re-run on the new file)",
            path=path,
        )


def current_known(path: str) -> bool:
    """Whether a local file exists at ``path`` (for messages only)."""
    return os.path.exists(_local(str(path)))


def same_file(a: str, b: str) -> bool:
    """Whether writing to ``a`` would replace the file ``b`` names: the same path once
    symlinks are resolved, or the same file under one name only (a case-insensitive
    file system, a bind mount). Another hard link of ``b`` is not the same: writing
    it gives that name a new file and leaves ``b`` alone."""
    a, b = str(a), str(b)
    if is_remote(a) or is_remote(b):
        return a.rstrip("/") == b.rstrip("/")
    a, b = _local(a), _local(b)
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        sa, sb = os.stat(a), os.stat(b)
    except OSError:
        return False
    return os.path.samestat(sa, sb) and sa.st_nlink == 1


def _write_local(
    text: str, path: str, backup: bool, expected: str | None, require_existing: bool
) -> Written:
    target = os.path.realpath(_local(path))
    data = text.encode("utf-8")

    def check(current: bytes | None) -> None:
        if require_existing and current is None:
            raise WriteError("file vanished since it was read; nothing written", path=path)
        _check_unchanged(current, expected, path)
        if require_existing:
            _refuse_read_only(path)

    try:
        done = atomic.replace_local(target, data, backup=backup, check=check)
    except WriteError as err:
        if err.path is None:
            err.path = path
        raise
    except OSError as err:
        kept = "original left unchanged" if current_known(path) else "nothing written"
        raise WriteError(f"cannot write ({_one_line(err)}); {kept}", path=path) from None
    return Written(path=str(path), backup=done.backup, notes=tuple(done.notes))


def _remote_backup(gfile: Any, path: str, current: bytes) -> str:
    """The first of ``PATH.bak``, ``PATH.bak.1`` ... that is free (written now) or
    already holds ``current``; a backup that differs is never overwritten."""
    for slot in atomic.backup_slots(path):
        if gfile.exists(slot):
            with gfile.GFile(slot, "rb") as fh:
                if fh.read() == current:
                    return slot
            continue
        with gfile.GFile(slot, "wb") as fh:
            fh.write(current)
        return slot
    raise WriteError(f"{atomic.MAX_BACKUPS} backups of this file exist already; nothing "
                     "written", path=path)


def _write_remote(
    text: str, path: str, backup: bool, expected: str | None, require_existing: bool
) -> Written:
    gfile = _gfile()
    tmp = f"{path}.tmp-{secrets.token_hex(6)}"
    try:
        exists = gfile.exists(path)
        if require_existing and not exists:
            raise WriteError("file vanished since it was read; nothing written", path=path)
        current = None
        if exists and (expected is not None or backup):
            with gfile.GFile(path, "rb") as fh:
                current = fh.read()
            _check_unchanged(current, expected, path)
        with gfile.GFile(tmp, "wb") as fh:
            fh.write(text.encode("utf-8"))
        backup_path = _remote_backup(gfile, path, current) if backup and current is not None \
            else None
        gfile.rename(tmp, path, overwrite=True)
        return Written(path=str(path), backup=backup_path)
    except WriteError:
        raise
    except Exception as err:  # noqa: BLE001 - tf.errors.OpError and friends
        raise WriteError(
            f"cannot write ({_one_line(err)}); original left unchanged", path=path
        ) from None
    finally:
        try:
            if gfile.exists(tmp):
                gfile.remove(tmp)
        except Exception:  # noqa: BLE001, S110 - best-effort cleanup
            pass


def _refuse_read_only(path: str) -> None:
    try:
        mode = os.stat(_local(str(path))).st_mode
    except FileNotFoundError:
        raise WriteError("file vanished since it was read; nothing written",
                         path=str(path)) from None
    if not mode & 0o222:
        raise WriteError("file is read-only; nothing written (make it writable or use "
                         "--output)", path=str(path))


def _probe(directory: str, name: str, path: str) -> None:
    try:
        atomic.probe_directory(directory, name)
    except OSError as err:
        raise WriteError(f"cannot write in the directory {directory or '.'} "
                         f"({_one_line(err)}); nothing written", path=path) from None


def ensure_replaceable(path: str) -> list[str]:
    """Before the work of ``--in-place``: refuse (WriteError) what the write would refuse.

    A read-only file (no write bit: a statement by its owner; root could still replace
    it by rename), a directory where no file can be created (permissions, read-only
    mount), or an owner/group a replacement could not keep. Returns notes for the user
    (a file with several hard links). Remote paths are left to the storage.
    """
    path = str(path)
    if is_remote(path):
        return []
    _refuse_read_only(path)
    target = os.path.realpath(_local(path))
    directory, name = os.path.split(target)
    st = os.stat(target)
    problem = atomic.ownership_problem(st)
    if problem:
        raise WriteError(f"cannot replace it: {problem}; nothing written (use --output)",
                         path=path)
    _probe(directory, name, path)
    note = atomic.hard_link_note(path, st)
    return [note] if note else []


def ensure_writable(path: str) -> list[str]:
    """Before the work of ``--output PATH``: refuse (WriteError) when no file can be
    created where ``PATH`` goes (the nearest existing folder is tried, as the write
    creates missing ones), or when an existing file's owner could not be kept."""
    path = str(path)
    if is_remote(path):
        return []
    target = os.path.realpath(_local(path))
    directory, name = os.path.split(target)
    existing = directory
    while existing and not os.path.isdir(existing):
        parent = os.path.dirname(existing)
        if parent == existing or os.path.lexists(existing):
            break
        existing = parent
    if existing and not os.path.isdir(existing):
        raise WriteError(f"cannot create the directory: {existing} is not a directory; "
                         "nothing written", path=path)
    if os.path.exists(target):
        problem = atomic.ownership_problem(os.stat(target))
        if problem:
            raise WriteError(f"cannot replace it: {problem}; nothing written", path=path)
    _probe(existing, name, path)
    return []


def write_config(
    text: str, path: str, *, backup: bool = True, expected_fingerprint: str | None = None
) -> Written:
    """Atomically replace an existing config (``--in-place``), keeping its owner, group
    and mode (see :mod:`.atomic` for the protocol).

    Args:
        text: the complete new file text (written as UTF-8).
        path: the config to replace; must exist. A symlink is followed: the file it
            points to is replaced and its backup goes beside that file.
        backup: keep the previous bytes in ``PATH.bak`` (or ``PATH.bak.1``, ``.2`` ...
            when an earlier backup with other bytes is there; never overwritten).
        expected_fingerprint: :attr:`LoadedConfig.fingerprint`; when given, the
            write is refused if the file's bytes differ now.
    Raises:
        WriteError: changed/vanished since read, read-only, owner cannot be kept, or
            any I/O failure; the original is left byte-identical and no temporary
            file remains.
    """
    path = str(path)
    writer = _write_remote if is_remote(path) else _write_local
    return writer(text, path, backup, expected_fingerprint, True)


def write_new(text: str, path: str) -> Written:
    """Atomically write ``text`` to ``path`` (``--output``), replacing any file there.

    Same temporary-file scheme as :func:`write_config`, without backup or
    change check; an existing file's owner, group and mode are kept. A missing
    local parent directory is created (like ``mkdir -p``).

    Raises:
        WriteError: the directory cannot be created, or any I/O failure.
    """
    path = str(path)
    if is_remote(path):
        return _write_remote(text, path, False, None, False)
    parent = os.path.dirname(os.path.abspath(_local(path)))
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as err:
        raise WriteError(f"cannot create the directory ({_one_line(err)})", path=path) from None
    return _write_local(text, path, False, None, False)
