"""`kzoo.diagnose` on real (tiny) trainings: a BatchNorm gap, overfitting, divergence,
and a healthy default run. One backend (torch): the backend does not change them."""

import keras
import numpy as np
import pytest
from _backends import one_backend
from _histories import kinds as _kinds

from kzoo import diagnose as dg


def _tiny_series(n, seed, length=64):
    """Two classes (sine vs square wave) on an offset of 3: GunPoint-like, 1 channel."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    wave = np.sin(2 * np.pi * 3 * np.linspace(0, 1, length))
    x = np.where(y[:, None] == 1, wave, np.sign(wave))[..., None]
    return (3.0 + x + rng.normal(0, 0.3, x.shape)).astype("float32"), y.astype("int32")


@one_backend("torch", "CI time budget (the backend does not change it)")
@pytest.mark.parametrize("seed", [0, 1])
def test_real_batchnorm_gap_of_one_step_per_epoch(seed):
    # The old GunPoint default: 40 examples at batch 64, 1 step per epoch, so
    # BatchNorm's moving statistics keep 0.99**40 = 67 % of their initial values.

    from kzoo import zoo

    keras.utils.set_random_seed(seed)
    x, y = _tiny_series(40, seed)
    model = zoo.create("fcn", (64, 1), 2, filters=16, learning_rate=1e-2)
    history = model.fit(x, y, batch_size=64, epochs=40, verbose=0).history
    facts = dg.measure_facts(model, x, y, history, fit_batch_size=64)
    assert facts["steps"] == 40 and facts["chance"] == 0.5
    findings = dg.diagnose(history, facts=facts)
    assert _kinds(findings) == ["train_inference_gap"]
    assert findings[0]["evidence"]["train_accuracy_inference_mode"] <= 0.6


def _digits():
    from kzoo import datasets

    return datasets.load("digits", seed=0)


@one_backend("torch", "CI time budget (the backend does not change it)")
def test_real_overfitting_of_an_oversized_mlp_on_a_small_subset():
    # 200 digits, half of them relabelled at random, a 3 x 512 MLP without dropout:
    # it memorises the noise and the validation loss climbs (measured: +43 % and
    # +55 % over the minimum for seeds 0 and 1; the threshold is +15 %).

    from kzoo import zoo

    ds = _digits()
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    y = ds.y_train[:200].copy()
    flip = rng.random(200) < 0.5
    y[flip] = (y[flip] + rng.integers(1, 10, flip.sum())) % 10
    model = zoo.create("mlp", ds.input_shape, 10, width=512, depth=3, dropout=0.0)
    history = model.fit(ds.x_train[:200], y, validation_data=(ds.x_val, ds.y_val),
                        batch_size=20, epochs=60, verbose=0).history
    findings = dg.diagnose(history)
    assert _kinds(findings) == ["overfitting"]
    assert findings[0]["evidence"]["best_epoch"] <= 20


@one_backend("torch", "CI time budget (the backend does not change it)")
def test_real_divergence_at_lr_10():

    from kzoo import zoo

    ds = _digits()
    keras.utils.set_random_seed(0)
    model = zoo.create("mlp", ds.input_shape, 10, learning_rate=10.0)
    history = model.fit(ds.x_train, ds.y_train, batch_size=32, epochs=3, verbose=0).history
    facts = dg.measure_facts(model, ds.x_train, ds.y_train, history)
    assert [f["kind"] for f in dg.diagnose(history, facts=facts)] == ["lr_too_high"]


@one_backend("torch", "CI time budget (the backend does not change it)")
def test_real_healthy_default_run_is_silent():

    from kzoo import zoo

    ds = _digits()
    keras.utils.set_random_seed(0)
    model = zoo.create("mlp", ds.input_shape, 10)
    stop = keras.callbacks.EarlyStopping("val_loss", patience=10, restore_best_weights=True)
    history = model.fit(ds.x_train, ds.y_train, validation_data=(ds.x_val, ds.y_val),
                        batch_size=32, epochs=20, callbacks=[stop], verbose=0).history
    facts = dg.measure_facts(model, ds.x_train, ds.y_train, history, fit_batch_size=32,
                             selected_epoch=stop.best_epoch + 1)
    assert facts["train_accuracy_inference"] > 0.95
    assert dg.diagnose(history, facts=facts) == []
