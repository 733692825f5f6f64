"""Streamed features (`kzoo.datasets.npy_rows.NpyRows`, from a folder of `.npy`
files) reach Keras as `PyDataset`s of batches, never as one array.

`routed(model)` makes the model's `fit`, `evaluate` and `predict` take them
where they take arrays: batches of `batch_size` (Keras' default 32) in order,
and for `fit` a `ShuffledBatches` order. `kzoo.train` trains such data through
`fit_resumable` (the seeded, resumable order of arrays); the routing covers the
rest of a run: validation, the test and training-set scores, the LR finder.
"""

import contextlib

import keras
import numpy as np

from kzoo.fit.batches import ShuffledBatches


def is_streamed(x):
    """Whether `x` is streamed rows (`NpyRows`) rather than an array."""
    return bool(getattr(x, "streamed", False))


class _Inputs(keras.utils.PyDataset):
    """The rows of `x` in order, `batch_size` at a time, without targets (predict)."""

    def __init__(self, x, batch_size):
        super().__init__(workers=1, use_multiprocessing=False)
        self.x, self.batch_size = x, batch_size

    def __len__(self):
        return -(-len(self.x) // self.batch_size)

    def __getitem__(self, i):
        return self.x[i * self.batch_size:(i + 1) * self.batch_size]


def in_order(x, y, batch_size=None):
    """`(x, y)` with streamed `x` as a PyDataset of batches in order (else as given)."""
    if not is_streamed(x):
        return x, y
    if y is None:
        return _Inputs(x, batch_size or 32), None
    return ShuffledBatches(x, np.asarray(y), batch_size or 32, 0, shuffle=False), None


@contextlib.contextmanager
def routed(model):
    """Within the block, `model.fit/evaluate/predict` take streamed `x` (see the
    module docstring). Other inputs go to Keras as they are."""
    own = {name: getattr(model, name) for name in ("fit", "evaluate", "predict")}

    def fit(x=None, y=None, batch_size=None, validation_data=None, shuffle=True, **kwargs):
        if (isinstance(validation_data, (tuple, list)) and len(validation_data) == 2
                and is_streamed(validation_data[0])):
            batch = kwargs.get("validation_batch_size") or batch_size
            validation_data = in_order(*validation_data, batch)[0]
        if is_streamed(x):
            x = ShuffledBatches(x, np.asarray(y), batch_size or 32, 0, shuffle=shuffle)
            y = batch_size = None
        return own["fit"](x, y, batch_size=batch_size, validation_data=validation_data,
                          shuffle=shuffle, **kwargs)

    def evaluate(x=None, y=None, batch_size=None, **kwargs):
        if is_streamed(x):
            (x, y), batch_size = in_order(x, y, batch_size), None
        return own["evaluate"](x, y, batch_size=batch_size, **kwargs)

    def predict(x, batch_size=None, **kwargs):
        if is_streamed(x):
            x, batch_size = in_order(x, None, batch_size)[0], None
        return own["predict"](x, batch_size=batch_size, **kwargs)

    model.__dict__.update(fit=fit, evaluate=evaluate, predict=predict)
    try:
        yield
    finally:
        for name in own:
            model.__dict__.pop(name, None)
