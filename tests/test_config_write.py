"""Writing configs safely under hostile conditions (issue 12, items 1-3, 11, 12 and the
symlinked backup message): --output equal to the config, owners and hard links,
numbered backups, temporary files after failures and kills, read-only mounts, and a
fault injected at every step of the write."""

from __future__ import annotations

import errno
import os
import shutil
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tfod_anchors.config import atomic
from tfod_anchors.config.files import (
    ensure_replaceable,
    ensure_writable,
    fingerprint,
    load_config,
    same_file,
    write_config,
    write_new,
)
from tfod_anchors.errors import WriteError

ORIGINAL = "model { ssd { num_classes: 3 } }\n"
PATCHED = "model { ssd { num_classes: 4 } }\n"
THIRD = "model { ssd { num_classes: 5 } }\n"
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.fixture
def cfg(tmp_path):
    path = tmp_path / "pipeline.config"
    path.write_text(ORIGINAL)
    path.chmod(0o640)
    return path


def listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def temps(directory: Path, name: str = "pipeline.config") -> list[str]:
    pattern = atomic.temp_pattern(name)
    return [n for n in listing(directory) if pattern.match(n)]


# ---------------------------------------------------------------- item 3: numbered backups


def test_backups_are_numbered_and_never_overwritten(cfg):
    first = write_config(PATCHED, str(cfg))
    second = write_config(THIRD, str(cfg))
    third = write_config(ORIGINAL, str(cfg))
    d = cfg.parent
    assert first.backup == str(d / "pipeline.config.bak")
    assert second.backup == str(d / "pipeline.config.bak.1")
    assert third.backup == str(d / "pipeline.config.bak.2")
    assert (d / "pipeline.config.bak").read_text() == ORIGINAL
    assert (d / "pipeline.config.bak.1").read_text() == PATCHED
    assert (d / "pipeline.config.bak.2").read_text() == THIRD
    assert cfg.read_text() == ORIGINAL
    for name in ("pipeline.config.bak", "pipeline.config.bak.1", "pipeline.config.bak.2"):
        assert stat.S_IMODE((d / name).stat().st_mode) == 0o640


def test_a_backup_with_the_same_bytes_is_reused(cfg):
    (cfg.parent / "pipeline.config.bak").write_text(PATCHED)
    (cfg.parent / "pipeline.config.bak.1").write_text(ORIGINAL)
    done = write_config(PATCHED, str(cfg))
    assert done.backup == str(cfg.parent / "pipeline.config.bak.1")
    assert listing(cfg.parent) == ["pipeline.config", "pipeline.config.bak",
                                   "pipeline.config.bak.1"]
    assert (cfg.parent / "pipeline.config.bak").read_text() == PATCHED


def test_backup_slot_taken_by_a_directory_or_symlink_is_skipped(cfg):
    """Item 11's trigger: ``.bak`` a directory used to leave ``.NAME.bak.*.tmp`` behind."""
    (cfg.parent / "pipeline.config.bak").mkdir()
    (cfg.parent / "elsewhere").write_text(ORIGINAL)
    (cfg.parent / "pipeline.config.bak.1").symlink_to("elsewhere")
    done = write_config(PATCHED, str(cfg))
    assert done.backup == str(cfg.parent / "pipeline.config.bak.2")
    assert (cfg.parent / "pipeline.config.bak.2").read_text() == ORIGINAL
    assert temps(cfg.parent) == []
    assert cfg.read_text() == PATCHED


def test_remote_backups_are_numbered_too():
    tf = pytest.importorskip("tensorflow")
    root = "ram://tfod_anchors_numbered_backups"
    tf.io.gfile.makedirs(root)
    path = f"{root}/pipeline.config"
    with tf.io.gfile.GFile(path, "wb") as fh:
        fh.write(ORIGINAL.encode())
    assert write_config(PATCHED, path).backup == f"{path}.bak"
    assert write_config(THIRD, path).backup == f"{path}.bak.1"
    with tf.io.gfile.GFile(f"{path}.bak", "rb") as fh:
        assert fh.read() == ORIGINAL.encode()


# ---------------------------------------------------------------- item 1: --output == config


def test_same_file(cfg, tmp_path):
    (tmp_path / "sub").mkdir()
    link = tmp_path / "sub" / "link.config"
    link.symlink_to(cfg)
    hard = tmp_path / "hard.config"
    os.link(cfg, hard)
    assert same_file(str(cfg), str(cfg))
    assert same_file(str(tmp_path / "sub" / ".." / "pipeline.config"), str(cfg))
    assert same_file(str(link), str(cfg))
    assert not same_file(str(hard), str(cfg))  # its own name: writing it leaves cfg alone
    assert not same_file(str(tmp_path / "new.config"), str(cfg))


