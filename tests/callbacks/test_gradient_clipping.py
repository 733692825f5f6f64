"""GradientClipping: each mode equals its formula on hand-built gradients, on every backend."""

import json

import keras
import numpy as np
import pytest

from kzoo.callbacks import GradientClipping, GradientNormLogger

SHAPES = [(4, 3), (3,), (3, 2), (2,)]  # hidden kernel/bias, head kernel/bias


def _model(**optimizer_kwargs):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    x = keras.layers.Dense(3, name="hidden")(inputs)
    outputs = keras.layers.Dense(2, name="head")(x)
    model = keras.Model(inputs, outputs, name="net")
    model.compile(optimizer=keras.optimizers.SGD(0.1, **optimizer_kwargs), loss="mse")
    return model


def _grads(seed, scale=1.0):
    rng = np.random.default_rng(seed)
    return [(scale * rng.normal(size=s)).astype("float32") for s in SHAPES]


def _clip(model, callback, grads):
    """Run the installed hook eagerly on hand-built gradients."""
    out = model.optimizer._clip_gradients([keras.ops.convert_to_tensor(g) for g in grads])
    return [keras.ops.convert_to_numpy(g) for g in out]


@pytest.fixture
def attached():
    attached = []

    def attach(model, callback):
        callback.set_model(model)
        callback.set_params({"steps": 1, "epochs": 1})
        callback.on_train_begin()
        attached.append(callback)
        return model

    yield attach
    for callback in attached:
        callback.on_train_end()


def test_value_norm_and_global_norm_equal_their_formulas(attached):
    grads = _grads(0, scale=2.0)
    for mode, v in (("value", 0.5), ("norm", 1.0), ("global_norm", 1.5)):
        model = _model()
        out = _clip(attached(model, GradientClipping(mode, clip_value=v)), None, grads)
        if mode == "value":
            expected = [np.clip(g, -v, v) for g in grads]
        elif mode == "norm":
            expected = [g * v / max(np.linalg.norm(g), v) for g in grads]
        else:
            total = np.sqrt(sum(np.sum(g**2) for g in grads))
            expected = [g * v / max(total, v) for g in grads]
        for a, b in zip(out, expected, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7, err_msg=mode)


def test_agc_clips_unitwise_and_skips_the_final_layer(attached):
    model = _model()
    lam, eps = 0.05, 1e-3
    weights = [keras.ops.convert_to_numpy(v) for v in model.trainable_variables]
    grads = _grads(1)
    out = _clip(attached(model, GradientClipping("agc", clip_value=lam, eps=eps)), None, grads)
    expected = []
    for i, (g, w) in enumerate(zip(grads, weights, strict=True)):
        if i >= 2:  # the head is not clipped (Brock et al. 2021)
            expected.append(g)
            continue
        if g.ndim > 1:
            w_norm = np.linalg.norm(w, axis=0, keepdims=True)
            g_norm = np.linalg.norm(g, axis=0, keepdims=True)
        else:
            w_norm, g_norm = np.abs(w), np.abs(g)
        max_norm = lam * np.maximum(w_norm, eps)
        expected.append(np.where(g_norm > max_norm, g * max_norm / g_norm, g))
    assert not np.allclose(expected[0], grads[0])  # the test exercises clipping
    for a, b in zip(out, expected, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_autoclip_threshold_is_percentile_of_bounded_history(attached):
    model = _model()
    clip = GradientClipping("autoclip", percentile=25, window=4)
    attached(model, clip)
    norms = []
    for seed, scale in enumerate([1.0, 3.0, 0.5, 2.0, 5.0, 0.8]):
        grads = _grads(seed, scale)
        norm = float(np.sqrt(sum(np.sum(g**2) for g in grads)))
        norms.append(norm)
        threshold = np.percentile(norms[-4:], 25)
        out = _clip(model, clip, grads)
        got = float(np.sqrt(sum(np.sum(g**2) for g in out)))
        assert got == pytest.approx(min(norm, threshold), rel=1e-5)
    state = clip.get_state()
    json.dumps(state)
    np.testing.assert_allclose(state["history"], norms[-4:], rtol=1e-6)
    assert state["count"] == 6


def test_autoclip_state_round_trip(attached):
    clip = GradientClipping("autoclip", percentile=50, window=3)
    clip.set_state({"history": [1.0, 2.0, 9.0, 4.0], "count": 10})
    assert clip.get_state() == {"history": [2.0, 9.0, 4.0], "count": 10}
    model = _model()
    attached(model, clip)
    grads = _grads(0, 100.0)
    norm = float(np.sqrt(sum(np.sum(g**2) for g in grads)))
    out = _clip(model, clip, grads)
    got = float(np.sqrt(sum(np.sum(g**2) for g in out)))
    # History [2, 9, 4] + current pushes out 2: median of [9, 4, norm] is 9.
    assert got == pytest.approx(9.0, rel=1e-5)
    assert clip.get_state()["history"] == pytest.approx([9.0, 4.0, norm])


def test_clipping_in_fit_bounds_the_update(tiny_tabular):
    x, y = tiny_tabular
    model = _model()
    x = x[:, :4]
    y = np.stack([y, y], axis=1).astype("float32")
    before = [keras.ops.convert_to_numpy(v) for v in model.trainable_variables]
    logger = GradientNormLogger(every=1)
    model.fit(x * 100, y, batch_size=len(x), epochs=1, verbose=0,
              callbacks=[GradientClipping("global_norm", clip_value=0.01), logger])
    after = [keras.ops.convert_to_numpy(v) for v in model.trainable_variables]
    step = np.sqrt(sum(np.sum((a - b) ** 2) for a, b in zip(after, before, strict=True)))
    assert step == pytest.approx(0.1 * 0.01, rel=1e-4)  # SGD lr 0.1 x clipped norm
    assert logger.rows[0][1] > 0.01 and logger.rows[0][3] == 1.0


@pytest.mark.parametrize(
    "kwargs", [{"clipnorm": 1.0}, {"clipvalue": 1.0}, {"global_clipnorm": 1.0}]
)
def test_optimizer_with_its_own_clipping_raises(kwargs, tiny_tabular):
    x, y = tiny_tabular
    model = _model(**kwargs)
    with pytest.raises(ValueError, match="Clipping twice"):
        model.fit(x[:, :4], np.zeros((len(x), 2)), epochs=1, verbose=0,
                  callbacks=[GradientClipping("norm")])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"mode": "median"}, "mode"),
        ({"mode": "norm", "clip_value": 0}, "clip_value"),
        ({"mode": "autoclip", "percentile": 0}, "percentile"),
        ({"mode": "autoclip", "window": 0}, "window"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GradientClipping(**kwargs)
