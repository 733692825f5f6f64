"""ShuffledBatches padding for several devices, per-process slices, and exact
padded losses and metrics (`pad_to` on one device: the same numbers as without)."""

import keras
import numpy as np
import pytest

from kzoo.fit import ShuffledBatches, fit_resumable


def test_last_batch_is_padded_with_zero_weight_copies():
    x = np.arange(10, dtype="float32")[:, None]
    data = ShuffledBatches(x, x[:, 0], batch_size=4, seed=0, pad_to=4)
    batches = [data[i] for i in range(data.steps_per_epoch)]
    assert [len(b[0]) for b in batches] == [4, 4, 4]
    for _, _, w in batches[:2]:
        np.testing.assert_array_equal(w, np.ones(4))  # full batches: plain weights
    xb, yb, w = batches[2]
    np.testing.assert_array_equal(w, [2.0, 2.0, 0.0, 0.0])  # 4 padded / 2 real
    np.testing.assert_array_equal(yb[2:], yb[:2])  # the pads repeat real examples
    real = np.concatenate([b[1][b[2] > 0] for b in batches])
    assert sorted(real) == list(range(10))  # every example once per epoch


def test_processes_take_disjoint_slices_of_every_global_batch():
    x = np.arange(23, dtype="float32")[:, None]
    common = dict(batch_size=8, seed=5, pad_to=4, num_steps=6)  # 2 epochs of 3 steps
    parts = [ShuffledBatches(x, x[:, 0], process_index=i, process_count=2, **common)
             for i in range(2)]
    whole = ShuffledBatches(x, x[:, 0], **common)
    for step in range(6):
        a, b = parts[0][step], parts[1][step]
        assert len(a[1]) == len(b[1]) == len(whole[step][1]) // 2  # the same shape everywhere
        np.testing.assert_array_equal(np.concatenate([a[1], b[1]]), whole[step][1])
        np.testing.assert_array_equal(np.concatenate([a[2], b[2]]), whole[step][2])
    for epoch in range(2):
        steps = range(3 * epoch, 3 * epoch + 3)
        seen = [y[w > 0] for p in parts for _, y, w in (p[s] for s in steps)]
        assert sorted(np.concatenate(seen)) == list(range(23)), epoch  # exactly once


def test_padding_settings_are_checked():
    x = np.zeros((5, 1), "float32")
    with pytest.raises(ValueError, match="multiple of process_count"):
        ShuffledBatches(x, x[:, 0], batch_size=2, seed=0, pad_to=3, process_count=2)
    with pytest.raises(ValueError, match="process_index"):
        ShuffledBatches(x, x[:, 0], batch_size=2, seed=0, pad_to=2, process_index=2,
                        process_count=2)
    with pytest.raises(ValueError, match="pad_to"):
        ShuffledBatches(x, x[:, 0], batch_size=2, seed=0, pad_to=0)


def _fit(pad_to):
    keras.utils.set_random_seed(1)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int32") + (x[:, 1] > 0.5).astype("int32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(3, activation="softmax")])
    model.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy",
                  metrics=["accuracy"], weighted_metrics=["sparse_categorical_accuracy"])
    history = fit_resumable(model, x[:23], y[:23], epochs=2, batch_size=8, checkpoint=None,
                            seed=2, validation_data=(x[23:], y[23:]), pad_to=pad_to)
    return model, history


def test_padded_batches_train_and_log_as_the_unpadded_ones():
    # 23 examples in batches of 8: the last of 7 is padded to 8 (pad_to=4); 7
    # validation examples likewise. Loss, gradient and every logged metric match.
    plain, plain_history = _fit(1)
    padded, padded_history = _fit(4)
    for a, b in zip(plain.weights, padded.weights, strict=True):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(a),
                                   keras.ops.convert_to_numpy(b), rtol=0, atol=1e-6)
    assert set(padded_history) == set(plain_history)
    for key, values in plain_history.items():
        np.testing.assert_allclose(padded_history[key], values, rtol=1e-6, err_msg=key)
