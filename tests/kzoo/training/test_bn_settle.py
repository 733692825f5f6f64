"""The settle guard: with precise BN off, selection and early stopping skip the epochs
before BatchNorm's moving statistics settle (issue 31)."""

from types import SimpleNamespace

import keras
import numpy as np
from _backends import one_backend

from kzoo.training.bn_settle import guard_early_stopping, settle_guard, settle_steps
from kzoo.training.recipe import selection_summary

pytestmark = one_backend(
    "torch", "CI time budget: bookkeeping on the model's layers, the backend cannot matter")


def _plan(precise_bn=False, selection="val_loss", n_fit=100, batch_size=16, epochs=80):
    values = {"precise_bn": precise_bn, "selection": selection, "n_fit": n_fit,
              "protocol": "holdout"}
    resolved = SimpleNamespace(values=values, sources={"selection": "recipe"}, notes={})
    return SimpleNamespace(resolved=resolved,
                           config=SimpleNamespace(batch_size=batch_size, epochs=epochs))


def _model(batchnorm=True):
    inputs = keras.Input((8, 2))
    h = keras.layers.Dense(4)(inputs)
    if batchnorm:
        h = keras.layers.BatchNormalization(momentum=0.9)(h)
        h = keras.layers.BatchNormalization(momentum=0.99)(h)
    return keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(h)))


def _series(n=300, length=16):
    rng = np.random.default_rng(0)
    y = np.arange(n) % 3
    t = np.linspace(0, 1, length)
    x = np.sin(2 * np.pi * (y[:, None] + 1) * t) + rng.normal(0, 0.3, (n, length))
    return x[..., None].astype("float32"), y.astype("int32")


def test_the_bound_comes_from_momentum_and_steps():
    assert settle_steps(0.99) == 459 and 0.99**459 <= 0.01 < 0.99**458
    assert settle_steps(0.9) == 44 and 0.9**44 <= 0.01 < 0.9**43
    # The slowest layer (0.99) decides; 100 examples at batch 16 are 7 steps per epoch.
    guard = settle_guard(_plan(), _model())
    assert guard["steps_needed"] == 459 and guard["steps_per_epoch"] == 7
    assert guard["from_epoch"] == 66 and guard["applies"]  # 65 epochs: 455 steps, 66: 462
    assert not settle_guard(_plan(epochs=65), _model())["applies"]  # no epoch settles


def test_no_guard_with_precise_bn_without_batchnorm_or_on_the_training_loss():
    assert settle_guard(_plan(precise_bn=True), _model()) is None
    assert settle_guard(_plan(), _model(batchnorm=False)) is None
    for rule in ("loss", "last"):  # training mode, or no choice: nothing to guard
        assert settle_guard(_plan(selection=rule), _model()) is None


def test_selection_keeps_the_best_settled_epoch_and_says_so():
    history = {"loss": [1.0] * 5, "val_loss": [0.4, 0.9, 1.2, 0.7, 0.8]}
    guard = {"from_epoch": 3, "applies": True, "steps_needed": 459, "steps_per_epoch": 200,
             "momentum": 0.99, "residual": 0.01}
    epoch, selection = selection_summary(_plan(), history, guard)
    assert epoch == 4 and "epochs 3-5" in selection["how"]
    record = selection["settle_guard"]
    assert record["unguarded_epoch"] == 1 and record["acted"] is True
    assert "459 steps" in record["why"] and "from 3 on" in record["why"]
    # The run stopped (a user's callback) before the settled epochs: the last is kept.
    epoch, selection = selection_summary(_plan(), history, {**guard, "from_epoch": 9})
    assert epoch == 5 and "before BatchNorm's statistics settled" in selection["how"]
    # No epoch of the budget settles: the guard stands aside and says so.
    epoch, selection = selection_summary(
        _plan(), history, {**guard, "from_epoch": 9, "applies": False})
    assert epoch == 1 and selection["settle_guard"]["acted"] is False
    assert "no epoch settles" in selection["settle_guard"]["why"]
    epoch, selection = selection_summary(_plan(), history)
    assert epoch == 1 and "settle_guard" not in selection


def test_early_stopping_waits_for_the_settled_epochs():
    x = np.random.default_rng(0).normal(size=(32, 8, 2)).astype("float32")
    y = np.arange(32) % 3
    model = _model()
    model.compile("sgd", "sparse_categorical_crossentropy")
    stop = keras.callbacks.EarlyStopping("val_loss", patience=0, min_delta=1e9,
                                         restore_best_weights=True)
    train_stop = keras.callbacks.EarlyStopping("loss", patience=0)
    guard_early_stopping([stop, train_stop], {"from_epoch": 4, "applies": True})
    assert train_stop.start_from_epoch == 0  # the training loss reads no moving average
    history = model.fit(x, y, epochs=6, validation_data=(x, y), verbose=0,
                        callbacks=[stop]).history
    # min_delta 1e9: no epoch improves on the first one read, so patience 0 stops
    # right after it; without the guard that was epoch 2, now it is epoch 5.
    assert len(history["loss"]) == 5 and stop.best_epoch == 3
    unguarded = keras.callbacks.EarlyStopping("val_loss", patience=0, min_delta=1e9)
    guard_early_stopping([unguarded], {"from_epoch": 4, "applies": False})
    assert unguarded.start_from_epoch == 0


def test_a_run_without_precise_bn_stops_and_selects_only_on_settled_epochs(monkeypatch):
    from kzoo.training import train

    # The monitored value: best at epoch 1, flat after it, so patience 1 stops a run at
    # epoch 2 unless the guard holds early stopping off the unsettled epochs.
    read = []

    def monitored(self, logs):
        read.append(len(read))
        return 0.1 if len(read) == 1 else 0.5

    monkeypatch.setattr(keras.callbacks.EarlyStopping, "get_monitor_value", monitored)
    # 240 series at batch 4: 60 steps per epoch, settled from epoch ceil(459 / 60) = 8.
    common = dict(epochs=12, batch_size=4, lr=1e-2, seed=0, early_stopping=1, verbose=0,
                  hparams={"filters": 4, "depth": 1})
    guarded = train("fcn", _series(), precise_bn=False, **common).summary
    guard = guarded["selection"]["settle_guard"]
    assert guard["from_epoch"] == 8 and guard["applies"] and guard["steps_per_epoch"] == 60
    # Read from epoch 8 (best), no better at 9: stopped there; kept a settled epoch.
    assert guarded["epochs_run"] == 9 and guarded["selected_epoch"] in (8, 9)
    read.clear()
    precise = train("fcn", _series(), **common).summary
    assert precise["epochs_run"] == 2 and "settle_guard" not in precise["selection"]