def test_fit_output_equal_to_config_is_written_in_place(capsys, tmp_path):
    """Before: ``--output CONFIG`` overwrote it with no backup and no change check."""
    pytest.importorskip("tensorflow")
    from helpers.hostile import good_records, make_config, run_cli

    config = make_config(tmp_path, good_records(tmp_path / "train.tfrecord"))
    original = config.read_bytes()
    code, _, err = run_cli(capsys, "fit", config, "--output", tmp_path / "." / config.name)
    assert code == 0
    assert (tmp_path / "pipeline.config.bak").read_bytes() == original
    assert config.read_bytes() != original
    assert "is the config itself" in err and "previous text kept in" in err
    # through a symlink in another folder: same file, same safety
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "alias.config").symlink_to(config)
    patched = config.read_bytes()
    code, _, err = run_cli(capsys, "fit", config, "--output", tmp_path / "other" / "alias.config",
                           "--force", "--num-scales", "3")
    assert code == 0
    assert (tmp_path / "pipeline.config.bak.1").read_bytes() == patched
    assert (tmp_path / "other" / "alias.config").is_symlink()


# ---------------------------------------------------------------- item 2: owner, hard links


@pytest.mark.skipif(not IS_ROOT, reason="chown to another user needs root")
def test_in_place_keeps_owner_group_and_mode(cfg):
    os.chown(cfg, 1234, 1234)
    cfg.chmod(0o600)
    done = write_config(PATCHED, str(cfg))
    st, bak = cfg.stat(), Path(done.backup).stat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1234, 1234, 0o600)
    assert (bak.st_uid, bak.st_gid, stat.S_IMODE(bak.st_mode)) == (1234, 1234, 0o600)
    assert cfg.read_text() == PATCHED


@pytest.mark.skipif(not IS_ROOT, reason="chown to another user needs root")
def test_output_over_an_existing_file_keeps_its_owner(tmp_path):
    out = tmp_path / "out.config"
    out.write_text(ORIGINAL)
    os.chown(out, 1234, 1234)
    write_new(PATCHED, str(out))
    assert (out.stat().st_uid, out.stat().st_gid) == (1234, 1234)


