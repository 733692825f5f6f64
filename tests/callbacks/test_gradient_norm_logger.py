"""GradientNormLogger: logged norms equal independent autograd norms, on every backend."""

import csv
import importlib.util
import math

import keras
import numpy as np
import pytest
from _backends import one_backend

from kzoo.callbacks import GradientClipping, GradientNormLogger


def _model(seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((12,))
    x = keras.layers.Dense(8, activation="tanh", name="hidden")(inputs)
    outputs = keras.layers.Dense(4, name="head")(x)
    model = keras.Model(inputs, outputs, name="net")
    model.compile(
        optimizer=keras.optimizers.SGD(0.0),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def _reference_grads(model, x, y):
    """Gradients by the backend's own autograd, outside Keras' train step."""
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
    elif backend == "jax":
        import jax

        non_trainable = [v.value for v in model.non_trainable_variables]

        def f(trainable):
            pred, _ = model.stateless_call(trainable, non_trainable, x, training=True)
            return loss_fn(y, pred)

        grads = jax.grad(f)([v.value for v in model.trainable_variables])
    else:
        import torch

        loss = loss_fn(y, model(x, training=True))
        grads = torch.autograd.grad(loss, [v.value for v in model.trainable_variables])
    return [keras.ops.convert_to_numpy(g) for g in grads]


def test_logged_norms_equal_autograd_norms(tiny_tabular, tmp_path):
    x, y = tiny_tabular
    model = _model()
    grads = _reference_grads(model, x, y)
    layer_of = {"hidden": [0, 1], "head": [2, 3]}
    expected_layer = {k: math.sqrt(sum(float(np.sum(grads[i] ** 2)) for i in v))
                      for k, v in layer_of.items()}
    expected_global = math.sqrt(sum(float(np.sum(g**2)) for g in grads))

    logger = GradientNormLogger(every=1, run_dir=str(tmp_path))
    # lr=0: every step sees the same weights and batch, so every row is comparable.
    model.fit(x, y, batch_size=len(x), epochs=2, shuffle=False, verbose=0, callbacks=[logger])

    rows = np.array(logger.rows)
    assert rows.shape == (2, 6)
    np.testing.assert_array_equal(rows[:, 0], [0, 1])
    np.testing.assert_allclose(rows[:, 1], expected_global, rtol=1e-5)
    np.testing.assert_allclose(rows[:, 4], expected_layer["hidden"], rtol=1e-5)
    np.testing.assert_allclose(rows[:, 5], expected_layer["head"], rtol=1e-5)
    with open(tmp_path / "grad_norms.csv") as f:
        table = list(csv.DictReader(f))
    assert list(table[0]) == ["step", "global_norm", "clip_threshold", "clipped", "hidden", "head"]
    assert float(table[1]["head"]) == pytest.approx(expected_layer["head"], rel=1e-5)


@pytest.mark.parametrize("mode", ["global_norm", "autoclip"])
def test_logged_norms_are_the_norms_before_clipping(tiny_tabular, mode):
    """Clipping scales the gradients (in place on eager torch); the logger still
    records the unclipped norms, and the threshold it clipped them to."""
    x, y = tiny_tabular
    model = _model()
    grads = _reference_grads(model, x, y)
    expected_global = math.sqrt(sum(float(np.sum(g**2)) for g in grads))
    clip_value = expected_global / 4
    clip = (GradientClipping("global_norm", clip_value=clip_value) if mode == "global_norm"
            else GradientClipping("autoclip", percentile=50, window=4))
    logger = GradientNormLogger(every=1)
    # lr=0: every step sees the same weights and batch, hence the same gradients
    model.fit(x, y, batch_size=len(x), epochs=3, shuffle=False, verbose=0,
              callbacks=[clip, logger])
    rows = np.array(logger.rows)
    np.testing.assert_allclose(rows[:, 1], expected_global, rtol=1e-5)
    np.testing.assert_allclose(np.hypot(rows[:, 4], rows[:, 5]), expected_global, rtol=1e-5)
    if mode == "global_norm":
        np.testing.assert_allclose(rows[:, 2], clip_value, rtol=1e-6)
        np.testing.assert_array_equal(rows[:, 3], 1.0)
    else:  # the window holds only this norm: the threshold is the norm, nothing clipped
        np.testing.assert_allclose(rows[:, 2], expected_global, rtol=1e-5)
        np.testing.assert_array_equal(rows[:, 3], 0.0)


def test_every_logs_only_those_steps_and_fills_logs(tiny_tabular, tmp_path):
    x, y = tiny_tabular
    model = _model()
    model.compile(optimizer="adam", loss=model.loss)
    logger = GradientNormLogger(every=3, run_dir=str(tmp_path))
    csv_logger = keras.callbacks.CSVLogger(str(tmp_path / "history.csv"))
    history = model.fit(
        x, y, batch_size=8, epochs=2, verbose=0,
        callbacks=[GradientClipping("global_norm", clip_value=1e-3), logger, csv_logger],
    )
    steps = [int(r[0]) for r in logger.rows]
    assert steps == list(range(0, 16, 3))  # 8 steps per epoch, 2 epochs
    assert all(r[3] == 1.0 and r[2] == pytest.approx(1e-3) for r in logger.rows)
    assert history.history["grad_clip_fraction"] == [1.0, 1.0]
    assert set(history.history) >= {"grad_norm", "grad_norm_max", "grad_norm/hidden"}
    with open(tmp_path / "history.csv") as f:
        assert "grad_norm/head" in next(csv.reader(f))
    with open(tmp_path / "grad_norms.csv") as f:
        assert len(f.readlines()) == 1 + len(steps)


def test_optimizer_is_left_as_built_after_fit(tiny_tabular, tmp_path):
    x, y = tiny_tabular
    model = _model()
    model.compile(optimizer="adam", loss=model.loss)
    model.fit(x, y, epochs=1, verbose=0)
    n_vars = len(model.optimizer.variables)
    model.fit(x, y, epochs=1, verbose=0, callbacks=[GradientNormLogger(every=2)])
    assert len(model.optimizer.variables) == n_vars
    assert "_clip_gradients" not in model.optimizer.__dict__
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    for a, b in zip(loaded.optimizer.variables, model.optimizer.variables, strict=True):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))


