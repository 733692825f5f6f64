"""Precise BN: the recomputed statistics, what the pass leaves alone, and the callback."""

import keras
import numpy as np
import pytest

from kzoo.callbacks import PreciseBatchNorm, recompute_batch_norm
from kzoo.callbacks import precise_bn as pb


def _two_bn_model():
    inputs = keras.Input((20, 3))
    h = keras.layers.BatchNormalization(name="bn1")(inputs)
    h = keras.layers.Dense(4, name="hidden")(h)
    h = keras.layers.BatchNormalization(name="bn2")(h)
    h = keras.layers.Dropout(0.5)(keras.layers.GlobalAveragePooling1D()(h))
    return keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(h))


def _np(v):
    return keras.ops.convert_to_numpy(v)


@pytest.mark.parametrize("path", ["compiled", "eager"])
def test_statistics_are_those_of_the_current_weights_on_the_subset(path):
    rng = np.random.default_rng(0)
    x = (5.0 + 3.0 * rng.normal(size=(100, 20, 3))).astype("float32")
    model = _two_bn_model()
    if path == "eager":  # the path of models that are not one functional graph
        pb._MOMENTS_MODELS[model] = False
    assert recompute_batch_norm(model, x) == 32  # max(32, 100 / 5)
    sub = x[pb.subset_indices(100)].astype("float64")
    assert len(set(pb.subset_indices(100))) == 32
    bn1, dense, bn2 = (model.get_layer(n) for n in ("bn1", "hidden", "bn2"))
    m1, v1 = sub.mean((0, 1)), sub.var((0, 1))
    np.testing.assert_allclose(_np(bn1.moving_mean), m1, rtol=1e-5)
    np.testing.assert_allclose(_np(bn1.moving_variance), v1, rtol=1e-4)
    # bn2 sees dense(bn1(x)) with bn1 on its batch's statistics (one batch of 32 here).
    h = (sub - m1) / np.sqrt(v1 + bn1.epsilon) @ _np(dense.kernel) + _np(dense.bias)
    np.testing.assert_allclose(_np(bn2.moving_mean), h.mean((0, 1)), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(_np(bn2.moving_variance), h.var((0, 1)), rtol=1e-3)


def test_the_two_paths_give_the_same_statistics_and_torch_takes_the_eager_one():
    # torch's compiled predict runs eagerly as well, with a second moments computation
    # per BN layer: its pass is the eager forward (~30 % cheaper, RESULTS.md bn_cost).
    x = (2.0 + np.random.default_rng(3).normal(size=(300, 20, 3))).astype("float32")
    stats, first = {}, _two_bn_model()
    for path in ("compiled", "eager"):
        model = _two_bn_model()
        model.set_weights(first.get_weights())
        if path == "eager":
            pb._MOMENTS_MODELS[model] = False
        assert recompute_batch_norm(model, x, batch_size=20) == 60  # three batches
        stats[path] = [_np(v) for layer in pb.batch_norm_layers(model)
                       for v in (layer.moving_mean, layer.moving_variance)]
        if path == "compiled":
            built = pb._MOMENTS_MODELS.get(model)
            assert (built is None) == (keras.backend.backend() == "torch")
    for a, b in zip(stats["compiled"], stats["eager"], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_the_pass_changes_no_weight_and_draws_no_random_number():
    x = np.random.default_rng(1).normal(size=(64, 20, 3)).astype("float32")
    model = _two_bn_model()
    stats = {id(v) for layer in pb.batch_norm_layers(model)
             for v in (layer.moving_mean, layer.moving_variance)}
    before = [_np(v) for v in model.variables if id(v) not in stats]
    np_state = np.random.get_state()[1].copy()
    recompute_batch_norm(model, x)
    after = [_np(v) for v in model.variables if id(v) not in stats]
    for a, b in zip(before, after, strict=True):  # weights and the dropout seed state
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(np.random.get_state()[1], np_state)


def test_models_without_batchnorm_are_left_alone():
    inputs = keras.Input((5,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    before = [_np(v) for v in model.variables]
    assert recompute_batch_norm(model, np.ones((10, 5), "float32")) == 0
    for a, b in zip(before, model.variables, strict=True):
        np.testing.assert_array_equal(a, _np(b))
    assert pb.subset_size(10) == 10 and pb.subset_size(1000) == 200
    assert pb.subset_size(10_000) == pb.MAX_EXAMPLES


def test_the_callback_validates_on_the_validated_weights_statistics():
    rng = np.random.default_rng(2)
    x = (4.0 + rng.normal(size=(96, 20, 3))).astype("float32")
    y = (x[:, :, 0].mean(1) > 4.0).astype("int32")
    model = _two_bn_model()
    model.compile("adam", "sparse_categorical_crossentropy")
    history = model.fit(x, y, batch_size=32, epochs=2, validation_data=(x[:32], y[:32]),
                        callbacks=[PreciseBatchNorm(x)], verbose=0).history
    # No step after the last validation: its statistics are still the model's, and they
    # are those of the final weights (recomputing changes nothing).
    logged = history["val_loss"][-1]
    assert model.evaluate(x[:32], y[:32], verbose=0) == pytest.approx(logged, rel=1e-5)
    recompute_batch_norm(model, x)
    assert model.evaluate(x[:32], y[:32], verbose=0) == pytest.approx(logged, rel=1e-5)
