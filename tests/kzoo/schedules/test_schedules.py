"""Tests of kzoo.schedules.rates: values, serialization, momentum cycling."""

import math

import keras
import numpy as np
import pytest
from keras import ops

from kzoo.callbacks import LearningRateLogger, ReduceLROnPlateauWithWarmup
from kzoo.schedules import (
    CycleMomentum,
    OneCycle,
    StepDecay,
    Warmup,
    build_schedule,
    scale_learning_rate,
)


def _values(schedule, steps):
    return np.array([float(ops.convert_to_numpy(schedule(s))) for s in steps])


def _tiny_model(lr):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(lr), "mse")
    return model


def _data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(32, 4)).astype("float32"), rng.normal(size=(32, 1)).astype("float32")


def test_warmup_then_cosine_values():
    decay = keras.optimizers.schedules.CosineDecay(1.0, decay_steps=10)
    lr = Warmup(decay, warmup_steps=5)
    v = _values(lr, [0, 1, 4, 5, 10, 15, 30])
    np.testing.assert_allclose(v[:3], [0.0, 0.2, 0.8], atol=1e-6)
    assert v[3] == pytest.approx(1.0)  # the peak: decay starts at its own step 0
    assert v[4] == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)), abs=1e-6)
    assert v[5] == pytest.approx(0.0, abs=1e-6) and v[6] == pytest.approx(0.0, abs=1e-6)


def test_warmup_of_constant_and_step_decay():
    np.testing.assert_allclose(_values(Warmup(0.5, 4), [0, 2, 4, 100]), [0, 0.25, 0.5, 0.5])
    np.testing.assert_allclose(
        _values(StepDecay(1.0, step_size=3, gamma=0.5), [0, 2, 3, 6, 7]),
        [1, 1, 0.5, 0.25, 0.25],
    )


def test_onecycle_shape_and_inverse_momentum():
    lr = OneCycle(1.0, total_steps=100, pct_start=0.3, div_factor=10, final_div_factor=100)
    v = _values(lr, [0, 15, 30, 65, 100, 200])
    assert v[0] == pytest.approx(0.1) and v[2] == pytest.approx(1.0)
    assert v[0] < v[1] < v[2] > v[3] > v[4]
    assert v[4] == pytest.approx(1e-3, rel=1e-4) and v[5] == pytest.approx(1e-3, rel=1e-4)
    m = [lr.momentum(s) for s in (0, 15, 30, 65, 100)]
    assert m[0] == pytest.approx(0.95) and m[2] == pytest.approx(0.85)
    assert m[0] > m[1] > m[2] < m[3] < m[4]


@pytest.mark.parametrize(
    "schedule",
    [
        Warmup(keras.optimizers.schedules.CosineDecay(1e-2, 50), 10, 1e-4),
        OneCycle(0.01, 40, pct_start=0.25),
    ],
)
def test_serialization_round_trip(schedule):
    config = keras.saving.serialize_keras_object(schedule)
    assert config["module"] is None or "kzoo" in str(config)
    restored = keras.saving.deserialize_keras_object(config)
    assert type(restored) is type(schedule)
    assert restored.get_config() == schedule.get_config()
    steps = [0, 3, 11, 30, 60]
    np.testing.assert_allclose(_values(restored, steps), _values(schedule, steps), rtol=1e-6)


def test_schedule_inside_saved_optimizer(tmp_path):
    lr = Warmup(StepDecay(0.1, 5), 3)
    model = _tiny_model(lr)
    model.fit(*_data(), epochs=1, batch_size=8, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert isinstance(loaded.optimizer._learning_rate, Warmup)
    assert float(ops.convert_to_numpy(loaded.optimizer.learning_rate)) == pytest.approx(
        float(ops.convert_to_numpy(lr(4)))
    )


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="warmup_steps"):
        Warmup(0.1, -1)
    with pytest.raises(ValueError, match="pct_start"):
        OneCycle(0.1, 10, pct_start=1.5)
    with pytest.raises(ValueError, match="step_size"):
        StepDecay(0.1, 0)
    with pytest.raises(ValueError, match="Invalid schedule"):
        build_schedule("cosinus", 0.1, 100)
    with pytest.raises(ValueError, match="warmup_steps"):
        build_schedule("cosine", 0.1, 100, warmup_steps=100)
    with pytest.raises(ValueError, match="rule"):
        scale_learning_rate(0.1, 64, rule="cubic")


def test_batch_size_scaling():
    assert scale_learning_rate(1e-3, 128, 32) == pytest.approx(4e-3)
    assert scale_learning_rate(1e-3, 128, 32, rule="sqrt") == pytest.approx(2e-3)
    assert scale_learning_rate(1e-3, 8, 32) == pytest.approx(2.5e-4)


