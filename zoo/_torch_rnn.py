"""Private: torch's fused recurrent kernels for Keras' SimpleRNN/LSTM/GRU, on CPU too.

Keras 3.15's torch backend calls the fused ATen kernels (`torch._VF.lstm`/`gru`)
only for CUDA inputs; on CPU it loops over time steps in Python, 2-5x slower
than `torch.nn.LSTM` (benchmarks/RESULTS.md). The same kernels run on CPU, so
on torch the zoo's builders pass their recurrent layers through `fuse`, which
replaces that layer instance's `inner_loop` (the per-time-step part of Keras'
`RNN.call`) with one `torch._VF` call whenever the configuration allows it:

- tanh/sigmoid activations (SimpleRNN: tanh or relu), `use_bias`, `unroll=False`,
  no recurrent dropout, not stateful, GRU with `reset_after=True`;
- no mask, or a right-padded mask without empty rows (packed sequences).

Everything else, including a call under `torch.compile` with a mask (its length
check reads the mask on the host) and an LSTM under `torch.compile` (inductor
cannot lower its CPU kernel), runs Keras' own `inner_loop`. Only the
instance changes: the class, its config and its variables are Keras', so a saved
`.keras` file names `LSTM` and loads anywhere. The weights are read in Keras'
layout on every call (the kernels are views or small concatenations), so
gradients reach the Keras variables.
"""

import types

import keras

_ORIGINAL = "_kzoo_keras_inner_loop"


def fuse(layer):
    """Give `layer` (a Keras RNN or `Bidirectional` of one) the fused path on torch.

    Returns `layer`. A no-op on other backends and for other layers.
    """
    if keras.backend.backend() != "torch":
        return layer
    if isinstance(layer, keras.layers.Bidirectional):
        fuse(layer.forward_layer)
        fuse(layer.backward_layer)
        return layer
    if _kind(layer) is None or hasattr(layer, _ORIGINAL):
        return layer
    object.__setattr__(layer, _ORIGINAL, layer.inner_loop)
    object.__setattr__(layer, "inner_loop", types.MethodType(_inner_loop, layer))
    return layer


def fuse_model(model):
    """`fuse` every recurrent layer of `model` (e.g. after loading it); returns it."""
    for layer in model._flatten_layers(include_self=False, recursive=True):
        fuse(layer)
    return model


def _kind(layer):
    # Exact classes: a subclass may change the cell's arithmetic.
    return {
        keras.layers.LSTM: "lstm",
        keras.layers.GRU: "gru",
        keras.layers.SimpleRNN: "rnn",
    }.get(type(layer))


def fallback_reason(layer, mask=None):
    """Why `layer` (with `mask`) takes Keras' path, or `None` when it is fused."""
    import torch

    kind = _kind(layer)
    if kind is None:
        return f"{type(layer).__name__} is not a Keras SimpleRNN/LSTM/GRU"
    cell = layer.cell
    acts = keras.activations
    if kind == "rnn":
        if cell.activation not in (acts.tanh, acts.relu):
            return "activation is not tanh or relu"
    elif cell.activation is not acts.tanh or cell.recurrent_activation is not acts.sigmoid:
        return "activation/recurrent_activation are not tanh/sigmoid"
    if not cell.use_bias:
        return "use_bias=False"
    if kind == "gru" and not cell.reset_after:
        return "reset_after=False"
    if cell.recurrent_dropout:
        return "recurrent_dropout > 0"
    if layer.unroll:
        return "unroll=True"
    if layer.stateful:
        return "stateful=True"
    if kind == "lstm" and torch.compiler.is_compiling():
        # torch 2.13's inductor lowers torch._VF.lstm on CPU to mkldnn_rnn_layer and
        # fails ("expected Tensor() for op: torch.ops.aten.mkldnn_rnn_layer",
        # benchmarks/torch_compile.py); Keras' loop compiles.
        return "LSTM under torch.compile"
    if mask is not None:
        if torch.compiler.is_compiling():
            return "a mask under torch.compile"
        if not _right_padded(mask):
            return "mask is not right-padded (or has an all-masked row)"
    return None


def _right_padded(mask):
    import torch

    mask = mask.bool()
    lengths = mask.sum(1, keepdim=True)
    steps = torch.arange(mask.shape[1], device=mask.device)
    return bool(((steps < lengths) == mask).all() and (lengths > 0).all())


