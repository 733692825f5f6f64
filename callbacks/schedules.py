"""Learning-rate schedules: warmup, step decay, one-cycle, plateau with warmup.

The schedules are `keras.optimizers.schedules.LearningRateSchedule`s: they are
a function of the optimizer's step counter, so they live in the optimizer state
and resume exactly from a checkpoint, on every backend. They serialize with
`get_config` and are registered under the package `"kzoo"`.

`build_schedule(name, ...)` maps the names the CLI accepts (`constant`,
`cosine`, `linear`, `exponential`, `step`, `onecycle`, `cosine_restarts`,
`plateau`) to a schedule plus the callbacks it needs.

Reference:
    Goyal et al. 2017, "Accurate, Large Minibatch SGD" (linear scaling, warmup).
    Loshchilov & Hutter 2017, "SGDR: Stochastic Gradient Descent with Warm Restarts".
    Smith 2018, "A disciplined approach to neural network hyper-parameters" (one-cycle).
    Krizhevsky 2014, "One weird trick..." (square-root scaling).
"""

import math

import keras
from keras import ops
from keras.optimizers.schedules import LearningRateSchedule

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


def _check_positive(name, value, allow_zero=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {value!r}.")
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {bound}, got {value!r}.")


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
    _check_positive("learning_rate", learning_rate)
    _check_positive("batch_size", batch_size)
    _check_positive("base_batch_size", base_batch_size)
    if rule not in SCALING_RULES:
        raise ValueError(f"Invalid rule={rule!r}. Choose one of: 'linear', 'sqrt'.")
    k = batch_size / base_batch_size
    return float(learning_rate * (k if rule == "linear" else math.sqrt(k)))


def _value_at(schedule, step):
    if isinstance(schedule, LearningRateSchedule):
        return schedule(step)
    return ops.convert_to_tensor(schedule, "float32")


@keras.saving.register_keras_serializable(package="kzoo")
class Warmup(LearningRateSchedule):
    """Linear warmup from `initial_learning_rate`, then another schedule.

    During the first `warmup_steps` steps the rate rises linearly to the value
    `after` takes at its step 0; afterwards `after` runs with its step counter
    shifted by `warmup_steps`, so a decay starts from its peak.

    Args:
        after: a float or a `LearningRateSchedule` to follow the warmup.
        warmup_steps: number of warmup steps (0 disables the warmup).
        initial_learning_rate: rate at step 0. Defaults to `0.0`.

    Example:

    >>> decay = keras.optimizers.schedules.CosineDecay(1e-3, decay_steps=900)
    >>> lr = Warmup(decay, warmup_steps=100)
    >>> optimizer = keras.optimizers.Adam(learning_rate=lr)

    Reference:
        Goyal et al. 2017, "Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour".
    """

    def __init__(self, after, warmup_steps, initial_learning_rate=0.0):
        if isinstance(after, dict):
            after = keras.saving.deserialize_keras_object(after)
        if not isinstance(after, LearningRateSchedule):
            _check_positive("after", after)
        if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, int) or warmup_steps < 0:
            raise ValueError(f"warmup_steps must be an int >= 0, got {warmup_steps!r}.")
        _check_positive("initial_learning_rate", initial_learning_rate, allow_zero=True)
        self.after = after
        self.warmup_steps = warmup_steps
        self.initial_learning_rate = initial_learning_rate

    def __call__(self, step):
        step = ops.cast(step, "float32")
        decayed = _value_at(self.after, ops.maximum(step - self.warmup_steps, 0.0))
        if self.warmup_steps == 0:
            return decayed
        peak = _value_at(self.after, ops.convert_to_tensor(0.0))
        frac = ops.minimum(step / self.warmup_steps, 1.0)
        warm = self.initial_learning_rate + (peak - self.initial_learning_rate) * frac
        return ops.where(step < self.warmup_steps, warm, decayed)

    def get_config(self):
        after = self.after
        if isinstance(after, LearningRateSchedule):
            after = keras.saving.serialize_keras_object(after)
        return {
            "after": after,
            "warmup_steps": self.warmup_steps,
            "initial_learning_rate": self.initial_learning_rate,
        }


