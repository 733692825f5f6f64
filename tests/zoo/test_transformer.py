import numpy as np
import pytest

import kzoo.zoo


def test_padded_steps_do_not_change_the_output():
    model = kzoo.zoo.create("transformer", (None, 4), 3, masking=True, depth=2)
    x = np.random.default_rng(0).normal(size=(3, 9, 4)).astype("float32")
    padded = np.concatenate([x, np.zeros((3, 6, 4), "float32")], axis=1)
    np.testing.assert_allclose(model.predict(x, verbose=0), model.predict(padded, verbose=0),
                               atol=1e-5)


def test_without_masking_padding_changes_the_output():
    model = kzoo.zoo.create("transformer", (None, 4), 3, depth=1)
    x = np.random.default_rng(0).normal(size=(3, 9, 4)).astype("float32")
    padded = np.concatenate([x, np.zeros((3, 6, 4), "float32")], axis=1)
    assert np.abs(model.predict(x, verbose=0) - model.predict(padded, verbose=0)).max() > 1e-4


def test_depth_and_width_checks():
    model = kzoo.zoo.create("transformer", (10, 2), 2, depth=3, d_model=16, num_heads=2)
    assert [layer.name for layer in model.layers if layer.name.startswith("block_")] == [
        "block_0", "block_1", "block_2"
    ]
    with pytest.raises(ValueError, match="divisible by num_heads"):
        kzoo.zoo.create("transformer", (10, 2), 2, d_model=30, num_heads=4)
