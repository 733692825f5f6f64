"""zoo/_torch_rnn.py: what the fused path hands to `torch._VF` is laid out as cuDNN needs.

cuDNN flattens the weights with `view`: transposed (non-contiguous) views of Keras'
kernels crashed it on CUDA ("view size is not compatible with input tensor's size and
stride", issue 25). These tests check the layout on the CPU; on CUDA,
benchmarks/gpu/check.sh runs them and tests/zoo/test_torch_rnn.py's equality tests.
"""

import keras
import numpy as np
import pytest
from _backends import one_backend

from kzoo import zoo
from kzoo.zoo import _torch_rnn

pytestmark = [
    one_backend("torch", "the fused path exists only on the torch backend (a no-op elsewhere)"),
    pytest.mark.device,
]

LAYERS = {"simple_rnn": keras.layers.SimpleRNN, "lstm": keras.layers.LSTM, "gru": keras.layers.GRU}


def _data(batch=4, steps=6, features=3, pad=(0, 2, 5, 1)):
    """Random sequences and a mask padding row i by `pad[i]` steps on the right."""
    x = np.random.default_rng(0).normal(size=(batch, steps, features)).astype("float32")
    mask = np.ones((batch, steps), bool)
    for i, p in enumerate(pad[:batch]):
        if p:
            mask[i, steps - p:] = False
    return x, mask


def _spy_runs(monkeypatch):
    """Record the tensors each `torch._VF` call gets: (x, states, params)."""
    runs, real = [], _torch_rnn._run

    def spy(kind, cell, x, states, params, training, batch_sizes=None):
        runs.append((x, list(states), list(params)))
        return real(kind, cell, x, states, params, training, batch_sizes)

    monkeypatch.setattr(_torch_rnn, "_run", spy)
    return runs


@pytest.mark.parametrize("cell", list(LAYERS))
@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
@pytest.mark.parametrize("masked", [False, True])
def test_kernels_get_contiguous_weights_in_the_compute_dtype(monkeypatch, cell, policy, masked):
    """cuDNN flattens the weights with `view`: transposed (non-contiguous) views of Keras'
    kernels crash it on CUDA (issue 25). Every tensor handed to `torch._VF` -- weights,
    states, input -- is contiguous, shaped as torch's RNN modules hold them, in the
    layer's compute dtype, and differentiable back to the Keras variables; for stacked,
    bidirectional, masked (packed) and mixed-precision models."""
    runs = _spy_runs(monkeypatch)
    with zoo.precision(policy):
        model = zoo.create(cell, input_shape=(None, 3), num_classes=4, units=5, depth=2,
                           bidirectional=True, masking=masked)
    x, mask = _data()
    x[~mask] = 0.0
    out = model(x)  # a softmax: its plain sum has no gradient
    (out * keras.ops.convert_to_tensor(np.arange(4.0), out.dtype)).sum().backward()
    gates = {"simple_rnn": 1, "lstm": 4, "gru": 3}[cell]
    dtype = "float32"  # the zoo keeps its recurrent layers in float32 under mixed policies
    assert len(runs) == 4  # 2 layers x 2 directions, all fused
    for i, (inputs, states, params) in enumerate(runs):
        width = 3 if i < 2 else 10  # the second layer reads both directions' outputs
        assert [tuple(p.shape) for p in params] == [
            (gates * 5, width), (gates * 5, 5), (gates * 5,), (gates * 5,)
        ]
        for t in [inputs, *states, *params]:
            assert t.is_contiguous() and str(t.dtype) == f"torch.{dtype}", (i, t.shape)
        assert all(p.requires_grad for p in params[:3])
        assert (inputs.dim() == 2) == masked  # packed data when masked
    rnns = [w for w in model.trainable_weights if "kernel" in w.path or "bias" in w.path]
    assert rnns and all(float(abs(w.value.grad).sum()) > 0 for w in rnns)


@pytest.mark.parametrize("kind", list(LAYERS))
def test_kernels_get_contiguous_bfloat16_weights(monkeypatch, kind):
    """A layer computing in bfloat16 hands bfloat16, contiguous tensors to the kernel."""
    import torch

    runs = _spy_runs(monkeypatch)
    # orthogonal initialisation has no bfloat16 CPU kernel (geqrf)
    layer = _torch_rnn.fuse(keras.layers.Bidirectional(LAYERS[kind](
        5, dtype="bfloat16", recurrent_initializer="glorot_uniform", return_sequences=True
    )))
    x, mask = _data()
    layer(x, mask=keras.ops.convert_to_tensor(mask)).float().sum().backward()
    assert len(runs) == 2
    for inputs, states, params in runs:
        assert all(t.is_contiguous() and t.dtype == torch.bfloat16
                   for t in [inputs, *states, *params])
    assert all(float(abs(w.value.grad).sum()) > 0 for w in layer.trainable_weights)