@keras.saving.register_keras_serializable(package="kzoo")
class StepDecay(LearningRateSchedule):
    """Multiply the rate by `gamma` every `step_size` steps.

    Args:
        initial_learning_rate: rate at step 0.
        step_size: steps between two decays.
        gamma: the factor applied at each decay. Defaults to `0.1`.

    Example:

    >>> lr = StepDecay(0.1, step_size=1000, gamma=0.5)  # 0.1, 0.05 after 1000 steps
    """

    def __init__(self, initial_learning_rate, step_size, gamma=0.1):
        _check_positive("initial_learning_rate", initial_learning_rate)
        if isinstance(step_size, bool) or not isinstance(step_size, int) or step_size < 1:
            raise ValueError(f"step_size must be an int >= 1, got {step_size!r}.")
        _check_positive("gamma", gamma)
        self.initial_learning_rate = initial_learning_rate
        self.step_size = step_size
        self.gamma = gamma

    def __call__(self, step):
        k = ops.floor(ops.cast(step, "float32") / self.step_size)
        return self.initial_learning_rate * ops.power(self.gamma, k)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "step_size": self.step_size,
            "gamma": self.gamma,
        }


@keras.saving.register_keras_serializable(package="kzoo")
class OneCycle(LearningRateSchedule):
    """One-cycle policy: cosine rise to `max_learning_rate`, then cosine annealing.

    The rate starts at `max_learning_rate / div_factor`, peaks after
    `pct_start * total_steps` steps and ends at `initial / final_div_factor`.
    `momentum(step)` gives the inverse cycle (high momentum while the rate is
    low); `CycleMomentum` applies it to the optimizer's `beta_1` or `momentum`.

    Args:
        max_learning_rate: the peak rate.
        total_steps: length of the cycle; the rate stays at its end value after.
        pct_start: fraction of the cycle spent rising. Defaults to `0.3`.
        div_factor: initial rate = max / div_factor. Defaults to `25.0`.
        final_div_factor: final rate = initial / final_div_factor. Defaults to `1e4`.
        base_momentum: momentum at the peak rate. Defaults to `0.85`.
        max_momentum: momentum at the start and end. Defaults to `0.95`.

    Example:

    >>> lr = OneCycle(1e-2, total_steps=1000)
    >>> model.compile(keras.optimizers.Adam(lr), ...)
    >>> model.fit(..., callbacks=[CycleMomentum(lr)])

    Reference:
        Smith 2018, "A disciplined approach to neural network hyper-parameters:
        Part 1", arXiv:1803.09820.
    """

    def __init__(
        self,
        max_learning_rate,
        total_steps,
        pct_start=0.3,
        div_factor=25.0,
        final_div_factor=1e4,
        base_momentum=0.85,
        max_momentum=0.95,
    ):
        _check_positive("max_learning_rate", max_learning_rate)
        if isinstance(total_steps, bool) or not isinstance(total_steps, int) or total_steps < 2:
            raise ValueError(f"total_steps must be an int >= 2, got {total_steps!r}.")
        if not 0.0 < pct_start < 1.0:
            raise ValueError(f"pct_start must lie in (0, 1), got {pct_start!r}.")
        _check_positive("div_factor", div_factor)
        _check_positive("final_div_factor", final_div_factor)
        if not 0.0 <= base_momentum <= max_momentum < 1.0:
            raise ValueError(
                "Need 0 <= base_momentum <= max_momentum < 1, got "
                f"base_momentum={base_momentum!r}, max_momentum={max_momentum!r}."
            )
        self.max_learning_rate = max_learning_rate
        self.total_steps = total_steps
        self.pct_start = pct_start
        self.div_factor = div_factor
        self.final_div_factor = final_div_factor
        self.base_momentum = base_momentum
        self.max_momentum = max_momentum

    @property
    def _rise_steps(self):
        return max(1.0, float(round(self.pct_start * self.total_steps)))

    def _phase(self, step, cos, where, minimum):
        """(fraction of the current phase done, whether in the rising phase)."""
        rise = self._rise_steps
        fall = max(1.0, self.total_steps - rise)
        rising = step < rise
        frac = where(rising, step / rise, minimum((step - rise) / fall, 1.0))
        # Cosine interpolation from a to b: b + (a - b) * (1 + cos(pi * frac)) / 2.
        return (1.0 + cos(math.pi * frac)) / 2.0, rising

    def __call__(self, step):
        step = ops.cast(step, "float32")
        w, rising = self._phase(step, ops.cos, ops.where, ops.minimum)
        initial = self.max_learning_rate / self.div_factor
        final = initial / self.final_div_factor
        up = self.max_learning_rate + (initial - self.max_learning_rate) * w
        down = final + (self.max_learning_rate - final) * w
        return ops.where(rising, up, down)

    def momentum(self, step):
        """The momentum paired with `step` (a Python float)."""
        step = float(step)
        w, rising = self._phase(
            step, math.cos, lambda c, a, b: a if c else b, lambda a, b: min(a, b)
        )
        lo, hi = self.base_momentum, self.max_momentum
        # Rising rate -> falling momentum, and back.
        return lo + (hi - lo) * w if rising else hi + (lo - hi) * w

    def get_config(self):
        return {
            "max_learning_rate": self.max_learning_rate,
            "total_steps": self.total_steps,
            "pct_start": self.pct_start,
            "div_factor": self.div_factor,
            "final_div_factor": self.final_div_factor,
            "base_momentum": self.base_momentum,
            "max_momentum": self.max_momentum,
        }


