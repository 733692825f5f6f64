"""The fit of a run: `model.fit`, or a checkpointed, resumable fit; and what a
resume checks of the checkpoints first (`check_checkpoints`)."""

import json
import warnings

import keras
import numpy as np

from kzoo import rundir as layout
from kzoo.callbacks import Checkpoint, GradientNormLogger
from kzoo.callbacks.checkpoint_format import latest_checkpoint
from kzoo.fit import fit_resumable
from kzoo.fit.streamed_rows import is_streamed
from kzoo.runtime import processes
from kzoo.runtime.errors import RunDirError

# Settings a resumed run may change without breaking exactness: the epoch budget
# (an extension) and how the run is started and reported.
RESUMABLE_CHANGES = ("epochs", "verbose", "resume", "overwrite", "out")


def exactness_config(run):
    """The resolved settings a checkpoint is written under (JSON values)."""
    values = {k: v for k, v in run.to_json().items() if k not in RESUMABLE_CHANGES}
    if values.get("accumulate") == 1:  # as checkpoints written before the setting record
        del values["accumulate"]
    return json.loads(json.dumps(values, default=str))


def check_checkpoints(run_dir, now):
    """Before a resume: some checkpoint must be readable (else RunDirError naming
    them), and the settings it was written under must equal `now`
    (`exactness_config` of the resumed run; else RunDirError listing the keys)."""
    directory = run_dir / layout.CHECKPOINTS_DIR
    files = sorted(p.name for p in directory.glob("step-*.ckpt"))
    with warnings.catch_warnings(record=True):  # each unreadable file: said below
        warnings.simplefilter("always")
        found = latest_checkpoint(directory)
    if found is None:
        if files:
            raise RunDirError(
                f"{directory}: no checkpoint is readable ({', '.join(files)}: corrupt or "
                "truncated), so the run cannot continue. Starting it over is your choice: "
                f"move {directory} away (then `kzoo train --resume {run_dir}` starts over from "
                "its config.json), or start a new run with --overwrite.")
        return
    recorded = found[2].get("run_config")
    if not recorded:  # written before kzoo recorded it
        return
    changed = sorted(k for k in set(recorded) | set(now) if recorded.get(k) != now.get(k))
    if changed:
        listed = ", ".join(f"{k} ({recorded.get(k)!r} in the checkpoint, {now.get(k)!r} now)"
                           for k in changed)
        raise RunDirError(
            f"{run_dir}: cannot resume exactly: {found[0].name} was written under other "
            f"settings: {listed}. Put them back in {run_dir / layout.CONFIG_FILE}, or start a "
            "new run with another --out.")


def fit_run(net, fit_kwargs, config, run_dir, run_config=None):
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
    streamed = is_streamed(x)  # .npy rows: always the seeded order of fit_resumable
    checkpointing = (
        run_dir is not None
        and (isinstance(x, np.ndarray) or streamed)
        and (config.checkpoint_every_epochs or config.checkpoint_every_steps)
    )
    if not checkpointing:
        if config.resume:
            raise RunDirError(
                f"{run_dir} cannot resume: it has no checkpoints (streaming data, or "
                "checkpointing disabled). Start a new run with another --out."
            )
        if streamed or config.devices > 1 and isinstance(x, np.ndarray):
            return _fit_resumable(net, fit_kwargs, config, None)
        return net.fit(**fit_kwargs).history
    callbacks = list(fit_kwargs["callbacks"])
    if config.resume:
        for cb in callbacks:
            if isinstance(cb, keras.callbacks.CSVLogger):
                cb.append = True
            if isinstance(cb, GradientNormLogger):  # keeps grad_norms.csv's earlier rows
                cb.resume = True
    ckpt = Checkpoint(
        run_dir / layout.CHECKPOINTS_DIR,
        monitor="val_loss" if fit_kwargs.get("validation_data") is not None else "loss",
        save_best_k=config.keep_best,
        every_n_epochs=config.checkpoint_every_epochs or None,
        every_n_steps=config.checkpoint_every_steps or None,
    )
    if config.resume and not layout.has_checkpoint(run_dir):
        raise RunDirError(f"No checkpoint in {run_dir / layout.CHECKPOINTS_DIR} to resume from.")
    # Recorded in each checkpoint: the settings as resolved before the fit began.
    ckpt.run_config = run_config if run_config is not None else exactness_config(config)
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
        seed=config.seed if config.init_seed is None else config.init_seed,
        callbacks=fit_kwargs["callbacks"],
        validation_data=fit_kwargs.get("validation_data"),
        resume=config.resume,
        verbose=fit_kwargs.get("verbose", 0),
        pad_to=config.devices,
        process_index=processes.process_index(),
        process_count=processes.process_count(),
    )
