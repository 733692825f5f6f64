"""`ShuffledBatches`: the owned batch order of `fit_resumable` (a pure function
of the seed and the global step), padded to a multiple of the device count and
sliced per process in a multi-process job."""

import math

import keras
import numpy as np

from kzoo.runtime.checks import is_int
from kzoo.runtime.errors import DataError, UsageError


class ShuffledBatches(keras.utils.PyDataset):
    """Batches in a seeded per-epoch order, starting at any global step.

    Item `i` is the batch of global step `start_step + i`; an epoch is
    `steps_per_epoch = ceil(len(x) / batch_size)` steps (the last batch may be
    smaller). Pass it to `fit` with `steps_per_epoch` and `shuffle=False`.

    On several devices (`pad_to` = the device count), a batch whose size is
    not a multiple of `pad_to` (the last one of an epoch) is padded to one by
    repeating its first examples, and every batch comes as `(x, y,
    sample_weight)`: 0 for the pads, `padded / real` for the real examples
    (1 in a full batch). Keras' losses divide the weighted sum by the batch
    size (`"sum_over_batch_size"`), so the padded batch's loss and gradient
    equal the unpadded one's; `exact_padded_metrics` makes the logged loss
    and metrics equal too. With several processes, each yields its contiguous
    slice of every padded global batch, so every example is seen exactly once
    per epoch across the processes.

    Args:
        x: features, an array (or a list of arrays for multi-input models).
        y: targets.
        batch_size: examples per step (the global batch).
        seed: seed of the permutations.
        start_step: the first global step. Defaults to `0`.
        num_steps: number of batches it yields. Defaults to one epoch.
        pad_to: pad each batch to a multiple of this (the device count).
            Defaults to `1` (no padding, no sample weights).
        process_index: this process's index. Defaults to `0`.
        process_count: the number of processes; must divide `pad_to`.
            Defaults to `1`.
        shuffle: `False` keeps the data's order (validation). Defaults to `True`.

    Example:

    >>> data = ShuffledBatches(x, y, batch_size=32, seed=0, num_steps=5 * spe)
    >>> model.fit(data, epochs=5, steps_per_epoch=data.steps_per_epoch, shuffle=False)
    """

    def __init__(self, x, y, batch_size, seed, start_step=0, num_steps=None, pad_to=1,
                 process_index=0, process_count=1, shuffle=True):
        super().__init__(workers=1, use_multiprocessing=False)
        self.x = x
        self.y = y
        self.n = len(x[0] if isinstance(x, (list, tuple)) else x)
        if self.n == 0:
            raise DataError("ShuffledBatches got no examples.")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise UsageError(f"batch_size must be an int >= 1, got {batch_size!r}.")
        for name, value in (("pad_to", pad_to), ("process_count", process_count)):
            if not is_int(value) or value < 1:
                raise UsageError(f"{name} must be an int >= 1, got {value!r}.")
        if pad_to % process_count or not 0 <= process_index < process_count:
            raise UsageError(
                f"process_index={process_index!r}, process_count={process_count!r}, "
                f"pad_to={pad_to!r}: need 0 <= process_index < process_count, and pad_to "
                "(the global device count) a multiple of process_count."
            )
        self.batch_size = batch_size
        self.seed = int(seed)
        self.steps_per_epoch = math.ceil(self.n / batch_size)
        self.start_step = int(start_step)
        self.num_steps = self.steps_per_epoch if num_steps is None else int(num_steps)
        self.pad_to = pad_to
        self.process_index = process_index
        self.process_count = process_count
        self.shuffle = shuffle
        self._cached = (None, None)

    def permutation(self, epoch):
        if not self.shuffle:
            return np.arange(self.n)
        if self._cached[0] != epoch:
            self._cached = (epoch, np.random.default_rng([self.seed, epoch]).permutation(self.n))
        return self._cached[1]

    def __len__(self):
        return self.num_steps

    def global_batch(self, i):
        """`(indices, weights)` of item `i` on every process together (weights
        None without padding)."""
        if not 0 <= i < self.num_steps:
            raise IndexError(i)
        epoch, step = divmod(self.start_step + i, self.steps_per_epoch)
        idx = self.permutation(epoch)[step * self.batch_size : (step + 1) * self.batch_size]
        if self.pad_to == 1:
            return idx, None
        real = len(idx)
        padded = -(-real // self.pad_to) * self.pad_to
        idx = np.concatenate([idx, idx[np.arange(padded - real) % real]])
        weights = np.zeros(padded, "float32")
        weights[:real] = padded / real
        return idx, weights

    def __getitem__(self, i):
        idx, weights = self.global_batch(i)
        if self.process_count > 1:
            size = len(idx) // self.process_count
            mine = slice(self.process_index * size, (self.process_index + 1) * size)
            idx, weights = idx[mine], weights[mine]
        take = (lambda a: [v[idx] for v in a]) if isinstance(self.x, (list, tuple)) else None
        xb = take(self.x) if take else self.x[idx]
        return (xb, self.y[idx]) if weights is None else (xb, self.y[idx], weights)
