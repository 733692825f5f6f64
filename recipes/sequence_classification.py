"""
Title: Sequence classification with a recurrent zoo model
Author: kzoo contributors
Date created: 2026/12/01
Last modified: 2026/12/01
Description: Read 8x8 digit images row by row and classify them with LSTM, GRU and SimpleRNN.

Copy this file and change the constants: any registered model (`kzoo list`) and
any dataset spec work. Runs in about a minute on 2 CPU cores.
"""

"""## Setup

The backend must be chosen before keras is imported.
"""

import os

import kzoo  # before keras: picks an installed backend unless KERAS_BACKEND is set

print("Keras backend:", kzoo.runtime.backend.current_backend())
# KZOO_FAST=1: a tiny run (one epoch, little data) that only checks the recipe runs.
FAST = os.environ.get("KZOO_FAST") == "1"

import keras
import numpy as np

import kzoo

MODELS = ["gru"] if FAST else ["simple_rnn", "lstm", "gru"]
DATA = "digits-seq"
EPOCHS = 1 if FAST else 25
BATCH_SIZE = 32
LEARNING_RATE = 3e-3
SEED = 0

"""## Data

`digits-seq` is scikit-learn's handwritten digits, each 8x8 image fed as 8 steps
of 8 pixels. Splits are stratified and standardised on the training split.
"""

ds = kzoo.datasets.load(DATA, seed=SEED)
print(ds.summary())

"""## Models

`kzoo.zoo.create` returns a compiled functional model. The recurrent families
take `units`, `depth`, `bidirectional`, `dropout`, `pooling` ("last", "mean",
"attention") and `layer_norm`; defaults keep the cuDNN fast path on GPU.
"""


def build(name):
    keras.utils.set_random_seed(SEED)
    return kzoo.zoo.create(
        name,
        input_shape=ds.input_shape,
        num_classes=ds.num_classes,
        units=64,
        dropout=0.1,
        pooling="attention",
        learning_rate=LEARNING_RATE,
    )


"""## Train and evaluate

Early stopping on the validation loss restores the best weights; the test split
is used once, at the end.
"""

results = {}
for name in MODELS:
    model = build(name)
    history = model.fit(
        ds.x_train,
        ds.y_train,
        validation_data=(ds.x_val, ds.y_val),
        epochs=EPOCHS,
        batch_size=BATCH_SIZE,
        callbacks=[keras.callbacks.EarlyStopping(patience=6, restore_best_weights=True)],
        verbose=0,
    )
    _, accuracy = model.evaluate(ds.x_test, ds.y_test, verbose=0)
    results[name] = (accuracy, len(history.history["loss"]), model.count_params())
    print(f"{name:10s} test accuracy {accuracy:.3f} after {results[name][1]} epochs")

"""## Compare

On this short task all three cells do well; the gap opens on long sequences
(see `recipes/gradient_problems.py` and the adding problem).
"""

print(f"\n{'model':10s} {'test acc':>9s} {'epochs':>7s} {'params':>8s}")
for name, (acc, epochs, params) in results.items():
    print(f"{name:10s} {acc:9.3f} {epochs:7d} {params:8d}")
best = max(results, key=lambda n: results[n][0])
print(f"best: {best} ({np.round(results[best][0], 3)})")
