"""Readers that name their file, and --hp mistakes (issue 26): garbage in a run's
files, a file that is not a .keras archive, two settings in one --hp or a key given
twice get one line naming the file (and line) or the flag, and the fix. The rules
are backend-free: jax only (no training: the run files are written by hand)."""

import json

import pytest
from _backends import one_backend

from kzoo import rundir as layout
from kzoo.cli import main
from kzoo.runtime.errors import EXIT_RUN_DIR, EXIT_USAGE, DataError, RunDirError

pytestmark = one_backend("tensorflow", "readers and flags; backend-free")


@pytest.fixture
def run(tmp_path):
    """A run directory as `kzoo train` leaves one (marker, summary, history)."""
    out = tmp_path / "run"
    out.mkdir()
    layout.marker._write_marker(out, "train", layout.KIND_FILES["train"])
    (out / layout.SUMMARY_FILE).write_text(json.dumps({"model": "mlp", "epochs_run": 2}))
    (out / layout.HISTORY_FILE).write_text("epoch,loss,val_loss\n0,1.0,1.1\n1,0.5,0.9\n")
    return out


def _one_line(capsys):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_report_names_a_garbled_history_csv_and_its_line(run, capsys):
    (run / layout.HISTORY_FILE).write_bytes(b"epoch,loss\n0,1.0\n1,\x80\x81\n")
    assert main(["report", str(run)]) == EXIT_RUN_DIR
    err = _one_line(capsys)
    assert f"{run / layout.HISTORY_FILE}, line 3: not UTF-8" in err and "restore it" in err


def test_diagnose_names_a_garbled_history_csv(run):
    from kzoo.diagnose import diagnose_run

    (run / layout.HISTORY_FILE).write_bytes(b"\x80epoch,loss\n")
    with pytest.raises(RunDirError, match=r"history.csv, line 1: not UTF-8"):
        diagnose_run(run)
    (run / layout.HISTORY_FILE).write_text("epoch,loss\n0,1.0\n")
    (run / layout.SUMMARY_FILE).write_text('{"diagnosis_facts": ')
    with pytest.raises(RunDirError, match=r"summary.json, line 1: not valid JSON"):
        diagnose_run(run)


def test_report_names_a_corrupt_summary(run, capsys):
    (run / layout.SUMMARY_FILE).write_text("{not json")
    assert main(["report", str(run)]) == EXIT_RUN_DIR
    assert "summary.json, line 1: not valid JSON" in _one_line(capsys)


def test_load_model_safely_names_a_file_that_is_not_a_keras_archive(tmp_path):
    from kzoo.zoo import load_model_safely

    path = tmp_path / "model.keras"
    path.write_text("not a model")
    with pytest.raises(DataError, match=f"{path} is not a .keras archive"):
        load_model_safely(path)


@pytest.mark.parametrize("command", ["train", "tune", "lr-find"])
def test_two_settings_in_one_hp_and_a_repeated_key_are_refused(command, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--hp", "width=64 depth=2", "--out", str(tmp_path / "x")])
    assert exit_.value.code == EXIT_USAGE
    err = capsys.readouterr().err
    assert "--hp width=64 --hp depth=2" in err and "invalid literal" not in err
    with pytest.raises(SystemExit) as exit_:
        main([command, "--hp", "depth=1", "--hp", "depth=3", "--out", str(tmp_path / "x")])
    assert exit_.value.code == EXIT_USAGE
    assert "depth is given twice" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
