"""Precise BatchNorm statistics: moving mean and variance recomputed from the weights.

BatchNormalization trains on each batch's statistics and infers with moving
averages (momentum 0.99: after T steps 0.99**T of the old statistics remain).
With few steps between evaluations the averages describe earlier weights, and
a network that has learned can score chance in inference mode. "Precise BN"
(Wu & Johnson 2021, *Rethinking "Batch" in BatchNorm*; pycls, Detectron2)
replaces them before an evaluation with the population statistics of the
current weights over a fixed subset of the training data.

How: every BN layer normalises with its batch's statistics (as in training)
and records them, while every other layer stays in inference mode (dropout
and input noise off: the statistics inference needs are those of activations
without them, and no dropout seed is drawn, so the training trajectory is
unchanged). Per-batch means and variances combine by the law of total
variance. The subset is a pure function of the data size, so a resumed run
recomputes the same statistics. Models without BN are left untouched.
"""

import contextlib
import math
import weakref

import keras
import numpy as np

# The statistics pass sees FRACTION of the training examples, at least MIN_EXAMPLES
# and at most MAX_EXAMPLES, in batches of STATS_BATCH: a forward pass costs about a
# third of a training step, so a fifth of the examples is ~7 % of an epoch
# (benchmarks/bn_cost.py; README, "Defaults"). 32 series of 100+ steps give each
# channel's statistics from thousands of values.
FRACTION = 0.2
MIN_EXAMPLES = 32
MAX_EXAMPLES = 512
STATS_BATCH = 128


def batch_norm_layers(model):
    """The model's BatchNormalization layers that train their statistics (nested
    models included; frozen and batch-renorm layers are left alone)."""
    found, todo, seen = [], [model], set()
    while todo:
        layer = todo.pop()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        if isinstance(layer, keras.layers.BatchNormalization):
            if layer.trainable and not layer.renorm:
                found.append(layer)
            continue
        todo.extend(getattr(layer, "layers", None) or [])
    return found


@contextlib.contextmanager
def batch_statistics(model, record=None, to_numpy=True):
    """Within the block, `model(x, training=False)` normalises every BN layer with
    its batch's statistics (training mode) and leaves the other layers in
    inference mode. `record`, a dict, gets `layer -> [(mean, var, rows), ...]`
    for each call (float64 numpy; backend tensors with `to_numpy=False`, which
    converts nothing during the pass). The moving statistics are not changed."""
    layers = batch_norm_layers(model)
    for layer in layers:
        object.__setattr__(layer, "call", _batch_call(layer, record, to_numpy))
    try:
        yield layers
    finally:
        for layer in layers:
            layer.__dict__.pop("call", None)


def _batch_call(layer, record, to_numpy=True):
    ops = keras.ops

    def call(inputs, training=None, mask=None):
        x = ops.cast(inputs, keras.backend.result_type(inputs.dtype, "float32"))
        mean, var = layer._moments(x, mask)
        if record is not None:
            moments = (_float64(mean), _float64(var)) if to_numpy else (mean, var)
            record.setdefault(layer, []).append((*moments, int(x.shape[0])))
        out = ops.batch_normalization(
            x, mean, var, axis=layer.axis, epsilon=layer.epsilon,
            offset=layer.beta if layer.center else None,
            scale=layer.gamma if layer.scale else None)
        return ops.cast(out, layer.compute_dtype)

    return call


def subset_size(n, max_examples=MAX_EXAMPLES):
    """How many of `n` training examples the statistics pass sees."""
    return min(n, max_examples, max(MIN_EXAMPLES, math.ceil(FRACTION * n)))


def subset_indices(n, max_examples=MAX_EXAMPLES):
    """Evenly spaced indices of `subset_size(n)` of `n` rows: deterministic, and
    spread over the whole (already shuffled) training split."""
    size = subset_size(n, max_examples)
    if size >= n:
        return np.arange(n)
    return np.linspace(0, n - 1, size).round().astype("int64")


def no_grad():
    """torch's `no_grad` (eager calls build no graph); nothing elsewhere."""
    if keras.backend.backend() == "torch":
        import torch

        return torch.no_grad()
    return contextlib.nullcontext()


def _moments_model(model, layers):
    """A model sharing `model`'s layers whose outputs are, for each BN layer, the
    per-example mean and variance of its input over the non-batch reduction axes
    (None: a layer not on the functional graph). Cached per model, so the
    compiled predict is traced once."""
    cached = _MOMENTS_MODELS.get(model)
    if cached is not None:
        return cached
    ops, outputs = keras.ops, []
    try:
        for layer in layers:
            inputs = ops.cast(layer.input, "float32")
            inner = [a % len(inputs.shape) for a in layer._reduction_axes]
            inner = tuple(a for a in inner if a != 0)
            if inner:
                outputs += [ops.mean(inputs, axis=inner), ops.var(inputs, axis=inner)]
            else:
                outputs += [inputs, ops.zeros_like(inputs)]
        aux = keras.Model(model.inputs, outputs)
    except (AttributeError, ValueError, TypeError):  # nested or shared BN: eager path
        aux = False
    _MOMENTS_MODELS[model] = aux
    return aux