@pytest.mark.parametrize("kwargs", [{"every": 0}, {"every": 1.5}])
def test_bad_arguments_raise(kwargs):
    with pytest.raises(ValueError, match="every"):
        GradientNormLogger(**kwargs)


def test_run_dir_that_is_a_file_raises(tmp_path):
    path = tmp_path / "f"
    path.write_text("keep")
    with pytest.raises(ValueError, match="run_dir"):
        GradientNormLogger(run_dir=str(path))
    assert path.read_text() == "keep"


@pytest.mark.skipif(importlib.util.find_spec("tensorboard") is None,
                    reason="needs the tensorboard package (kzoo[tensorboard])")
def test_tensorboard_events_are_written_without_tensorflow(tiny_tabular, tmp_path):
    # (tests/callbacks/test_tensorboard_logger.py writes and reads with TF unimportable)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    x, y = tiny_tabular
    model = _model()
    logger = GradientNormLogger(every=2, tensorboard_dir=str(tmp_path / "tb"))
    model.fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=[logger])
    acc = EventAccumulator(str(tmp_path / "tb"), size_guidance={"histograms": 0})
    acc.Reload()
    events = acc.Scalars("grad_norm/global")
    assert [e.step for e in events] == [int(r[0]) for r in logger.rows] == [0, 2]
    assert [e.value for e in events] == pytest.approx([r[1] for r in logger.rows], rel=1e-6)
    assert [h.step for h in acc.Histograms("grad_norm/layers")] == [0, 2]


