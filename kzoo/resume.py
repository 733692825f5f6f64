"""Exact, mid-epoch resumable training: an owned batch order and `fit_resumable`.

Keras' `fit(shuffle=True)` draws its batch order from a global RNG that no
checkpoint captures, so a resumed run would see other batches. Here the order
is owned: epoch `e` uses the permutation `default_rng([seed, e])`, and batch
`g` of the run (global step) is a pure function of `(seed, g)`. Together with
the model variables (which include the dropout `SeedGenerator` states), the
optimizer variables (its step counter drives the LR schedule), the callback
states and the interrupted epoch's metric sums, this makes a run killed at any
step and resumed from its last checkpoint end with the same weights and the
same per-epoch logs as an uninterrupted run.
"""

import contextlib
import json
import math
import pathlib

import keras
import numpy as np


class ShuffledBatches(keras.utils.PyDataset):
    """Batches in a seeded per-epoch order, starting at any global step.

    Item `i` is the batch of global step `start_step + i`; an epoch is
    `steps_per_epoch = ceil(len(x) / batch_size)` steps (the last batch may be
    smaller). Pass it to `fit` with `steps_per_epoch` and `shuffle=False`.

    Args:
        x: features, an array (or a list of arrays for multi-input models).
        y: targets.
        batch_size: examples per step.
        seed: seed of the permutations.
        start_step: the first global step. Defaults to `0`.
        num_steps: number of batches it yields. Defaults to one epoch.

    Example:

    >>> data = ShuffledBatches(x, y, batch_size=32, seed=0, num_steps=5 * spe)
    >>> model.fit(data, epochs=5, steps_per_epoch=data.steps_per_epoch, shuffle=False)
    """

    def __init__(self, x, y, batch_size, seed, start_step=0, num_steps=None):
        super().__init__(workers=1, use_multiprocessing=False)
        self.x = x
        self.y = y
        self.n = len(x[0] if isinstance(x, (list, tuple)) else x)
        if self.n == 0:
            raise ValueError("ShuffledBatches got no examples.")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}.")
        self.batch_size = batch_size
        self.seed = int(seed)
        self.steps_per_epoch = math.ceil(self.n / batch_size)
        self.start_step = int(start_step)
        self.num_steps = self.steps_per_epoch if num_steps is None else int(num_steps)
        self._cached = (None, None)

    def permutation(self, epoch):
        if self._cached[0] != epoch:
            self._cached = (epoch, np.random.default_rng([self.seed, epoch]).permutation(self.n))
        return self._cached[1]

    def __len__(self):
        return self.num_steps

    def __getitem__(self, i):
        if not 0 <= i < self.num_steps:
            raise IndexError(i)
        epoch, step = divmod(self.start_step + i, self.steps_per_epoch)
        idx = self.permutation(epoch)[step * self.batch_size : (step + 1) * self.batch_size]
        take = (lambda a: [v[idx] for v in a]) if isinstance(self.x, (list, tuple)) else None
        xb = take(self.x) if take else self.x[idx]
        return xb, self.y[idx]


def fit_resumable(
    model,
    x,
    y,
    *,
    epochs,
    batch_size,
    checkpoint,
    seed=0,
    callbacks=(),
    validation_data=None,
    resume=True,
    verbose=0,
):
    """`model.fit` that checkpoints its full state and resumes where it stopped.

    If `checkpoint.directory` holds a valid checkpoint (and `resume`), the
    model, optimizer, callbacks and history are restored from it and training
    continues at the saved epoch and step: first the rest of the interrupted
    epoch, then the remaining epochs.

    Args:
        model: a compiled model.
        x, y: training data (arrays).
        epochs: total number of epochs of the run.
        batch_size: examples per step.
        checkpoint: a `kzoo.callbacks.Checkpoint`.
        seed: seed of the batch order. Defaults to `0`.
        callbacks: other callbacks; their `get_state()` (or, for EarlyStopping and
            ReduceLROnPlateau, their counters, and EarlyStopping's best weights)
            are saved and restored.
        validation_data: passed to `fit`.
        resume: resume from the latest checkpoint if there is one. Defaults to `True`.
        verbose: passed to `fit`. Defaults to `0`.

    Returns:
        The history of the whole run, a dict of lists (one entry per epoch).

    Example:

    >>> ckpt = Checkpoint("runs/a/checkpoints", every_n_steps=50)
    >>> history = fit_resumable(model, x, y, epochs=10, batch_size=32, checkpoint=ckpt)
    """
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be an int >= 1, got {epochs!r}.")
    callbacks = [c for c in callbacks if c is not checkpoint]
    data = ShuffledBatches(x, y, batch_size, seed)
    spe = data.steps_per_epoch
    checkpoint.track(callbacks, steps_per_epoch=spe, seed=seed)
    state = checkpoint.restore(model) if resume else None
    global_step = state["global_step"] if state else 0
    history = {k: list(v) for k, v in (state["history"] if state else {}).items()}
    total = epochs * spe
    fit_kwargs = dict(
        validation_data=validation_data,
        shuffle=False,
        verbose=verbose,
        callbacks=[*callbacks, checkpoint],  # last: restores states after on_train_begin
    )

    def run(start, num_steps, steps_per_epoch, first_epoch, last_epoch):
        stream = ShuffledBatches(x, y, batch_size, seed, start_step=start, num_steps=num_steps)
        h = model.fit(
            stream,
            steps_per_epoch=steps_per_epoch,
            initial_epoch=first_epoch,
            epochs=last_epoch,
            **fit_kwargs,
        )
        for k, v in h.history.items():
            history.setdefault(k, []).extend(v)

    epoch, step = divmod(global_step, spe)
    if global_step < total and step:
        _build_metrics(model, data[0])
        # The rest of the interrupted epoch, as its own short fit.
        with _no_restore_unless_stopped(model, callbacks):
            run(global_step, spe - step, spe - step, epoch, epoch + 1)
        epoch += 1
        if model.stop_training:
            return history
    if epoch < epochs:
        run(epoch * spe, (epochs - epoch) * spe, spe, epoch, epochs)
    return history


def _build_metrics(model, batch):
    """Create the compiled metrics' variables now (tensorflow builds them when
    it traces the first step), so the checkpoint can put their running sums
    back when the resumed epoch begins; fit resets the update made here."""
    xb, yb = batch[:2]
    model.compute_metrics(xb, yb, model(xb, training=False), None)


@contextlib.contextmanager
def _no_restore_unless_stopped(model, callbacks):
    """EarlyStopping(restore_best_weights=True) restores the best weights when a
    fit ends; a fit that only finishes an interrupted epoch is not the end of
    the run, so it restores them only if it stopped the run."""
    patched = [
        cb
        for cb in callbacks
        if isinstance(cb, keras.callbacks.EarlyStopping) and cb.restore_best_weights
    ]
    for cb in patched:
        original = cb.on_train_end

        def on_train_end(logs=None, _original=original):
            if model.stop_training:
                _original(logs)

        cb.on_train_end = on_train_end
    try:
        yield
    finally:
        for cb in patched:
            del cb.on_train_end  # the class's method again


# ------------------------------------------------------------- `kzoo train` glue

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
    from kzoo.callbacks.schedule_factory import SCHEDULES
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
    from kzoo.callbacks import LearningRateLogger, build_schedule, scale_learning_rate
    from kzoo.callbacks.lr_finder import LRFinder

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
