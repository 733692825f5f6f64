"""Private: the gradient hook's ring buffers (a window of recent values in an
optimizer variable), their percentile and counters, on each backend's fast path."""

import math

import keras
import numpy as np
from keras import ops


def _torch():
    """True on the torch backend, where the hot path below calls torch directly:
    each `keras.ops` call on torch costs ~10 us of conversion and dtype checks,
    which for a 10-variable model made the hook ~1 ms per step on CPU."""
    return keras.backend.backend() == "torch"


def _tensorflow():
    """True on the tensorflow backend, where the hook updates ring slots and counters
    in place on the `tf.Variable`s (one op each) instead of rewriting whole variables."""
    return keras.backend.backend() == "tensorflow"


def ring_array(history, window):
    """Host value of a ring of `window` slots holding `history` (oldest first).

    Returns `(hist, count)`: slot i holds the i-th oldest value and `count % window`
    is the next slot; slots not yet written hold +inf, so a sort puts them last.
    """
    history = [float(v) for v in history][-window:]
    hist = np.full(window, np.inf, "float32")
    hist[: len(history)] = history
    return hist, np.asarray(len(history), "int32")


def percentile(hist, count, q):
    """`q`-th percentile (numpy's linear method) of the first `count` ring entries.

    Unwritten slots hold +inf (see `ring_array`), so the entries needed are among the
    `k` smallest, `k` fixed by the window size and `q`: a partial `top_k` instead of a
    full sort.
    """
    if _torch():
        return _percentile_torch(hist, count, q)
    size = hist.shape[0]
    k = min(size, int(math.floor((size - 1) * q / 100.0)) + 3)
    smallest = -ops.top_k(-hist, k)[0]  # ascending
    last = ops.maximum(ops.minimum(count, size) - 1, 0)
    pos = ops.cast(last, "float32") * (q / 100.0)
    lo = ops.minimum(ops.cast(pos, "int32"), k - 1)
    hi = ops.minimum(ops.minimum(lo + 1, last), k - 1)
    a, b = ops.take(smallest, lo), ops.take(smallest, hi)
    value = a + (b - a) * (pos - ops.cast(lo, "float32"))
    return ops.where(count > 0, value, 0.0)


def _percentile_torch(hist, count, q):
    import torch

    size = hist.shape[0]
    valid = torch.clamp(count, max=size)
    safe = torch.clamp(valid, min=1)
    idx = torch.arange(size, device=hist.device)
    s = torch.sort(torch.where(idx < valid, hist, float("inf"))).values
    pos = (safe - 1).float() * (q / 100.0)
    lo = torch.floor(pos).long()
    hi = torch.minimum(lo + 1, (safe - 1).long())
    # gather, not s[lo]: indexing by a 0-d tensor breaks the torch.compile graph
    a, b = s.gather(0, lo.reshape(1))[0], s.gather(0, hi.reshape(1))[0]
    return torch.where(valid > 0, a + (b - a) * (pos - lo.float()), 0.0)


def ring_push(hist, count, value, keep=True):
    """Write `value` at slot `count % size` (when `keep`); returns new (hist, count)."""
    if _torch():
        import torch

        keep = torch.as_tensor(keep, device=hist.device)
        slots = torch.arange(hist.shape[0], device=hist.device)
        hit = torch.logical_and(slots == count % hist.shape[0], keep)
        return torch.where(hit, value, hist), count + keep.to(count.dtype)
    size = hist.shape[0]
    slot = ops.mod(count, size)
    hist_new = ops.where(ops.logical_and(ops.arange(size) == slot, keep), value, hist)
    return hist_new, count + ops.cast(keep, count.dtype)


def ring_record(hist_var, count_var, value, keep):
    """`ring_push` into the variables themselves; returns the new (hist, count) tensors.

    On tensorflow the slot and the count are updated in place (a scatter and an
    `assign_add`; XLA compiles both), not by rewriting the whole window each step.
    """
    if _tensorflow():
        import tensorflow as tf

        hist, count = hist_var.value, count_var.value
        slot = tf.reshape(tf.math.floormod(count.read_value(), hist.shape[0]), (1, 1))
        old = tf.gather_nd(hist.read_value(), slot)
        hist.scatter_nd_update(slot, tf.where(keep, tf.reshape(value, (1,)), old))
        count.assign_add(tf.cast(keep, count.dtype), read_value=False)
        return hist.read_value(), count.read_value()
    hist, count = ring_push(
        ops.convert_to_tensor(hist_var), ops.convert_to_tensor(count_var), value, keep
    )
    hist_var.assign(hist)
    count_var.assign(count)
    return hist, count


def add_to(var, value):
    """`var += value` (an integer counter): one in-place op on tensorflow."""
    if _tensorflow():
        var.value.assign_add(ops.cast(value, var.dtype), read_value=False)
    else:
        var.assign(var + ops.cast(value, var.dtype))
