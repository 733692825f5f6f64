"""A trial's checkpointed fit: killed mid-trial and run again, it resumes exactly."""

import keras
import keras_tuner as kt
import pytest

from kzoo import zoo
from kzoo.tuning import _keras_tuner_private as private
from kzoo.tuning.trial_fit import _restore_best_epoch, checkpoint_dir, fit_trial, restored_history


class DieAtEpoch(keras.callbacks.Callback):
    """Stands in for a worker killed while training `epoch` (after earlier checkpoints)."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt("worker killed")


def _model():
    keras.utils.set_random_seed(7)
    return zoo.create("mlp", (6,), 2, depth=1, width=8, dropout=0.2)


def _saver(path):
    return private.SaveBestEpoch(kt.Objective("val_loss", "min"), str(path / "best.weights.h5"))


def _fit(tiny_binary, directory, callbacks, record=None):
    x, y = tiny_binary(50, 6)  # 50 % 16: a partial last batch
    return fit_trial(_model(), x, y, batch_size=16, epochs=3, directory=directory, seed=3,
                     callbacks=callbacks, validation_data=(x[:20], y[:20]), record=record)


def test_a_trial_killed_mid_trial_resumes_from_its_checkpoint_exactly(tmp_path, tiny_binary):
    whole = _fit(tiny_binary, checkpoint_dir(tmp_path / "a" / "trial_0"), [_saver(tmp_path)],
                 record := {})
    assert record == {"resumed_from_epoch": 0.0} and len(whole.history["loss"]) == 3

    directory = checkpoint_dir(tmp_path / "b" / "trial_0")
    with pytest.raises(KeyboardInterrupt):
        _fit(tiny_binary, directory, [_saver(tmp_path), DieAtEpoch(2)])
    # What a resumed trial's pruning curve starts from: the epochs before the kill.
    assert restored_history(directory) == {k: v[:2] for k, v in whole.history.items()}
    assert restored_history(tmp_path / "none") == {}
    saver = _saver(tmp_path)
    again = _fit(tiny_binary, directory, [saver], record := {})
    assert record == {"resumed_from_epoch": 2.0}  # epochs 0 and 1 were not run again
    assert again.history == whole.history  # the whole trial's history, bit-equal
    assert again.epoch == [0, 1, 2]
    assert saver.best_value == min(whole.history["val_loss"])


def test_the_best_epoch_saver_knows_the_epochs_before_the_kill(tmp_path):
    # Restarted at +inf, KerasTuner's saver would overwrite the dead worker's best
    # weights (epoch 0 here) with the first resumed epoch's.
    saver = _saver(tmp_path)
    _restore_best_epoch([saver], {"loss": [0.9, 0.8], "val_loss": [0.3, 0.5]})
    assert saver.best_value == 0.3


def test_unsupported_fit_arguments_are_refused(tmp_path, tiny_binary):
    x, y = tiny_binary(50, 6)
    with pytest.raises(ValueError, match="take no initial_epoch argument"):
        fit_trial(_model(), x, y, batch_size=16, epochs=2, directory=tmp_path, seed=0,
                  initial_epoch=1)
