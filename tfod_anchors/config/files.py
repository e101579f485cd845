"""Read a pipeline.config losslessly and write one back without ever half-writing it.

Local paths use plain ``os`` calls (fsync, file modes and atomic ``os.replace``
need them, and ``check`` should not pay for importing TensorFlow); paths with a
URL scheme (``gs://``, ``s3://`` ...) go through ``tf.io.gfile``, imported on
first use.

Write protocol (local): the new bytes go to a temporary file beside the target,
are flushed and fsynced, get the target's mode, and replace it with
``os.replace``; the previous bytes are first kept as ``NAME.bak`` (written the
same way). Before replacing, the target is re-read and compared with the
fingerprint taken when it was loaded; a change or a missing file is refused. On
any failure the target is left byte-identical and temporary files are removed.
On ``gs://`` a temporary object is written and then renamed (copy + delete).
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import tempfile
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message

from tfod_anchors.config.schema import Schema, get_schema, parse_pipeline_text
from tfod_anchors.errors import ConfigError, WriteError

# Seams for failure-injection tests: the writer calls these module attributes.
_write = os.write
_fsync = os.fsync

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
    """Result of a write: the target and the backup (``None`` without one)."""

    path: str
    backup: str | None = None


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


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        done = _write(fd, view)
        if done <= 0:
            raise OSError("write returned no progress")
        view = view[done:]


def _atomic_local(target: str, data: bytes, mode: int) -> str:
    """Write ``data`` to a fsynced temporary file beside ``target`` with ``mode``; return its path.

    The caller renames it into place (or removes it); on failure here nothing is left.
    """
    directory, name = os.path.split(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory or ".")
    try:
        try:
            _write_all(fd, data)
            _fsync(fd)
            if hasattr(os, "fchmod"):
                os.fchmod(fd, mode)
            else:  # pragma: no cover - Windows
                os.chmod(tmp, mode)
        finally:
            os.close(fd)
    except BaseException:
        _remove_quietly(tmp)
        raise
    return tmp


def _remove_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _fsync_dir(directory: str) -> None:
    try:
        fd = os.open(directory or ".", os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


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


def _read_current_local(target: str) -> bytes | None:
    try:
        with open(target, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        return None


def current_known(path: str) -> bool:
    """Whether a local file exists at ``path`` (for messages only)."""
    return os.path.exists(_local(str(path)))


def _write_local(
    text: str, path: str, backup: bool, expected: str | None, require_existing: bool
) -> Written:
    target = os.path.realpath(_local(path))
    data = text.encode("utf-8")
    temps: list[str] = []
    try:
        current = _read_current_local(target)
        if require_existing and current is None:
            raise WriteError("file vanished since it was read; nothing written", path=path)
        _check_unchanged(current, expected, path)
        mode = os.stat(target).st_mode & 0o7777 if current is not None else _default_mode()
        if require_existing:
            ensure_replaceable(path)
        temps.append(_atomic_local(target, data, mode))
        backup_path = None
        if backup and current is not None:
            backup_path = target + ".bak"
            temps.append(_atomic_local(backup_path, current, mode))
            os.replace(temps.pop(), backup_path)
        _check_unchanged(_read_current_local(target), expected, path)
        os.replace(temps.pop(), target)
        _fsync_dir(os.path.dirname(target))
        return Written(path=str(path), backup=backup_path)
    except WriteError:
        raise
    except OSError as err:
        kept = "original left unchanged" if current_known(path) else "nothing written"
        raise WriteError(f"cannot write ({_one_line(err)}); {kept}", path=path) from None
    finally:
        for tmp in temps:
            _remove_quietly(tmp)


def _write_remote(
    text: str, path: str, backup: bool, expected: str | None, require_existing: bool
) -> Written:
    gfile = _gfile()
    tmp = f"{path}.tmp-{secrets.token_hex(6)}"
    try:
        exists = gfile.exists(path)
        if require_existing and not exists:
            raise WriteError("file vanished since it was read; nothing written", path=path)
        if expected is not None:
            with gfile.GFile(path, "rb") as fh:
                _check_unchanged(fh.read(), expected, path)
        with gfile.GFile(tmp, "wb") as fh:
            fh.write(text.encode("utf-8"))
        backup_path = None
        if backup and exists:
            backup_path = f"{path}.bak"
            gfile.copy(path, backup_path, overwrite=True)
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


def ensure_replaceable(path: str) -> None:
    """Refuse (WriteError) to replace a local file whose mode has no write bit.

    A read-only config is a statement by its owner; root could still replace it
    by rename, so this is checked explicitly rather than left to permissions.
    Remote paths are left to the storage's own permissions.
    """
    if is_remote(str(path)):
        return
    try:
        mode = os.stat(_local(str(path))).st_mode
    except FileNotFoundError:
        raise WriteError("file vanished since it was read; nothing written",
                         path=str(path)) from None
    if not mode & 0o222:
        raise WriteError("file is read-only; nothing written (make it writable or use "
                         "--output)", path=str(path))


def write_config(
    text: str, path: str, *, backup: bool = True, expected_fingerprint: str | None = None
) -> Written:
    """Atomically replace an existing config (``--in-place``).

    Args:
        text: the complete new file text (written as UTF-8).
        path: the config to replace; must exist.
        backup: keep the previous bytes as ``PATH.bak``.
        expected_fingerprint: :attr:`LoadedConfig.fingerprint`; when given, the
            write is refused if the file's bytes differ now.
    Raises:
        WriteError: changed/vanished since read, or any I/O failure; the
            original is left byte-identical and no temporary file remains.
    """
    path = str(path)
    writer = _write_remote if is_remote(path) else _write_local
    return writer(text, path, backup, expected_fingerprint, True)


def write_new(text: str, path: str) -> Written:
    """Atomically write ``text`` to ``path`` (``--output``), replacing any file there.

    Same temporary-file scheme as :func:`write_config`, without backup or
    change check; an existing file's mode is kept. A missing local parent
    directory is created (like ``mkdir -p``).

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
