"""Tests of kzoo.fit.resumable_fit: the owned batch order and fit_resumable.

The checkpoint round trips through `fit_resumable` (exact resume, EarlyStopping
across a resume, corrupt files) are in test_checkpoint.py.
"""

import keras
import numpy as np
import pytest

import kzoo.callbacks
from kzoo.callbacks import Checkpoint
from kzoo.fit import ShuffledBatches, fit_resumable


def test_shuffled_batches_are_a_seeded_permutation_per_epoch():
    x = np.arange(10, dtype="float32")[:, None]
    data = ShuffledBatches(x, x[:, 0], batch_size=4, seed=3, num_steps=6)
    assert data.steps_per_epoch == 3 and len(data) == 6
    epoch0 = np.concatenate([data[i][1] for i in range(3)])
    epoch1 = np.concatenate([data[i][1] for i in range(3, 6)])
    assert sorted(epoch0) == list(range(10)) and sorted(epoch1) == list(range(10))
    assert not np.array_equal(epoch0, epoch1)
    later = ShuffledBatches(x, x[:, 0], batch_size=4, seed=3, start_step=4, num_steps=2)
    np.testing.assert_array_equal(later[0][1], data[4][1])  # starts mid-epoch 1


def test_shuffled_batches_reject_bad_input():
    with pytest.raises(ValueError, match="no examples"):
        ShuffledBatches(np.zeros((0, 2)), np.zeros(0), batch_size=4, seed=0)
    with pytest.raises(ValueError, match="batch_size"):
        ShuffledBatches(np.zeros((3, 2)), np.zeros(3), batch_size=0, seed=0)


def test_fit_resumable_trains_every_step_and_checks_epochs(tmp_path):
    x = np.random.default_rng(0).normal(size=(10, 3)).astype("float32")
    y = (x[:, 0] > 0).astype("int32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy")
    ckpt = Checkpoint(tmp_path / "ckpt")
    with pytest.raises(ValueError, match="epochs"):
        fit_resumable(model, x, y, epochs=0, batch_size=4, checkpoint=ckpt)
    history = fit_resumable(model, x, y, epochs=2, batch_size=4, checkpoint=ckpt)
    assert len(history["loss"]) == 2
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 2 * 3  # ceil(10/4)


def test_public_names_are_the_engine():
    assert kzoo.fit.fit_resumable is fit_resumable
    assert fit_resumable.__module__ == "kzoo.fit.resumable_fit"
