"""
Title: Interrupt a training run and resume it exactly
Author: kzoo contributors
Date created: 2026/12/01
Last modified: 2026/12/01
Description: Full-state checkpoints (weights, optimizer, RNG, epoch and step,
callback states, metric sums, history) let a crashed run continue mid-epoch and
end with the same weights and logs as a run that was never interrupted.

Run: `KERAS_BACKEND=jax python recipes/resume_training.py` (any backend works).
The CLI equivalent is `kzoo train ... --out runs/a --checkpoint-every-steps 20`
and, after a crash, `kzoo train --resume runs/a`.
"""

"""## Setup"""

import os
import shutil
import tempfile

import kzoo  # before keras: picks an installed backend unless KERAS_BACKEND is set

print("Keras backend:", kzoo.runtime.backend.current_backend())
# KZOO_FAST=1: a tiny run (one epoch, little data) that only checks the recipe runs.
FAST = os.environ.get("KZOO_FAST") == "1"

import keras
import numpy as np

from kzoo import datasets, zoo
from kzoo.callbacks import Checkpoint, LearningRateLogger
from kzoo.fit import fit_resumable
from kzoo.schedules import Warmup

SEED = 0
EPOCHS = 2 if FAST else 4
BATCH_SIZE = 64
CRASH_AT_STEP = 30  # a simulated crash in the middle of epoch 2
CHECKPOINT_EVERY_STEPS = 10

"""## Data"""

data = datasets.load("digits", seed=SEED)
print(data.summary())
steps_per_epoch = -(-len(data.x_train) // BATCH_SIZE)

"""## A model factory

Resuming needs the same model and optimizer as the run that wrote the
checkpoint: same family, hyperparameters and schedule.
"""


def make_model():
    keras.utils.set_random_seed(SEED)
    model = zoo.create(
        "mlp", data.input_shape, data.num_classes, compile=False, width=64, dropout=0.2
    )
    decay = keras.optimizers.schedules.CosineDecay(3e-3, EPOCHS * steps_per_epoch - 20)
    model.compile(
        keras.optimizers.Adam(Warmup(decay, warmup_steps=20)),
        "sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def run(directory, extra_callbacks=()):
    """Train with checkpoints in `directory`, resuming from it if it holds any."""
    model = make_model()
    ckpt = Checkpoint(directory, every_n_steps=CHECKPOINT_EVERY_STEPS, save_best_k=2)
    # Its counters and best weights are checkpointed too.
    early = keras.callbacks.EarlyStopping(patience=3, restore_best_weights=True)
    history = fit_resumable(
        model,
        data.x_train,
        data.y_train,
        epochs=EPOCHS,
        batch_size=BATCH_SIZE,
        checkpoint=ckpt,
        seed=SEED,
        validation_data=(data.x_val, data.y_val),
        callbacks=[early, LearningRateLogger(), *extra_callbacks],
    )
    return model, history


"""## A run that crashes

A callback raises at step 30, as a kill or power cut would stop the process.
Checkpoints are written atomically (temporary file, fsync, rename), so the
last complete one survives whatever moment the crash hits.
"""


class Crash(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
        if step == CRASH_AT_STEP:
            raise RuntimeError(f"simulated crash at step {step}")


workdir = tempfile.mkdtemp(prefix="kzoo-resume-")
try:
    run(f"{workdir}/run", [Crash()])
except RuntimeError as err:
    print("Run stopped:", err)

"""## Resume

A new model object, as in a new process: `fit_resumable` finds the latest
valid checkpoint, restores everything, finishes the interrupted epoch, then
runs the remaining ones.
"""

resumed, history = run(f"{workdir}/run")
print("epochs in the resumed run's history:", len(history["loss"]))

"""## Compare with a run that was never interrupted"""

reference, reference_history = run(f"{workdir}/reference")
diff = max(
    float(np.max(np.abs(keras.ops.convert_to_numpy(a) - keras.ops.convert_to_numpy(b))))
    for a, b in zip(resumed.weights, reference.weights, strict=True)
)
print(f"largest weight difference, resumed vs uninterrupted: {diff:.3g}")
# The interrupted epoch's logged loss too: the metrics' running sums are checkpointed.
print("per-epoch loss, resumed:      ", np.round(history["loss"], 5))
print("per-epoch loss, uninterrupted:", np.round(reference_history["loss"], 5))
test = resumed.evaluate(data.x_test, data.y_test, verbose=0, return_dict=True)
print(f"test accuracy: {test['accuracy']:.3f}")
shutil.rmtree(workdir)
