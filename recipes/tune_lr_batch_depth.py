"""
Title: Tuning the learning rate, batch size and depth of a zoo model
Author: kzoo contributors
Date created: 2026/12/01
Last modified: 2026/12/01
Description: KerasTuner search over a kzoo family, with the batch size tuned in `fit`.

The learning rate, the batch size and the depth are the three knobs that matter
most for a small recurrent classifier, and they interact: a larger batch wants a
larger learning rate (Goyal et al. 2017, "Accurate, Large Minibatch SGD"), a
deeper stack a smaller one. This recipe searches them together with the
family's own hyperparameters, first with KerasTuner directly, then with the
`kzoo tune` engine that also writes `trials.csv`, plots and the best model.

Run it with any backend:

    KERAS_BACKEND=jax python recipes/tune_lr_batch_depth.py
"""

"""## Setup"""

import os  # noqa: E402

import kzoo  # before keras: picks an installed backend unless KERAS_BACKEND is set

print("Keras backend:", kzoo.runtime.backend.current_backend())
# KZOO_FAST=1: a tiny run (one epoch, little data) that only checks the recipe runs.
FAST = os.environ.get("KZOO_FAST") == "1"

import keras  # noqa: E402
import keras_tuner  # noqa: E402

import kzoo  # noqa: E402
from kzoo.tuning import tune  # noqa: E402

MODEL = "lstm"
DATA = "digits-seq"  # 8x8 digit images read row by row: 8 steps of 8 features
MAX_TRIALS = 1 if FAST else 8
EPOCHS = 1 if FAST else 8
OUT = "runs/tune_lr_batch_depth"
SEED = 0

keras.utils.set_random_seed(SEED)

"""## Data"""

ds = kzoo.datasets.load(DATA, seed=SEED)
print(ds.summary())

"""## The hypermodel and its space

`kzoo.zoo.hypermodel` wraps any registered family. Its space is the family's own
(`units`, `depth`, `dropout`, ...) plus `learning_rate` on a log scale and
`batch_size`, which `HyperModel.fit` passes to `model.fit`. Keyword arguments fix
a hyperparameter (`bidirectional=False`), narrow a range (`depth=(1, 2)`) or the
choices (`units=[32, 64]`).
"""

hypermodel = kzoo.zoo.hypermodel(
    MODEL,
    ds.input_shape,
    ds.num_classes,
    depth=(1, 2),
    units=[32, 64],
    bidirectional=False,
    learning_rate=(3e-4, 3e-2),
)
print(hypermodel.space_summary())

"""## Searching with KerasTuner directly

Any KerasTuner tuner takes the hypermodel. The batch size is a hyperparameter,
so it is not given to `search`.
"""

tuner = keras_tuner.RandomSearch(
    hypermodel,
    objective="val_accuracy",
    max_trials=3,
    seed=SEED,
    directory=OUT,
    project_name="plain_keras_tuner",
    overwrite=True,
)
tuner.search(
    ds.x_train,
    ds.y_train,
    validation_data=(ds.x_val, ds.y_val),
    epochs=EPOCHS,
    verbose=0,
)
best_hp = tuner.get_best_hyperparameters()[0]
print("KerasTuner best:", best_hp.values)

"""## Searching with `kzoo tune`

The engine behind `kzoo tune` adds what a long search needs: one row per trial in
`trials.csv` (failed trials keep their error), `best.json`, `best_model.keras`,
plots, `clear_session` between trials, and resumption: run this script again
after interrupting it and the finished trials are kept. The same search from
the shell:

    kzoo tune --model lstm --data digits-seq --tuner bayesian --max-trials 8 \\
        --epochs 8 --hp depth=1..2 --hp "units=[32,64]" --out runs/tune_lr_batch_depth/search
"""

result = tune(
    MODEL,
    ds,
    out=f"{OUT}/search",
    tuner="bayesian",
    max_trials=MAX_TRIALS,
    epochs=EPOCHS,
    fixed={"depth": (1, 2), "units": [32, 64], "bidirectional": False},
    early_stopping=3,
    seed=SEED,
)
print("best trial:", result.best["trial_id"], result.best["hyperparameters"])
print("test metrics of the best model:", result.best.get("test"))

"""## Reading the trials

`trials.csv` is plain CSV; here, the mean score per batch size.
"""

by_batch = {}
for row in result.trials:
    if row["status"] == "COMPLETED":
        by_batch.setdefault(int(row["batch_size"]), []).append(row["score"])
for batch_size, scores in sorted(by_batch.items()):
    print(f"batch {batch_size:4d}: mean val_accuracy {sum(scores) / len(scores):.3f}")
print(f"plots in {OUT}/search/plots/")

"""## Retraining the winner

The best model is saved as `.keras`; it loads without kzoo's code.
"""

best_model = keras.saving.load_model(f"{OUT}/search/best_model.keras")
loss, accuracy = best_model.evaluate(ds.x_test, ds.y_test, verbose=0)
print(f"reloaded best model: test accuracy {accuracy:.3f}")