@pytest.mark.parametrize(
    "name", ["constant", "cosine", "linear", "exponential", "step", "cosine_restarts"]
)
def test_build_schedule_peak_and_warmup(name):
    lr, callbacks = build_schedule(name, 0.1, 100, warmup_steps=10)
    assert callbacks == []
    v = _values(lr, [0, 5, 10, 99])
    assert v[0] == pytest.approx(0.0) and v[1] == pytest.approx(0.05)
    assert v[2] == pytest.approx(0.1)
    if name != "constant":
        assert v[3] < 0.1


def test_logger_records_applied_rate_per_step(tmp_path):
    lr = Warmup(0.1, 4)
    logger = LearningRateLogger(path=str(tmp_path / "lr.csv"))
    model = _tiny_model(lr)
    hist = model.fit(*_data(), epochs=2, batch_size=8, verbose=0, callbacks=[logger])
    assert logger.steps == list(range(8))
    np.testing.assert_allclose(logger.lrs, [0, 0.025, 0.05, 0.075, 0.1, 0.1, 0.1, 0.1], atol=1e-7)
    assert hist.history["lr"] == pytest.approx([0.075, 0.1])
    assert (tmp_path / "lr.csv").read_text().splitlines()[:2] == ["step,lr", "0,0"]


def test_cycle_momentum_changes_beta_1_inside_compiled_step():
    lr = OneCycle(0.05, total_steps=8, pct_start=0.5)
    model = _tiny_model(lr)
    seen = []

    in_state = []

    class Spy(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(float(ops.convert_to_numpy(self.model.optimizer.beta_1)))
            in_state.append(any("cycled_beta_1" in v.path for v in self.model.optimizer.variables))

    model.fit(*_data(), epochs=2, batch_size=8, verbose=0, callbacks=[CycleMomentum(lr), Spy()])
    np.testing.assert_allclose(seen, [lr.momentum(s) for s in range(8)], rtol=1e-6)
    # During fit the momentum is an optimizer variable (hence in checkpoints); after
    # fit the optimizer is Keras' own again.
    assert all(in_state)
    assert not any("cycled" in v.path for v in model.optimizer.variables)
    assert model.optimizer.beta_1 == 0.9

    # And the compiled step really uses it: beta_1 fixed at 0.95 gives other weights.
    keras.utils.set_random_seed(0)
    a = _tiny_model(OneCycle(0.05, total_steps=8, pct_start=0.5))
    keras.utils.set_random_seed(0)
    b = _tiny_model(OneCycle(0.05, total_steps=8, pct_start=0.5))
    a.fit(*_data(), epochs=2, batch_size=8, verbose=0, shuffle=False)
    b.fit(*_data(), epochs=2, batch_size=8, verbose=0, shuffle=False,
          callbacks=[CycleMomentum(b.optimizer._learning_rate)])
    assert not np.allclose(a.get_weights()[0], b.get_weights()[0])


def test_plateau_with_warmup_ramps_then_reduces():
    cb = ReduceLROnPlateauWithWarmup(0.1, warmup_steps=4, monitor="loss", patience=1, factor=0.5)
    logger = LearningRateLogger()
    model = _tiny_model(0.0)

    class Flat(keras.callbacks.Callback):  # a loss that never improves after epoch 0
        def on_epoch_end(self, epoch, logs=None):
            logs["loss"] = 1.0

    model.fit(*_data(), epochs=4, batch_size=8, verbose=0, callbacks=[cb, Flat(), logger][::-1])
    np.testing.assert_allclose(logger.lrs[:5], [0, 0.025, 0.05, 0.075, 0.1], atol=1e-7)
    # epoch 0 ends at step 4 (warmup done): best set; epochs 1, 2, 3 do not improve.
    assert cb.current_lr == pytest.approx(0.1 * 0.5**3)
    state = cb.get_state()
    other = ReduceLROnPlateauWithWarmup(0.1, warmup_steps=4)
    other.set_state(state)
    assert other.get_state() == state


def test_plateau_refuses_a_schedule():
    model = _tiny_model(StepDecay(0.1, 5))
    cb = ReduceLROnPlateauWithWarmup(0.1)
    with pytest.raises(ValueError, match="float"):
        model.fit(*_data(), epochs=1, verbose=0, callbacks=[cb])


def test_onecycle_model_saves_and_loads(tmp_path):
    """#13: a Variable left in the optimizer's config made `model.save` raise
    (`Cannot serialize ... adam/cycled_beta_1`) and leave a 0-byte file."""
    lr = OneCycle(0.05, total_steps=8, pct_start=0.5)
    model = _tiny_model(lr)
    cb = CycleMomentum(lr)
    x, y = _data()
    model.fit(x, y, epochs=1, batch_size=8, verbose=0, callbacks=[cb])
    model.fit(x, y, epochs=1, batch_size=8, verbose=0, callbacks=[cb])  # same instance again
    assert int(ops.convert_to_numpy(model.optimizer.iterations)) == 8
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.optimizer.get_config()["beta_1"] == 0.9
    assert loaded.optimizer.get_config()["learning_rate"]["class_name"] == "OneCycle"
    np.testing.assert_allclose(
        ops.convert_to_numpy(loaded.predict(x, verbose=0)),
        ops.convert_to_numpy(model.predict(x, verbose=0)),
        rtol=1e-6,
    )
    assert len(loaded.optimizer.variables) == len(model.optimizer.variables)


def _old_step_decay(lr, step_size, gamma, step):
    return lr * gamma ** math.floor(step / step_size)  # kzoo's StepDecay before it was Keras'


def _old_warmup_cosine(lr, warmup, decay_steps, alpha, step):
    # kzoo's Warmup(CosineDecay(lr, decay_steps, alpha), warmup) before Keras' own warmup.
    if step < warmup:
        return lr * step / warmup
    frac = min(step - warmup, decay_steps) / decay_steps
    return lr * ((1 - alpha) * 0.5 * (1 + math.cos(math.pi * frac)) + alpha)


def test_step_decay_is_keras_exponential_decay_with_old_values():
    lr = StepDecay(0.1, step_size=7, gamma=0.3)
    assert type(lr) is keras.optimizers.schedules.ExponentialDecay and lr.staircase
    steps = [0, 1, 6, 7, 13, 14, 50, 100]
    expected = [_old_step_decay(0.1, 7, 0.3, s) for s in steps]
    np.testing.assert_allclose(_values(lr, steps), expected, rtol=1e-6)
    built, _ = build_schedule("step", 0.1, 90, step_epochs=1, steps_per_epoch=30, decay_rate=0.5)
    steps = [0, 29, 30, 89]
    expected = [_old_step_decay(0.1, 30, 0.5, s) for s in steps]
    np.testing.assert_allclose(_values(built, steps), expected, rtol=1e-6)


def test_cosine_with_warmup_is_keras_cosine_decay_with_old_values():
    lr, callbacks = build_schedule("cosine", 0.1, 100, warmup_steps=10, final_fraction=0.05)
    assert type(lr) is keras.optimizers.schedules.CosineDecay and callbacks == []
    steps = [0, 1, 5, 9, 10, 11, 50, 99, 100, 150]
    expected = [_old_warmup_cosine(0.1, 10, 90, 0.05, s) for s in steps]
    np.testing.assert_allclose(_values(lr, steps), expected, rtol=1e-5, atol=1e-8)


def test_models_saved_with_the_old_step_decay_class_still_load():
    old = {
        "module": None,
        "class_name": "StepDecay",
        "config": {"initial_learning_rate": 0.1, "step_size": 5, "gamma": 0.5},
        "registered_name": "kzoo>StepDecay",
    }
    lr = keras.saving.deserialize_keras_object(old)
    np.testing.assert_allclose(_values(lr, [0, 4, 5, 10]), [0.1, 0.1, 0.05, 0.025], rtol=1e-6)


def test_learning_rate_logger_starts_each_fit_empty():
    logger = LearningRateLogger()
    model = _tiny_model(0.01)
    x, y = _data()
    model.fit(x, y, epochs=1, batch_size=8, verbose=0, callbacks=[logger])
    model.fit(x, y, epochs=1, batch_size=8, verbose=0, callbacks=[logger])
    assert logger.steps == [4, 5, 6, 7]  # the second fit's steps only, as Keras' callbacks


def test_plateau_resets_wait_and_best_per_fit_and_keeps_reduced_rate():
    cb = ReduceLROnPlateauWithWarmup(0.1, warmup_steps=2, monitor="loss", patience=2, factor=0.5)
    model = _tiny_model(0.0)

    class Flat(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["loss"] = 1.0

    x, y = _data()
    model.fit(x, y, epochs=3, batch_size=8, verbose=0, callbacks=[Flat(), cb])
    assert cb.current_lr == pytest.approx(0.05) and cb.wait == 0
    cb.wait, cb.best = 1, -5.0  # stale state a second fit must not inherit
    model.fit(x, y, epochs=1, batch_size=8, verbose=0, callbacks=[Flat(), cb])
    assert cb.best == pytest.approx(1.0) and cb.wait == 0  # fresh: epoch 0 is the best
    assert cb.step == 16  # the warmup position follows the optimizer's step counter
    assert cb.current_lr == pytest.approx(0.05)  # kept, as Keras keeps it in the optimizer
