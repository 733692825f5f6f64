"""Gradient accumulation that counts optimizer steps (`kzoo train --accumulate N`).

Keras' optimizers accumulate on their own (`gradient_accumulation_steps=N`):
the gradients of N micro-batches are summed in optimizer variables
(`gradient_accumulator`, checkpointed with the rest of the optimizer state, so
a kill mid-accumulation resumes exactly) and their mean is applied every N-th
call. The gradient callbacks see that mean: Keras passes it through
`_clip_gradients`, where kzoo's hook sits, only on the update step (jax calls it
every step but keeps the optimizer variables, the hook's included, of the update
steps only). `optimizer.iterations` then counts optimizer steps.

One thing Keras counts otherwise: a `LearningRateSchedule` is called with the
micro-batch counter. `PerOptimizerStep` gives it the optimizer step instead, so
a schedule built for `total_steps` optimizer steps ends where it should.

Batch sizes: one micro-batch is `batch_size` examples over all devices, so an
optimizer step sees `batch_size * N` examples (the global batch = per-device
micro-batch x N x devices). The accumulators carry over epoch ends, as Keras'
do: with `steps_per_epoch % N != 0` an optimizer step spans two epochs.
"""

import keras
from keras import ops
from keras.optimizers.schedules import LearningRateSchedule

from kzoo.callbacks import _keras_private
from kzoo.runtime.errors import UsageError


def accumulation_steps(optimizer):
    """N of an optimizer that accumulates N micro-batches per step; 1 otherwise."""
    return int(getattr(optimizer, "gradient_accumulation_steps", None) or 1)


def check_accumulate(value, flag="accumulate"):
    """`value` as an int >= 1, else UsageError naming `flag`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UsageError(
            f"{flag} must be an int >= 1 (micro-batches per optimizer step; 1: no "
            f"accumulation), got {value!r}."
        )
    return value


def set_accumulation(optimizer, steps):
    """Make `optimizer` accumulate `steps` micro-batches per update (before it is built).

    Returns the optimizer. `steps == 1` leaves it as it is.
    """
    check_accumulate(steps)
    if steps == 1 or accumulation_steps(optimizer) == steps:
        return optimizer
    if optimizer.built:
        raise UsageError(
            f"Cannot accumulate {steps} micro-batches with an optimizer that is already "
            "built (its accumulators are made when it is built): set it before the first fit."
        )
    optimizer.gradient_accumulation_steps = steps
    return optimizer


def micro_steps(optimizer):
    """Micro-batches the optimizer has seen (Keras' raw counter), as an int."""
    return int(ops.convert_to_numpy(_keras_private.raw_iterations(optimizer)))


def per_optimizer_step(rate, steps):
    """`rate` (a float or a schedule) evaluated at the optimizer step under accumulation."""
    if steps == 1 or not isinstance(rate, LearningRateSchedule):
        return rate
    return PerOptimizerStep(rate, steps)


@keras.saving.register_keras_serializable(package="kzoo")
class PerOptimizerStep(LearningRateSchedule):
    """A schedule of optimizer steps, under an optimizer that accumulates `steps`.

    Keras calls the schedule with its micro-batch counter; on the update step
    (the only one whose rate is used) `counter // steps` is the optimizer step.

    Args:
        schedule: a `LearningRateSchedule` of optimizer steps.
        steps: micro-batches per optimizer step.
    """

    def __init__(self, schedule, steps):
        self.schedule = schedule
        self.steps = int(steps)

    def __call__(self, step):
        return self.schedule(ops.floor_divide(step, self.steps))

    def get_config(self):
        return {"schedule": keras.saving.serialize_keras_object(self.schedule),
                "steps": self.steps}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["schedule"] = keras.saving.deserialize_keras_object(config["schedule"])
        return cls(**config)