def _params(kind, cell, dtype):
    """Keras weights as torch's `[w_ih, w_hh, b_ih, b_hh]`, keeping the autograd graph.

    Each is a contiguous tensor (a copy, differentiable): cuDNN flattens the weights
    with `view`, which fails on the transposed views of Keras' (in, gates * units)
    kernels ("view size is not compatible with input tensor's size and stride").
    """
    import torch

    kernel = cell.kernel.value.to(dtype).T
    recurrent = cell.recurrent_kernel.value.to(dtype).T
    bias = cell.bias.value.to(dtype)
    if kind == "gru":
        # Keras gates z, r, h; torch r, z, n (gates are rows after the transpose).
        # Keras' reset_after bias is (2, 3 * units): input row, recurrent row, as
        # torch's b_ih, b_hh. `cat` writes a new contiguous tensor.
        def reorder(w):
            z, r, h = torch.chunk(w, 3, dim=0)
            return torch.cat([r, z, h], dim=0)

        return [reorder(kernel), reorder(recurrent), reorder(bias[0]), reorder(bias[1])]
    # LSTM gates i, f, c, o are torch's i, f, g, o; one bias, so b_hh is zero.
    return [kernel.contiguous(), recurrent.contiguous(), bias.contiguous(),
            torch.zeros_like(bias, memory_format=torch.contiguous_format)]


def _run(kind, cell, x, states, params, training, batch_sizes=None):
    """One `torch._VF` call over `x` (batch-first, or packed data with `batch_sizes`)."""
    import torch

    # cuDNN also needs contiguous states and input (no copy when they already are).
    hx = [s.unsqueeze(0).contiguous() for s in states]
    x = x.contiguous()
    packed = batch_sizes is not None
    head = (x, batch_sizes) if packed else (x,)
    tail = (True, 1, 0.0, training, False) + (() if packed else (True,))
    if kind == "lstm":
        out, h, c = torch._VF.lstm(*head, tuple(hx), params, *tail)
        return out, [h[0], c[0]]
    if kind == "gru":
        fn = torch._VF.gru
    else:
        fn = torch._VF.rnn_tanh if cell.activation is keras.activations.tanh else torch._VF.rnn_relu
    out, h = fn(*head, hx[0], params, *tail)
    return out, [h[0]]


def _inner_loop(self, sequences, initial_state, mask, training=False):
    import torch

    if isinstance(mask, (list, tuple)):
        mask = mask[0]
    kind = _kind(self)
    if (
        not isinstance(sequences, torch.Tensor)
        or sequences.device.type == "meta"
        or fallback_reason(self, mask) is not None
    ):
        return getattr(self, _ORIGINAL)(sequences, initial_state, mask, training=training)
    cell = self.cell
    if not isinstance(initial_state, (list, tuple)):
        initial_state = [initial_state]
    dtype = cell.kernel.value.dtype
    x = sequences.to(dtype)
    if training and cell.dropout:
        # Keras' cells apply one input-dropout mask at every step.
        x = x * cell.get_dropout_mask(x[:, 0, :]).unsqueeze(1).to(dtype)
    states = [s.to(dtype) for s in initial_state]
    params = _params(kind, cell, dtype)
    grad = torch.is_grad_enabled()
    steps = x.shape[1]

    if mask is None:
        if self.go_backwards:
            x = torch.flip(x, dims=[1])
        outputs, states = _run(kind, cell, x, states, params, grad)
        return outputs[:, -1], outputs, states

    # Right-padded mask: run only the valid steps (packed), then lay the outputs
    # out as Keras' masked loop does.
    rnn_utils = torch.nn.utils.rnn
    lengths = mask.bool().sum(1)
    t = torch.arange(steps, device=x.device)
    valid = t.unsqueeze(0) < lengths.unsqueeze(1)
    # within-length reversal (an involution): step t <-> L - 1 - t, padding in place
    rev = torch.where(valid, lengths.unsqueeze(1) - 1 - t, t)
    if self.go_backwards:
        x = torch.gather(x, 1, rev.unsqueeze(-1).expand_as(x))
    packed = rnn_utils.pack_padded_sequence(
        x, lengths.cpu(), batch_first=True, enforce_sorted=False
    )
    order, unorder = packed.sorted_indices, packed.unsorted_indices
    data, states = _run(
        kind, cell, packed.data, [s[order] for s in states], params, grad, packed.batch_sizes
    )
    states = [s[unorder] for s in states]
    y, _ = rnn_utils.pad_packed_sequence(
        packed._replace(data=data), batch_first=True, total_length=steps
    )  # zeros after each row's length
    last = states[0]
    if self.go_backwards:
        # Keras reverses the whole sequence, so padding comes first and outputs 0
        # there: its outputs are the within-length reversal of `y`, flipped.
        y = torch.flip(torch.gather(y, 1, rev.unsqueeze(-1).expand_as(y)), dims=[1])
        return last, y, states
    full = lengths == steps
    if self.zero_output_for_mask:
        return torch.where(full.unsqueeze(1), last, 0.0), y, states
    # Keras carries the last valid output over the padded steps.
    carry = torch.minimum(t.unsqueeze(0), (lengths - 1).unsqueeze(1))
    return last, torch.gather(y, 1, carry.unsqueeze(-1).expand_as(y)), states
