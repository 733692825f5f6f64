"""Gradient accumulation with the gradient callbacks (issue 30), on every backend.

Without BatchNorm or dropout, 4 accumulated micro-batches of 16 are one batch of 64:
the same weights, logged norms, clipping, AutoClip history, health history and LR
per optimizer step; a kill at micro-batch 2 of 4 resumes bit-exact.
"""

import keras
import numpy as np
import pytest
from _backends import one_backend

from kzoo.callbacks import (
    Checkpoint,
    GradientClipping,
    GradientHealth,
    GradientNormLogger,
    LearningRateLogger,
)
from kzoo.callbacks._accumulate import (
    PerOptimizerStep,
    accumulation_steps,
    check_accumulate,
    micro_steps,
    per_optimizer_step,
    set_accumulation,
)
from kzoo.callbacks.checkpoint_format import latest_checkpoint
from kzoo.fit import fit_resumable


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(128, 6)).astype("float32")
    y = rng.normal(size=(128, 2)).astype("float32") * 3.0
    return x, y


def _model(accumulate):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="tanh"),
                              keras.layers.Dense(2)], name="net")
    schedule = keras.optimizers.schedules.CosineDecay(0.05, decay_steps=6)
    optimizer = set_accumulation(keras.optimizers.Adam(), accumulate)
    optimizer.learning_rate = per_optimizer_step(schedule, accumulate)
    model.compile(optimizer=optimizer, loss="mse")
    return model


def _fit(batch_size, accumulate):
    x, y = _data()
    model = _model(accumulate)
    cbs = [GradientNormLogger(every=1), GradientClipping("autoclip", percentile=50, window=8),
           GradientHealth(check_every=1, min_history=2), LearningRateLogger()]
    model.fit(x, y, batch_size=batch_size, epochs=3, shuffle=False, verbose=0, callbacks=cbs)
    return model, cbs


def test_four_micro_batches_of_16_are_one_batch_of_64():
    ref_model, (ref_log, ref_clip, ref_health, ref_lr) = _fit(64, 1)
    model, (log, clip, health, lr) = _fit(16, 4)
    # optimizer steps: 3 epochs x 2
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 6
    assert micro_steps(model.optimizer) == 24
    for a, b in zip(ref_model.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_allclose(b, a, atol=1e-5)
    rows, ref_rows = np.array(log.rows), np.array(ref_log.rows)
    assert rows.shape == ref_rows.shape == (6, 4 + 2)  # one row per optimizer step
    np.testing.assert_array_equal(rows[:, 0], np.arange(6))  # steps count optimizer steps
    np.testing.assert_allclose(rows, ref_rows, rtol=1e-5, atol=1e-6)
    assert rows[:, 3].sum() >= 2  # AutoClip's median clipped some steps: clipping was tested
    state, ref_state = clip.get_state(), ref_clip.get_state()
    assert state["count"] == ref_state["count"] == 6  # AutoClip's history: optimizer steps
    np.testing.assert_allclose(state["history"], ref_state["history"], rtol=1e-5)
    np.testing.assert_allclose(health.get_state()["history"], ref_health.get_state()["history"],
                               rtol=1e-5)
    assert lr.steps == ref_lr.steps == list(range(6))
    np.testing.assert_allclose(lr.lrs, ref_lr.lrs, rtol=1e-6)


class _StopAtMicroBatch(keras.callbacks.Callback):
    def __init__(self, step):
        super().__init__()
        self.step = step

    def on_train_batch_end(self, batch, logs=None):
        if micro_steps(self.model.optimizer) == self.step:
            raise KeyboardInterrupt


def test_kill_at_micro_batch_2_of_4_resumes_bit_exact(tmp_path):
    x, y = _data()

    def run(directory, extra=()):
        model = _model(4)
        log = GradientNormLogger(every=1)
        clip = GradientClipping("autoclip", percentile=50, window=8)
        ckpt = Checkpoint(directory, every_n_steps=1)
        fit_resumable(model, x, y, epochs=1, batch_size=16, checkpoint=ckpt, seed=3,
                      callbacks=[log, clip, *extra])
        return model, log, clip

    ref, ref_log, ref_clip = run(tmp_path / "ref")
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "run", [_StopAtMicroBatch(7)])
    # The stop comes before Checkpoint's save of micro-batch 7: the run resumes from
    # micro-batch 6, the 2nd of the 4 of optimizer step 1, its accumulators half full.
    assert latest_checkpoint(tmp_path / "run")[2]["global_step"] == 6
    model, log, clip = run(tmp_path / "run")
    assert micro_steps(model.optimizer) == 8
    for a, b in zip(ref.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(b, a)
    for a, b in zip(ref.optimizer.variables, model.optimizer.variables, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(b), keras.ops.convert_to_numpy(a))
    assert clip.get_state() == ref_clip.get_state()


@one_backend("jax", "host-side checks")
def test_settings_are_checked_and_the_schedule_serializes():
    assert accumulation_steps(keras.optimizers.SGD()) == 1
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="accumulate must be an int >= 1"):
            check_accumulate(bad)
    built = keras.optimizers.SGD()
    built.build([keras.Variable(np.zeros(2, "float32"))])
    with pytest.raises(ValueError, match="already built"):
        set_accumulation(built, 2)
    assert per_optimizer_step(0.1, 4) == 0.1
    schedule = per_optimizer_step(keras.optimizers.schedules.ExponentialDecay(1.0, 1, 0.5), 4)
    assert float(schedule(7)) == pytest.approx(0.5) and float(schedule(8)) == pytest.approx(0.25)
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule))
    assert isinstance(again, PerOptimizerStep) and float(again(11)) == pytest.approx(0.25)
