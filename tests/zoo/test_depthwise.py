"""kzoo's SeparableConv1D: Keras' layer's values and gradients, from shifted slices on jax."""

import keras
import numpy as np
import pytest
from _backends import one_backend

from kzoo.zoo._depthwise import SeparableConv1D

# Even and odd kernels, dilations 1, 2, 4, both paddings; each (size, padding) pair
# runs with and without bias (bias at dilation 2).
CASES = [
    (size, dilation, padding, dilation == 2)
    for size in (2, 5, 6)
    for dilation in (1, 2, 4)
    for padding in ("same", "valid")
]


def _pair(x, **kwargs):
    """Keras' layer and kzoo's, built on `x`, with the same random weights."""
    rng = np.random.default_rng(1)
    ours, theirs = SeparableConv1D(**kwargs), keras.layers.SeparableConv1D(**kwargs)
    ours.build(x.shape)
    theirs.build(x.shape)
    weights = [rng.normal(size=w.shape).astype("float32") for w in theirs.get_weights()]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    return ours, theirs


def test_equals_keras_separable_conv_with_the_same_weights():
    x = np.random.default_rng(0).normal(size=(3, 29, 5)).astype("float32")
    for size, dilation, padding, bias in CASES:
        ours, theirs = _pair(x, filters=4, kernel_size=size, padding=padding,
                             dilation_rate=dilation, use_bias=bias, activation="tanh")
        # jax computes shifted slices; the other backends keep Keras' call.
        assert ours._shifted_slices() is (keras.backend.backend() == "jax")
        out = keras.ops.convert_to_numpy(ours(x))
        expected = keras.ops.convert_to_numpy(theirs(x))
        assert out.shape == expected.shape
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5,
                                   err_msg=str((size, dilation, padding, bias)))


def test_depth_multiplier_keeps_keras_channel_order(multiplier=3):
    x = np.random.default_rng(0).normal(size=(2, 17, 3)).astype("float32")
    ours, theirs = _pair(x, filters=4, kernel_size=4, dilation_rate=2, padding="same",
                         depth_multiplier=multiplier)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(ours(x)),
                               keras.ops.convert_to_numpy(theirs(x)), rtol=1e-5, atol=1e-5)


def test_config_round_trip_and_the_same_weights_as_keras():
    layer = SeparableConv1D(8, 5, dilation_rate=2, padding="same", use_bias=False)
    layer.build((None, 20, 3))
    twin = keras.layers.SeparableConv1D(8, 5, dilation_rate=2, padding="same", use_bias=False)
    twin.build((None, 20, 3))
    assert [w.shape for w in layer.weights] == [w.shape for w in twin.weights]
    assert layer.get_config() == twin.get_config() | {"name": layer.name}
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(clone) is SeparableConv1D and clone.get_config() == layer.get_config()


@one_backend("jax", "only jax takes the shifted-slice path; the other backends call "
                    "Keras' own SeparableConv1D.call")
@pytest.mark.parametrize("size, dilation, padding, bias, multiplier",
                         [(6, 2, "same", True, 1), (7, 4, "valid", False, 1),
                          (3, 1, "same", False, 2)])
def test_gradients_equal_keras(size, dilation, padding, bias, multiplier):
    import jax
    import jax.numpy as jnp

    x = np.random.default_rng(0).normal(size=(2, 31, 4)).astype("float32")
    steps = 31 if padding == "same" else 31 - (size - 1) * dilation
    probe = jnp.asarray(np.random.default_rng(2).normal(size=(2, steps, 3)), "float32")
    grads = []
    for layer in _pair(x, filters=3, kernel_size=size, padding=padding, dilation_rate=dilation,
                       use_bias=bias, depth_multiplier=multiplier):
        def loss(variables, inputs, layer=layer):
            out, _ = layer.stateless_call(variables, [], inputs)
            return jnp.sum(out * probe)  # a random projection: every output's gradient counts
        variables = [v.value for v in layer.trainable_variables]
        grads.append(jax.grad(loss, argnums=(0, 1))(variables, jnp.asarray(x)))
    (ours_w, ours_x), (theirs_w, theirs_x) = grads
    np.testing.assert_allclose(ours_x, theirs_x, rtol=1e-5, atol=1e-5)
    for mine, keras_grad in zip(ours_w, theirs_w, strict=True):
        np.testing.assert_allclose(mine, keras_grad, rtol=1e-5, atol=1e-5)
