"""Replace one local file atomically, keeping its owner, mode and every earlier backup.

The protocol of :func:`replace_local` (each step is named for failure-injection
tests, see :data:`STEPS`):

1. take an exclusive ``flock`` on the target's directory, so two of our writers
   never interleave there (released by the kernel if the process dies);
2. remove our own temporary files of this target left by a writer that died
   (named ``.NAME.XXXXXXXX.tmp`` or ``.NAME.bak[.N].XXXXXXXX.tmp``, older than the
   lock), and report them;
3. read the target again; refuse if it changed since it was loaded;
4. write the new bytes to a temporary file beside the target, fsync it, give it
   the target's owner, group and mode (refusing when the owner cannot be kept);
5. keep the previous bytes in the first backup slot ``NAME.bak``, ``NAME.bak.1``,
   ``NAME.bak.2`` ... that is free, or that already holds exactly these bytes; a
   backup that differs is never overwritten (the new one is hard-linked into its
   slot, which fails rather than replace a file that appeared meanwhile);
6. check the target once more and ``rename`` the temporary file over it, then
   fsync the directory.

A failure at any step leaves the target byte-identical (or, after step 6, fully
replaced), removes the temporary files of this run, and raises ``OSError`` or
:class:`~tfod_anchors.errors.WriteError`. A process killed at any step leaves the
target whole and any backup complete; its temporary files are removed by the next
write (step 2).

Hard links: the rename gives the target's name a new file; other names of the old
file keep the previous text (:func:`hard_link_note` says so before the work).
"""

from __future__ import annotations

import errno
import os
import re
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from tfod_anchors.errors import WriteError

try:  # pragma: no cover - absent on Windows, where no lock is taken
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

#: The named steps of :func:`replace_local`, in order (``_checkpoint`` is called at each).
STEPS = (
    "lock", "clean_stale", "read_current", "new_temp", "new_write", "new_fsync", "new_owner",
    "backup_temp", "backup_write", "backup_fsync", "backup_owner", "backup_link",
    "backup_unlink_temp", "recheck", "rename", "fsync_dir",
)
#: How many numbered backups are looked at before giving up.
MAX_BACKUPS = 1000
#: How long to wait for another writer's lock on the directory, in seconds.
LOCK_TIMEOUT = 10.0

# Seams for failure-injection tests: the writer calls these module attributes.
_write = os.write
_fsync = os.fsync


def _checkpoint(step: str) -> None:
    """Called before each step of :data:`STEPS`; tests replace it to fail or snapshot there."""


_RANDOM = r"[a-z0-9_]{8}"  # what tempfile.mkstemp puts between prefix and suffix


def temp_pattern(name: str) -> re.Pattern[str]:
    """Names of our temporary files for target ``name`` (new text, backups, probes)."""
    return re.compile(rf"^\.{re.escape(name)}\.(?:bak(?:\.\d+)?\.)?{_RANDOM}\.tmp$")


@dataclass
class Replaced:
    """What :func:`replace_local` did: the backup path (or None) and notes for the user."""

    backup: str | None = None
    notes: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------- helpers


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        done = _write(fd, view)
        if done <= 0:
            raise OSError(errno.EIO, "write returned no progress")
        view = view[done:]


def _remove_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def fsync_dir(directory: str) -> None:
    """fsync a directory so a rename in it survives a crash (best effort)."""
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


def default_mode() -> int:
    """The mode a new file gets under the current umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def ownership_problem(st: os.stat_result) -> str | None:
    """Why this process cannot give a new file ``st``'s owner and group, or None."""
    if not hasattr(os, "geteuid") or os.geteuid() == 0:
        return None
    if st.st_uid != os.geteuid():
        return (f"it is owned by uid {st.st_uid}, and a replacement written by uid "
                f"{os.geteuid()} could not be given back to that owner")
    if st.st_gid != os.getegid() and st.st_gid not in os.getgroups():
        return (f"its group is gid {st.st_gid}, which this user is not a member of, so a "
                "replacement could not keep it")
    return None


