"""zoo/_torch_rnn.py: torch's fused recurrent kernels match Keras' own path."""

import importlib.util
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from _backends import one_backend

from kzoo import zoo
from kzoo.zoo import _torch_rnn

pytestmark = [
    one_backend("torch", "the fused path exists only on the torch backend (a no-op elsewhere)"),
    pytest.mark.device,  # kernels: benchmarks/gpu/check.sh runs these on CUDA too
]

LAYERS = {"simple_rnn": keras.layers.SimpleRNN, "lstm": keras.layers.LSTM, "gru": keras.layers.GRU}
TOL = {"rtol": 1e-5, "atol": 1e-5}


@pytest.fixture(autouse=True)
def _exact_cuda_math():
    """On CUDA, compare the paths without TF32 (cuDNN's RNNs use it by default; Keras'
    SimpleRNN loop does not), so a difference means a layout or arithmetic bug."""
    import torch

    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def _data(batch=4, steps=6, features=3, pad=(0, 2, 5, 1), left=False, seed=0):
    """Random sequences and a mask padding row i by `pad[i]` steps (right, or left)."""
    x = np.random.default_rng(seed).normal(size=(batch, steps, features)).astype("float32")
    mask = np.ones((batch, steps), bool)
    for i, p in enumerate(pad[:batch]):
        if p:
            mask[i, slice(0, p) if left else slice(steps - p, steps)] = False
    return x, mask


def _pair(kind, bidirectional=False, **kwargs):
    """A fused layer and a plain Keras one with the same (random) weights."""
    rng = np.random.default_rng(1)

    def make():
        layer = LAYERS[kind](5, **kwargs)
        return keras.layers.Bidirectional(layer) if bidirectional else layer

    fused, plain = _torch_rnn.fuse(make()), make()
    fused.build((None, None, 3))
    plain.build((None, None, 3))
    weights = [rng.normal(scale=0.5, size=w.shape).astype("float32") for w in fused.get_weights()]
    fused.set_weights(weights)
    plain.set_weights(weights)
    return fused, plain


def _fell_back(layer):
    """Count the calls of Keras' own inner loop on each fused sub-layer."""
    calls = []
    subs = [layer.forward_layer, layer.backward_layer] if hasattr(layer, "forward_layer") else [
        layer
    ]
    for sub in subs:
        original = getattr(sub, _torch_rnn._ORIGINAL)

        def spy(*args, _original=original, **kwargs):
            calls.append(1)
            return _original(*args, **kwargs)

        object.__setattr__(sub, _torch_rnn._ORIGINAL, spy)
    return calls


def _np(tensor):
    """A tensor's values on the host (the tests also run on CUDA: benchmarks/gpu/check.sh)."""
    return tensor.detach().cpu().numpy()


def _outputs_and_grads(layer, x, mask, seed=2):
    import torch

    for w in layer.trainable_weights:
        w.value.grad = None
    out = layer(x, mask=None if mask is None else keras.ops.convert_to_tensor(mask))
    out = out if isinstance(out, (list, tuple)) else [out]
    rng = np.random.default_rng(seed)
    weights = [
        torch.as_tensor(rng.normal(size=tuple(o.shape)), dtype=o.dtype, device=o.device)
        for o in out
    ]
    loss = sum((o * w).sum() for o, w in zip(out, weights, strict=True))
    loss.backward()
    return (
        [_np(o) for o in out],
        [_np(w.value.grad).copy() for w in layer.trainable_weights],
    )


def _assert_same(fused, plain, x, mask):
    out_f, grad_f = _outputs_and_grads(fused, x, mask)
    out_p, grad_p = _outputs_and_grads(plain, x, mask)
    for a, b in zip(out_f, out_p, strict=True):
        np.testing.assert_allclose(a, b, **TOL)
    for a, b in zip(grad_f, grad_p, strict=True):
        np.testing.assert_allclose(a, b, **TOL)


