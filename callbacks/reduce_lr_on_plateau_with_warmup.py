"""`ReduceLROnPlateauWithWarmup`: linear warmup, then reduce-on-plateau."""

import math

from keras import ops
from keras.optimizers.schedules import LearningRateSchedule

from kzoo.callbacks import _keras_private
from kzoo.callbacks._monitor import MonitorCallback
from kzoo.runtime.checks import check_positive, is_int
from kzoo.runtime.errors import UsageError


class ReduceLROnPlateauWithWarmup(MonitorCallback):
    """Linear warmup, then reduce-on-plateau; plateaus during warmup are ignored.

    Keras' `ReduceLROnPlateau` cannot follow a warmup schedule (it needs a
    float rate). Here the optimizer keeps a float rate that this callback
    ramps up over `warmup_steps` steps and then divides by `1 / factor` when
    `monitor` stops improving for `patience` epochs. `get_state`/`set_state`
    let `Checkpoint` resume it exactly.

    State across `fit` calls, as Keras' `ReduceLROnPlateau`: `wait` and `best`
    are reset in `on_train_begin`; the warmup position follows the optimizer's
    step counter; the reduced rate (`current_lr`) is kept, as Keras keeps it
    in the optimizer.

    Args:
        learning_rate: the rate after warmup.
        warmup_steps: steps of linear warmup from `learning_rate * warmup_start`.
            Defaults to `0`.
        monitor: quantity to watch. Defaults to `"val_loss"`.
        factor: multiplier applied on a plateau. Defaults to `0.1`.
        patience: epochs without improvement before reducing. Defaults to `5`.
        min_delta: smallest change that counts as improvement. Defaults to `1e-4`.
        min_lr: lower bound of the rate. Defaults to `0.0`.
        mode: `"min"`, `"max"` or `"auto"` (max for accuracy/AUC-like names, see
            `kzoo.callbacks._monitor.direction`). Defaults to `"auto"`.
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
        super().__init__(monitor=monitor, mode=mode, min_delta=min_delta)
        check_positive("learning_rate", learning_rate)
        if not is_int(warmup_steps) or warmup_steps < 0:
            raise UsageError(f"warmup_steps must be an int >= 0, got {warmup_steps!r}.")
        if not 0.0 < factor < 1.0:
            raise UsageError(f"factor must lie in (0, 1), got {factor!r}.")
        check_positive("patience", patience, allow_zero=True)
        check_positive("min_lr", min_lr, allow_zero=True)
        if not 0.0 <= warmup_start <= 1.0:
            raise UsageError(f"warmup_start must lie in [0, 1], got {warmup_start!r}.")
        self.learning_rate = learning_rate
        self.warmup_steps = warmup_steps
        self.factor = factor
        self.patience = patience
        self.min_lr = min_lr
        self.warmup_start = warmup_start
        self.step = 0
        self.wait = 0
        self.best = math.inf  # the best of `sign * value`: lower is better
        self.current_lr = float(learning_rate)

    def on_train_begin(self, logs=None):
        optimizer = self.model.optimizer
        if isinstance(_keras_private.learning_rate_object(optimizer), LearningRateSchedule):
            raise UsageError(
                "ReduceLROnPlateauWithWarmup sets the rate itself: compile with a float "
                "learning_rate, not a schedule."
            )
        self.wait = 0
        self.best = math.inf
        self.step = int(ops.convert_to_numpy(optimizer.iterations))

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
        if score < self.best - abs(self.min_delta):
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
