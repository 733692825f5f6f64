"""LITE: the hand-crafted filters of the paper, fixed through training and save/load,
and the published layout and size."""

import keras
import numpy as np

from kzoo import zoo
from kzoo.zoo import lite
from kzoo.zoo._depthwise import SeparableConv1D


def test_the_17_handcrafted_filters():
    filters = lite.handcrafted_filters()
    assert len(filters) == 17
    assert [len(f) for f in filters] == [2, 4, 8, 16, 32, 64] * 2 + [6, 12, 24, 48, 96]
    np.testing.assert_array_equal(filters[1], [-1, 1, -1, 1])  # increasing, size 4
    np.testing.assert_array_equal(filters[7], [1, -1, 1, -1])  # decreasing, size 4
    np.testing.assert_array_equal(filters[12], [-1, -1, 2, 2, -1, -1])  # peak, base 4
    peak = filters[13]  # base 8: squared ramps of 2 steps, -1, +2, -1 lobes
    np.testing.assert_allclose(peak, [-.25, -1, -1, -.25, .5, 2, 2, .5, -.25, -1, -1, -.25])
    # An increasing series gives the increasing detector a positive response.
    ramp = np.arange(8.0)
    assert np.correlate(ramp, lite.trend_filter(2, True), "valid").min() > 0


def test_handcrafted_layer_is_each_filters_same_convolution():
    # The reference convolves each filter separately with "same" padding (TensorFlow's:
    # (k - 1) // 2 steps on the left); one 97-tap kernel must give the same outputs.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 120, 2)).astype("float32")
    model = zoo.create("lite", input_shape=(120, 2), num_classes=2, compile=False)
    out = keras.ops.convert_to_numpy(model.get_layer("handcrafted")(x))
    summed = x.sum(axis=-1).astype("float64")
    for i, taps in enumerate(lite.handcrafted_filters()):
        k = len(taps)
        padded = np.pad(summed, ((0, 0), ((k - 1) // 2, k - 1 - (k - 1) // 2)))
        expected = np.stack([np.correlate(row, taps, "valid") for row in padded])
        np.testing.assert_allclose(out[..., i], expected, rtol=1e-4, atol=1e-4)


def test_handcrafted_filters_stay_fixed_through_fit_and_save_load(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 24, 2)).astype("float32")
    model = zoo.create("lite", input_shape=(24, 2), num_classes=3, filters=4, kernel_size=8)
    fixed = model.get_layer("handcrafted")
    assert not fixed.trainable
    before = keras.ops.convert_to_numpy(fixed.kernel)
    np.testing.assert_array_equal(before, lite.handcrafted_kernel(2))
    model.fit(x, rng.integers(0, 3, 16), epochs=1, batch_size=8, verbose=0)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(fixed.kernel), before)
    path = tmp_path / "lite.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert type(loaded.get_layer("separable_0")) is SeparableConv1D  # kzoo's, fast on jax
    assert not loaded.get_layer("handcrafted").trainable
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(loaded.get_layer("handcrafted").kernel), before)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)


def test_published_layout_and_size():
    model = zoo.create("lite", input_shape=(150, 1), num_classes=2, compile=False)
    kernels = [model.get_layer(f"multiplex_conv_{i}").kernel_size[0] for i in range(3)]
    assert kernels == [40, 20, 10]
    separable = [model.get_layer(f"separable_{i}") for i in range(2)]
    assert [s.kernel_size[0] for s in separable] == [20, 10]
    assert [s.dilation_rate[0] for s in separable] == [2, 4]
    assert model.get_layer("multiplex_concat").output.shape[-1] == 3 * 32 + 17
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    # multiplexing 32 x (40 + 20 + 10), BN 2 x 113, separable 20 x 113 + 113 x 32 and
    # 10 x 32 + 32 x 32, two BN 2 x 32, head 32 x 2 + 2: 9,880, against 420,450 for the
    # published InceptionTime network (kzoo's inception_time, depth=6): 2.35 %.
    assert trainable == 40 * 32 + 20 * 32 + 10 * 32 + 226 + 20 * 113 + 113 * 32 + 64 \
        + 10 * 32 + 32 * 32 + 64 + 66 == 9880
