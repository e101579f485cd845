"""The output directory of an extraction: checked up front, locked, replaced by a swap.

An extraction (local or Beam) never removes the previous cache before the new one
is complete:

1. :func:`check_output` refuses, before any record is read, an output that cannot
   become a cache directory (a regular file, below a file, a dangling symlink, not
   writable, or a directory holding files that are not a cache's).
2. :func:`output_lock` holds an exclusive ``flock`` on a local output for the whole
   extraction; a second extraction into the same directory is refused at once with
   one line (nothing written, the first one's cache intact).
3. :func:`start_generation` removes what interrupted runs left (shards no manifest
   lists, ``beam-temp-*`` folders, ``manifest.json.tmp-*``) and names the new
   shards ``boxes-<g>-SSSSS-of-NNNNN.parquet`` with a generation ``g`` that the
   current manifest does not use, so the new shards are written beside the old ones.
4. The new manifest replaces the old one in one rename (the swap); then
   :func:`remove_unlisted` deletes the old generation. A failure before the swap
   leaves the old cache readable; :func:`abandon` removes the new generation.

Remote outputs (``gs://`` ...) take no lock (object stores have none).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import UsageError
from .cache_manifest import SHARD_PREFIX
from .fileio import is_remote, join

MANIFEST = "manifest.json"
#: Temporary folders Beam's file sinks leave in the output when a job fails.
BEAM_TEMP = "beam-temp-"
GENERATIONS = ("a", "b")
_MANIFEST_TEMP = re.compile(re.escape(MANIFEST) + r"\.tmp(-\d+)?$")

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


class Storage:
    """File operations on an output directory: local files, or TensorFlow's file
    systems for remote paths (Beam passes its own ``FileSystems`` version)."""

    def listdir(self, directory: str) -> list[str]:
        """Names in ``directory`` (``[]`` when it does not exist)."""
        if is_remote(directory):
            import tensorflow as tf

            gfile = tf.io.gfile
            return [n.rstrip("/") for n in gfile.listdir(directory)] \
                if gfile.isdir(directory) else []
        return os.listdir(directory) if os.path.isdir(directory) else []

    def read(self, path: str) -> bytes:
        from .fileio import read_bytes

        return read_bytes(path)

    def makedirs(self, directory: str) -> None:
        if is_remote(directory):
            import tensorflow as tf

            tf.io.gfile.makedirs(directory)
        else:
            os.makedirs(directory, exist_ok=True)

    def remove(self, path: str) -> None:
        """Delete a file or folder; missing is fine."""
        if is_remote(path):
            import tensorflow as tf

            if tf.io.gfile.isdir(path):
                tf.io.gfile.rmtree(path)
            elif tf.io.gfile.exists(path):
                tf.io.gfile.remove(path)
        elif os.path.isdir(path) and not os.path.islink(path):
            import shutil

            shutil.rmtree(path)
        elif os.path.lexists(path):
            os.remove(path)


DEFAULT_STORAGE = Storage()


def is_ours(name: str) -> bool:
    """Whether a file name in an output directory belongs to a cache (or its leftovers)."""
    return (name == MANIFEST or name.startswith((SHARD_PREFIX + "-", BEAM_TEMP))
            or bool(_MANIFEST_TEMP.match(name)) or name.startswith("."))


def _nearest_existing(path: str) -> str:
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.lexists(parent):
        parent = os.path.dirname(parent)
    return parent


def check_output(directory: str, fs: Storage = DEFAULT_STORAGE) -> None:
    """Refuse an output that cannot become a box cache directory (before any reading).

    Raises:
        UsageError: one line naming ``directory`` and what is wrong with it.
    """
    if not directory:
        raise UsageError("extract: --output must name a directory")
    if is_remote(directory):
        others = [n for n in fs.listdir(directory) if not is_ours(n)]
    else:
        if os.path.islink(directory) and not os.path.exists(directory):
            raise UsageError(f"{directory}: --output is a dangling symbolic link; remove it "
                             "or choose another directory")
        if os.path.lexists(directory) and not os.path.isdir(directory):
            raise UsageError(f"{directory}: --output is a file, not a directory; choose a "
                             "new or empty directory for the box cache")
        if not os.path.exists(directory):
            parent = _nearest_existing(directory)
            if not os.path.isdir(parent):
                raise UsageError(f"{directory}: cannot create the output directory: {parent} "
                                 "is a file")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise UsageError(f"{directory}: cannot create the output directory: "
                                 f"{parent} is not writable")
            return
        if not os.access(directory, os.W_OK | os.X_OK):
            raise UsageError(f"{directory}: output directory is not writable")
        others = [n for n in sorted(os.listdir(directory)) if not is_ours(n)]
    if others:
        raise UsageError(f"{directory}: output directory holds other files "
                         f"({join(directory, others[0])}, ...); choose an empty or new "
                         "directory for the box cache")


@contextmanager
def output_lock(directory: str, fs: Storage = DEFAULT_STORAGE) -> Iterator[bool]:
    """Create ``directory`` if needed and hold an exclusive lock on it; yields whether
    the directory was created here (a failed extraction removes it again if empty).

    Raises:
        UsageError: another extraction holds the lock (refused at once).
    """
    if is_remote(directory):
        fs.makedirs(directory)
        yield False
        return
    created = not os.path.exists(directory)
    os.makedirs(directory, exist_ok=True)
    fd = os.open(directory, os.O_RDONLY)
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise UsageError(f"{directory}: another extract is writing this box cache "
                                 "(its lock is held); nothing written, wait for it to "
                                 "finish") from None
            except OSError:  # e.g. ENOLCK on some network file systems: no lock there
                pass
        yield created
    finally:
        os.close(fd)


def listed_shards(directory: str, fs: Storage = DEFAULT_STORAGE) -> set[str]:
    """Shard names the current manifest lists (empty when it is missing or unreadable)."""
    try:
        doc = json.loads(fs.read(join(directory, MANIFEST)))
        return {s["path"] for s in doc["shards"] if isinstance(s.get("path"), str)}
    except Exception:  # noqa: BLE001 - no usable manifest: nothing is listed
        return set()


def remove_unlisted(directory: str, keep: set[str], fs: Storage = DEFAULT_STORAGE) -> None:
    """Remove shards, Beam temporaries and manifest temporaries not in ``keep``."""
    for name in fs.listdir(directory):
        leftover = (name.startswith((SHARD_PREFIX + "-", BEAM_TEMP))
                    or bool(_MANIFEST_TEMP.match(name)))
        if leftover and name not in keep:
            fs.remove(join(directory, name))


def start_generation(directory: str, fs: Storage = DEFAULT_STORAGE) -> str:
    """Clean what interrupted runs left and return the generation for new shards
    (one the current manifest's shards do not use)."""
    listed = listed_shards(directory, fs)
    remove_unlisted(directory, listed, fs)
    used = {n[len(SHARD_PREFIX) + 1:].split("-", 1)[0] for n in listed}
    return next(g for g in GENERATIONS if g not in used)


def shard_name(generation: str, index: int, count: int) -> str:
    """``boxes-<generation>-IIIII-of-NNNNN.parquet``."""
    return f"{SHARD_PREFIX}-{generation}-{index:05d}-of-{count:05d}.parquet"


def abandon(directory: str, generation: str, created: bool,
            fs: Storage = DEFAULT_STORAGE) -> None:
    """After a failure: remove the new generation's files (the old cache stays), and
    the directory itself if this run created it and it is empty. Best effort."""
    try:
        for name in fs.listdir(directory):
            if name.startswith((f"{SHARD_PREFIX}-{generation}-", BEAM_TEMP)) \
                    or _MANIFEST_TEMP.match(name):
                fs.remove(join(directory, name))
        if created and not is_remote(directory) and not os.listdir(directory):
            os.rmdir(directory)
    except Exception:  # noqa: BLE001, S110 - cleaning up must not hide the real error
        pass


def absolute_specs(specs: list[str]) -> list[str]:
    """Local input paths made absolute (a cache is read from any working directory)."""
    return [s if is_remote(s) else os.path.abspath(s) for s in specs]


def shard_entry(name: str, data: bytes, rows: int) -> dict[str, Any]:
    """The manifest's entry for a shard with these bytes."""
    import hashlib

    return {"path": name, "rows": int(rows), "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest()}
