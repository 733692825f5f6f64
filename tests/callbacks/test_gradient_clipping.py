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


def _agc_model():
    """Conv1D (3-D kernel, bias), a (3, 1) and a (1, 4) kernel (vectors to the NFNet
    reference), then the head; every weight random so no norm is zero."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((5, 2))
    x = keras.layers.Conv1D(3, 2, name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling1D()(x)
    x = keras.layers.Dense(1, name="narrow")(x)
    x = keras.layers.Dense(4, name="wide")(x)
    outputs = keras.layers.Dense(2, name="head")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    rng = np.random.default_rng(7)
    for v in model.trainable_variables:
        v.assign(rng.normal(size=v.shape).astype("float32"))
    return model


def _unitwise_norm(x):
    """The NFNet reference's unit-wise norm (Brock et al. 2021, deepmind-research
    nfnets/agc_optax.py): one norm for a scalar or vector (after squeezing), else one
    per output unit, over every axis but the last (kzoo's rule for 3-D conv kernels)."""
    if np.squeeze(x).ndim <= 1:
        return np.sqrt(np.sum(x**2))
    return np.sqrt(np.sum(x**2, axis=tuple(range(x.ndim - 1)), keepdims=True))


def test_agc_clips_unitwise_as_the_nfnet_reference_and_skips_the_final_layer(attached):
    model = _agc_model()
    lam, eps = 0.05, 1e-3
    weights = [keras.ops.convert_to_numpy(v) for v in model.trainable_variables]
    shapes = [w.shape for w in weights]
    assert shapes == [(2, 2, 3), (3,), (3, 1), (1,), (1, 4), (4,), (4, 2), (2,)]
    rng = np.random.default_rng(1)
    grads = [rng.normal(size=s).astype("float32") for s in shapes]
    out = _clip(attached(model, GradientClipping("agc", clip_value=lam, eps=eps)), None, grads)
    for i, (g, w, o) in enumerate(zip(grads, weights, out, strict=True)):
        if i >= 6:  # the head is not clipped (Brock et al. 2021)
            np.testing.assert_array_equal(o, g)
            continue
        g_norm, max_norm = _unitwise_norm(g), lam * np.maximum(_unitwise_norm(w), eps)
        expected = np.where(g_norm > max_norm, g * max_norm / g_norm, g)
        np.testing.assert_allclose(o, expected, rtol=1e-5, atol=1e-7, err_msg=str(shapes[i]))
    # A bias and a (1, 4) kernel are one unit each: clipped as a whole, their
    # direction kept (clipping each element alone would not keep it).
    for i in (1, 5, 4):
        assert np.linalg.norm(out[i]) == pytest.approx(
            lam * np.linalg.norm(weights[i]), rel=1e-5
        )
        cosine = np.sum(out[i] * grads[i]) / np.linalg.norm(out[i]) / np.linalg.norm(grads[i])
        assert cosine == pytest.approx(1.0, abs=1e-6)
    # The conv kernel has one unit per filter: each filter's norm is clipped alone.
    filters = np.linalg.norm(out[0].reshape(-1, 3), axis=0)
    np.testing.assert_allclose(
        filters, lam * np.linalg.norm(weights[0].reshape(-1, 3), axis=0), rtol=1e-5
    )


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