class CycleMomentum(keras.callbacks.Callback):
    """Cycle the optimizer's momentum inversely to a `OneCycle` learning rate.

    Adam-family optimizers get their `beta_1` cycled, SGD/RMSprop their
    `momentum`. Momentum is a Python float in Keras optimizers, which compiled
    train steps (jax, tensorflow) would freeze at trace time, so this callback
    replaces it by an optimizer variable: it is then part of the optimizer state
    (saved by `Checkpoint`) and read at every step.

    Args:
        schedule: the `OneCycle` schedule the optimizer uses.

    Example:

    >>> lr = OneCycle(1e-2, total_steps=epochs * steps_per_epoch)
    >>> model.compile(keras.optimizers.Adam(lr), "mse")
    >>> model.fit(x, y, epochs=epochs, callbacks=[CycleMomentum(lr)])
    """

    def __init__(self, schedule):
        super().__init__()
        if not isinstance(schedule, OneCycle):
            raise ValueError(f"schedule must be a OneCycle, got {type(schedule).__name__}.")
        self.schedule = schedule
        self._variable = None
        self._attr = None

    def _install(self, optimizer):
        for attr in ("beta_1", "momentum"):
            if hasattr(optimizer, attr):
                break
        else:
            raise ValueError(
                f"{type(optimizer).__name__} has no beta_1 or momentum to cycle; use "
                "Adam, AdamW, Nadam, SGD or RMSprop."
            )
        current = getattr(optimizer, attr)
        if isinstance(current, keras.Variable):
            self._variable = current
        else:
            # `add_variable` puts it in `optimizer.variables`: traced steps read it.
            self._variable = optimizer.add_variable(shape=(), name=f"cycled_{attr}")
            setattr(optimizer, attr, self._variable)
        self._attr = attr

    def on_train_begin(self, logs=None):
        self._install(self.model.optimizer)
        self._assign()

    def on_train_batch_begin(self, batch, logs=None):
        self._assign()

    def _assign(self):
        optimizer = self.model.optimizer
        step = int(ops.convert_to_numpy(optimizer.iterations))
        self._variable.assign(self.schedule.momentum(step))

    def get_config(self):
        return {"schedule": keras.saving.serialize_keras_object(self.schedule)}


