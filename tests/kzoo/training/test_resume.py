"""`kzoo.train` integration: schedules, applied LR in history.csv, resume, lr auto."""

import csv
import json

import keras
import numpy as np
import pytest

from kzoo.training import train

SETTINGS = dict(epochs=2, batch_size=256, hparams={"width": 16, "depth": 1}, verbose=0)


class _Interrupt(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if int(keras.ops.convert_to_numpy(self.model.optimizer.iterations)) == 7:
            raise KeyboardInterrupt


# With BatchNorm, precise BN recomputes the statistics before each validation (issue 31):
# the interrupted epoch follows a recomputation, and the resumed run must match too.
@pytest.mark.parametrize("norm", [None, "batch"])
def test_interrupted_train_resumes_to_the_same_weights(tmp_path, norm):
    common = dict(SETTINGS, lr=1e-3, schedule="cosine", warmup_steps=3, checkpoint_every_steps=2)
    if norm:
        common["hparams"] = {**SETTINGS["hparams"], "norm": norm}
    ref = train("mlp", "digits", out=str(tmp_path / "ref"), **common)
    with pytest.raises(KeyboardInterrupt):
        train("mlp", "digits", out=str(tmp_path / "run"), callbacks=[_Interrupt()], **common)
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["schedule"] == "cosine"
    resumed = train("mlp", "digits", out=str(tmp_path / "run"), resume=True, **common)
    for a, b in zip(ref.model.weights, resumed.model.weights, strict=True):
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b), atol=1e-6
        )
    rows = list(csv.DictReader(open(tmp_path / "run" / "history.csv")))
    assert len(rows) == 2 and "lr" in rows[0]
    # Every logged value, the interrupted epoch's included, equals the reference.
    ref_rows = list(csv.DictReader(open(tmp_path / "ref" / "history.csv")))
    for ref_row, row in zip(ref_rows, rows, strict=True):
        for key in ("loss", "accuracy", "val_loss", "val_accuracy", "lr"):
            assert float(row[key]) == pytest.approx(float(ref_row[key]), rel=1e-5), key
    steps = list(csv.DictReader(open(tmp_path / "ref" / "lr_steps.csv")))
    lrs = [float(r["lr"]) for r in steps]
    assert lrs[:3] == pytest.approx([0.0, 1e-3 / 3, 2e-3 / 3], abs=1e-9)
    assert lrs[3] == pytest.approx(1e-3) and lrs[-1] < 1e-4
    assert (tmp_path / "ref" / "plots" / "lr.png").exists()


def test_lr_auto_runs_the_finder(tmp_path):
    result = train("mlp", "digits", out=str(tmp_path / "auto"), lr="auto",
                   checkpoint_every_epochs=0, **dict(SETTINGS, epochs=1))
    found = json.loads((tmp_path / "auto" / "lr_find.json").read_text())
    assert found["recommended_lr"] == pytest.approx(found["suggestions"]["valley"])
    lr = keras.ops.convert_to_numpy(result.model.optimizer.learning_rate)
    assert float(lr) == pytest.approx(found["recommended_lr"], rel=1e-5)
    assert (tmp_path / "auto" / "plots" / "lr_find.png").exists()


def test_bad_schedule_settings_fail_before_writing(tmp_path):
    with pytest.raises(ValueError, match="schedule"):
        train("mlp", "digits", out=str(tmp_path / "x"), schedule="cosinus", **SETTINGS)
    with pytest.raises(ValueError, match="not both"):
        train("mlp", "digits", out=str(tmp_path / "x"), warmup_steps=2, warmup_epochs=1,
              **SETTINGS)
    assert not (tmp_path / "x").exists()