@pytest.mark.parametrize("kind", list(LAYERS))
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_fused_equals_keras_outputs_and_gradients(kind, bidirectional, return_sequences, masked):
    fused, plain = _pair(kind, bidirectional, return_sequences=return_sequences)
    calls = _fell_back(fused)
    x, mask = _data()
    _assert_same(fused, plain, x, mask if masked else None)
    assert calls == [], "the fused path was not taken"


@pytest.mark.parametrize("kind", list(LAYERS))
def test_go_backwards_and_return_state(kind):
    fused, plain = _pair(kind, go_backwards=True, return_sequences=True, return_state=True)
    calls = _fell_back(fused)
    x, mask = _data()
    _assert_same(fused, plain, x, None)
    _assert_same(fused, plain, x, mask)
    assert calls == []


@pytest.mark.parametrize("kind", list(LAYERS))
def test_input_dropout_keeps_the_fused_path_and_keras_mask(kind):
    """Training with input dropout: the fused layer uses the cell's own dropout mask."""
    import torch

    fused, plain = _pair(kind, dropout=0.5, return_sequences=True)
    calls = _fell_back(fused)
    x, _ = _data()
    keras.utils.set_random_seed(7)
    a = fused(x, training=True)
    keras.utils.set_random_seed(7)
    b = plain(x, training=True)
    assert calls == []
    np.testing.assert_allclose(_np(a), _np(b), **TOL)
    assert not torch.allclose(a, fused(x, training=False))


@pytest.mark.parametrize(
    "kind, kwargs, mask_kind, reason",
    [
        ("lstm", {}, "left", "right-padded"),
        ("gru", {}, "all_masked", "right-padded"),
        ("lstm", {"recurrent_dropout": 0.2}, None, "recurrent_dropout"),
        ("gru", {"recurrent_dropout": 0.2}, None, "recurrent_dropout"),
        ("lstm", {"activation": "relu"}, None, "activation"),
        ("gru", {"recurrent_activation": "hard_sigmoid"}, None, "activation"),
        ("simple_rnn", {"activation": "sigmoid"}, None, "activation"),
        ("gru", {"reset_after": False}, None, "reset_after"),
        ("lstm", {"use_bias": False}, None, "use_bias"),
        ("simple_rnn", {"unroll": True}, None, "unroll"),
    ],
)
def test_each_fallback_runs_keras_path(kind, kwargs, mask_kind, reason):
    fused, plain = _pair(kind, return_sequences=True, **kwargs)
    calls = _fell_back(fused)
    x, mask = _data(left=mask_kind == "left")
    if mask_kind == "all_masked":
        mask[1] = False
    mask = mask if mask_kind else None
    torch_mask = None if mask is None else keras.ops.convert_to_tensor(mask)
    assert reason in _torch_rnn.fallback_reason(fused, torch_mask)
    if "recurrent_dropout" not in kwargs:  # random in training; compared in inference
        _assert_same(fused, plain, x, mask)
    else:
        np.testing.assert_allclose(
            _np(fused(x)), _np(plain(x)), **TOL
        )
    assert calls, "Keras' own path was not taken"


def test_lstm_under_torch_compile_takes_keras_path(monkeypatch):
    # inductor (torch 2.13, CPU) fails on the fused LSTM kernel; GRU/SimpleRNN compile
    import torch

    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    reasons = {kind: _torch_rnn.fallback_reason(_pair(kind)[0]) for kind in LAYERS}
    assert "torch.compile" in reasons.pop("lstm")
    assert reasons == {"simple_rnn": None, "gru": None}


@pytest.mark.parametrize("kind", list(LAYERS))
def test_equals_torch_nn_given_the_same_weights(kind):
    import torch

    fused, _ = _pair(kind, return_sequences=True)
    x, _ = _data()
    w_ih, w_hh, b_ih, b_hh = (
        p.detach().cpu() for p in _torch_rnn._params(
            "rnn" if kind == "simple_rnn" else kind, fused.cell, torch.float32
        )
    )
    module = {"simple_rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind](
        3, 5, batch_first=True
    )
    with torch.no_grad():
        for name, value in zip(["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"],
                               [w_ih, w_hh, b_ih, b_hh], strict=True):
            getattr(module, name).copy_(value)
        expected = module(torch.as_tensor(x))[0].numpy()
    np.testing.assert_allclose(_np(fused(x)), expected, **TOL)