class ReduceLROnPlateauWithWarmup(keras.callbacks.Callback):
    """Linear warmup, then reduce-on-plateau; plateaus during warmup are ignored.

    Keras' `ReduceLROnPlateau` cannot follow a warmup schedule (it needs a
    float rate). Here the optimizer keeps a float rate that this callback
    ramps up over `warmup_steps` steps and then divides by `1 / factor` when
    `monitor` stops improving for `patience` epochs. `get_state`/`set_state`
    let `Checkpoint` resume it exactly.

    Args:
        learning_rate: the rate after warmup.
        warmup_steps: steps of linear warmup from `learning_rate * warmup_start`.
            Defaults to `0`.
        monitor: quantity to watch. Defaults to `"val_loss"`.
        factor: multiplier applied on a plateau. Defaults to `0.1`.
        patience: epochs without improvement before reducing. Defaults to `5`.
        min_delta: smallest change that counts as improvement. Defaults to `1e-4`.
        min_lr: lower bound of the rate. Defaults to `0.0`.
        mode: `"min"`, `"max"` or `"auto"`. Defaults to `"auto"`.
        warmup_start: fraction of `learning_rate` at step 0. Defaults to `0.0`.

    Example:

    >>> cb = ReduceLROnPlateauWithWarmup(1e-3, warmup_steps=200, patience=3)
    >>> model.fit(x, y, validation_split=0.2, epochs=50, callbacks=[cb])
    """

    def __init__(
        self,
        learning_rate,
        warmup_steps=0,
        monitor="val_loss",
        factor=0.1,
        patience=5,
        min_delta=1e-4,
        min_lr=0.0,
        mode="auto",
        warmup_start=0.0,
    ):
        super().__init__()
        _check_positive("learning_rate", learning_rate)
        if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, int) or warmup_steps < 0:
            raise ValueError(f"warmup_steps must be an int >= 0, got {warmup_steps!r}.")
        if not 0.0 < factor < 1.0:
            raise ValueError(f"factor must lie in (0, 1), got {factor!r}.")
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"Invalid mode={mode!r}. Choose one of: 'auto', 'min', 'max'.")
        _check_positive("patience", patience, allow_zero=True)
        _check_positive("min_lr", min_lr, allow_zero=True)
        if not 0.0 <= warmup_start <= 1.0:
            raise ValueError(f"warmup_start must lie in [0, 1], got {warmup_start!r}.")
        self.learning_rate = learning_rate
        self.warmup_steps = warmup_steps
        self.monitor = monitor
        self.factor = factor
        self.patience = patience
        self.min_delta = min_delta
        self.min_lr = min_lr
        self.mode = mode
        self.warmup_start = warmup_start
        if mode == "auto":
            mode = "max" if ("acc" in monitor or monitor.endswith("auc")) else "min"
        self._sign = 1.0 if mode == "min" else -1.0
        self._reset()

    def _reset(self):
        self.step = 0
        self.wait = 0
        self.best = math.inf
        self.current_lr = float(self.learning_rate)

    def on_train_begin(self, logs=None):
        if isinstance(self.model.optimizer._learning_rate, LearningRateSchedule):
            raise ValueError(
                "ReduceLROnPlateauWithWarmup sets the rate itself: compile with a float "
                "learning_rate, not a schedule."
            )

    def _lr_at(self, step):
        if step < self.warmup_steps:
            start = self.learning_rate * self.warmup_start
            return start + (self.learning_rate - start) * step / self.warmup_steps
        return self.current_lr

    def on_train_batch_begin(self, batch, logs=None):
        if self.step <= self.warmup_steps:
            self.model.optimizer.learning_rate = self._lr_at(self.step)

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        value = logs.get(self.monitor)
        if value is None or self.step < self.warmup_steps:
            return
        score = self._sign * float(value)
        if score < self.best - self.min_delta:
            self.best, self.wait = score, 0
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.current_lr = max(self.current_lr * self.factor, self.min_lr)
            self.model.optimizer.learning_rate = self.current_lr
            self.wait = 0

    def get_state(self):
        return {
            "step": self.step,
            "wait": self.wait,
            "best": self.best,
            "current_lr": self.current_lr,
        }

    def set_state(self, state):
        self.step = int(state["step"])
        self.wait = int(state["wait"])
        self.best = float(state["best"])
        self.current_lr = float(state["current_lr"])

    def get_config(self):
        return {
            "learning_rate": self.learning_rate,
            "warmup_steps": self.warmup_steps,
            "monitor": self.monitor,
            "factor": self.factor,
            "patience": self.patience,
            "min_delta": self.min_delta,
            "min_lr": self.min_lr,
            "mode": self.mode,
            "warmup_start": self.warmup_start,
        }