def _as_user(uid: int, gid: int, work) -> list[str]:
    """Run ``work()`` in a forked child with uid/gid changed; the messages of the
    WriteErrors it raises, one per step."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: drop privileges, run, report, exit without cleanup handlers
        try:
            os.close(read)
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            out = []
            for step in work():
                try:
                    step()
                    out.append("no error")
                except WriteError as err:
                    out.append(str(err))
                except Exception as err:  # noqa: BLE001 - reported to the parent
                    out.append(f"unexpected {type(err).__name__}: {err}")
            os.write(write, "\n".join(out).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as fh:
        data = fh.read().decode()
    os.waitpid(pid, 0)
    return data.splitlines()


@pytest.mark.skipif(not IS_ROOT or not hasattr(os, "fork"),
                    reason="runs the writer as uid 1234 in a forked child of root")
def test_owner_that_cannot_be_kept_is_refused_before_writing():
    tmp_path = Path(tempfile.mkdtemp(prefix="tfod-anchors-owner-"))  # pytest's is root-only
    tmp_path.chmod(0o777)
    request_cleanup = shutil.rmtree
    config = tmp_path / "pipeline.config"
    config.write_text(ORIGINAL)
    config.chmod(0o666)
    os.chown(config, 1235, 1235)

    def steps():
        yield lambda: ensure_replaceable(str(config))
        yield lambda: write_config(PATCHED, str(config))

    try:
        lines = _as_user(1234, 1234, steps)
        assert len(lines) == 2, lines
        assert all("owned by uid 1235" in line and "nothing written" in line for line in lines)
        assert config.read_text() == ORIGINAL
        assert listing(tmp_path) == ["pipeline.config"]
    finally:
        request_cleanup(tmp_path)


def test_hard_links_are_reported_and_keep_the_previous_text(cfg, tmp_path):
    other = tmp_path / "other-name.config"
    os.link(cfg, other)
    notes = ensure_replaceable(str(cfg))
    assert len(notes) == 1 and "2 hard links" in notes[0] and "keep the previous text" in notes[0]
    done = write_config(PATCHED, str(cfg), backup=False)
    assert any("hard links" in n for n in done.notes)
    assert cfg.read_text() == PATCHED
    assert other.read_text() == ORIGINAL


def test_fit_warns_about_hard_links(capsys, tmp_path):
    pytest.importorskip("tensorflow")
    from helpers.hostile import good_records, make_config, run_cli

    config = make_config(tmp_path, good_records(tmp_path / "train.tfrecord"))
    os.link(config, tmp_path / "second-name.config")
    code, _, err = run_cli(capsys, "fit", config, "--in-place")
    assert code == 0
    assert any(line.startswith("tfod-anchors: warning:") and "2 hard links" in line
               for line in err.splitlines())


# ---------------------------------------------------------------- item 11: temporary files


def test_stale_temps_of_our_pattern_are_removed_and_reported(cfg):
    old = time.time() - 3600
    stale = [".pipeline.config.ab12cd34.tmp", ".pipeline.config.bak.zz99yy88.tmp",
             ".pipeline.config.bak.3.q1w2e3r4.tmp"]
    foreign = [".other.config.ab12cd34.tmp", ".pipeline.config.notours.tmp", "notes.tmp"]
    for name in stale + foreign:
        (cfg.parent / name).write_text("partial")
        os.utime(cfg.parent / name, (old, old))
    young = cfg.parent / ".pipeline.config.young123.tmp"
    young.write_text("a writer without our lock may still use it")
    future = time.time() + 3600
    os.utime(young, (future, future))
    done = write_config(PATCHED, str(cfg))
    left = set(listing(cfg.parent))
    assert not left & set(stale)
    assert set(foreign) | {young.name} <= left
    assert any("removed 3 temporary file(s)" in n for n in done.notes)
    assert all(name in " ".join(done.notes) for name in stale)


def test_output_write_cleans_its_own_stale_temps(tmp_path):
    out = tmp_path / "fitted.config"
    stale = tmp_path / ".fitted.config.k3k3k3k3.tmp"
    stale.write_text("partial")
    os.utime(stale, (time.time() - 60, time.time() - 60))
    done = write_new(PATCHED, str(out))
    assert listing(tmp_path) == ["fitted.config"]
    assert any("interrupted write" in n for n in done.notes)


# ---------------------------------------------------------------- fault injection


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in directory.iterdir() if p.is_file()}


def _assert_safe(files: dict[str, bytes], where: str) -> None:
    assert files["pipeline.config"] in (ORIGINAL.encode(), PATCHED.encode()), where
    backups = {n: b for n, b in files.items() if n.startswith("pipeline.config.bak")}
    assert set(backups) <= {"pipeline.config.bak"}, where
    assert all(b == ORIGINAL.encode() for b in backups.values()), where
    others = set(files) - {"pipeline.config", "pipeline.config.bak"}
    pattern = atomic.temp_pattern("pipeline.config")
    assert all(pattern.match(n) for n in others), (where, others)


class Killed(BaseException):
    """Stands for SIGKILL: raised at a step, after the directory was photographed."""


def test_steps_are_all_visited(cfg, monkeypatch):
    seen = []
    monkeypatch.setattr(atomic, "_checkpoint", seen.append)
    write_config(PATCHED, str(cfg), expected_fingerprint=fingerprint(ORIGINAL.encode()))
    assert tuple(seen) == atomic.STEPS


@pytest.mark.parametrize("step", atomic.STEPS)
def test_failure_at_each_step_leaves_original_or_patched_and_no_temp(cfg, monkeypatch, step):
    def fail(name):
        if name == step:
            raise OSError(errno.EIO, f"injected failure at {name}")

    monkeypatch.setattr(atomic, "_checkpoint", fail)
    try:
        write_config(PATCHED, str(cfg), expected_fingerprint=fingerprint(ORIGINAL.encode()))
        assert cfg.read_text() == PATCHED
    except WriteError as err:
        assert "injected failure" in str(err) and "\n" not in str(err)
        assert cfg.read_text() == ORIGINAL
        assert "original left unchanged" in str(err)
    files = _snapshot(cfg.parent)
    _assert_safe(files, step)
    assert temps(cfg.parent) == []
    assert stat.S_IMODE(cfg.stat().st_mode) == 0o640


@pytest.mark.parametrize("step", atomic.STEPS)
def test_kill_at_each_step_then_next_run_cleans_up(cfg, monkeypatch, tmp_path, step):
    """The directory as a SIGKILL at ``step`` leaves it: original or patched, backup equal
    to the original; the next write removes the dead writer's temporary files."""
    photos = {}

    def kill(name):
        if name == step:
            photos["at_kill"] = _snapshot(cfg.parent)
            raise Killed(name)

    monkeypatch.setattr(atomic, "_checkpoint", kill)
    with pytest.raises(Killed):
        write_config(PATCHED, str(cfg), expected_fingerprint=fingerprint(ORIGINAL.encode()))
    monkeypatch.undo()
    at_kill = photos["at_kill"]
    _assert_safe(at_kill, step)
    # the next run starts from exactly what the kill left behind
    after = tmp_path / "after-kill"
    after.mkdir()
    old = time.time() - 600
    for name, data in at_kill.items():
        (after / name).write_bytes(data)
        os.utime(after / name, (old, old))
    target = after / "pipeline.config"
    target.chmod(0o640)
    left_behind = temps(after)
    done = write_config(PATCHED, str(target), expected_fingerprint=fingerprint(
        target.read_bytes()))
    assert temps(after) == []
    assert target.read_text() == PATCHED
    assert (after / "pipeline.config.bak").read_text() == ORIGINAL
    if left_behind:
        assert any(f"removed {len(left_behind)} temporary" in n for n in done.notes)


