import keras
import numpy as np
import pytest

from kzoo import zoo

CELLS = ["simple_rnn", "lstm", "gru"]


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("pooling", ["last", "mean", "attention"])
def test_masking_ignores_padding(cell, pooling):
    """Right-padded steps with masking=True do not change the prediction."""
    model = zoo.create(
        cell, input_shape=(None, 3), num_classes=4, masking=True, pooling=pooling, units=8
    )
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 5, 3)).astype("float32")
    padded = np.concatenate([x, np.zeros((2, 4, 3), "float32")], axis=1)
    np.testing.assert_allclose(
        model.predict(x, verbose=0), model.predict(padded, verbose=0), rtol=1e-4, atol=1e-5
    )


def test_without_masking_padding_matters():
    model = zoo.create("gru", input_shape=(None, 3), num_classes=4, units=8)
    x = np.random.default_rng(1).normal(size=(2, 5, 3)).astype("float32")
    padded = np.concatenate([x, np.zeros((2, 4, 3), "float32")], axis=1)
    assert not np.allclose(model.predict(x, verbose=0), model.predict(padded, verbose=0))


def test_stack_bidirectional_layer_norm():
    model = zoo.create(
        "lstm",
        input_shape=(7, 3),
        num_classes=4,
        depth=3,
        units=6,
        bidirectional=True,
        layer_norm=True,
    )
    bis = [lyr for lyr in model.layers if isinstance(lyr, keras.layers.Bidirectional)]
    assert len(bis) == 3
    assert [b.forward_layer.return_sequences for b in bis] == [True, True, False]
    assert sum(isinstance(lyr, keras.layers.LayerNormalization) for lyr in model.layers) == 3
    assert model.output_shape == (None, 4)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_defaults_keep_cudnn_conditions(cell):
    """Keras uses cuDNN only for tanh/sigmoid, no recurrent dropout, no unroll, with bias."""
    layer = zoo.create(cell, input_shape=(7, 3), num_classes=2).get_layer(f"{cell}_0")
    assert layer.use_cudnn == "auto"
    assert layer.cell.activation.__name__ == "tanh"
    assert layer.cell.recurrent_activation.__name__ == "sigmoid"
    assert layer.cell.recurrent_dropout == 0 and not layer.unroll and layer.cell.use_bias
    if cell == "gru":
        assert layer.cell.reset_after


def test_recurrent_dropout_is_passed_through():
    layer = zoo.create("gru", input_shape=(7, 3), num_classes=2, recurrent_dropout=0.2).get_layer(
        "gru_0"
    )
    assert layer.cell.recurrent_dropout == pytest.approx(0.2)
