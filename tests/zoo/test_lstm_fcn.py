import numpy as np
import pytest

import kzoo.zoo


def test_dimension_shuffle_feeds_channels_as_steps():
    model = kzoo.zoo.create("lstm_fcn", (30, 4), 3, depth=2, filters=8)
    assert model.get_layer("dimension_shuffle").output.shape[1:] == (4, 30)
    assert [layer.name for layer in model.layers if layer.name.endswith("_conv")] == [
        "block_0_conv", "block_1_conv"
    ]


def test_variable_length_needs_no_shuffle():
    with pytest.raises(ValueError, match="dimension_shuffle=False"):
        kzoo.zoo.create("lstm_fcn", (None, 4), 3)
    model = kzoo.zoo.create("lstm_fcn", (None, 4), 3, dimension_shuffle=False, masking=True,
                            filters=8)
    x = np.random.default_rng(0).normal(size=(4, 11, 4)).astype("float32")
    assert model.predict(x, verbose=0).shape == (4, 3)


def test_lstm_stays_float32_under_mixed_precision():
    with kzoo.zoo.precision("mixed_bfloat16"):
        model = kzoo.zoo.create("lstm_fcn", (12, 2), 2, filters=8)
    assert model.get_layer("lstm").compute_dtype == "float32"
    assert model.get_layer("block_0_conv").compute_dtype == "bfloat16"
