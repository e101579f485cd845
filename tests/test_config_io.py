"""Loading pipeline.config files strictly, and writing them back atomically."""

from __future__ import annotations

import errno
import hashlib
import os
import random
import stat

import pytest

from tfod_anchors.config import atomic
from tfod_anchors.config import files as config_io
from tfod_anchors.config.files import load_config, write_config, write_new
from tfod_anchors.config.schema import get_schema
from tfod_anchors.errors import ConfigError, WriteError

CONFIG = """\
# A tiny SSD config written for these tests.
model {
  ssd {
    num_classes: 3
    image_resizer { fixed_shape_resizer { height: 300 width: 300 } }
    anchor_generator {
      ssd_anchor_generator {
        num_layers: 6
        aspect_ratios: [1.0, 2.0, 0.5]
      }
    }
  }
}
train_input_reader {
  label_map_path: "data/label_map.pbtxt"
  tf_record_input_reader { input_path: "data/train.record" }
}
"""

NEW = CONFIG.replace("num_classes: 3", "num_classes: 4")


@pytest.fixture
def cfg_path(tmp_path):
    path = tmp_path / "pipeline.config"
    path.write_bytes(CONFIG.encode())
    path.chmod(0o640)
    return path


def _listing(directory):
    return sorted(p.name for p in directory.iterdir())


def test_load_keeps_bytes_text_and_fingerprint(cfg_path):
    loaded = load_config(str(cfg_path), get_schema("bundled"))
    assert loaded.data == CONFIG.encode()
    assert loaded.text == CONFIG
    assert loaded.fingerprint == hashlib.sha256(CONFIG.encode()).hexdigest()
    assert loaded.path == str(cfg_path)
    assert loaded.schema.origin == "bundled"
    assert loaded.config.model.ssd.num_classes == 3
    assert list(loaded.config.model.ssd.anchor_generator.ssd_anchor_generator.aspect_ratios) == [
        1.0,
        2.0,
        0.5,
    ]


def test_load_keeps_crlf_and_ignores_bom(tmp_path):
    path = tmp_path / "crlf.config"
    data = ("\ufeff" + CONFIG.replace("\n", "\r\n")).encode()
    path.write_bytes(data)
    loaded = load_config(str(path), get_schema("bundled"))
    assert loaded.data == data
    assert loaded.text.encode() == data
    assert loaded.config.model.ssd.num_classes == 3


def _garbage():
    rng = random.Random(7)
    return bytes(rng.randrange(256) for _ in range(512))


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "empty file"),
        (b"  \n\t\n", "empty file"),
        (b"# only a comment\n", "no settings found"),
        (_garbage(), "binary data (NUL byte at offset"),
        (
            b"model { ssd { num_classes: 3 } }\n# caf\xe9\n",
            "not UTF-8 text (invalid byte at offset 38)",
        ),
        (b"model {\n  ssd {\n    num_classes 3\n", "line 3, column 17: Expected"),
        (b"model {\n  ssd {\n    num_clases: 3\n  }\n}\n", "line 3, column 5: Message type"),
        (b"model { ssd { num_classes: 2.5 } }", "line 1, column 28: Couldn't parse integer: 2.5"),
        (b"model { ssd { anchor_generator: 4 } }", 'line 1, column 33: Expected "{"'),
        (b"train_input_reader { shuffle: maybe }", 'line 1, column 31: Expected "true" or "false"'),
    ],
    ids=[
        "empty",
        "blank",
        "comments",
        "garbage",
        "latin1",
        "syntax",
        "unknown-field",
        "wrong-type",
        "scalar-for-message",
        "bad-bool",
    ],
)
def test_bad_configs_raise_one_line_config_error(tmp_path, data, expected):
    path = tmp_path / "bad.config"
    path.write_bytes(data)
    with pytest.raises(ConfigError) as info:
        load_config(str(path), get_schema("bundled"))
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    assert expected in message
    assert path.read_bytes() == data


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_config(str(tmp_path / "nope.config"))
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(str(tmp_path))


def test_write_config_replaces_keeps_backup_and_mode(cfg_path):
    loaded = load_config(str(cfg_path), get_schema("bundled"))
    result = write_config(NEW, str(cfg_path), expected_fingerprint=loaded.fingerprint)
    assert cfg_path.read_text() == NEW
    backup = cfg_path.with_name("pipeline.config.bak")
    assert result.backup == str(backup)
    assert backup.read_text() == CONFIG
    assert stat.S_IMODE(cfg_path.stat().st_mode) == 0o640
    assert stat.S_IMODE(backup.stat().st_mode) == 0o640
    assert _listing(cfg_path.parent) == ["pipeline.config", "pipeline.config.bak"]


def test_write_config_without_backup(cfg_path):
    result = write_config(NEW, str(cfg_path), backup=False)
    assert result.backup is None
    assert cfg_path.read_text() == NEW
    assert _listing(cfg_path.parent) == ["pipeline.config"]


def test_write_through_symlink_keeps_the_link(cfg_path):
    link = cfg_path.with_name("link.config")
    link.symlink_to(cfg_path.name)
    write_config(NEW, str(link), backup=False)
    assert link.is_symlink()
    assert cfg_path.read_text() == NEW