_MOMENTS_MODELS = weakref.WeakKeyDictionary()


def _eager_moments(model, xs, batch_size, layers):
    record = {}
    with batch_statistics(model, record, to_numpy=False), no_grad():
        for start in range(0, len(xs[0]), batch_size):
            model([a[start:start + batch_size] for a in xs] if len(xs) > 1
                  else xs[0][start:start + batch_size], training=False)
    found = []
    for layer in layers:
        parts = record.get(layer)
        found.append(None if parts is None else tuple(
            np.stack([_float64(p[i]) for p in parts]) for i in (0, 1))
            + (np.array([p[2] for p in parts], "float64"),))
    return found


def _float64(tensor):
    return keras.ops.convert_to_numpy(tensor).astype("float64")


@contextlib.contextmanager
def _global_rng_kept():
    """The global RNGs as they were: on torch, `predict`'s DataLoader draws its seed
    from torch's global generator, which Keras' own shuffling of the next epoch
    reads; the statistics pass must not change the batches the run trains on."""
    state = np.random.get_state()
    torch = None
    if keras.backend.backend() == "torch":
        import torch

        torch_state = torch.random.get_rng_state()
    try:
        yield
    finally:
        np.random.set_state(state)
        if torch is not None:
            torch.random.set_rng_state(torch_state)


def _compiled_moments(aux, xs, batch_size, layers, model):
    # predict_on_batch: the compiled step without predict()'s per-call data pipeline
    # (~0.3 s on tensorflow, more than the pass itself at the recipes' sizes).
    parts = []
    with batch_statistics(model), _global_rng_kept():
        for start in range(0, len(xs[0]), batch_size):
            batch = [a[start:start + batch_size] for a in xs]
            parts.append(aux.predict_on_batch(batch if len(batch) > 1 else batch[0]))
    out = [np.concatenate([np.asarray(p[i], "float64") for p in parts])
           for i in range(len(parts[0]))]
    return [(out[2 * i], out[2 * i + 1], np.ones(len(out[2 * i]))) for i in range(len(layers))]


def recompute_batch_norm(model, x, *, max_examples=MAX_EXAMPLES, batch_size=STATS_BATCH):
    """Set every BN layer's moving mean and variance to the statistics of the
    current weights over a fixed subset of `x` (an array, or a list of arrays).

    The pass is the model's compiled `predict` of the per-example moments of every
    BN layer's input; on torch, and for models that are not one functional graph,
    an eager forward that records each BN layer's batch moments.

    Returns:
        The number of examples the statistics came from (0: the model has no
        BatchNormalization layer, nothing changed).
    """
    layers = batch_norm_layers(model)
    if not layers:
        return 0
    xs = list(x) if isinstance(x, (list, tuple)) else [x]
    idx = subset_indices(len(xs[0]), max_examples)
    xs = [a[idx] if getattr(a, "streamed", False) else np.asarray(a)[idx] for a in xs]
    # torch runs predict_on_batch eagerly too, and the moments model adds a second
    # moments computation per BN layer (its per-example outputs) to the BN layers' own:
    # the plain eager forward costs about 70 % of it (benchmarks/RESULTS.md, bn_cost).
    aux = keras.backend.backend() != "torch" and _moments_model(model, layers)
    moments = (_compiled_moments(aux, xs, batch_size, layers, model) if aux
               else _eager_moments(model, xs, batch_size, layers))
    for layer, found in zip(layers, moments, strict=True):
        if found is None:  # not on the path from this input
            continue
        means, variances, weights = found
        weights = weights / weights.sum()
        mean = np.tensordot(weights, means, 1)
        # Law of total variance: within-part variance plus that of the part means.
        var = np.tensordot(weights, variances + (means - mean) ** 2, 1)
        layer.moving_mean.assign(mean.reshape(layer.moving_mean.shape).astype(
            layer.moving_mean.dtype))
        layer.moving_variance.assign(var.reshape(layer.moving_variance.shape).astype(
            layer.moving_variance.dtype))
    return len(idx)


class PreciseBatchNorm(keras.callbacks.Callback):
    """Recompute BN statistics (`recompute_batch_norm`) before every validation of a fit.

    Keras' `fit` calls `on_test_begin` before its validation pass, so the
    validation metrics that early stopping and the kept epoch read come from
    statistics that describe the weights being validated. The callback keeps
    no state: a resumed run recomputes from the same subset.

    Args:
        x: the training inputs (array or list of arrays).
        max_examples: the subset's size cap. Defaults to `MAX_EXAMPLES`.

    Example:

    >>> model.fit(x, y, validation_data=(xv, yv), callbacks=[PreciseBatchNorm(x)])
    """

    def __init__(self, x, max_examples=MAX_EXAMPLES):
        super().__init__()
        self.x = x
        self.max_examples = max_examples

    def on_test_begin(self, logs=None):
        recompute_batch_norm(self.model, self.x, max_examples=self.max_examples)
