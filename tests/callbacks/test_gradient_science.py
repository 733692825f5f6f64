"""Science checks: vanishing gradients in a SimpleRNN on the adding problem, exploding
gradients tamed by clipping and rollback, an LR spike survived by AutoClip.

They train real (small) models for tens of seconds, so they run on the jax backend
only: the gradient machinery itself is checked on every backend by the other
test_gradient_* files (set KZOO_SCIENCE_BACKENDS=all to run them on any backend).

A trajectory of one seed depends on the CPU's floating-point details (these
runs are chaotic on purpose), so every claim is about several seeds (of data and
weights) and a robust statistic: the median over seeds, of the best loss of the
last epochs or of a gradient ratio over the last third of training. Margins were
measured under perturbed floating point (XLA fast math, one thread, other
backends); see each test.
"""

import os
import warnings

import keras
import numpy as np
import pytest

import kzoo.datasets
from kzoo.callbacks import GradientClipping, GradientHealth, GradientNormLogger

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        keras.backend.backend() != "jax" and os.environ.get("KZOO_SCIENCE_BACKENDS") != "all",
        reason="science checks train for tens of seconds; run once, on the fastest CPU backend "
        "(jax); the callbacks are tested on every backend elsewhere",
    ),
]

SEEDS = (0, 1, 2)
T = 100


def _margin(claim, value, threshold):
    """Print a statistic next to its threshold (shown with -s, or on failure)."""
    print(f"MARGIN {claim}: {value:.4g} vs {threshold:g}")


def _adding_model(cell, T, seed):
    """Two input projections, one for each half of the sequence, then one recurrent layer.

    The gradient of `early_proj` reaches it only through >= T/2 recurrent steps,
    so its norm relative to the largest layer norm measures the temporal
    vanishing of Bengio et al. (1994) and Hochreiter (1991) as a per-layer norm.
    """
    keras.utils.set_random_seed(seed)
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


class _StopWhenSolved(keras.callbacks.Callback):
    """Stops training `then` epochs after the validation MSE first fell below `mse`
    (the task solved), so the last third of training mostly follows the solution."""

    def __init__(self, mse, then):
        super().__init__()
        self.mse, self.then, self.solved_at = mse, then, None

    def on_epoch_end(self, epoch, logs=None):
        if self.solved_at is None and (logs or {}).get("val_loss", float("inf")) < self.mse:
            self.solved_at = epoch
        if self.solved_at is not None and epoch >= self.solved_at + self.then:
            self.model.stop_training = True


