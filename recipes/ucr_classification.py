"""
Title: Time-series classification on the UCR/UEA archives
Author: kzoo contributors
Date created: 2026/12/01
Last modified: 2026/12/01
Description: FCN, ResNet, InceptionTime and friends on a UCR dataset, with kzoo's default recipe.

The UCR (univariate) and UEA (multivariate) archives are the standard test bed
for time-series classifiers (Dau et al. 2019; Bagnall et al. 2018). Fawaz et
al. (2019) trained FCN, ResNet and others on them for 1500-5000 epochs; this
recipe reaches the published accuracy on small datasets in 1/10 of that, with:

- Adam at 1e-3 and global-norm gradient clipping (1.0);
- `ReduceLROnPlateau` on the training loss (halve after 15 flat epochs);
- `EarlyStopping` on a validation split carved from the archive's train split,
  restoring the best weights; the archive's test split is only used at the end.

Data: `kzoo.datasets.load("ucr:<Name>")` reads `$KZOO_DATA/<Name>/<Name>_TRAIN.ts`
and downloads the archive's zip when it is missing. Variable-length datasets
(JapaneseVowels) are right-padded with zeros; `masking=True` makes the models
ignore the padding.

    KZOO_DATA=../shared/data/ucr KERAS_BACKEND=jax python recipes/ucr_classification.py

The same from the command line:

    kzoo train --model fcn --data ucr:GunPoint --epochs 200 --hp filters=128
"""

"""## Setup"""

import os  # noqa: E402
import time  # noqa: E402

import kzoo  # before keras: picks an installed backend unless KERAS_BACKEND is set

print("Keras backend:", kzoo.runtime.backend.current_backend())
# KZOO_FAST=1: a tiny run (one epoch, little data) that only checks the recipe runs.
FAST = os.environ.get("KZOO_FAST") == "1"

import keras  # noqa: E402
import numpy as np  # noqa: E402

import kzoo.datasets  # noqa: E402
import kzoo.zoo  # noqa: E402

DATASET = "GunPoint"  # also ItalyPowerDemand, BasicMotions, JapaneseVowels, ...
MODEL = "fcn"  # fcn, resnet1d, inception_time, lstm_fcn, tcn, transformer
HPARAMS = {"filters": 128}  # the published FCN width (the zoo default is 64)
EPOCHS = 1 if FAST else 200  # 1/10 of Fawaz et al.'s 2000 for FCN
LEARNING_RATE = 1e-3
CLIPNORM = 1.0
SEEDS = (0,) if FAST else (0, 1, 2)
PRECISION = "float32"  # "mixed_bfloat16" on recent GPUs/TPUs

"""## Data

The archive's train split is split again (stratified, 80/20) for early
stopping; the test split stays untouched until the end.
"""

data = kzoo.datasets.load(f"ucr:{DATASET}", seed=0)
print(data.summary(), "classes:", data.classes)
if not data.info["equal_length"]:
    HPARAMS["masking"] = True
    if MODEL == "lstm_fcn":
        HPARAMS["dimension_shuffle"] = False

"""## Model and training

Batch size follows Fawaz et al.: `min(n_train / 10, 16)`.
"""


def train_once(seed):
    keras.utils.set_random_seed(seed)
    ds = kzoo.datasets.load(f"ucr:{DATASET}", seed=seed)
    with kzoo.zoo.precision(PRECISION):
        model = kzoo.zoo.create(MODEL, ds.input_shape, ds.num_classes, compile=False, **HPARAMS)
    optimizer = keras.optimizers.Adam(LEARNING_RATE, clipnorm=CLIPNORM)
    kzoo.zoo.compile_for_head(model, ds.task, optimizer=optimizer)
    callbacks = [
        keras.callbacks.ReduceLROnPlateau("loss", factor=0.5, patience=15, min_lr=1e-4),
        keras.callbacks.EarlyStopping("val_loss", patience=40, restore_best_weights=True),
    ]
    start = time.perf_counter()
    history = model.fit(
        ds.x_train,
        ds.y_train,
        validation_data=(ds.x_val, ds.y_val),
        epochs=EPOCHS,
        batch_size=int(min(16, max(4, len(ds.x_train) // 10))),
        callbacks=callbacks,
        verbose=0,
    )
    _, accuracy = model.evaluate(ds.x_test, ds.y_test, verbose=0)
    print(
        f"seed {seed}: test accuracy {accuracy:.4f} after {len(history.history['loss'])} "
        f"epochs, {time.perf_counter() - start:.0f} s"
    )
    return accuracy


"""## Evaluate over seeds

Published results are means over runs (10 in Fawaz et al. 2019); report the
mean and spread, not the best seed.
"""

scores = np.array([train_once(seed) for seed in SEEDS])
print(f"{MODEL} on {DATASET}: {100 * scores.mean():.1f} +- {100 * scores.std():.1f} % "
      f"over seeds {list(SEEDS)}")
