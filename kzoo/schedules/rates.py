"""Learning-rate schedules that Keras does not provide: `Warmup` and `OneCycle`.

The schedules are `keras.optimizers.schedules.LearningRateSchedule`s: they are
a function of the optimizer's step counter, so they live in the optimizer state
and resume exactly from a checkpoint, on every backend. They serialize with
`get_config` and are registered under the package `"kzoo"`. Step decay and
cosine decay with warmup are Keras' own (`StepDecay` returns Keras'
`ExponentialDecay(staircase=True)`; `build_schedule` uses `CosineDecay`'s warmup).

Reference:
    Goyal et al. 2017, "Accurate, Large Minibatch SGD" (warmup).
    Smith 2018, "A disciplined approach to neural network hyper-parameters" (one-cycle).
"""

import math

import keras
from keras import ops
from keras.optimizers.schedules import ExponentialDecay, LearningRateSchedule

from kzoo.runtime.checks import check_int, check_positive, is_int
from kzoo.runtime.errors import UsageError


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
            check_positive("after", after)
        if not is_int(warmup_steps) or warmup_steps < 0:
            raise UsageError(f"warmup_steps must be an int >= 0, got {warmup_steps!r}.")
        check_positive("initial_learning_rate", initial_learning_rate, allow_zero=True)
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


def StepDecay(initial_learning_rate, step_size, gamma=0.1):  # noqa: N802 (was a class)
    """Multiply the rate by `gamma` every `step_size` steps: Keras' own
    `ExponentialDecay(initial_learning_rate, step_size, gamma, staircase=True)`.

    Args:
        initial_learning_rate: rate at step 0.
        step_size: steps between two decays.
        gamma: the factor applied at each decay. Defaults to `0.1`.

    Example:

    >>> lr = StepDecay(0.1, step_size=1000, gamma=0.5)  # 0.1, 0.05 after 1000 steps
    """
    check_positive("initial_learning_rate", initial_learning_rate)
    check_int("step_size", step_size, 1)
    check_positive("gamma", gamma)
    return ExponentialDecay(initial_learning_rate, step_size, gamma, staircase=True)


@keras.saving.register_keras_serializable(package="kzoo", name="StepDecay")
class _SavedStepDecay(ExponentialDecay):
    """Loads models saved when `StepDecay` was a kzoo class, as Keras' schedule."""

    @classmethod
    def from_config(cls, config):
        return StepDecay(config["initial_learning_rate"], config["step_size"], config["gamma"])


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
        check_positive("max_learning_rate", max_learning_rate)
        if not is_int(total_steps) or total_steps < 2:
            raise UsageError(f"total_steps must be an int >= 2, got {total_steps!r}.")
        if not 0.0 < pct_start < 1.0:
            raise UsageError(f"pct_start must lie in (0, 1), got {pct_start!r}.")
        check_positive("div_factor", div_factor)
        check_positive("final_div_factor", final_div_factor)
        if not 0.0 <= base_momentum <= max_momentum < 1.0:
            raise UsageError(
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