def hard_link_note(path: str, st: os.stat_result) -> str | None:
    """The note for a target with several names (hard links), or None."""
    if st.st_nlink <= 1:
        return None
    return (f"{path} has {st.st_nlink} hard links: it is replaced atomically under this name "
            f"only; the other {st.st_nlink - 1} name(s) keep the previous text")


def probe_directory(directory: str, name: str) -> None:
    """Create and remove one temporary file in ``directory`` (our naming pattern).

    Raises:
        OSError: the directory is missing, not writable or on a read-only mount.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory or ".")
    os.close(fd)
    os.unlink(tmp)


def _temp_with(directory: str, prefix: str, data: bytes, st: os.stat_result | None,
               mode: int, steps: tuple[str, str, str, str], temps: list[str]) -> str:
    """A fsynced temporary file holding ``data`` with ``st``'s owner/group and ``mode``.

    Its path is appended to ``temps`` as soon as it exists, so the caller removes it
    on any failure.
    """
    _checkpoint(steps[0])
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=directory or ".")
    temps.append(tmp)
    try:
        _checkpoint(steps[1])
        _write_all(fd, data)
        _checkpoint(steps[2])
        _fsync(fd)
        _checkpoint(steps[3])
        if st is not None and hasattr(os, "fchown"):
            mine = os.fstat(fd)
            if (mine.st_uid, mine.st_gid) != (st.st_uid, st.st_gid):
                try:
                    os.fchown(fd, st.st_uid, st.st_gid)
                except PermissionError:
                    raise WriteError(
                        f"cannot keep the file's owner and group ({st.st_uid}:{st.st_gid}): "
                        "not permitted; nothing written (run as the file's owner, or use "
                        "--output)") from None
        if hasattr(os, "fchmod"):
            os.fchmod(fd, mode)  # after fchown, which may clear set-id bits
        else:  # pragma: no cover - Windows
            os.chmod(tmp, mode)
    finally:
        os.close(fd)
    return tmp


@contextmanager
def directory_lock(directory: str) -> Iterator[float | None]:
    """Hold an exclusive ``flock`` on ``directory``; yields the time it was taken
    (``None`` when locks are unavailable there: no stale-file cleanup then).

    Raises:
        WriteError: another writer held the lock for :data:`LOCK_TIMEOUT` seconds.
    """
    if fcntl is None:  # pragma: no cover - Windows
        yield None
        return
    try:
        fd = os.open(directory or ".", os.O_RDONLY)
    except OSError:
        yield None
        return
    try:
        deadline = time.monotonic() + LOCK_TIMEOUT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise WriteError(f"another writer has held the lock on {directory or '.'} "
                                     f"for {LOCK_TIMEOUT:g} s; nothing written") from None
                time.sleep(0.05)
            except OSError:  # e.g. ENOLCK on some network file systems
                yield None
                return
        yield time.time()
    finally:
        os.close(fd)  # closing releases the lock


def clean_stale_temps(directory: str, name: str, locked_at: float | None) -> list[str]:
    """Remove our temporary files for ``name`` older than ``locked_at`` (we hold the lock,
    so their writer is gone); notes naming what was removed, or only found when there
    is no lock."""
    pattern = temp_pattern(name)
    try:
        entries = [e for e in os.scandir(directory or ".") if pattern.match(e.name)]
    except OSError:
        return []
    removed, kept = [], []
    for entry in sorted(entries, key=lambda e: e.name):
        try:
            old = locked_at is not None and entry.stat(follow_symlinks=False).st_mtime < locked_at
            if old and entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
                removed.append(entry.name)
            else:
                kept.append(entry.name)
        except OSError:
            kept.append(entry.name)
    notes = []
    where = directory or "."
    if removed:
        notes.append(f"removed {len(removed)} temporary file(s) left in {where} by an "
                     f"interrupted write: {', '.join(removed)}")
    if kept and locked_at is None:
        notes.append(f"found {len(kept)} temporary file(s) of an interrupted or concurrent "
                     f"write in {where} (not removed: no lock here): {', '.join(kept)}")
    return notes


def backup_slots(target: str) -> Iterator[str]:
    """``NAME.bak``, ``NAME.bak.1``, ``NAME.bak.2`` ... (at most :data:`MAX_BACKUPS`)."""
    yield target + ".bak"
    for i in range(1, MAX_BACKUPS):
        yield f"{target}.bak.{i}"


def _holds(path: str, data: bytes) -> bool | None:
    """True: a regular file with exactly ``data``; False: something else is there;
    None: nothing there."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(st.st_mode) or st.st_size != len(data):
        return False
    try:
        with open(path, "rb") as fh:
            return fh.read() == data
    except OSError:
        return False