def test_refuses_when_changed_or_vanished(cfg_path):
    loaded = load_config(str(cfg_path), get_schema("bundled"))
    cfg_path.write_text(CONFIG + "\n")
    with pytest.raises(WriteError, match="changed on disk since it was read"):
        write_config(NEW, str(cfg_path), expected_fingerprint=loaded.fingerprint)
    assert cfg_path.read_text() == CONFIG + "\n"
    cfg_path.unlink()
    with pytest.raises(WriteError, match="vanished"):
        write_config(NEW, str(cfg_path), expected_fingerprint=loaded.fingerprint)
    with pytest.raises(WriteError, match="vanished"):
        write_config(NEW, str(cfg_path))
    assert _listing(cfg_path.parent) == []


def _fail_after(monkeypatch, calls_before_failure, *, partial=True):
    """Make the atomic write seam fail with ENOSPC on call ``calls_before_failure + 1``."""
    calls = []
    real_write = os.write

    def flaky_write(fd, data):
        calls.append(len(data))
        if len(calls) > calls_before_failure:
            if partial:
                real_write(fd, bytes(data[: len(data) // 2]))
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(atomic, "_write", flaky_write)
    return calls


@pytest.mark.parametrize("fail_on", [0, 1], ids=["new-text", "backup"])
def test_write_failure_leaves_original_and_no_temp(cfg_path, monkeypatch, fail_on):
    before = cfg_path.read_bytes()
    calls = _fail_after(monkeypatch, fail_on)
    with pytest.raises(WriteError) as info:
        write_config(NEW, str(cfg_path))
    assert len(calls) == fail_on + 1
    assert "No space left on device" in str(info.value)
    assert "original left unchanged" in str(info.value)
    assert "\n" not in str(info.value)
    assert cfg_path.read_bytes() == before
    assert stat.S_IMODE(cfg_path.stat().st_mode) == 0o640
    assert _listing(cfg_path.parent) == ["pipeline.config"]


def test_fsync_failure_leaves_original_and_no_temp(cfg_path, monkeypatch):
    def failing_fsync(fd):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(atomic, "_fsync", failing_fsync)
    with pytest.raises(WriteError, match="Input/output error"):
        write_config(NEW, str(cfg_path))
    assert cfg_path.read_text() == CONFIG
    assert _listing(cfg_path.parent) == ["pipeline.config"]


def test_short_writes_are_completed(cfg_path, monkeypatch):
    real_write = os.write
    monkeypatch.setattr(atomic, "_write", lambda fd, data: real_write(fd, bytes(data[:7])))
    write_config(NEW, str(cfg_path), backup=False)
    assert cfg_path.read_text() == NEW


def test_write_new(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x")
    with pytest.raises(WriteError, match="cannot create the directory"):
        write_new(NEW, str(tmp_path / "file" / "patched.config"))
    target = tmp_path / "out" / "patched.config"  # a missing directory is created
    result = write_new(NEW, str(target))
    assert result.backup is None and target.read_text() == NEW
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    target.chmod(0o600)
    write_new(CONFIG, str(target))
    assert target.read_text() == CONFIG
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    _fail_after(monkeypatch, 0)
    with pytest.raises(WriteError):
        write_new(NEW, str(target))
    assert target.read_text() == CONFIG
    assert _listing(target.parent) == ["patched.config"]


def test_remote_paths_go_through_gfile():
    """TF's in-memory ``ram://`` filesystem exercises the gs:// code path."""
    tf = pytest.importorskip("tensorflow")
    gfile = tf.io.gfile
    root = "ram://tfod_anchors_test_config_io"
    gfile.makedirs(root)
    path = f"{root}/pipeline.config"
    with gfile.GFile(path, "wb") as fh:
        fh.write(CONFIG.encode())
    loaded = load_config(path, get_schema("bundled"))
    assert loaded.text == CONFIG and config_io.is_remote(path)
    result = write_config(NEW, path, expected_fingerprint=loaded.fingerprint)
    assert result.backup == f"{path}.bak"
    with gfile.GFile(path, "rb") as fh:
        assert fh.read() == NEW.encode()
    with gfile.GFile(f"{path}.bak", "rb") as fh:
        assert fh.read() == CONFIG.encode()
    with pytest.raises(WriteError, match="changed on disk"):
        write_config(CONFIG, path, expected_fingerprint=loaded.fingerprint)
    write_new(CONFIG, f"{root}/copy.config")
    assert sorted(gfile.listdir(root)) == ["copy.config", "pipeline.config", "pipeline.config.bak"]
    with pytest.raises(ConfigError, match="no such file"):
        load_config(f"{root}/missing.config")


@pytest.mark.parametrize("text, expect", [
    # a misspelt field: the nearest field of that message
    ("model { ssd { anchor_generator { multiscale_anchor_generator { anchor_scal: 4.0 } } } }",
     'has no field named "anchor_scal"; did you mean `anchor_scale`?'),
    ("train_config { batch_sise: 2 }", "did you mean `batch_size`?"),
    # an enum value
    ("model { ssd { image_resizer { fixed_shape_resizer { resize_method: BILINEARR } } } }",
     "did you mean `BILINEAR`?"),
])
def test_misspelt_names_get_the_nearest_known_name(text, expect):
    with pytest.raises(ConfigError) as err:
        config_io.parse_config_text(text, "typo.config")
    assert expect in err.value.message and "line 1, column" in err.value.message


def test_no_suggestion_when_nothing_is_close():
    with pytest.raises(ConfigError) as err:
        config_io.parse_config_text("train_config { zzzzqqq: 2 }", "typo.config")
    assert 'has no field named "zzzzqqq"' in err.value.message
    assert "did you mean" not in err.value.message
