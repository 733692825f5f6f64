"""`TensorBoardLogger`: TensorBoard event files on every backend, without TensorFlow.

Keras' own `keras.callbacks.TensorBoard` imports `tensorflow.summary`, so it
does not run on a jax or torch install without TensorFlow (keras-team/keras#19121).
This callback writes the same kind of files with the `tensorboard` package
alone (`kzoo.callbacks._event_writer` says why that writer), from process 0 only.
"""

import math
import os

import keras
import numpy as np

from kzoo.callbacks._event_writer import EventWriter, require
from kzoo.runtime import processes

# The runs (sub-directories) of a log directory, as Keras' TensorBoard names the
# first two, so the train and validation curves of a tag overlay.
TRAIN, VALIDATION, GRADIENTS = "train", "validation", "gradients"
FIXED = ("step", "global_norm", "clip_threshold", "clipped")  # GradientNormLogger's columns


def write_gradient_rows(writer, columns, rows, per_layer=True):
    """Write `GradientNormLogger` rows (one per logged step) to `writer`, at each
    row's optimizer step: the global norm, each layer's norm and a histogram of
    the layers' norms, and, under clipping, the threshold and the scale the step
    was clipped by (1: not cut)."""
    layers = list(columns[len(FIXED):])
    for row in rows:
        step, norm, threshold = int(row[0]), float(row[1]), float(row[2])
        values = {"grad_norm/global": norm}
        if per_layer:
            values.update({f"grad_norm/{name}": row[len(FIXED) + j]
                           for j, name in enumerate(layers)})
        if threshold > 0:
            values["grad_clip/threshold"] = threshold
            scale = threshold / norm if math.isfinite(norm) and norm > threshold else 1.0
            values["grad_clip/scale"] = scale
        writer.scalars(step, values)
        if per_layer and layers:
            writer.histogram("grad_norm/layers", np.asarray(row[len(FIXED):]), step)
    writer.flush()


class TensorBoardLogger(keras.callbacks.Callback):
    """Write a fit's curves to TensorBoard event files, without TensorFlow.

    Three runs (sub-directories) of `log_dir`, each with its own step:
    - `train/`, step = epoch (0-based, as history.csv): `epoch_<name>` for each
      value of the epoch logs that is not a validation one: the loss, the
      metrics, the learning rate (`epoch_lr` from `LearningRateLogger`, else
      `epoch_learning_rate` read from the optimizer), `GradientNormLogger`'s
      epoch values and the clipping fraction (`epoch_grad_clip_fraction`, the
      share of steps clipping cut in); `text(...)` adds text such as a diagnosis;
    - `validation/`: `epoch_<name>` for each `val_<name>`, so curves overlay;
    - `gradients/`, step = optimizer step, when `gradients` is given: the rows
      of that `GradientNormLogger` (`write_gradient_rows`), the same steps and
      values as its `grad_norms.csv`.

    Resuming (`fit_resumable(..., resume=True)` or `kzoo train --resume`): the
    logger reopens its event files and appends; the first step it writes drops
    the events a killed run wrote at that step or later, so TensorBoard shows
    each step once. Give each run its own `log_dir`. In a multi-process job only
    process 0 writes (`kzoo.runtime.processes.is_writer`).

    Needs the `tensorboard` package (`pip install 'kzoo[tensorboard]'`); without
    it the constructor raises a one-line `UsageError`.

    Args:
        log_dir: the directory TensorBoard is pointed at (`tensorboard --logdir`).
        gradients: a `GradientNormLogger` of the same fit whose rows to write,
            or `None`. Defaults to `None`.

    Example:

    ```python
    norms = GradientNormLogger(every=10)
    tb = TensorBoardLogger("runs/a/tb", gradients=norms)
    model.fit(x, y, validation_split=0.2, callbacks=[norms, tb])
    ```
    """

    def __init__(self, log_dir, gradients=None):
        super().__init__()
        require("TensorBoardLogger")
        self.log_dir = str(log_dir)
        self.gradients = gradients
        self._writers = {}
        self._rows_seen = 0
        self.last_epoch = None

    def writer(self, run, purge=True):
        """The `EventWriter` of sub-directory `run` (None off process 0)."""
        if not processes.is_writer():
            return None
        if run not in self._writers:
            self._writers[run] = EventWriter(os.path.join(self.log_dir, run), purge=purge)
        return self._writers[run]

    def on_train_begin(self, logs=None):
        self._rows_seen = 0  # GradientNormLogger.rows starts empty at each fit

    def on_epoch_end(self, epoch, logs=None):
        self.last_epoch = epoch
        logs = dict(logs or {})
        train, val = {}, {}
        for key, value in logs.items():
            try:
                value = float(value)
            except (TypeError, ValueError):
                continue
            if key.startswith("val_"):
                val[f"epoch_{key[4:]}"] = value
            else:
                train[f"epoch_{key}"] = value
        if "lr" not in logs and "learning_rate" not in logs:
            rate = self._learning_rate()
            if rate is not None:
                train["epoch_learning_rate"] = rate
        for run, values in ((TRAIN, train), (VALIDATION, val)):
            if values and (w := self.writer(run)) is not None:
                w.scalars(epoch, values)
                w.flush()
        self._write_gradients()

    def _learning_rate(self):
        optimizer = getattr(self.model, "optimizer", None)
        try:
            return float(keras.ops.convert_to_numpy(optimizer.learning_rate))
        except Exception:  # no optimizer, or a rate that is not a number
            return None

    def _write_gradients(self):
        norms = self.gradients
        if norms is None or not getattr(norms, "columns", None):
            return
        rows = norms.rows[self._rows_seen:]
        self._rows_seen = len(norms.rows)
        if rows and (w := self.writer(GRADIENTS)) is not None:
            write_gradient_rows(w, norms.columns, rows, norms.per_layer)

    def on_train_end(self, logs=None):
        self._write_gradients()
        self.close()  # `text` and a next fit reopen them (appending)

    def text(self, tag, text, step=None, scalars=None):
        """Add `text` (markdown) and optional `{tag: number}` to the `train/` run at
        `step` (default: the last epoch written), e.g. a diagnosis and test scores
        after the fit."""
        step = self.last_epoch if step is None else step
        w = self.writer(TRAIN, purge=False)
        if w is None:
            return
        step = 0 if step is None else step
        w.text(tag, text, step)
        if scalars:
            w.scalars(step, scalars)
        w.flush()

    def close(self):
        for w in self._writers.values():
            w.close()
        self._writers = {}
