"""Tests of kzoo.callbacks.schedules: values, serialization, momentum cycling."""

import math

import keras
import numpy as np
import pytest
from keras import ops

from kzoo.callbacks.schedules import (
    CycleMomentum,
    LearningRateLogger,
    OneCycle,
    ReduceLROnPlateauWithWarmup,
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
        StepDecay(0.1, 7, 0.3),
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

    class Spy(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(float(ops.convert_to_numpy(self.model.optimizer.beta_1)))

    model.fit(*_data(), epochs=2, batch_size=8, verbose=0, callbacks=[CycleMomentum(lr), Spy()])
    np.testing.assert_allclose(seen, [lr.momentum(s) for s in range(8)], rtol=1e-6)
    # The momentum is an optimizer variable, hence saved with the optimizer state.
    assert any("cycled_beta_1" in v.path for v in model.optimizer.variables)

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