@pytest.mark.parametrize("cell", list(LAYERS))
def test_stacked_bidirectional_masked_zoo_model_equals_keras(cell):
    """The zoo builder fuses every layer; a clone (plain Keras layers) agrees."""
    model = zoo.create(
        cell, input_shape=(None, 3), num_classes=4, units=5, depth=2, bidirectional=True,
        masking=True,
    )
    plain = keras.models.clone_model(model)
    plain.set_weights(model.get_weights())
    rnns = [lyr for lyr in model.layers if isinstance(lyr, keras.layers.Bidirectional)]
    calls = [c for lyr in rnns for c in _fell_back(lyr)]
    x, mask = _data()
    x[~mask] = 0.0
    import torch

    xt = torch.as_tensor(x)
    out_f, out_p = model(xt), plain(xt)
    np.testing.assert_allclose(_np(out_f), _np(out_p), **TOL)
    grads = []
    for m, out in ((model, out_f), (plain, out_p)):
        out.sum().backward()
        grads.append([_np(w.value.grad) for w in m.trainable_weights])
    for a, b in zip(*grads, strict=True):
        np.testing.assert_allclose(a, b, **TOL)
    assert calls == [] and not hasattr(plain.get_layer("bi_" + cell + "_0").forward_layer,
                                       _torch_rnn._ORIGINAL)


def test_lstm_fcn_lstm_is_fused():
    model = zoo.create("lstm_fcn", input_shape=(12, 2), num_classes=3)
    assert hasattr(model.get_layer("lstm"), _torch_rnn._ORIGINAL)


def test_saved_file_names_keras_classes_and_loads_on_jax_and_tensorflow(tmp_path):
    model = zoo.create(
        "lstm", input_shape=(None, 3), num_classes=4, units=5, depth=2, bidirectional=True,
        masking=True,
    )
    x, mask = _data(seed=3)
    x[~mask] = 0.0
    path = tmp_path / "m.keras"
    model.save(path)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", model.predict(x, verbose=0))
    config = keras.saving.load_model(path).get_config()
    assert "kzoo" not in str(config) and "Bidirectional" in str(config)
    loaded = zoo.load_model_safely(path)  # kzoo's loader fuses the loaded layers
    assert hasattr(loaded.get_layer("bi_lstm_0").backward_layer, _torch_rnn._ORIGINAL)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), np.load(tmp_path / "y.npy"), **TOL)
    script = textwrap.dedent(f"""
        import keras, numpy as np
        m = keras.saving.load_model({str(path)!r})
        got = m.predict(np.load({str(tmp_path / 'x.npy')!r}), verbose=0)
        np.testing.assert_allclose(got, np.load({str(tmp_path / 'y.npy')!r}), rtol=1e-5, atol=1e-5)
        print("same")
    """)
    # tensorflow's wheel does not travel to the GPU machine (benchmarks/gpu/check.sh)
    for backend in [b for b in ("jax", "tensorflow") if importlib.util.find_spec(b)]:
        env = dict(os.environ, KERAS_BACKEND=backend)
        run = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
        )
        assert run.returncode == 0 and "same" in run.stdout, (backend, run.stderr[-2000:])


def test_digits_seq_accuracy_on_three_seeds():
    """The fused GRU learns digits-seq as Keras' path does (recipe: GRU ~0.97 at lr 3e-3)."""
    from kzoo.training import train

    accuracies = [
        train("gru", "digits-seq", epochs=15, verbose=0, seed=seed, lr=3e-3).summary[
            "test_accuracy"
        ]
        for seed in (0, 1, 2)
    ]
    assert np.median(accuracies) > 0.9, accuracies
