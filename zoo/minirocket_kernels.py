"""MiniRocket's fixed parts (Dempster et al. 2021): the 84 kernels of length 9,
the dilations for a series length, the bias quantiles and their fit, the channel
subsets of the multivariate variant, and the per-backend compilation of the transform."""

import itertools
import math

import keras
import numpy as np

KERNEL_LENGTH = 9
NUM_KERNELS = 84  # C(9, 3)
PHI = (1 + math.sqrt(5)) / 2


def kernel_indices():
    """(84, 3): the positions of the three 2s of each kernel, in the paper's order."""
    return np.array(list(itertools.combinations(range(KERNEL_LENGTH), 3)), dtype="int32")


def kernel_weights():
    """(9, 84): the kernels as columns, -1 everywhere and 2 at their three indices."""
    weights = -np.ones((KERNEL_LENGTH, NUM_KERNELS), dtype="float32")
    for k, idx in enumerate(kernel_indices()):
        weights[idx, k] = 2.0
    return weights


def fit_dilations(length, num_features=10_000, max_dilations=32):
    """The dilations for series of `length` steps and the features each one gets per kernel.

    Returns:
        `(dilations, features_per_dilation)`, two int arrays; the features per
        dilation sum to `num_features // 84`.
    """
    per_kernel = num_features // NUM_KERNELS
    true_max = min(per_kernel, max_dilations)
    multiplier = per_kernel / true_max
    # log2((L - 1) / 8); clamped at 0 for series shorter than 9 (dilation 1 only).
    max_exponent = max(0.0, math.log2(max(length - 1, 1) / (KERNEL_LENGTH - 1)))
    spaced = np.logspace(0, max_exponent, true_max, base=2).astype("int32")
    dilations, counts = np.unique(spaced, return_counts=True)
    counts = (counts * multiplier).astype("int32")
    remainder = per_kernel - counts.sum()
    for i in range(remainder):  # the paper hands the remainder out round-robin
        counts[i % len(counts)] += 1
    return dilations, counts


def quantiles(n):
    """The first `n` of the low-discrepancy sequence `(i * phi) % 1`, i = 1..n."""
    return np.array([(i * PHI) % 1 for i in range(1, n + 1)], dtype="float32")


def channel_combinations(channels, n_pairs, rng):
    """(n_pairs, channels) 0/1: the channels each kernel/dilation pair sums (paper's
    multivariate MiniRocket: `2 ** U(0, log2(min(C, 9) + 1))` channels, floored)."""
    mask = np.zeros((n_pairs, channels), dtype="float32")
    limit = math.log2(min(channels, KERNEL_LENGTH) + 1)
    counts = (2 ** rng.uniform(0, limit, n_pairs)).astype("int32")
    for i, count in enumerate(counts):
        mask[i, rng.choice(channels, min(count, channels), replace=False)] = 1.0
    return mask


def fit_biases(x, dilations, per_dilation, mask, total, rng):
    """The biases from `x` (NumPy, `(n, steps, channels)`): the quantiles (float64) of
    the padded convolution of one random example per kernel/dilation pair, in the
    paper's draw order; `mask` `(dilations, 84, channels)` holds each pair's channels."""
    weights = kernel_weights().astype("float64")  # (9, 84)
    q = quantiles(total)
    biases, start = np.zeros(total, dtype="float32"), 0
    for index, dilation in enumerate(int(d) for d in dilations):
        picks = rng.integers(len(x), size=NUM_KERNELS)
        # Convolution is linear in the channels: sum each pair's channels first.
        series = np.einsum("klc,kc->kl", x[picks].astype("float64"), mask[index])
        pad = (KERNEL_LENGTH - 1) // 2 * dilation
        series = np.pad(series, ((0, 0), (pad, pad)))
        conv = sum(weights[j][:, None] * series[:, j * dilation:j * dilation + x.shape[1]]
                   for j in range(KERNEL_LENGTH))
        count = int(per_dilation[index])
        for k in range(NUM_KERNELS):
            biases[start:start + count] = np.quantile(conv[k], q[start:start + count])
            start += count
    return biases


def compiled(fn):
    """`fn` compiled where the backend's eager ops are slow to dispatch (jax compiles
    each op shape, tensorflow runs op by op); torch runs it eagerly."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return jax.jit(fn)
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(fn, reduce_retracing=True)
    return fn


def time_weights(length, index, dilation):
    """(steps, 84): each kernel's averaging weights over time. Padded pairs average
    every step; unpadded ones only the steps where the whole kernel lies inside
    the series (all pairs are padded when no step is)."""
    pad = (KERNEL_LENGTH - 1) // 2 * dilation
    weights = np.full((length, NUM_KERNELS), 1.0 / length, dtype="float32")
    inner = length - 2 * pad
    if inner > 0:
        unpadded = (index + np.arange(NUM_KERNELS)) % 2 == 1
        weights[:, unpadded] = 0.0
        weights[pad:length - pad, unpadded] = 1.0 / inner
    return weights


# Comparisons one chunk of `raw_features` may hold on a CPU (x32 on an accelerator).
CHUNK_BYTES = 2**25


def on_accelerator(x):
    """Whether `x` is computed on a GPU or TPU (the backend's default device)."""
    backend = keras.backend.backend()
    if backend == "torch":
        device = getattr(x, "device", None)
        if device is not None and not isinstance(device, str):
            return device.type != "cpu"
        import torch  # Keras' torch backend puts new tensors on CUDA when it has it

        return torch.cuda.is_available()
    if backend == "jax":
        import jax

        return jax.default_backend() != "cpu"
    if backend == "tensorflow":
        import tensorflow as tf

        return bool(tf.config.list_logical_devices("GPU"))
    return False
