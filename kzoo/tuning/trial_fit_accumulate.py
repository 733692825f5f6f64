"""Gradient accumulation in a search's trials (`kzoo tune --accumulate N`)."""

import functools

from kzoo.callbacks._accumulate import set_accumulation


def accumulating(trial_callbacks, steps):
    """`trial_callbacks` (called on each trial's compiled model right before its fit)
    that first makes the model's optimizer accumulate `steps` micro-batches per update;
    the optimizer is not built yet, so its accumulators join its variables (and the
    trial's checkpoints)."""
    if steps == 1:
        return trial_callbacks

    @functools.wraps(trial_callbacks)
    def wrapped(model, x, devices):
        set_accumulation(model.optimizer, steps)
        return trial_callbacks(model, x, devices)

    return wrapped
