"""
Title: Distributed tuning with a chief and several workers
Author: kzoo contributors
Date created: 2026/12/01
Last modified: 2026/12/01
Description: KerasTuner's chief/worker engine through `kzoo tune --workers N`.

KerasTuner distributes a search with one chief, which holds the oracle and
answers over gRPC, and any number of workers, which ask it for trials, train
them and report back. Each process learns its role from three environment
variables: `KERASTUNER_TUNER_ID` (`chief` or a unique worker id),
`KERASTUNER_ORACLE_IP` and `KERASTUNER_ORACLE_PORT`.

`tune(..., workers=N)` (or `kzoo tune --workers N`) starts the chief and N
workers on this host on 127.0.0.1, gives each worker one GPU through
`CUDA_VISIBLE_DEVICES` when there are several, and restarts a worker that dies.
The chief requeues the trial a dead worker was running, so the search neither
stalls (keras-tuner#915) nor loses a trial. Running this script again continues
the search in `OUT`.

    KERAS_BACKEND=jax python recipes/distributed_tuning.py
"""

"""## Setup"""

import json  # noqa: E402
import os  # noqa: E402
import pathlib  # noqa: E402

import kzoo  # before keras: picks an installed backend unless KERAS_BACKEND is set

print("Keras backend:", kzoo.runtime.backend.current_backend())
# KZOO_FAST=1: a tiny run (one epoch, little data) that only checks the recipe runs.
FAST = os.environ.get("KZOO_FAST") == "1"

import kzoo  # noqa: E402
from kzoo.tuning import tune  # noqa: E402

MODEL = "gru"
DATA = "digits-seq"
WORKERS = 1 if FAST else 2
MAX_TRIALS = 1 if FAST else 6
EPOCHS = 1 if FAST else 5
OUT = pathlib.Path("runs/distributed_tuning")

"""## The space

Workers build the same hypermodel as the chief, from the same settings; only
the chief's oracle chooses values.
"""

ds = kzoo.datasets.load(DATA)
hm = kzoo.zoo.hypermodel(MODEL, ds.input_shape, ds.num_classes, depth=(1, 2), units=[32, 64])
print(hm.space_summary())

"""## A chief and two workers on this host

Worker output goes to `OUT/workers/tuner<i>.log`; the chief prints one line per
finished trial. The workers read their settings as JSON (never pickle):
callbacks passed with `callbacks=` are rebuilt there from their class, which must
live in an importable module, and their `__init__` arguments.
"""

result = tune(
    MODEL,
    DATA,
    out=OUT,
    tuner="random",
    max_trials=MAX_TRIALS,
    epochs=EPOCHS,
    fixed={"depth": (1, 2), "units": [32, 64]},
    workers=WORKERS,
)

"""## Who ran what

`trials.csv` has a `worker` column: the trials are shared, none is run twice.
"""

for row in result.trials:
    print(f"trial {int(row['trial_id'])}: {row['status']:9s} by {row['worker']}")
print(json.dumps({k: result.best[k] for k in ("trial_id", "score", "hyperparameters")}, indent=1))

"""## Several hosts

The same command runs anywhere once the three variables are set. On the chief
host (which trains nothing):

    KERASTUNER_TUNER_ID=chief KERASTUNER_ORACLE_IP=0.0.0.0 KERASTUNER_ORACLE_PORT=8000 \\
        kzoo tune --model gru --data digits-seq --max-trials 50 --out /shared/search

and on each worker host, with its own id:

    KERASTUNER_TUNER_ID=tuner3 KERASTUNER_ORACLE_IP=<chief address> \\
        KERASTUNER_ORACLE_PORT=8000 \\
        kzoo tune --model gru --data digits-seq --max-trials 50 --out /shared/search

Use the same settings everywhere. Put `--out` on a filesystem all hosts share so
the chief can export the best model; without one, `best.json` and `trials.csv`
are still written. A worker that stops sending heartbeats for
`--heartbeat-timeout` seconds is dropped and its trial goes to the next worker.
"""