# ---------------------------------------------------------------- item 12: read-only mount


@pytest.fixture
def read_only_dir(tmp_path):
    """A directory on a read-only tmpfs holding a config (needs root and mount)."""
    if not IS_ROOT or shutil.which("mount") is None:
        pytest.skip("mounting a read-only file system needs root")
    mnt = tmp_path / "ro"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)],
                      capture_output=True).returncode:
        pytest.skip("mount is not permitted here")
    try:
        (mnt / "pipeline.config").write_text(ORIGINAL)
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True, capture_output=True)
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_read_only_mount_is_refused_before_the_work(read_only_dir, capsys, tmp_path):
    config = read_only_dir / "pipeline.config"
    with pytest.raises(WriteError, match="cannot write in the directory .*[Rr]ead-only"):
        ensure_replaceable(str(config))
    with pytest.raises(WriteError, match="[Rr]ead-only"):
        ensure_writable(str(read_only_dir / "sub" / "fitted.config"))
    from tfod_anchors.cli import main

    missing = tmp_path / "no-such.tfrecord"  # the fit would fail on it if it ran first
    for flags in (["--in-place"], ["--output", str(read_only_dir / "fitted.config")]):
        code = main(["fit", str(config), "--input", str(missing), *flags])
        err = capsys.readouterr().err
        assert code == 2 and "ead-only file system" in err and "no-such" not in err, err
        assert err.count("\n") == 1
    assert config.read_text() == ORIGINAL


def test_output_below_a_file_is_refused_up_front(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(WriteError, match="is not a directory"):
        ensure_writable(str(tmp_path / "file" / "sub" / "fitted.config"))
    assert ensure_writable(str(tmp_path / "new" / "sub" / "fitted.config")) == []
    assert listing(tmp_path) == ["file"]  # the probe left nothing, created nothing


def test_unwritable_directory_is_refused_up_front(tmp_path, monkeypatch):
    """The same refusal, for machines where no read-only mount can be made: the probe
    file cannot be created."""
    config = tmp_path / "pipeline.config"
    config.write_text(ORIGINAL)

    def refuse(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(atomic.tempfile, "mkstemp", refuse)
    with pytest.raises(WriteError, match="cannot write in the directory"):
        ensure_replaceable(str(config))


# ---------------------------------------------------------------- item 13: symlinked config


def test_symlinked_config_backup_is_named_beside_the_real_file(capsys, tmp_path):
    pytest.importorskip("tensorflow")
    from helpers.hostile import good_records, make_config, run_cli

    real_dir, link_dir = tmp_path / "real", tmp_path / "links"
    real_dir.mkdir()
    link_dir.mkdir()
    config = make_config(real_dir, good_records(tmp_path / "train.tfrecord"))
    link = link_dir / "pipeline.config"
    link.symlink_to(config)
    code, _, err = run_cli(capsys, "fit", link, "--in-place")
    assert code == 0
    assert f"previous text kept in {real_dir / 'pipeline.config.bak'}" in err
    assert (real_dir / "pipeline.config.bak").exists()
    assert not (link_dir / "pipeline.config.bak").exists()
    assert link.is_symlink()


def test_loaded_config_round_trip(cfg):
    loaded = load_config(str(cfg))
    done = write_config(PATCHED, str(cfg), expected_fingerprint=loaded.fingerprint)
    assert Path(done.backup).read_text() == ORIGINAL
