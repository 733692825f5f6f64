"""`kzoo train` glue for learning rates, schedules and resumable runs.

The resumable-fit engine lives in `kzoo.callbacks.resumable_fit`.
"""

import json
import math
import pathlib

import keras
import numpy as np

from kzoo.callbacks.resumable_fit import ShuffledBatches, fit_resumable  # noqa: F401

SCHEDULE_FIELDS = (
    "schedule",
    "warmup_epochs",
    "warmup_steps",
    "lr_scaling",
    "base_batch_size",
    "checkpoint_every_epochs",
    "checkpoint_every_steps",
    "keep_best",
)


def validate_lr_settings(config):
    """ValueError for bad schedule / checkpoint settings of a `TrainConfig`."""
    from kzoo.callbacks.schedules import SCHEDULES
    from kzoo.zoo._registry import check_choice

    check_choice("schedule", config.schedule, SCHEDULES)
    check_choice("lr_scaling", config.lr_scaling, ("none", "linear", "sqrt"))
    if config.warmup_epochs < 0 or config.warmup_steps < 0:
        raise ValueError("warmup_epochs and warmup_steps must be >= 0.")
    if config.warmup_epochs and config.warmup_steps:
        raise ValueError("Give warmup_epochs or warmup_steps, not both.")
    for name in ("checkpoint_every_epochs", "checkpoint_every_steps", "keep_best"):
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be an int >= 0, got {value!r}.")
    if config.resume and not config.out:
        raise ValueError("resume needs the run directory as out.")


def setup_lr(config, net, data, run_dir):
    """Apply `--lr auto`, batch-size scaling and the schedule; return callbacks.

    Mutates `config.lr` to the rate used (the finder's valley suggestion for
    `auto`), sets the optimizer's learning rate, and returns the schedule's
    callbacks plus a `LearningRateLogger` (put them before CSVLogger so the
    `lr` column reaches history.csv).
    """
    from kzoo.callbacks.lr_finder import LRFinder
    from kzoo.callbacks.schedules import LearningRateLogger, build_schedule, scale_learning_rate

    arrays = isinstance(data.train, tuple)
    if config.lr == "auto":
        if not arrays:
            raise ValueError("--lr auto needs array data (the finder sweeps over x, y).")
        if config.resume:
            found = json.loads((run_dir / "lr_find.json").read_text())
            config.lr = found["chosen_lr"]
        else:
            finder = LRFinder(num_steps=60, batch_size=config.batch_size, seed=config.seed)
            result = finder.find(net, *data.train)
            lr = result["suggestions"]["valley"] or result["suggestions"]["min_over_10"] or 1e-3
            result["chosen_lr"] = lr
            if run_dir is not None:
                finder.save(run_dir)
                path = run_dir / "lr_find.json"
                path.write_text(json.dumps({**json.loads(path.read_text()), "chosen_lr": lr}))
                from kzoo.lrplots import plot_lr_find

                plot_lr_find(finder.result, run_dir / "plots" / "lr_find.png")
            config.lr = float(lr)
    lr = float(config.lr)
    if config.lr_scaling != "none":
        lr = scale_learning_rate(lr, config.batch_size, config.base_batch_size, config.lr_scaling)
    if arrays:
        steps_per_epoch = math.ceil(len(data.train[0]) / config.batch_size)
    else:
        steps_per_epoch = len(data.train) if hasattr(data.train, "__len__") else 1
    total = config.epochs * steps_per_epoch
    warmup = config.warmup_steps or int(round(config.warmup_epochs * steps_per_epoch))
    warmup = min(warmup, total - 1)
    rate, callbacks = build_schedule(
        config.schedule,
        lr,
        total,
        warmup_steps=warmup,
        steps_per_epoch=steps_per_epoch,
        monitor="val_loss" if data.val is not None else "loss",
    )
    net.optimizer.learning_rate = rate
    lr_csv = str(run_dir / "lr_steps.csv") if run_dir is not None else None
    return [*callbacks, LearningRateLogger(path=lr_csv)]


def fit_run(net, fit_kwargs, config, run_dir):
    """`net.fit`, or `fit_resumable` with checkpoints in `run_dir/checkpoints`.

    Returns a dict of per-epoch lists (the whole run's history when resumed).
    """
    from kzoo.callbacks.checkpoint import Checkpoint

    x = fit_kwargs.get("x")
    checkpointing = (
        run_dir is not None
        and isinstance(x, np.ndarray)
        and (config.checkpoint_every_epochs or config.checkpoint_every_steps)
    )
    if not checkpointing:
        if config.resume:
            raise ValueError(
                "This run cannot resume: it has no checkpoints (streaming data, or "
                "checkpointing disabled)."
            )
        return net.fit(**fit_kwargs).history
    callbacks = list(fit_kwargs["callbacks"])
    if config.resume:
        for cb in callbacks:
            if isinstance(cb, keras.callbacks.CSVLogger):
                cb.append = True
    ckpt = Checkpoint(
        run_dir / "checkpoints",
        monitor="val_loss" if fit_kwargs.get("validation_data") is not None else "loss",
        save_best_k=config.keep_best,
        every_n_epochs=config.checkpoint_every_epochs or None,
        every_n_steps=config.checkpoint_every_steps or None,
    )
    if config.resume and not any(
        (run_dir / "checkpoints").glob("step-*.ckpt")
    ):
        raise ValueError(f"No checkpoint in {run_dir / 'checkpoints'} to resume from.")
    history = fit_resumable(
        net,
        x,
        fit_kwargs["y"],
        epochs=config.epochs,
        batch_size=config.batch_size,
        checkpoint=ckpt,
        seed=config.seed,
        callbacks=callbacks,
        validation_data=fit_kwargs.get("validation_data"),
        resume=config.resume,
        verbose=fit_kwargs.get("verbose", 0),
    )
    if config.resume:
        _write_history_csv(run_dir / "history.csv", history)
    return history


def _write_history_csv(path, history):
    """history.csv of the whole run (CSVLogger only saw the resumed part)."""
    keys = sorted(history)
    n = max((len(v) for v in history.values()), default=0)
    lines = [",".join(["epoch", *keys])]
    for i in range(n):
        row = [str(i)] + [
            repr(float(history[k][i])) if i < len(history[k]) else "" for k in keys
        ]
        lines.append(",".join(row))
    path.write_text("\n".join(lines) + "\n")


def load_run_config(run_dir):
    """Settings of a run directory's config.json, for `kzoo train --resume`."""
    path = pathlib.Path(run_dir) / "config.json"
    if not path.exists():
        raise ValueError(f"{run_dir} holds no kzoo run (no config.json) to resume.")
    return json.loads(path.read_text())