@pytest.mark.parametrize("jit_compile", [False, True])
def test_all_three_callbacks_agree_with_and_without_xla(tiny_tabular, jit_compile):
    """The hook's in-place updates also compile under XLA (tensorflow's jit_compile=True;
    jax always compiles); logged norms and AutoClip's history match the eager values."""
    from kzoo.callbacks import GradientHealth

    if keras.backend.backend() == "torch" and jit_compile:
        pytest.skip("torch: jit_compile is torch.compile, not XLA; covered by the eager runs")
    x, y = tiny_tabular
    runs = []
    for jit in (jit_compile, False):
        model = _model()
        model.compile(
            optimizer=keras.optimizers.SGD(0.05),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            jit_compile=jit,
        )
        clip = GradientClipping("autoclip", percentile=25, window=5)
        logger = GradientNormLogger(every=2)
        health = GradientHealth(action="warn", window=8, min_history=4)
        model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False,
                  callbacks=[health, clip, logger])
        runs.append((np.array(logger.rows), clip.get_state(), health.get_state()["history"]))
    (rows, clip_state, health_hist), (rows_ref, clip_ref, health_ref) = runs
    assert len(rows) == len(rows_ref) > 2
    np.testing.assert_allclose(rows, rows_ref, rtol=1e-4)
    assert clip_state["count"] == clip_ref["count"] > 5
    np.testing.assert_allclose(clip_state["history"], clip_ref["history"], rtol=1e-4)
    np.testing.assert_allclose(health_hist, health_ref, rtol=1e-4)


@one_backend("torch", "the host-path row is eager torch's")
def test_torch_host_rows_equal_the_keras_ops_rows(tiny_tabular, monkeypatch):
    """On eager torch with CPU tensors a logged row is written into the buffer in place;
    every column (step, global norm, AutoClip threshold, clipped, per-layer norms)
    equals the Keras-ops write it replaces (forced here by hiding the host tensors)."""
    from kzoo.callbacks import _keras_private

    x, y = tiny_tabular

    def rows():
        model = _model()
        model.compile(
            optimizer=keras.optimizers.SGD(0.05),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        logger = GradientNormLogger(every=3)
        model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False,
                  callbacks=[GradientClipping("autoclip", percentile=25, window=4), logger])
        return np.array(logger.rows)

    host = rows()
    monkeypatch.setattr(_keras_private, "host_tensor", lambda variable: None)
    keras_ops = rows()
    assert host.shape == keras_ops.shape and len(host) > 3
    np.testing.assert_array_equal(host[:, 0], keras_ops[:, 0])  # steps
    assert 0 < host[:, 3].sum() < len(host)  # some rows clipped, some not
    np.testing.assert_allclose(host, keras_ops, rtol=1e-6, atol=1e-7)


def test_rows_hold_one_fit_and_csv_keeps_every_fit(tiny_tabular, tmp_path):
    """Keras' rule: per-fit state resets in on_train_begin (`rows` grew without bound)."""
    x, y = tiny_tabular
    model = _model()
    logger = GradientNormLogger(every=1, run_dir=str(tmp_path))
    steps = math.ceil(len(x) / 16)
    for _ in range(3):
        model.fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=[logger])
        assert len(logger.rows) == steps
    assert [int(r[0]) for r in logger.rows] == list(range(2 * steps, 3 * steps))
    with open(logger.csv_path) as f:
        assert len(list(csv.reader(f))) == 1 + 3 * steps  # one header, every fit's rows


def test_warns_when_csv_logger_comes_first(tiny_tabular, tmp_path):
    x, y = tiny_tabular
    model = _model()
    csv_logger = keras.callbacks.CSVLogger(str(tmp_path / "h.csv"))
    with pytest.warns(UserWarning, match="Put GradientNormLogger before CSVLogger"):
        model.fit(x, y, batch_size=16, epochs=1, verbose=0,
                  callbacks=[csv_logger, GradientNormLogger(every=1)])
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x, y, batch_size=16, epochs=1, verbose=0,
                  callbacks=[GradientNormLogger(every=1), keras.callbacks.CSVLogger(
                      str(tmp_path / "g.csv"))])
    assert not [w for w in caught if "GradientNormLogger" in str(w.message)]
    with open(tmp_path / "g.csv") as f:
        assert "grad_norm" in next(csv.reader(f))


def test_a_later_fit_with_more_steps_logs_real_norms(tiny_tabular):
    """A fit with more steps sizes a new buffer; the step traced with the old one
    must not be reused (on tensorflow it wrote into the old buffer: rows of zeros)."""
    x, y = tiny_tabular
    model = _model()
    logger = GradientNormLogger(every=2)
    model.fit(x[:32], y[:32], batch_size=16, epochs=1, verbose=0, callbacks=[logger])
    model.fit(x, y, batch_size=16, epochs=2, initial_epoch=1, verbose=0, callbacks=[logger])
    assert [int(r[0]) for r in logger.rows] == [2, 4]
    assert all(r[1] > 0 for r in logger.rows)
