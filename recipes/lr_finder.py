"""
Title: Find a learning rate with the range test, then train with one-cycle
Author: kzoo contributors
Date created: 2026/12/01
Last modified: 2026/12/01
Description: Sweep the learning rate exponentially over a hundred steps, read
the suggested rate off the smoothed loss curve, and train with it.

Run: `KERAS_BACKEND=jax python recipes/lr_finder.py` (any backend works).
The CLI equivalents are `kzoo lr-find --model mlp --data digits --out runs/lr`
and `kzoo train --model mlp --data digits --lr auto --schedule onecycle`.

Reference: Smith 2017, "Cyclical Learning Rates for Training Neural Networks";
Smith 2018, "A disciplined approach to neural network hyper-parameters".
"""

"""## Setup"""

import os

import kzoo  # before keras: picks an installed backend unless KERAS_BACKEND is set

print("Keras backend:", kzoo.runtime.backend.current_backend())
# KZOO_FAST=1: a tiny run (one epoch, little data) that only checks the recipe runs.
FAST = os.environ.get("KZOO_FAST") == "1"

import keras

from kzoo import datasets, zoo
from kzoo.callbacks import LearningRateLogger
from kzoo.plots import plot_lr_find
from kzoo.schedules import CycleMomentum, LRFinder, OneCycle

SEED = 0
BATCH_SIZE = 64
EPOCHS = 1 if FAST else 8
OUT = "runs/lr_finder_recipe"

"""## Data and model"""

data = datasets.load("digits", seed=SEED)
keras.utils.set_random_seed(SEED)
model = zoo.create("mlp", data.input_shape, data.num_classes, width=128, learning_rate=1e-7)

"""## The range test

The rate grows from 1e-7 to 10; the sweep stops once the smoothed loss exceeds
four times its minimum. The model and optimizer are restored afterwards, so the
same model can be trained right away.
"""

finder = LRFinder(min_lr=1e-7, max_lr=10.0, num_steps=100, batch_size=BATCH_SIZE, seed=SEED)
result = finder.find(model, data.x_train, data.y_train)
finder.save(OUT)
plot_lr_find(result, f"{OUT}/plots/lr_find.png")
print(f"sweep ran {result['steps_run']} steps; diverged at {result['diverged_at']}")
for rule, lr in result["suggestions"].items():
    print(f"  {rule:12s} {lr:.3g}")
print(f"wrote {OUT}/lr_find.json and {OUT}/plots/lr_find.png")

"""## Train with one-cycle around the suggestion

The valley rate is a safe peak for one-cycle: the cycle starts 25 times lower,
and momentum (Adam's beta_1) moves opposite to the rate.
"""

peak = result["suggestions"]["valley"]
steps_per_epoch = -(-len(data.x_train) // BATCH_SIZE)
schedule = OneCycle(peak, total_steps=EPOCHS * steps_per_epoch)
zoo.compile_for_head(model, data.task, optimizer=keras.optimizers.Adam(schedule))
lr_log = LearningRateLogger()
model.fit(
    data.x_train,
    data.y_train,
    validation_data=(data.x_val, data.y_val),
    epochs=EPOCHS,
    batch_size=BATCH_SIZE,
    callbacks=[CycleMomentum(schedule), lr_log],
    verbose=2,
)
print(f"peak applied rate {max(lr_log.lrs):.3g} at step {lr_log.lrs.index(max(lr_log.lrs))}")

"""## Evaluate"""

scores = model.evaluate(data.x_test, data.y_test, verbose=0, return_dict=True)
print(f"test accuracy: {scores['accuracy']:.3f}")
