import keras
import numpy as np
import pytest

from kzoo import zoo


def _dense(model):
    return [lyr for lyr in model.layers if lyr.name.startswith("dense_")]


def test_width_list_and_depth():
    model = zoo.create("mlp", input_shape=(6,), num_classes=3, depth=3, width=[32, 16, 8])
    assert [d.units for d in _dense(model)] == [32, 16, 8]
    with pytest.raises(ValueError, match="width lists 2 sizes but depth=3"):
        zoo.create("mlp", input_shape=(6,), num_classes=3, depth=3, width=[32, 16])


@pytest.mark.parametrize(
    "activation,init",
    [
        ("relu", "HeNormal"),
        ("tanh", "GlorotUniform"),
        ("selu", "LecunNormal"),
    ],
)
def test_default_initializer_follows_activation(activation, init):
    model = zoo.create("mlp", input_shape=(6,), num_classes=3, activation=activation)
    assert type(_dense(model)[0].kernel_initializer).__name__ == init


def test_explicit_initializer_wins():
    model = zoo.create("mlp", input_shape=(6,), num_classes=3, kernel_initializer="glorot_normal")
    assert type(_dense(model)[0].kernel_initializer).__name__ == "GlorotNormal"


def test_batch_norm_drops_dense_bias_and_layer_norm_is_used():
    bn = zoo.create("mlp", input_shape=(6,), num_classes=3, norm="batch")
    assert not _dense(bn)[0].use_bias
    assert any(isinstance(lyr, keras.layers.BatchNormalization) for lyr in bn.layers)
    ln = zoo.create("mlp", input_shape=(6,), num_classes=3, norm="layer")
    assert any(isinstance(lyr, keras.layers.LayerNormalization) for lyr in ln.layers)
    with pytest.raises(ValueError, match="Invalid norm='group'"):
        zoo.create("mlp", input_shape=(6,), num_classes=3, norm="group")


def test_l1_l2_add_losses():
    model = zoo.create("mlp", input_shape=(6,), num_classes=3, l1=1e-3, l2=1e-2)
    x = np.ones((2, 6), "float32")
    model(x)
    assert len(model.losses) == 3  # two hidden kernels + head
    assert all(float(keras.ops.convert_to_numpy(v)) > 0 for v in model.losses)


def test_residual_adds_projection_when_width_changes():
    model = zoo.create(
        "mlp", input_shape=(6,), num_classes=3, depth=2, width=[8, 8], residual=True, dropout=0.0
    )
    names = [lyr.name for lyr in model.layers]
    assert "proj_0" in names and "residual_0" in names and "residual_1" in names
    assert "proj_1" not in names  # 8 -> 8 needs no projection
    # The residual path really is an identity: zeroing block 1's kernel leaves its input.
    model.get_layer("dense_1").kernel.assign(np.zeros((8, 8), "float32"))
    model.get_layer("dense_1").bias.assign(np.zeros((8,), "float32"))
    sub = keras.Model(
        model.input, [model.get_layer("residual_0").output, model.get_layer("residual_1").output]
    )
    a, b = sub.predict(np.random.default_rng(0).normal(size=(4, 6)).astype("float32"), verbose=0)
    np.testing.assert_allclose(a, b, rtol=1e-6)


def test_flattens_higher_rank_input():
    model = zoo.create("mlp", input_shape=(8, 8), num_classes=10)
    assert model.predict(np.zeros((2, 8, 8), "float32"), verbose=0).shape == (2, 10)


def test_input_noise_perturbs_training_only_and_is_validated():
    x = np.random.default_rng(0).normal(size=(64, 6)).astype("float32")
    model = zoo.create("mlp", input_shape=(6,), num_classes=3, dropout=0.0)  # default 0.3
    noise = model.get_layer("input_noise")
    assert noise.stddev == 0.3
    # Inference is deterministic and noise-free; training mode adds noise of that scale.
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(noise(x, training=False)), x)
    delta = keras.ops.convert_to_numpy(noise(x, training=True)) - x
    assert 0.25 < delta.std() < 0.35
    off = zoo.create("mlp", input_shape=(6,), num_classes=3, input_noise=0.0)
    assert "input_noise" not in [lyr.name for lyr in off.layers]
    with pytest.raises(ValueError, match="input_noise"):
        zoo.create("mlp", input_shape=(6,), num_classes=3, input_noise=-0.1)
