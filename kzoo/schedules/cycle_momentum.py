"""`CycleMomentum`: cycle the optimizer's momentum inversely to a `OneCycle` rate."""

import keras
from keras import ops

from kzoo.callbacks import _keras_private
from kzoo.runtime.errors import UsageError
from kzoo.schedules.rates import OneCycle


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
            raise UsageError(f"schedule must be a OneCycle, got {type(schedule).__name__}.")
        self.schedule = schedule
        self._variable = None
        self._attr = None
        self._original = None

    def _install(self, optimizer):
        for attr in ("beta_1", "momentum"):
            if hasattr(optimizer, attr):
                break
        else:
            raise UsageError(
                f"{type(optimizer).__name__} has no beta_1 or momentum to cycle; use "
                "Adam, AdamW, Nadam, SGD or RMSprop."
            )
        current = getattr(optimizer, attr)
        self._attr = attr
        if isinstance(current, keras.Variable):
            self._variable, self._original = current, None  # the user's own: leave it
            return
        # `add_variable` puts it in `optimizer.variables`: traced steps read it.
        self._original = current
        self._variable = optimizer.add_variable(shape=(), name=f"cycled_{attr}")
        setattr(optimizer, attr, self._variable)

    def on_train_begin(self, logs=None):
        self._install(self.model.optimizer)
        self._assign()

    def on_train_batch_begin(self, batch, logs=None):
        self._assign()

    def on_train_end(self, logs=None):
        # Put the compiled float back and drop the variable, so the optimizer's
        # config serializes (a Variable in it made `model.save` fail) and a saved
        # model holds the optimizer Keras built.
        if self._original is None:
            return
        optimizer = self.model.optimizer
        setattr(optimizer, self._attr, self._original)
        _keras_private.remove_variable(optimizer, self._variable)
        self._variable = self._original = None
        self.model.train_function = None  # its traced step read the variable

    def _assign(self):
        optimizer = self.model.optimizer
        step = int(ops.convert_to_numpy(optimizer.iterations))
        self._variable.assign(self.schedule.momentum(step))

    def get_config(self):
        return {"schedule": keras.saving.serialize_keras_object(self.schedule)}
