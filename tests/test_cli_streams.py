"""Output conventions of every command: results on stdout, commentary on stderr, and with
``--json`` exactly one JSON document on stdout on every exit path.

Exit paths covered for each command of :data:`tfod_anchors.cli.COMMANDS`: success,
usage error, unreadable/invalid config, unreadable/invalid input, ``check`` failure
(exit 1), an unexpected exception and Ctrl-C. The dataset and config are the hand-made
ones of ``test_cli`` (64x64 images, two grid anchors per cell).
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT
from helpers.cli import run_cli
from helpers.grid64 import example, make_dataset, write_records

from tfod_anchors.cli import COMMANDS

ERROR_KEYS = ["code", "kind", "message", "file", "record"]


def _few_boxes_removed(err: str) -> str:
    """stderr without the warning every fit of the 8-box test dataset gets (< 100 boxes)."""
    return "".join(line for line in err.splitlines(True) if "box(es) were fitted" not in line)


@pytest.fixture()
def dataset(tmp_path: Path) -> dict[str, Path]:
    return make_dataset(tmp_path)


def _ok_argv(name: str, data: dict[str, Path]) -> list:
    """A successful invocation of each command (text or JSON)."""
    config, records = data["config"], data["records"]
    return {
        "fit": ["fit", config, "--seed", "3"],
        "check": ["check", config],
        "anchors": ["anchors", config],
        "stats": ["stats", "--config", config, "--input", records],
        "cluster": ["cluster", "--config", config, "--k", "2"],
        "extract": ["extract", "--input", records, "--output", data["dir"] / "cache"],
    }[name]


def _bad_config_argv(name: str, data: dict[str, Path], broken: Path) -> list:
    """The command given a config that does not parse."""
    records = data["records"]
    return {
        "fit": ["fit", broken],
        "check": ["check", broken],
        "anchors": ["anchors", broken],
        "stats": ["stats", "--config", broken, "--input", records],
        "cluster": ["cluster", "--config", broken, "--k", "2"],
        "extract": ["extract", "--config", broken, "--output", data["dir"] / "cache"],
    }[name]


def _bad_input_argv(name: str, data: dict[str, Path]) -> tuple[list, str, int | None]:
    """The command given input it cannot use, and the file and record the error names."""
    config, tmp = data["config"], data["dir"]
    missing = tmp / "missing.tfrecord"
    bad = write_records(tmp / "bad.tfrecord", [
        example([[0.0, 0.0, 0.5, 0.5]]),
        example([[0.5, 0.5, 0.25, 0.75]]),  # ymax < ymin: TFOD fails on it
    ])
    blocker = tmp / "plain_file"
    blocker.write_text("not a directory\n")
    return {
        "fit": (["fit", config, "--input", missing], str(missing), None),
        "check": (["check", config, "--input", missing], str(missing), None),
        "anchors": (["anchors", config, "--export", blocker / "a.npy"],
                    str(blocker / "a.npy"), None),
        "stats": (["stats", "--input", bad], str(bad), 1),
        "cluster": (["cluster", "--normalized", "--k", "2", "--input", missing],
                    str(missing), None),
        "extract": (["extract", "--input", missing, "--output", tmp / "cache"],
                    str(missing), None),
    }[name]


def _needs(name: str) -> None:
    """Skip a command whose optional dependency is missing (extract writes Parquet)."""
    if name == "extract":
        pytest.importorskip("pyarrow", reason="extract needs pyarrow (extra 'cache')")


def _any_argv(name: str) -> list:
    """Arguments that parse for each command (what they name need not exist)."""
    return {
        "stats": [name, "--input", "x.tfrecord"],
        "cluster": [name, "--normalized", "--k", "2"],
        "extract": [name, "--input", "x.tfrecord", "--output", "cache"],
    }.get(name, [name, "x.config"])


def _one_document(out: str):
    """stdout parsed as exactly one JSON document (json.loads refuses extra data)."""
    assert out.endswith("\n")
    return json.loads(out)


def _assert_error_document(out: str, err: str, code: int, kind: str) -> dict:
    doc = _one_document(out)
    assert list(doc) == ["error"]
    error = doc["error"]
    assert list(error) == ERROR_KEYS
    assert error["code"] == code and error["kind"] == kind and error["message"]
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("tfod-anchors: ")
    return error


def test_every_command_has_stream_cases(tmp_path):
    """A command registered in cli.COMMANDS needs its cases in this module."""
    data = {"config": tmp_path / "c", "records": tmp_path / "r", "dir": tmp_path}
    for name in COMMANDS:
        _ok_argv(name, data)
        _bad_config_argv(name, data, tmp_path / "broken")


# ------------------------------------------------------------------ --json, every exit path


@pytest.mark.parametrize("name", list(COMMANDS))
def test_json_success_is_one_document(capsys, dataset, name):
    _needs(name)
    code, out, err = run_cli(capsys, *_ok_argv(name, dataset), "--json")
    assert code == 0
    doc = _one_document(out)
    assert "error" not in doc
    assert _few_boxes_removed(err) == ""  # no progress, no notes in --json mode


@pytest.mark.parametrize("name", list(COMMANDS))
def test_json_usage_error_is_one_error_document(capsys, name):
    code, out, err = run_cli(capsys, name, "--no-such-flag", "--json")
    assert code == 2
    error = _assert_error_document(out, err, 2, "usage")
    assert error["message"].startswith(f"{name}: ") and error["message"].endswith("(see --help)")
    assert error["file"] is None and error["record"] is None


def test_json_usage_error_without_command(capsys):
    code, out, err = run_cli(capsys, "--json")
    assert code == 2
    _assert_error_document(out, err, 2, "usage")
    code, out, err = run_cli(capsys, "--json", "check", "x.config")  # --json before the command
    assert code == 2
    _assert_error_document(out, err, 2, "usage")


@pytest.mark.parametrize("name", list(COMMANDS))
def test_json_bad_config_is_one_error_document(capsys, dataset, name):
    broken = dataset["dir"] / "broken.config"
    broken.write_text("model {\n  faster_rcnn { num_classes: }\n}\n")
    code, out, err = run_cli(capsys, *_bad_config_argv(name, dataset, broken), "--json")
    assert code == 2
    error = _assert_error_document(out, err, 2, "config")
    assert error["file"] == str(broken) and "line 2, column" in error["message"]
    assert str(broken) in err


@pytest.mark.parametrize("name", list(COMMANDS))
def test_json_bad_input_is_one_error_document(capsys, dataset, name):
    _needs(name)
    argv, path, record = _bad_input_argv(name, dataset)
    code, out, err = run_cli(capsys, *argv, "--json")
    assert code == 2
    error = _assert_error_document(out, err, 2, "write" if name == "anchors" else "input")
    assert error["file"] == path and error["record"] == record
    assert path in err


def test_json_bad_record_names_file_and_record(capsys, dataset):
    argv, path, _ = _bad_input_argv("stats", dataset)
    code, out, err = run_cli(capsys, *argv, "--json")
    error = _assert_error_document(out, err, 2, "input")
    assert error["record"] == 1 and "ymax" in error["message"].lower()
    assert error["file"] == path and f"{path} (record 1) box 0" in err


def test_json_check_failure_is_the_check_document(capsys, dataset):
    code, out, err = run_cli(capsys, "check", dataset["config"], "--min-recall", "0.6", "--json")
    assert code == 1
    doc = _one_document(out)
    assert doc["ok"] is False and doc["exit_code"] == 1
    assert [f["code"] for f in doc["findings"]] == ["low_recall"]
    assert err == ""


@pytest.mark.parametrize("name", list(COMMANDS))
def test_json_unexpected_exception_is_one_error_document(capsys, monkeypatch, name):
    def boom(args):
        raise RuntimeError("something nobody planned for")

    monkeypatch.setattr(importlib.import_module(COMMANDS[name]), "run", boom)
    argv = _any_argv(name)
    code, out, err = run_cli(capsys, *argv, "--json")
    assert code == 2
    error = _assert_error_document(out, err, 2, "internal")
    assert error["message"].startswith("unexpected RuntimeError: something nobody planned for")
    assert "Traceback" not in err


@pytest.mark.parametrize("name", list(COMMANDS))
def test_json_interrupt_is_one_error_document(capsys, monkeypatch, name):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(importlib.import_module(COMMANDS[name]), "run", interrupted)
    argv = _any_argv(name)
    code, out, err = run_cli(capsys, *argv, "--json")
    assert code == 130
    _assert_error_document(out, err, 130, "interrupted")


def test_json_stray_print_cannot_break_the_document(capsys, monkeypatch):
    """A library printing on stdout during a --json run lands on stderr."""
    from tfod_anchors.commands import anchors as anchors_command

    real_run = anchors_command.run

    def chatty(args):
        print("chatter from some library")
        return real_run(args)

    monkeypatch.setattr(anchors_command, "run", chatty)
    config = ROOT / "configs/ssd_mobilenet_v2_300x300_raccoon.config"
    code, out, err = run_cli(capsys, "anchors", config, "--json")
    assert code == 0
    assert _one_document(out)[0]["padded_shape"] == [300, 300]
    assert err == "chatter from some library\n"


def test_json_help_and_version_are_documents(capsys):
    from tfod_anchors import __version__

    code, out, _ = run_cli(capsys, "--version", "--json")
    assert code == 0 and _one_document(out) == {"version": __version__}
    code, out, _ = run_cli(capsys, "check", "--help", "--json")
    assert code == 0 and _one_document(out)["help"].startswith("usage: tfod-anchors check")


# ------------------------------------------------------------------ text mode: which stream


def test_anchors_listing_redirects_into_a_file(dataset, tmp_path):
    """``tfod-anchors anchors CFG > f`` writes the listing into f."""
    listing = tmp_path / "listing.txt"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with open(listing, "w") as handle:
        proc = subprocess.run([sys.executable, "-m", "tfod_anchors", "anchors",
                               str(dataset["config"])], stdout=handle, stderr=subprocess.PIPE,
                              text=True, cwd=ROOT, env=env)
    assert proc.returncode == 0 and proc.stderr == ""
    text = listing.read_text()
    assert text.startswith("image 64x64 -> resized 64x64, padded 64x64")
    assert "total" in text and "48.00" in text  # the 48 px anchor of the per-location table


def test_anchors_export_note_on_stderr(capsys, dataset):
    target = dataset["dir"] / "a.csv"
    code, out, err = run_cli(capsys, "anchors", dataset["config"], "--export", target)
    assert code == 0 and out.startswith("image 64x64")
    assert err == f"wrote 32 anchors to {target}\n"
    code, out, err = run_cli(capsys, "anchors", dataset["config"], "--export", target, "--quiet")
    assert out.startswith("image 64x64") and err == ""


def test_fit_table_and_diff_on_stdout_notes_on_stderr(capsys, dataset):
    code, out, err = run_cli(capsys, "fit", dataset["config"], "--seed", "3")
    assert code == 0
    table, diff = out.split("\n--- ", 1)
    assert table.startswith("8 boxes in 4 images; grid_anchor_generator")
    assert "recall_matched (IoU >= 0.7)" in table and "better on objective" in table
    assert diff.startswith(f"{dataset['config']}") and "+        scales:" in diff
    assert "recall_matched" not in err and "dry run" in err


def test_fit_warning_on_stderr_in_every_mode(capsys, dataset):
    config = dataset["config"]  # 'full' restores the predictor: a changed count warns
    config.write_text(config.read_text().replace(
        'fine_tune_checkpoint: "ckpt/model.ckpt-0"',
        'fine_tune_checkpoint: "ckpt/model.ckpt-0" fine_tune_checkpoint_type: "full"'))
    argv = ["fit", config, "--num-scales", "3", "--force"]
    for extra in ([], ["--quiet"], ["--json"]):
        code, out, err = run_cli(capsys, *argv, *extra)
        assert code == 0
        warnings = [line for line in _few_boxes_removed(err).splitlines()
                    if line.startswith("tfod-anchors: warning:")]
        assert len(warnings) == 1 and "fine_tune_checkpoint" in warnings[0]
        assert "fine_tune_checkpoint" not in out or extra == ["--json"]


def test_fit_quiet_keeps_results_drops_notes(capsys, dataset):
    target = dataset["dir"] / "fitted.config"
    code, out, err = run_cli(capsys, "fit", dataset["config"], "--output", target)
    assert code == 0 and "better on objective" in out
    assert err.startswith("  searching on 8") and err.endswith(f"\nwrote {target}\n")
    code, out, err = run_cli(capsys, "fit", dataset["config"], "--output", target, "--quiet")
    assert code == 0 and "better on objective" in out and _few_boxes_removed(err) == ""


def test_check_findings_and_verdict_on_stdout(capsys, dataset):
    code, out, err = run_cli(capsys, "check", dataset["config"], "--min-recall", "0.6")
    assert code == 1 and err == ""
    lines = out.splitlines()
    assert lines[0].startswith("ERROR   low_recall: recall at the matched threshold 0.7 is 0.5000")
    assert lines[-1] == f"{dataset['config']}: FAILED (1 error(s), 0 warning(s))"


def test_stats_and_cluster_text_on_stdout(capsys, dataset):
    code, out, err = run_cli(capsys, "stats", "--config", dataset["config"],
                             "--input", dataset["records"])
    assert code == 0 and err == ""
    assert out.startswith("4 images, 8 boxes, in resized pixels")
    assert "size bands (area): small 8, medium 0, large 0" in out
    code, out, err = run_cli(capsys, "cluster", "--config", dataset["config"], "--k", "2")
    assert code == 0 and err == ""
    assert "k=2: mean IoU 1.0000" in out and "16.0 x 16.0" in out


def test_text_errors_leave_stdout_empty(capsys, dataset):
    argv, path, _ = _bad_input_argv("stats", dataset)
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith("tfod-anchors: error: 1 box(es) have ymax < ymin")
    assert f"first: {path} (record 1) box 0: " in err and err.count("\n") == 1


def test_closed_stdout_stops_quietly(dataset):
    """``tfod-anchors anchors CFG | head -0``: exit 141 (as git), no Python noise on stderr.
    The reader closes the pipe at once, long before the command has imported numpy."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "tfod_anchors", "anchors",
                             str(dataset["config"])], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=ROOT, env=env)
    proc.stdout.close()
    err = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait() == 141 and err == b""
