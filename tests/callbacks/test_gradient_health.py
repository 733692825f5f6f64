"""GradientHealth: exploding / vanishing detection and its actions, on every backend."""

import json
import warnings

import keras
import numpy as np
import pytest

from kzoo.callbacks import GradientHealth


def _model(scale_hidden=1.0, lr=0.05):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    x = keras.layers.Dense(8, activation="tanh", name="hidden")(inputs)
    x = keras.layers.Rescaling(scale_hidden, name="scale")(x)
    outputs = keras.layers.Dense(1, name="head")(x)
    model = keras.Model(inputs, outputs, name="net")
    model.compile(optimizer=keras.optimizers.Adam(lr), loss="mse")
    return model


def _data(bad_batch=None, batch_size=8, n=64):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4)).astype("float32")
    y = x.sum(axis=1, keepdims=True).astype("float32")
    if bad_batch is not None:
        # A corrupt label makes the loss (and the gradients) non-finite.
        y[bad_batch * batch_size] = np.inf
    return x, y


def _finite(model):
    return all(np.isfinite(keras.ops.convert_to_numpy(v)).all() for v in model.weights)


def test_rollback_survives_a_nonfinite_batch():
    x, y = _data(bad_batch=5)
    model = _model()
    health = GradientHealth(action="rollback", check_every=1, lr_factor=0.5, min_history=3)
    with pytest.warns(UserWarning, match="nonfinite"):
        history = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0,
                            callbacks=[health])
    assert _finite(model)
    kinds = [e["kind"] for e in health.events]
    assert kinds.count("nonfinite") == 2  # batch 5 of each epoch
    # Rollback restores the optimizer's step counter too: the second bad batch
    # (batch 13) runs as optimizer step 12.
    assert [e["step"] for e in health.events if e["kind"] == "nonfinite"] == [5, 12]
    assert health.lr_reductions == 2
    lr = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    assert lr == pytest.approx(0.05 * 0.25)
    assert history.history["grad_health_nonfinite"] == [1, 2]


def test_warn_only_reports_and_stop_stops():
    x, y = _data(bad_batch=2)
    model = _model()
    with pytest.warns(UserWarning, match="exploding"):
        history = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0,
                            callbacks=[GradientHealth(action="warn")])
    # warn does not protect the weights: every step after the bad one is non-finite.
    assert history.history["grad_health_nonfinite"] == [6, 14]
    assert not _finite(model)

    model = _model()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        history = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0,
                            callbacks=[GradientHealth(action="stop", check_every=1)])
    assert len(history.history["loss"]) == 1
    assert _finite(model)  # the bad step's update is zeroed in the step


def test_spike_above_running_median_is_flagged():
    x, y = _data()
    y[40:48] += 1e4  # batch 5: gradients ~1e4 x the others, still finite
    model = _model()
    health = GradientHealth(action="warn", min_history=3, spike_factor=10.0)
    with pytest.warns(UserWarning, match="spike"):
        model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0, callbacks=[health])
    assert [(e["kind"], e["step"]) for e in health.events] == [("spike", 5)]
    assert health.events[0]["norm"] > 10 * health.events[0]["median"]


def test_vanishing_layer_is_flagged_by_name():
    x, y = _data()
    # Rescaling(1e-6) shrinks the hidden layer's gradients a million-fold.
    model = _model(scale_hidden=1e-6)
    health = GradientHealth(check_every=1, patience=3, vanishing_threshold=1e-3)
    with pytest.warns(UserWarning, match="vanishing gradients in layer 'hidden'"):
        history = model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[health])
    assert list(health.vanishing_layers) == ["hidden"]
    assert health.vanishing_layers["hidden"] >= 2
    assert history.history["grad_health_vanishing"] == [1]
    model = _model()
    health = GradientHealth(check_every=1, patience=3, vanishing_threshold=1e-3)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[health])
    assert health.vanishing_layers == {}


def test_state_round_trip_is_json():
    x, y = _data()
    model = _model()
    health = GradientHealth(window=5, min_history=2)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[health])
    state = json.loads(json.dumps(health.get_state()))
    assert len(state["history"]) == 5 and state["nonfinite"] == 0
    other = GradientHealth(window=5, min_history=2)
    other.set_state(state)
    assert other.get_state() == state


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"action": "ignore"}, "action"),
        ({"check_every": 0}, "check_every"),
        ({"spike_factor": 1.0}, "spike_factor"),
        ({"lr_factor": 0.0}, "lr_factor"),
        ({"window": 5, "min_history": 6}, "min_history"),
        ({"vanishing_threshold": 2.0}, "vanishing_threshold"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GradientHealth(**kwargs)
