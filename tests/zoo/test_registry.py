"""Every registered model, tested for free: build, one fit step, predict shape,
`.keras` round trip under safe_mode, no Lambda layers."""

import keras
import numpy as np
import pytest

from kzoo import zoo


def _data_for(name, n=16):
    rng = np.random.default_rng(0)
    shape = (12,) if zoo.get_spec(name).kind == "tabular" else (10, 3)
    x = rng.normal(size=(n, *shape)).astype("float32")
    y = rng.integers(0, 3, size=n).astype("int32")
    return x, y


@pytest.mark.parametrize("name", zoo.list())
def test_build_fit_predict_save_load(name, tmp_path):
    x, y = _data_for(name)
    model = zoo.create(name, input_shape=x.shape[1:], num_classes=3)
    assert isinstance(model, keras.Model)
    assert model.compiled, "create() returns a compiled model by default"
    before = [w.copy() for w in model.get_weights()]
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    after = model.get_weights()
    assert any(not np.allclose(a, b) for a, b in zip(before, after, strict=True)), (
        "fit moved nothing"
    )
    pred = model.predict(x, verbose=0)
    assert pred.shape == (len(x), 3)
    np.testing.assert_allclose(pred.sum(axis=1), 1.0, rtol=1e-4)  # softmax head

    assert not any(isinstance(layer, keras.layers.Lambda) for layer in model._flatten_layers())
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), pred, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", zoo.list())
def test_spec_is_complete(name):
    spec = zoo.get_spec(name)
    assert spec.kind in ("tabular", "sequence")
    assert spec.description
    assert "depth" in spec.defaults, "depth is a hyperparameter of every family"
    assert callable(spec.space)


@pytest.mark.parametrize(
    "head,units,activation",
    [
        ("binary", 1, "sigmoid"),
        ("multilabel", 3, "sigmoid"),
        ("regression", 3, "linear"),
    ],
)
def test_heads(head, units, activation):
    model = zoo.create("mlp", input_shape=(5,), num_classes=3 if head != "binary" else 2, head=head)
    out = model.get_layer("head")
    assert out.units == units
    assert out.activation.__name__ == activation
    assert out.dtype_policy.name == "float32"


def test_uncompiled_on_request():
    assert not zoo.create("mlp", input_shape=(5,), num_classes=3, compile=False).compiled


def test_unknown_model_lists_choices():
    with pytest.raises(ValueError, match=r"Unknown model 'lstmm'.*gru.*lstm.*mlp"):
        zoo.create("lstmm", input_shape=(4, 2), num_classes=2)


def test_unknown_hparam_lists_valid_ones():
    with pytest.raises(ValueError, match=r"Unknown hyperparameter\(s\) unitz.*Valid ones:.*units"):
        zoo.create("lstm", input_shape=(4, 2), num_classes=2, unitz=3)


def test_bad_hparam_value_names_choices():
    with pytest.raises(ValueError, match=r"pooling='max'.*'last', 'mean', 'attention'"):
        zoo.create("gru", input_shape=(4, 2), num_classes=2, pooling="max")
    with pytest.raises(ValueError, match=r"dropout=1.5 is out of range"):
        zoo.create("mlp", input_shape=(4,), num_classes=2, dropout=1.5)


def test_sequence_model_rejects_flat_input_shape():
    with pytest.raises(ValueError, match=r"sequences shaped \(timesteps, features\)"):
        zoo.create("lstm", input_shape=(64,), num_classes=10)


def test_list_by_kind():
    assert "mlp" in zoo.list("tabular")
    assert {"simple_rnn", "lstm", "gru"} <= set(zoo.list("sequence"))
    assert "mlp" not in zoo.list("sequence")
