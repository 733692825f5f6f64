"""A trial's fit that checkpoints under the search directory, and resumes where it stopped.

Each trial of a random, bayesian or tpe search trains with kzoo's exact-resume
`fit_resumable` and a `Checkpoint` in `OUT/kt/trial_<id>/ckpt` (every epoch).
When a worker dies, the chief puts its trial back in KerasTuner's retry queue
under the same trial id (`Oracle.create_trial` reruns `trials[retry_queue.pop()]`),
so the worker that picks it up finds that directory and continues from the last
checkpoint, not from epoch 0. The same holds for a single-process search killed
and run again. This needs `--out` on a filesystem every worker shares.

The checkpoint directory goes when the trial is recorded (`Recorder.trial_ended`);
KerasTuner's best-epoch weights (`checkpoint.weights.h5`) stay.
"""

import math
import pathlib

import keras

from kzoo.callbacks import Checkpoint
from kzoo.callbacks.checkpoint_format import latest_checkpoint
from kzoo.fit import fit_resumable
from kzoo.rundir.files import TRIAL_CHECKPOINT
from kzoo.runtime.errors import UsageError
from kzoo.training.batch_size import raise_fake_out_of_memory
from kzoo.tuning import _keras_tuner_private as private


def trial_callbacks(model, x, devices):
    """The callbacks a trial's fit gets before its own: `PreciseBatchNorm` (as `kzoo
    train` has) when the model has BatchNorm and its training data are arrays on one
    device, so the objective each epoch reports scores the weights, not BatchNorm's
    lagging moving averages (issue 31)."""
    from kzoo.callbacks.precise_bn import PreciseBatchNorm, batch_norm_layers

    arrays = hasattr(x, "shape") or (
        isinstance(x, (list, tuple)) and x and all(hasattr(a, "shape") for a in x))
    if not arrays or devices not in (None, 1) or not batch_norm_layers(model):
        return []
    return [PreciseBatchNorm(x)]


def checkpoint_dir(trial_dir):
    """Where a trial's checkpoints go, inside KerasTuner's trial directory."""
    return pathlib.Path(trial_dir) / TRIAL_CHECKPOINT


def fit_trial(model, x, y, *, batch_size, epochs, directory, seed, callbacks=(),
              validation_data=None, verbose=0, record=None, devices=1, **unsupported):
    """`fit_resumable` for a trial: resumes from `directory`'s last checkpoint, if any.

    Args:
        model: the trial's compiled model.
        x, y: training arrays.
        batch_size: the trial's batch size.
        epochs: the trial's epochs.
        directory: the trial's checkpoint directory; None trains in the same
            seeded order without checkpoints.
        seed: seed of the batch order (the trial's seed).
        callbacks: the trial's callbacks (KerasTuner's included).
        validation_data: passed to `fit`.
        verbose: passed to `fit`.
        record: a dict that gets `resumed_from_epoch`: the epochs (a fraction
            mid-epoch) the checkpoint had already trained, 0 for a fresh trial.
        devices: the devices the trial trains on (inside `kzoo.runtime.devices.scope`):
            each batch is padded to a multiple of it (`fit_resumable(pad_to=)`).

    Returns:
        A `keras.callbacks.History` of the whole trial, resumed epochs included.
    """
    if unsupported:  # e.g. Hyperband's initial_epoch, or a fit argument fit_resumable lacks
        raise UsageError(
            f"checkpointed trials take no {', '.join(sorted(unsupported))} argument."
        )
    raise_fake_out_of_memory(batch_size)  # the CPU test hook, off unless its variable is set
    callbacks = list(callbacks)
    found = None if directory is None else latest_checkpoint(directory)
    resumed = 0.0
    if found is not None:
        saved = found[2]
        spe = saved.get("steps_per_epoch") or math.ceil(len(x) / batch_size)
        resumed = round(saved["global_step"] / spe, 4)
        _restore_best_epoch(callbacks, saved.get("history") or {})
    if record is not None:
        record["resumed_from_epoch"] = resumed
    monitor = "val_loss" if validation_data is not None else "loss"
    ckpt = None if directory is None else Checkpoint(
        directory, monitor=monitor, save_best_k=0, keep_last=2,
        run_id=f"trial:{pathlib.Path(directory).parent.name}",
    )
    history = fit_resumable(
        model, x, y, epochs=epochs, batch_size=batch_size, checkpoint=ckpt, seed=seed,
        callbacks=callbacks, validation_data=validation_data, resume=True, verbose=verbose,
        pad_to=devices,
    )
    result = keras.callbacks.History()
    result.history = history
    result.epoch = list(range(len(history.get("loss", []))))
    return result


def restored_history(directory):
    """The per-epoch history in `directory`'s last checkpoint (`{}` without one)."""
    found = latest_checkpoint(directory)
    return dict(found[2].get("history") or {}) if found is not None else {}


def epoch_logs(history):
    """Each finished epoch's logs, `(epoch, logs)`, from a history of lists."""
    for i in range(len(history.get("loss", []))):
        yield i, {k: v[i] for k, v in history.items() if i < len(v)}


def _restore_best_epoch(callbacks, history):
    """KerasTuner's best-epoch saver restarts at +-inf on a resumed trial and would
    overwrite the weights of a better epoch the dead worker saved: give it the
    best objective value of the epochs already trained."""
    for cb in callbacks:
        if not isinstance(cb, private.SaveBestEpoch):
            continue
        for _, logs in epoch_logs(history):
            if cb.objective.has_value(logs):
                value = cb.objective.get_value(logs)
                if cb.objective.better_than(value, cb.best_value):
                    cb.best_value = value