class LearningRateLogger(keras.callbacks.Callback):
    """Record the learning rate applied at each step; add `lr` to epoch logs.

    `steps` and `lrs` hold one entry per optimizer step (the global step and
    the rate the update used); `logs["lr"]` at epoch end is the last rate
    applied, so it reaches `History` and `history.csv`.

    Args:
        path: optional CSV file that receives `step,lr` rows at the end of each
            epoch. Defaults to `None`.

    Example:

    >>> lr_log = LearningRateLogger()
    >>> model.fit(x, y, epochs=3, callbacks=[lr_log])
    >>> lr_log.lrs[:3]
    """

    def __init__(self, path=None):
        super().__init__()
        self.path = path
        self.steps = []
        self.lrs = []

    def on_train_batch_end(self, batch, logs=None):
        optimizer = self.model.optimizer
        it = int(ops.convert_to_numpy(optimizer.iterations))
        lr_obj = optimizer._learning_rate
        if isinstance(lr_obj, LearningRateSchedule):
            lr = lr_obj(it - 1)  # the update just applied ran at step it - 1
        else:
            lr = optimizer.learning_rate
        self.steps.append(it - 1)
        self.lrs.append(float(ops.convert_to_numpy(lr)))
        if logs is not None:
            logs["lr"] = self.lrs[-1]

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and self.lrs:
            logs["lr"] = self.lrs[-1]
        if self.path is not None:
            with open(self.path, "w") as f:
                f.write("step,lr\n")
                f.writelines(f"{s},{lr:.8g}\n" for s, lr in zip(self.steps, self.lrs, strict=False))

    def get_state(self):
        return {"steps": list(self.steps), "lrs": list(self.lrs)}

    def set_state(self, state):
        self.steps = [int(s) for s in state["steps"]]
        self.lrs = [float(v) for v in state["lrs"]]

    def get_config(self):
        return {"path": self.path}


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
        raise ValueError(f"Invalid schedule={name!r}. Choose one of: {', '.join(SCHEDULES)}.")
    _check_positive("learning_rate", learning_rate)
    if not isinstance(total_steps, int) or total_steps < 1:
        raise ValueError(f"total_steps must be an int >= 1, got {total_steps!r}.")
    if not isinstance(warmup_steps, int) or not 0 <= warmup_steps < total_steps:
        raise ValueError(
            f"warmup_steps must be an int in [0, total_steps={total_steps}), got {warmup_steps!r}."
        )
    spe = steps_per_epoch or max(1, total_steps)
    decay_steps = max(1, total_steps - warmup_steps)
    schedules = keras.optimizers.schedules
    callbacks = []
    if name == "constant":
        lr = float(learning_rate)
    elif name == "cosine":
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
    if warmup_steps:
        lr = Warmup(lr, warmup_steps)
    return lr, callbacks