def _vanishing_run(cell, seed):
    """Test MSE, whether early_proj was ever flagged, and the median over the last
    third of training of early_proj's gradient norm / the largest layer norm."""
    ds = kzoo.datasets.load(f"adding:T={T},n=4000", seed=seed)
    model = _adding_model(cell, T, seed)
    health = GradientHealth(check_every=10, patience=5, vanishing_threshold=1e-2)
    logger = GradientNormLogger(every=10)
    fit = {"epochs": EPOCHS_VANISHING, "callbacks": [health, logger]}
    if cell == "LSTM":  # trains until it has solved the task (on validation), within a budget
        fit["callbacks"].append(_StopWhenSolved(SOLVED_MSE, then=EPOCHS_AFTER_SOLVED))
        fit.update(epochs=EPOCHS_LSTM_BUDGET, validation_data=(ds.x_val, ds.y_val))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(ds.x_train, ds.y_train, batch_size=32, verbose=0, **fit)
    mse = model.evaluate(ds.x_test, ds.y_test, verbose=0)
    rows = np.asarray(logger.rows)
    layers = [logger.columns.index(n) for n in ("early_proj", "late_proj", "rnn", "head")]
    ratio = rows[:, layers[0]] / rows[:, layers].max(axis=1)
    flagged = any(e.get("layer") == "early_proj" and e["kind"] == "vanishing"
                  for e in health.events)
    return mse, flagged, float(np.median(ratio[-(len(ratio) // 3):]))


# The SimpleRNN never learns the task: 12 epochs show it as well as 30 did (jax seeds
# 0-2, 2026-12-05: test MSE 0.164 / 0.168 / 0.166, late ratio 1.1e-4 / 1.2e-4 / 4.5e-4,
# early_proj flagged on each) at 40 % of the cost (CI budget).
EPOCHS_VANISHING = 12
# The LSTM learns the task in a sudden drop whose epoch depends on its initial
# weights (each backend draws its own from a seed) and on the float trajectory. First
# epoch with validation MSE < 0.05, measured 2026-12-01: jax seeds 0-9: 24, 17, 22, 27,
# 19, 29, 40, 21, 21, 26; torch (fused kernel) seeds 0-4: 29, 34, 15, 31, 16. A fixed
# 30 epochs put torch's median of seeds 0-2 at the edge (29) and tensorflow's past it
# (median MSE 0.084 at epoch 30), so the LSTM trains until solved and 10 epochs more
# (stopping at the solution itself left the late-ratio statistic mostly pre-solution:
# 0.023-0.034 against the 1e-2 threshold, instead of ~0.3), within 70 epochs.
EPOCHS_LSTM_BUDGET = 70
SOLVED_MSE = 0.01
EPOCHS_AFTER_SOLVED = 10


def test_adding_problem_simple_rnn_vanishes_lstm_solves():
    """Median over 3 seeds. Measured on seeds 0-2 (jax; it also passes under XLA fast math
    and on one thread): late early_proj ratio SimpleRNN ~1e-5..1e-3 vs LSTM ~0.3
    (threshold 1e-2 between); test MSE SimpleRNN ~0.165 (the mean predictor's 1/6) after
    12 epochs (30 until 2026-12-05, same figures) vs LSTM < 0.01 (solved, then 10 more
    epochs, within 70). Medians on
    2026-12-01, jax / torch / tensorflow (KZOO_SCIENCE_BACKENDS=all): LSTM test MSE
    0.0011 / 0.0015 / 0.0007 and late ratio 0.29 / 0.30 / 0.28; SimpleRNN late ratio
    2.4e-4 / 2.0e-4 / 5.2e-3 after 30 epochs (tensorflow's is the thinnest margin, 1.9x;
    not re-measured at 12 epochs, which CI runs on jax only)."""
    runs = {cell: [_vanishing_run(cell, seed) for seed in SEEDS] for cell in ("SimpleRNN", "LSTM")}
    mse = {cell: np.median([r[0] for r in runs[cell]]) for cell in runs}
    ratio = {cell: np.median([r[2] for r in runs[cell]]) for cell in runs}
    for cell in runs:
        _margin(f"vanishing {cell} median late ratio", ratio[cell], 1e-2)
        _margin(f"vanishing {cell} median test MSE", mse[cell], 0.05 if cell == "LSTM" else 0.1)
    # Both start with vanishing early gradients (an LSTM's forget gates start near 0.73).
    assert all(r[1] for cell in runs for r in runs[cell])
    # The LSTM learns to carry the gradient across T/2 steps and solves the task;
    # the SimpleRNN's early gradient stays vanished and it predicts the mean (1/6).
    assert ratio["SimpleRNN"] < 1e-2 < ratio["LSTM"]
    assert mse["LSTM"] < 0.05 and mse["SimpleRNN"] > 0.1


def _exploding_run(callbacks, seed):
    """A SimpleRNN with recurrent spectral radius 1.5 and plain SGD at lr 0.5."""
    ds = kzoo.datasets.load("adding:T=50,n=1000", seed=seed)
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input(ds.input_shape),
        keras.layers.SimpleRNN(32, recurrent_initializer=keras.initializers.Orthogonal(gain=1.5)),
        keras.layers.Dense(1),
    ])
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        history = model.fit(ds.x_train, ds.y_train, batch_size=32, epochs=3, verbose=0,
                            callbacks=callbacks)
    finite = all(np.isfinite(keras.ops.convert_to_numpy(w)).all() for w in model.weights)
    return history.history["loss"], finite


def test_exploding_gradients_clipping_and_rollback():
    """What the runs support, on 3 seeds: without clipping the run overflows (every
    seed, within the first epoch); every remedy keeps it finite. Global-norm
    clipping also keeps the loss at the scale of the targets (predicting 0 gives
    E[y^2] ~ 1.17; measured best-of-last-2-epochs median ~0.9-1.3 vs threshold 3),
    but at lr 0.5 it does not learn the task. AutoClip cannot stop the first,
    unclipped step (its history then holds one norm), which throws the run far off
    (losses 1e3-1e7, still finite). Rollback halves the LR on each spike."""
    plain = [_exploding_run([], seed) for seed in SEEDS]
    _margin("exploding plain runs that overflow", sum(not f for _, f in plain), 2)
    assert sum(not finite for _, finite in plain) >= 2

    clipped = [_exploding_run([GradientClipping("global_norm", clip_value=1.0)], seed)
               for seed in SEEDS]
    assert all(finite for _, finite in clipped)
    best = np.median([min(loss[-2:]) for loss, _ in clipped])
    _margin("exploding global_norm median best-of-last-2 loss", best, 3.0)
    assert best < 3.0

    autoclip = [_exploding_run([GradientClipping("autoclip", percentile=10)], seed)
                for seed in SEEDS]
    assert all(finite and np.isfinite(loss[-1]) for loss, finite in autoclip)

    for seed in SEEDS:
        health = GradientHealth(action="rollback", check_every=1, min_history=3)
        loss, finite = _exploding_run([health], seed)
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


def _spiked_run(callbacks, seed):
    """A SimpleRNN learning the T=10 adding problem with Adam(1e-3); the LR spikes
    300-fold for 3 steps at the start of epoch 5 of 8."""
    ds = kzoo.datasets.load("adding:T=10,n=2000", seed=seed)
    keras.utils.set_random_seed(seed)
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
    Medians over 3 seeds. Measured (jax, seeds 0-2): AutoClip (threshold ~0.48 here,
    the 10th percentile of calm norms of ~1.4; the spike's norms reach 26) ends
    at 0.08-0.13 MSE (0.12 before the spike); no clipping and global-norm clipping
    at 1.0 end at 0.15-0.17, about the MSE of predicting the mean (1/6): they lose
    what was learned. Whether AutoClip ends below its own pre-spike loss depends
    on the floating-point path (run inside this test module its median ends 0.025
    above it: 0.133 vs 0.108), so that is not claimed; per seed, the three may
    cross on another CPU, their medians keep a gap."""
    runs = {
        name: [_spiked_run(callbacks, seed) for seed in SEEDS]
        for name, callbacks in (
            ("plain", []),
            ("global_norm", [GradientClipping("global_norm", clip_value=1.0)]),
            ("autoclip", [GradientClipping("autoclip", percentile=10)]),
        )
    }

    def median(name, epoch):
        return float(np.median([loss[epoch] for loss in runs[name]]))

    _margin("spike autoclip median loss before the spike", median("autoclip", 3), 0.14)
    _margin("spike max median loss at the spike", max(median("autoclip", 4), median("plain", 4)),
            0.3)
    _margin("spike autoclip median final loss", median("autoclip", -1), 1 / 6)
    for other in ("plain", "global_norm"):
        _margin(f"spike median final gap {other} - autoclip", np.median(
            [b[-1] - a[-1] for a, b in zip(runs["autoclip"], runs[other], strict=True)]), 0.01)
    assert median("autoclip", 3) < 0.14  # it learned before the spike
    assert max(median("autoclip", 4), median("plain", 4)) > 0.3  # the spike hit
    # What was learned survives: AutoClip ends below the mean predictor's 1/6 (measured
    # medians 0.117-0.133 on jax, 0.158 on tensorflow) and below no clipping. Whether it
    # also ends below global-norm clipping depends on the run (jax: by 0.025; tensorflow,
    # whose initial weights differ: 0.014 above), so that is reported, not claimed.
    assert median("autoclip", -1) < 1 / 6
    gaps = [b[-1] - a[-1] for a, b in zip(runs["autoclip"], runs["plain"], strict=True)]
    assert np.median(gaps) > 0.01
