"""`LearningRateLogger`: the learning rate applied at each step."""

import keras
from keras import ops
from keras.optimizers.schedules import LearningRateSchedule

from kzoo.callbacks import _keras_private
from kzoo.runtime import processes


class LearningRateLogger(keras.callbacks.Callback):
    """Record the learning rate applied at each step; add `lr` to epoch logs.

    `steps` and `lrs` hold one entry per optimizer step (the global step and
    the rate the update used); `logs["lr"]` at epoch end is the last rate
    applied, so it reaches `History` and `history.csv`. Both lists start empty
    at each `fit` (as Keras' callbacks reset in `on_train_begin`); `Checkpoint`
    puts a resumed run's back after that.

    Args:
        path: optional CSV file that receives `step,lr` rows at the end of each
            epoch (by process 0 only, in a multi-process job). Defaults to `None`.

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

    def on_train_begin(self, logs=None):
        self.steps = []
        self.lrs = []

    def on_train_batch_end(self, batch, logs=None):
        optimizer = self.model.optimizer
        raw = int(ops.convert_to_numpy(_keras_private.raw_iterations(optimizer)))
        n = optimizer.gradient_accumulation_steps or 1
        if raw % n:  # mid-accumulation: no update was applied
            if logs is not None and self.lrs:
                logs["lr"] = self.lrs[-1]
            return
        it = raw // n
        lr_obj = _keras_private.learning_rate_object(optimizer)
        if isinstance(lr_obj, LearningRateSchedule):
            lr = lr_obj(raw - 1)  # the update just applied ran at Keras' counter raw - 1
        else:
            lr = optimizer.learning_rate
        self.steps.append(it - 1)
        self.lrs.append(float(ops.convert_to_numpy(lr)))
        if logs is not None:
            logs["lr"] = self.lrs[-1]

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and self.lrs:
            logs["lr"] = self.lrs[-1]
        if self.path is not None and processes.is_writer():
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
