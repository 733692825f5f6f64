"""The fit of a run: `model.fit`, or a checkpointed, resumable fit."""

import keras
import numpy as np

from kzoo import devices as kzoo_devices
from kzoo.callbacks import Checkpoint, fit_resumable
from kzoo.errors import RunDirError
from kzoo.training import run_dir as layout


def fit_run(net, fit_kwargs, config, run_dir):
    """`net.fit`, or `fit_resumable` with checkpoints in `run_dir/checkpoints`.

    Checkpoints need a run directory, array data and a checkpoint interval;
    without them the run is a plain `fit` and cannot resume. On several
    devices (`config.devices`) array data always goes through `fit_resumable`
    (without a checkpoint if need be): its batches are padded to a multiple of
    the device count, where Keras' own last batch would be refused.

    Returns:
        A dict of per-epoch lists (the whole run's history when resumed).
    """
    x = fit_kwargs.get("x")
    checkpointing = (
        run_dir is not None
        and isinstance(x, np.ndarray)
        and (config.checkpoint_every_epochs or config.checkpoint_every_steps)
    )
    if not checkpointing:
        if config.resume:
            raise RunDirError(
                "This run cannot resume: it has no checkpoints (streaming data, or "
                "checkpointing disabled)."
            )
        if config.devices > 1 and isinstance(x, np.ndarray):
            return _fit_resumable(net, fit_kwargs, config, None)
        return net.fit(**fit_kwargs).history
    callbacks = list(fit_kwargs["callbacks"])
    if config.resume:
        for cb in callbacks:
            if isinstance(cb, keras.callbacks.CSVLogger):
                cb.append = True
    ckpt = Checkpoint(
        run_dir / layout.CHECKPOINTS_DIR,
        monitor="val_loss" if fit_kwargs.get("validation_data") is not None else "loss",
        save_best_k=config.keep_best,
        every_n_epochs=config.checkpoint_every_epochs or None,
        every_n_steps=config.checkpoint_every_steps or None,
    )
    if config.resume and not layout.has_checkpoint(run_dir):
        raise RunDirError(f"No checkpoint in {run_dir / layout.CHECKPOINTS_DIR} to resume from.")
    history = _fit_resumable(net, dict(fit_kwargs, callbacks=callbacks), config, ckpt)
    if config.resume:
        layout.write_history_csv(run_dir, history)
    return history


def _fit_resumable(net, fit_kwargs, config, checkpoint):
    return fit_resumable(
        net,
        fit_kwargs["x"],
        fit_kwargs["y"],
        epochs=config.epochs,
        batch_size=config.batch_size,
        checkpoint=checkpoint,
        seed=config.seed,
        callbacks=fit_kwargs["callbacks"],
        validation_data=fit_kwargs.get("validation_data"),
        resume=config.resume,
        verbose=fit_kwargs.get("verbose", 0),
        pad_to=config.devices,
        process_index=kzoo_devices.process_index(),
        process_count=kzoo_devices.process_count(),
    )
