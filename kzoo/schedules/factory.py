"""The learning rate of a schedule name (`kzoo train --schedule`), and batch-size scaling.

`build_schedule(name, ...)` maps the names the CLI accepts (`constant`,
`cosine`, `linear`, `exponential`, `step`, `onecycle`, `cosine_restarts`,
`plateau`) to a learning rate (float or schedule) plus the callbacks it needs.
Keras' own schedules are used wherever one does the job.

Reference:
    Goyal et al. 2017, "Accurate, Large Minibatch SGD" (linear scaling, warmup).
    Loshchilov & Hutter 2017, "SGDR: Stochastic Gradient Descent with Warm Restarts".
    Krizhevsky 2014, "One weird trick..." (square-root scaling).
"""

import math

import keras

from kzoo.callbacks.reduce_lr_on_plateau_with_warmup import ReduceLROnPlateauWithWarmup
from kzoo.runtime.checks import check_positive
from kzoo.runtime.errors import UsageError
from kzoo.schedules.cycle_momentum import CycleMomentum
from kzoo.schedules.rates import OneCycle, StepDecay, Warmup

SCHEDULES = (
    "constant",
    "cosine",
    "linear",
    "exponential",
    "step",
    "onecycle",
    "cosine_restarts",
    "plateau",
)
SCALING_RULES = ("linear", "sqrt")


def scale_learning_rate(learning_rate, batch_size, base_batch_size=32, rule="linear"):
    """Scale a learning rate tuned at `base_batch_size` to `batch_size`.

    Args:
        learning_rate: the learning rate that suits `base_batch_size`.
        batch_size: the batch size to train with.
        base_batch_size: the batch size `learning_rate` was tuned for. Defaults to `32`.
        rule: `"linear"` (lr * k, Goyal et al. 2017) or `"sqrt"` (lr * sqrt(k),
            Krizhevsky 2014) with `k = batch_size / base_batch_size`. Defaults to
            `"linear"`.

    Returns:
        The scaled learning rate, a float.

    Example:

    >>> scale_learning_rate(1e-3, batch_size=128, base_batch_size=32)
    0.004
    """
    check_positive("learning_rate", learning_rate)
    check_positive("batch_size", batch_size)
    check_positive("base_batch_size", base_batch_size)
    if rule not in SCALING_RULES:
        raise UsageError(f"Invalid rule={rule!r}. Choose one of: 'linear', 'sqrt'.")
    k = batch_size / base_batch_size
    return float(learning_rate * (k if rule == "linear" else math.sqrt(k)))


def build_schedule(
    name,
    learning_rate,
    total_steps,
    *,
    warmup_steps=0,
    steps_per_epoch=None,
    final_fraction=0.0,
    decay_rate=0.1,
    step_epochs=None,
    restart_epochs=None,
    plateau_patience=5,
    plateau_factor=0.1,
    monitor="val_loss",
):
    """The learning rate (float or schedule) and callbacks for a schedule name.

    Args:
        name: one of `constant`, `cosine`, `linear`, `exponential`, `step`,
            `onecycle`, `cosine_restarts`, `plateau`.
        learning_rate: the peak rate (after warmup).
        total_steps: number of optimizer steps of the run.
        warmup_steps: linear warmup steps (all but `onecycle`, which has its own
            rise). Defaults to `0`.
        steps_per_epoch: used to turn `step_epochs`/`restart_epochs` into steps.
        final_fraction: final rate / peak for cosine and linear. Defaults to `0.0`.
        decay_rate: total decay of `exponential` over the run, and the factor of
            each `step`. Defaults to `0.1`.
        step_epochs: epochs between `step` decays. Defaults to a third of the run.
        restart_epochs: epochs of the first `cosine_restarts` cycle. Defaults to a
            quarter of the run.
        plateau_patience: `plateau` patience in epochs. Defaults to `5`.
        plateau_factor: `plateau` reduction factor. Defaults to `0.1`.
        monitor: `plateau` monitored quantity. Defaults to `"val_loss"`.

    Returns:
        `(learning_rate, callbacks)`: pass the first to the optimizer and the
        callbacks to `fit`.
    """
    if name not in SCHEDULES:
        raise UsageError(f"Invalid schedule={name!r}. Choose one of: {', '.join(SCHEDULES)}.")
    check_positive("learning_rate", learning_rate)
    if not isinstance(total_steps, int) or total_steps < 1:
        raise UsageError(f"total_steps must be an int >= 1, got {total_steps!r}.")
    if not isinstance(warmup_steps, int) or not 0 <= warmup_steps < total_steps:
        raise UsageError(
            f"warmup_steps must be an int in [0, total_steps={total_steps}), got {warmup_steps!r}."
        )
    spe = steps_per_epoch or max(1, total_steps)
    decay_steps = max(1, total_steps - warmup_steps)
    schedules = keras.optimizers.schedules
    callbacks = []
    if name == "constant":
        lr = float(learning_rate)
    elif name == "cosine":
        if warmup_steps:  # Keras' own warmup: linear from 0 to the peak, then the decay
            return schedules.CosineDecay(
                0.0,
                decay_steps,
                alpha=final_fraction,
                warmup_target=float(learning_rate),
                warmup_steps=warmup_steps,
            ), callbacks
        lr = schedules.CosineDecay(learning_rate, decay_steps, alpha=final_fraction)
    elif name == "linear":
        lr = schedules.PolynomialDecay(
            learning_rate, decay_steps, end_learning_rate=learning_rate * final_fraction, power=1.0
        )
    elif name == "exponential":
        lr = schedules.ExponentialDecay(learning_rate, decay_steps, decay_rate=decay_rate)
    elif name == "step":
        every = int(step_epochs * spe) if step_epochs else max(1, decay_steps // 3)
        lr = StepDecay(learning_rate, step_size=max(1, every), gamma=decay_rate)
    elif name == "cosine_restarts":
        first = int(restart_epochs * spe) if restart_epochs else max(1, decay_steps // 4)
        lr = schedules.CosineDecayRestarts(learning_rate, first_decay_steps=max(1, first))
    elif name == "onecycle":
        lr = OneCycle(learning_rate, total_steps=max(2, total_steps))
        callbacks.append(CycleMomentum(lr))
        return lr, callbacks
    else:  # plateau
        callbacks.append(
            ReduceLROnPlateauWithWarmup(
                learning_rate,
                warmup_steps=warmup_steps,
                monitor=monitor,
                factor=plateau_factor,
                patience=plateau_patience,
            )
        )
        return float(learning_rate) if not warmup_steps else 0.0, callbacks
    if warmup_steps:  # the schedules Keras does not warm up
        lr = Warmup(lr, warmup_steps)
    return lr, callbacks
