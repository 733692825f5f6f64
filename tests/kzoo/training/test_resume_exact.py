"""`--resume` honours or refuses, never half-honours (issue 26): a finished run is
left byte-identical, or extended with the best epoch selected over the whole
history; unreadable checkpoints and a config.json edited since the checkpoint are
errors naming them. One backend: the rules are backend-free (torch)."""

import hashlib
import json
import shutil

import keras
import numpy as np
import pytest
from _backends import one_backend

from kzoo import rundir as layout
from kzoo.cli import main
from kzoo.runtime.errors import EXIT_RUN_DIR, RunDirError
from kzoo.training import resume, train

pytestmark = one_backend("torch", "resume rules; one backend is enough")
# Random labels: the model memorises noise, so val_loss is lowest early and the
# kept epoch is not the last one.
SETTINGS = dict(epochs=5, batch_size=32, lr=0.01, hparams={"width": 64, "depth": 2},
                verbose=0)
FILES = (layout.MODEL_FILE, layout.SUMMARY_FILE, layout.HISTORY_FILE, layout.CONFIG_FILE)


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    root = tmp_path_factory.mktemp("finished")
    rng = np.random.default_rng(0)
    data = root / "noise.npz"
    np.savez(data, x_train=rng.normal(size=(400, 16)).astype("float32"),
             y_train=rng.integers(0, 2, 400))
    train("mlp", str(data), out=str(root / "run"), **SETTINGS)
    summary = json.loads((root / "run" / layout.SUMMARY_FILE).read_text())
    assert summary["selected_epoch"] < summary["epochs_run"] == 5  # the case of the issue
    return root / "run"


@pytest.fixture
def run(finished, tmp_path):
    shutil.copytree(finished, tmp_path / "run")
    return tmp_path / "run"


def _killed(run):
    """The run as a kill after its last checkpoint leaves it: no results yet."""
    (run / layout.SUMMARY_FILE).unlink()
    (run / layout.MODEL_FILE).unlink()


def test_resuming_a_finished_run_changes_no_file(run, capsys):
    before = {name: _digest(run / name) for name in FILES}
    assert main(["train", "--resume", str(run)]) == 0
    assert "is finished" in capsys.readouterr().out
    assert {name: _digest(run / name) for name in FILES} == before


def test_a_larger_epoch_budget_extends_and_selects_over_the_whole_history(run):
    kept = json.loads((run / layout.SUMMARY_FILE).read_text())["selected_epoch"]
    old = keras.saving.load_model(run / layout.MODEL_FILE).get_weights()
    result = resume(run, epochs=7, verbose=0)
    history = layout.read_csv(run / layout.HISTORY_FILE)
    losses = [r["val_loss"] for r in history]
    assert len(losses) == 7 and result.summary["epochs_run"] == 7
    best = int(np.argmin(losses)) + 1
    assert result.summary["selected_epoch"] == best
    new = keras.saving.load_model(run / layout.MODEL_FILE).get_weights()
    same = all(np.array_equal(a, b) for a, b in zip(old, new, strict=True))
    assert same == (best == kept)  # the old best still wins unless a new epoch beat it


def test_unreadable_checkpoints_are_an_error_not_a_fresh_start(run):
    _killed(run)
    files = sorted((run / layout.CHECKPOINTS_DIR).glob("step-*.ckpt"))
    assert files
    for path in files:
        path.write_bytes(b"garbage")
    history = _digest(run / layout.HISTORY_FILE)
    with pytest.raises(RunDirError, match="no checkpoint is readable") as err:
        resume(run, verbose=0)
    assert all(p.name in str(err.value) for p in files)
    assert _digest(run / layout.HISTORY_FILE) == history  # nothing started over
    assert not (run / layout.MODEL_FILE).exists()


def test_config_edited_since_the_checkpoint_is_refused_with_the_keys(run, capsys):
    _killed(run)
    config = json.loads((run / layout.CONFIG_FILE).read_text())
    config["batch_size"] = 64
    config["resolved"]["batch_size"]["value"] = 64  # edited consistently: still refused
    (run / layout.CONFIG_FILE).write_text(json.dumps(config))
    assert main(["train", "--resume", str(run)]) == EXIT_RUN_DIR
    err = capsys.readouterr().err
    assert "batch_size (32 in the checkpoint, 64 now)" in err and len(err.splitlines()) == 1
    assert not (run / layout.MODEL_FILE).exists()


def test_a_run_killed_after_its_last_checkpoint_keeps_the_selected_epoch(run):
    old = keras.saving.load_model(run / layout.MODEL_FILE).get_weights()
    kept = json.loads((run / layout.SUMMARY_FILE).read_text())["selected_epoch"]
    _killed(run)
    result = resume(run, verbose=0)
    assert result.summary["selected_epoch"] == kept < result.summary["epochs_run"]
    new = keras.saving.load_model(run / layout.MODEL_FILE).get_weights()
    for a, b in zip(old, new, strict=True):
        np.testing.assert_array_equal(a, b)  # the selected epoch's weights, not the last


class _Interrupt(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if int(keras.ops.convert_to_numpy(self.model.optimizer.iterations)) == 7:
            raise KeyboardInterrupt


def test_an_lr_auto_run_resumes_under_the_settings_its_checkpoint_recorded(tmp_path):
    # `--lr auto` sets the rate after the settings are resolved; the checkpoint's record
    # and the resume's comparison both take them before, so a plain resume is accepted.
    common = dict(epochs=2, batch_size=256, hparams={"width": 8, "depth": 1}, verbose=0,
                  lr="auto", checkpoint_every_steps=2)
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train("mlp", "digits", out=str(out), callbacks=[_Interrupt()], **common)
    assert resume(out, verbose=0).summary["epochs_run"] == 2
