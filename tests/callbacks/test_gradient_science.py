"""Science checks: vanishing gradients in a SimpleRNN on the adding problem, exploding
gradients tamed by clipping and rollback, an LR spike survived by AutoClip.

They train real (small) models for tens of seconds, so they run on the jax backend
only: the gradient machinery itself is checked on every backend by the other
test_gradient_* files.
"""

import warnings

import keras
import numpy as np
import pytest

import kzoo.datasets
from kzoo.callbacks import GradientClipping, GradientHealth, GradientNormLogger

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        keras.backend.backend() != "jax",
        reason="science checks train for tens of seconds; run once, on the fastest CPU backend "
        "(jax); the callbacks are tested on every backend elsewhere",
    ),
]

T = 100


def _adding_model(cell, T):
    """Two input projections, one for each half of the sequence, then one recurrent layer.

    The gradient of `early_proj` reaches it only through >= T/2 recurrent steps,
    so its norm relative to the other layers measures the temporal vanishing of
    Bengio et al. (1994) and Hochreiter (1991) as a per-layer norm.
    """
    keras.utils.set_random_seed(0)
    inputs = keras.Input((T, 2))
    early = keras.layers.Cropping1D((0, T // 2))(inputs)
    late = keras.layers.Cropping1D((T // 2, 0))(inputs)
    early = keras.layers.Dense(8, name="early_proj")(early)
    late = keras.layers.Dense(8, name="late_proj")(late)
    x = keras.layers.Concatenate(axis=1)([early, late])
    x = getattr(keras.layers, cell)(32, name="rnn")(x)
    outputs = keras.layers.Dense(1, name="head")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="mse")
    return model


def test_adding_problem_simple_rnn_vanishes_lstm_solves():
    ds = kzoo.datasets.load(f"adding:T={T},n=4000", seed=0)
    results = {}
    for cell in ("SimpleRNN", "LSTM"):
        model = _adding_model(cell, T)
        health = GradientHealth(check_every=10, patience=5, vanishing_threshold=1e-2)
        logger = GradientNormLogger(every=10)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(ds.x_train, ds.y_train, batch_size=32, epochs=30, verbose=0,
                      callbacks=[health, logger])
        mse = model.evaluate(ds.x_test, ds.y_test, verbose=0)
        results[cell] = (health.vanishing_layers, mse, health.events)
    # Both start with vanishing early gradients (an LSTM's forget gates start near 0.73).
    assert "early_proj" in {e.get("layer") for e in results["LSTM"][2]}
    # The LSTM learns to carry the gradient across T/2 steps and recovers;
    # the SimpleRNN does not, and fails the task (predicting the mean: 1/6).
    assert "early_proj" in results["SimpleRNN"][0]
    assert "early_proj" not in results["LSTM"][0]
    assert results["LSTM"][1] < 0.05
    assert results["SimpleRNN"][1] > 0.1


def _exploding_run(callbacks):
    """A SimpleRNN with recurrent spectral radius 1.5 and plain SGD at lr 0.5."""
    ds = kzoo.datasets.load("adding:T=50,n=1000", seed=0)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input(ds.input_shape),
        keras.layers.SimpleRNN(32, recurrent_initializer=keras.initializers.Orthogonal(gain=1.5)),
        keras.layers.Dense(1),
    ])
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        history = model.fit(ds.x_train, ds.y_train, batch_size=32, epochs=5, verbose=0,
                            callbacks=callbacks)
    finite = all(np.isfinite(keras.ops.convert_to_numpy(w)).all() for w in model.weights)
    return history.history["loss"], finite


def test_exploding_gradients_clipping_and_rollback():
    loss, finite = _exploding_run([])
    assert not finite and not np.isfinite(loss[-1])

    loss, finite = _exploding_run([GradientClipping("global_norm", clip_value=1.0)])
    assert finite and loss[-1] < loss[0] and loss[-1] < 1.2

    # AutoClip keeps the run finite; it cannot stop the first, unclipped step
    # (its history then holds one norm), which already throws this run far off.
    loss, finite = _exploding_run([GradientClipping("autoclip", percentile=10)])
    assert finite and np.isfinite(loss[-1])

    health = GradientHealth(action="rollback", check_every=1, min_history=3)
    loss, finite = _exploding_run([health])
    assert finite and np.isfinite(loss[-1])
    assert health.lr_reductions >= 1


class _LRSpike(keras.callbacks.Callback):
    """Multiplies the learning rate by 300 for 3 steps, starting at step `at`."""

    def __init__(self, base, at):
        super().__init__()
        self.base, self.at, self.step = base, at, 0

    def on_train_batch_begin(self, batch, logs=None):
        spiking = self.at <= self.step < self.at + 3
        self.model.optimizer.learning_rate.assign(self.base * (300.0 if spiking else 1.0))
        self.step += 1


def _spiked_run(callbacks):
    """A SimpleRNN learning the T=10 adding problem with Adam(1e-3); the LR spikes
    300-fold for 3 steps at the start of epoch 5 of 8."""
    ds = kzoo.datasets.load("adding:T=10,n=2000", seed=0)
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input(ds.input_shape), keras.layers.SimpleRNN(32), keras.layers.Dense(1)]
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    steps = -(-len(ds.x_train) // 32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        history = model.fit(ds.x_train, ds.y_train, batch_size=32, epochs=8, verbose=0,
                            callbacks=[_LRSpike(1e-3, at=4 * steps), *callbacks])
    return history.history["loss"]


def test_autoclip_keeps_the_progress_made_before_an_lr_spike():
    """The other kind of explosion: a run that was learning meets an LR spike.
    Measured (seeds 0-2 of data and weights): AutoClip (threshold ~0.48 here, the
    10th percentile of calm norms of ~1.4; the spike's norms reach 26) ends at
    0.083-0.13 MSE; no clipping and global-norm clipping at 1.0 end at 0.15-0.17,
    about the MSE of predicting the mean (1/6): they lose what was learned."""
    plain = _spiked_run([])
    global_norm = _spiked_run([GradientClipping("global_norm", clip_value=1.0)])
    autoclip = _spiked_run([GradientClipping("autoclip", percentile=10)])
    before = autoclip[3]  # last epoch before the spike
    assert before < 0.14 and max(autoclip[4], plain[4]) > 0.3  # it learned; the spike hit
    assert autoclip[-1] < before  # progress kept, and more made
    assert autoclip[-1] < plain[-1] - 0.04 and autoclip[-1] < global_norm[-1] - 0.04
