"""Every file of a run is written atomically, the final model.keras included, and a
failure at the end of training keeps the checkpoints and says what failed (issue
#13). torch only: file handling does not depend on the backend."""

import errno
import json
import os

import keras
import pytest
from _backends import one_backend

from kzoo import rundir as layout
from kzoo.cli import main
from kzoo.runtime.errors import EXIT_ENVIRONMENT, RunFailedError
from kzoo.training import train
from kzoo.training.results import save_model_atomically

pytestmark = one_backend("torch", "file handling; one backend is enough")
TINY = dict(epochs=1, batch_size=64, hparams={"width": 8, "depth": 1}, verbose=0)


def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_at_the_final_save_keeps_the_checkpoint_and_records_the_failure(
    tmp_path, monkeypatch
):
    run = tmp_path / "run"
    monkeypatch.setattr(keras.Model, "save", _disk_full)
    with pytest.raises(RunFailedError, match=f"kzoo train --resume {run}"):
        train("mlp", "digits", out=str(run), **TINY)
    summary = json.loads((run / layout.SUMMARY_FILE).read_text())
    assert summary["status"] == "failed" and "No space left" in summary["failed"]
    assert "model.keras" in summary["failed"]
    assert layout.has_checkpoint(run) and not (run / layout.MODEL_FILE).exists()
    assert not [p for p in run.iterdir() if p.name.startswith(".tmp-")]
    assert not (run / layout.LOCK_FILE).exists()
    monkeypatch.undo()
    done = train("mlp", "digits", out=str(run), resume=True, **TINY)  # the fix: resume
    assert done.summary["epochs_run"] == 1
    assert json.loads((run / layout.SUMMARY_FILE).read_text())["status"] == "completed"
    assert keras.saving.load_model(run / layout.MODEL_FILE).count_params() > 0


def test_the_cli_says_how_to_resume_after_a_failed_save(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(keras.Model, "save", _disk_full)
    code = main(["train", "--model", "mlp", "--data", "digits", "--epochs", "1", "--hp",
                 "width=8", "--quiet", "--out", str(tmp_path / "run")])
    assert code == EXIT_ENVIRONMENT
    err = capsys.readouterr().err
    assert "Traceback" not in err and "kzoo train --resume" in err and "No space" in err


def test_a_failed_model_save_leaves_the_old_model_intact(tmp_path, monkeypatch):
    net = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    path = tmp_path / "model.keras"
    save_model_atomically(net, path)
    before = path.read_bytes()

    def torn_write(self, filepath, *args, **kwargs):
        with open(filepath, "wb") as f:
            f.write(b"half a zip")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(keras.Model, "save", torn_write)
    with pytest.raises(OSError):
        save_model_atomically(net, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.keras"]


def test_json_and_history_are_replaced_whole_or_not_at_all(tmp_path, monkeypatch):
    layout.write_json(tmp_path / "summary.json", {"a": 1})
    layout.write_history_csv(tmp_path, {"loss": [1.0]})
    monkeypatch.setattr(os, "replace", _disk_full)
    with pytest.raises(OSError):
        layout.write_json(tmp_path / "summary.json", {"a": 2})
    with pytest.raises(OSError):
        layout.write_history_csv(tmp_path, {"loss": [1.0, 0.5]})
    assert json.loads((tmp_path / "summary.json").read_text()) == {"a": 1}
    assert (tmp_path / "history.csv").read_text().count("\n") == 2
    assert sorted(os.listdir(tmp_path)) == ["history.csv", "summary.json"]
