import keras
import numpy as np
import pytest

import kzoo.zoo
from kzoo.zoo.tcn import receptive_field


def _features(model, depth):
    return keras.Model(model.input, model.get_layer(f"block_{depth - 1}_out").output)


def test_output_at_t_ignores_later_inputs():
    model = kzoo.zoo.create("tcn", (None, 2), 3, depth=3, kernel_size=3, dropout=0.0)
    feats = _features(model, 3)
    x = np.random.default_rng(0).normal(size=(2, 40, 2)).astype("float32")
    changed = x.copy()
    changed[:, 25:] += 5.0
    a, b = feats.predict(x, verbose=0), feats.predict(changed, verbose=0)
    np.testing.assert_allclose(a[:, :25], b[:, :25], atol=1e-5)
    assert np.abs(a[:, 25:] - b[:, 25:]).max() > 1e-2


def test_receptive_field_bounds_the_influence_of_a_step():
    depth, kernel = 2, 3
    rf = receptive_field(depth, kernel)
    assert rf == 1 + 2 * 2 * (1 + 2)
    model = kzoo.zoo.create("tcn", (None, 1), 2, depth=depth, kernel_size=kernel, dropout=0.0)
    feats = _features(model, depth)
    x = np.random.default_rng(1).normal(size=(1, 30, 1)).astype("float32")
    changed = x.copy()
    changed[:, 0] += 10.0
    diff = np.abs(feats.predict(x, verbose=0) - feats.predict(changed, verbose=0)).max(axis=-1)[0]
    assert diff[rf:].max() < 1e-5
    assert diff[:rf].max() > 1e-3


def test_masked_last_pooling_ignores_right_padding():
    model = kzoo.zoo.create("tcn", (None, 3), 4, masking=True, pooling="last", dropout=0.0)
    x = np.random.default_rng(2).normal(size=(3, 12, 3)).astype("float32")
    padded = np.concatenate([x, np.zeros((3, 7, 3), "float32")], axis=1)
    np.testing.assert_allclose(model.predict(x, verbose=0), model.predict(padded, verbose=0),
                               atol=1e-5)
    unmasked = kzoo.zoo.create("tcn", (None, 3), 4, pooling="last", dropout=0.0)
    assert np.abs(unmasked.predict(x, verbose=0) - unmasked.predict(padded, verbose=0)).max() > 1e-4


def test_depth_sets_blocks_and_bad_norm_raises():
    model = kzoo.zoo.create("tcn", (16, 1), 2, depth=5)
    assert model.get_layer("block_4_out") is not None
    assert model.get_layer("block_4_unit_0_conv").dilation_rate == (16,)
    with pytest.raises(ValueError, match="norm"):
        kzoo.zoo.create("tcn", (16, 1), 2, norm="group")
