"""Mixed precision and rematerialisation for every sequence family (cheap: one step each)."""

import keras
import numpy as np
import pytest

import kzoo.zoo

SMALL = {
    "fcn": {"filters": 8},
    "resnet1d": {"filters": 4, "depth": 1},
    "inception_time": {"filters": 4, "depth": 1, "kernel_size": 8},
    "tcn": {"filters": 8, "depth": 2},
    "transformer": {"d_model": 8, "num_heads": 2, "depth": 1},
    "lstm_fcn": {"filters": 8, "depth": 2},
    "lstm": {"units": 8},
}


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(16, 12, 3)).astype("float32"), rng.integers(0, 3, 16)


@pytest.mark.parametrize("family", sorted(SMALL))
def test_mixed_bfloat16_fit_step(family, data):
    x, y = data
    with kzoo.zoo.precision("mixed_bfloat16"):
        model = kzoo.zoo.create(family, (12, 3), 3, **SMALL[family])
    assert keras.config.dtype_policy().name == "float32"  # restored on exit
    assert model.layers[-1].compute_dtype == "float32"  # the head
    assert any(layer.compute_dtype == "bfloat16" for layer in model.layers)
    history = model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert model.predict(x, verbose=0).dtype == np.float32


def test_unknown_precision_raises():
    with pytest.raises(ValueError, match="mixed_bfloat16"):
        with kzoo.zoo.precision("bf16"):
            pass


# Two families per backend (CI time: one compiled step pair costs 6-8 s on jax):
# BatchNormalization + convolutions, attention + dropout. benchmarks/remat_memory_jax.py
# checks every family that takes remat on jax and tensorflow (benchmarks/RESULTS.md).
REMAT = ["resnet1d", "transformer"]


@pytest.mark.parametrize("family", REMAT)
def test_remat_gives_the_same_outputs_and_gradient_step(family, data, backend):
    x, y = data
    small = SMALL[family]
    models = []
    for remat in (None, "full"):
        keras.utils.set_random_seed(0)
        hparams = {**small, ("lstm_dropout" if family == "lstm_fcn" else "dropout"): 0.0}
        model = kzoo.zoo.create(family, (12, 3), 3, remat=remat, **hparams,
                                optimizer="sgd", learning_rate=0.1)
        models.append(model)
    plain, remat = models
    remat.set_weights(plain.get_weights())
    np.testing.assert_allclose(plain.predict(x, verbose=0), remat.predict(x, verbose=0),
                               atol=1e-5)
    for model in models:
        model.train_on_batch(x, y)
    # Same gradient step. (On torch the recomputed forward pass updates the
    # BatchNorm moving statistics a second time, so only trainable weights match;
    # on jax and tensorflow they are updated once, kzoo.zoo._remat: every weight.)
    torch = backend == "torch"
    for a, b in zip(*(m.trainable_weights if torch else m.weights for m in models),
                    strict=True):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b),
                                   atol=1e-4 if torch else 1e-5)
    with pytest.raises(ValueError, match="remat"):
        kzoo.zoo.create(family, (12, 3), 3, remat="sometimes")


def test_remat_with_mixed_precision_is_refused():
    with kzoo.zoo.precision("mixed_bfloat16"):
        with pytest.raises(ValueError, match="cannot be combined|not supported on the"):
            kzoo.zoo.create("fcn", (12, 3), 3, remat="full", filters=4)
