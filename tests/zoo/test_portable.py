"""Portable models: what `ModelSpec.portable` promises about a zoo model's files.

A portable model uses only Keras' own layers, so its `.keras` file loads with
plain `keras.saving.load_model` in a process that never imports kzoo. Every
family also exports to a TensorFlow SavedModel with `model.export`.
"""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from _backends import one_backend

import kzoo.zoo

NAMES = kzoo.zoo.list()
# Non-default settings that switch a family to (or keep it off) kzoo's own layers.
VARIANTS = [
    ("fcn", {"masking": True}),
    ("tcn", {"pooling": "last"}),
    ("tcn", {"pooling": "max"}),
    ("lstm", {"pooling": "attention"}),
    ("gru", {"pooling": "mean"}),
    ("lstm_fcn", {"masking": True, "dimension_shuffle": False}),
    ("lite", {"depth": 1}),  # no separable layer: Keras' layers only
]


def _build(name, **hparams):
    spec = kzoo.zoo.get_spec(name)
    shape = (12, 3) if spec.kind == "sequence" else (10,)
    model = kzoo.zoo.create(name, input_shape=shape, num_classes=4, compile=False, **hparams)
    x = np.random.default_rng(0).normal(size=(5, *shape)).astype("float32")
    return model, x


def _uses_kzoo_layers(model):
    layers = model._flatten_layers(include_self=False, recursive=True)
    return any(type(layer).__module__.startswith("kzoo.") for layer in layers)


@pytest.mark.parametrize("name, hparams", VARIANTS, ids=str)
def test_portable_follows_the_hyperparameters(name, hparams):
    model, _ = _build(name, **hparams)
    assert kzoo.zoo.get_spec(name).portable(**hparams) is not _uses_kzoo_layers(model)


def test_conv_families_pool_with_keras_layers_unless_masking():
    model, _ = _build("fcn")
    assert type(model.get_layer("gap")) is keras.layers.GlobalAveragePooling1D
    model, _ = _build("fcn", masking=True)
    assert type(model.get_layer("gap")) is kzoo.zoo.layers.MaskedGlobalPooling1D


_LOAD_WITHOUT_KZOO = """
import json, sys
import keras
import numpy as np
out = {}
for name in sys.argv[1:]:
    try:
        model = keras.saving.load_model(f"{name}.keras")
        out[name] = keras.ops.convert_to_numpy(model(np.load(f"{name}.npy"))).tolist()
    except Exception as err:
        out[name] = f"{type(err).__name__}: {err}"
assert not [m for m in sys.modules if m == "kzoo" or m.startswith("kzoo.")], "kzoo was imported"
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def loaded_without_kzoo(tmp_path_factory):
    """Each family at its defaults, saved, then loaded in one fresh process without kzoo.

    Returns, per family, whether it uses kzoo layers, its predictions, and what the
    fresh process got: predictions, or the error message.
    """
    folder = tmp_path_factory.mktemp("portable")
    uses, expected = {}, {}
    for name in NAMES:
        model, x = _build(name)
        model.save(folder / f"{name}.keras")
        np.save(folder / f"{name}.npy", x)
        uses[name] = _uses_kzoo_layers(model)
        expected[name] = keras.ops.convert_to_numpy(model(x))
    env = {**os.environ, "KERAS_BACKEND": keras.backend.backend()}
    result = subprocess.run(
        [sys.executable, "-c", _LOAD_WITHOUT_KZOO, *NAMES],
        cwd=folder, env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return uses, expected, json.loads(result.stdout.strip().splitlines()[-1])


@one_backend("torch", "CI time budget (the backend does not change it); torch's eager calls "
             "cost a fraction of jax's first-use compilations (82 s on jax in CI)")
@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_default_model_loads_without_kzoo_when_portable(name, loaded_without_kzoo):
    uses, expected, loaded = loaded_without_kzoo
    portable = kzoo.zoo.get_spec(name).portable()
    assert portable is not uses[name]
    if portable:
        assert not isinstance(loaded[name], str), loaded[name]
        np.testing.assert_allclose(np.array(loaded[name]), expected[name], rtol=1e-5, atol=1e-6)
    else:
        # The README's advice holds: such a model needs `import kzoo.zoo` first.
        assert isinstance(loaded[name], str) and "Could not locate class" in loaded[name]


@pytest.mark.slow
@one_backend("tensorflow", "SavedModel export (Keras converts jax through jax2tf and torch "
             "through torch_xla; the artifact is the same format)")
@pytest.mark.parametrize("name", NAMES)
def test_every_family_exports_a_saved_model_with_the_same_predictions(name, tmp_path):
    import tensorflow as tf

    model, x = _build(name)
    model.export(tmp_path / name, format="tf_saved_model", verbose=False)
    loaded = tf.saved_model.load(str(tmp_path / name))  # kept: it owns the variables
    served = loaded.serve(tf.constant(x))
    np.testing.assert_allclose(served.numpy(), model(x).numpy(), rtol=1e-5, atol=1e-6)