def _keep_backup(target: str, data: bytes, st: os.stat_result, mode: int,
                 temps: list[str]) -> str:
    """Put ``data`` in the first backup slot that is free or already holds it; return it."""
    directory, name = os.path.split(target)
    tmp: str | None = None
    for slot in backup_slots(target):
        held = _holds(slot, data)
        if held:
            return slot
        if held is False:
            continue
        if tmp is None:
            tmp = _temp_with(directory, f".{name}.bak.", data, st, mode,
                             ("backup_temp", "backup_write", "backup_fsync", "backup_owner"),
                             temps)
        _checkpoint("backup_link")
        try:
            os.link(tmp, slot)  # fails if the slot was taken meanwhile: never overwrite
        except FileExistsError:
            continue
        except OSError as err:
            if err.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
                raise
            if _holds(slot, data) is not None:  # no hard links here: check, then rename
                continue
            os.replace(tmp, slot)
        _checkpoint("backup_unlink_temp")
        _remove_quietly(tmp)
        temps.remove(tmp)
        return slot
    raise WriteError(f"{MAX_BACKUPS} backups of this file exist already; remove old ones "
                     "or use --no-backup; nothing written", path=target)


# ----------------------------------------------------------------------------- the writer


def replace_local(target: str, data: bytes, *, backup: bool,
                  check: Callable[[bytes | None], None]) -> Replaced:
    """Write ``data`` to the local file ``target`` (a real path, no symlink) atomically.

    Args:
        target: the file to create or replace (its directory must exist).
        data: the complete new contents.
        backup: keep the previous contents in a backup slot (when there are any).
        check: called with the target's current bytes (None when absent) before
            anything is written and again just before the rename; raises
            :class:`WriteError` to refuse.
    Returns:
        The backup slot used (None without one) and notes for the user.
    Raises:
        WriteError: refused (check, owner, lock, backups exhausted).
        OSError: an I/O failure; the target is unchanged.
    """
    directory, name = os.path.split(target)
    result = Replaced()
    temps: list[str] = []
    try:
        _checkpoint("lock")
        with directory_lock(directory) as locked_at:
            _checkpoint("clean_stale")
            result.notes += clean_stale_temps(directory, name, locked_at)
            _checkpoint("read_current")
            current = _read(target)
            check(current)
            st = os.stat(target) if current is not None else None
            mode = stat.S_IMODE(st.st_mode) if st is not None else default_mode()
            if st is not None:
                problem = ownership_problem(st)
                if problem:
                    raise WriteError(f"cannot replace it: {problem}; nothing written "
                                     "(use --output)")
                note = hard_link_note(target, st)
                if note:
                    result.notes.append(note)
            tmp = _temp_with(directory, f".{name}.", data, st, mode,
                             ("new_temp", "new_write", "new_fsync", "new_owner"), temps)
            if backup and current is not None and st is not None:
                result.backup = _keep_backup(target, current, st, mode, temps)
            _checkpoint("recheck")
            check(_read(target))
            _checkpoint("rename")
            os.replace(tmp, target)
            temps.remove(tmp)
            try:  # replaced: from here on nothing may report the write as failed
                _checkpoint("fsync_dir")
                fsync_dir(directory)
            except OSError:
                pass
        return result
    finally:
        for tmp in temps:
            _remove_quietly(tmp)


def _read(target: str) -> bytes | None:
    try:
        with open(target, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        return None
