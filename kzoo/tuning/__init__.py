"""`kzoo tune`: KerasTuner search over a zoo family, resumable and distributed.

`tune(model, data, out=...)` runs a KerasTuner search (random, bayesian or
hyperband) of `kzoo.zoo.hypermodel(model, ...)` and writes into `out`:

- `tune_config.json`: the settings a resume must match, and the objective's direction;
- `trials.csv`: one row per trial (id, status, score, epochs run, wall time,
  every hyperparameter, RSS at trial start, worker, error);
- `best.json` and `best_model.keras`;
- `plots/`: the objective against each hyperparameter and the search over time;
- `kt/`: KerasTuner's own project (`oracle.json`, `trial_*/trial.json`), and each
  running trial's checkpoints (`trial_*/ckpt`, removed once the trial is recorded).

Resuming: the tuner is built with `overwrite=False`, so KerasTuner reloads its
oracle from `kt/` and sends interrupted trials back to the queue; completed
trials are never rerun, and `trials.csv` is rewritten from the oracle's state
after every trial, so it is consistent after a SIGKILL. An interrupted trial
(a killed search, or a dead worker's) continues from its last checkpoint
(`trial_fit`); `trials.csv`'s `resumed_from_epoch` says where.

Scale: `devices=N` trains each trial on N devices (`kzoo.runtime.devices`);
`workers=N, gpus_per_worker=K` gives each local worker its own K GPUs;
`cluster="slurm"` (or a hostfile) makes this process one rank of a search over
several hosts (`distribute.cluster`).

The package follows KerasTuner's layout:

| module | holds |
|---|---|
| `api` | `tune`, and the entry point of launched chief/worker processes |
| `config` | `TuneConfig`: every setting of a search and its default, listed once |
| `settings` | the checks (the search directory and its config file: `kzoo.rundir.search`) |
| `tuner`, `bayesian`, `tpe` | `KzooTuner`, `BayesianOracle`, Optuna TPE |
| `pruning`, `oom` | the median stopping rule; out-of-memory trials and the batch cap |
| `trial_fit` | a trial's checkpointed fit, resumed by whichever worker reruns it |
| `records`, `progress`, `best` | trials.csv; printed lines; best.json and model |
| `distribute/` | roles, gRPC chief, heartbeats, JSON hand-off, local launcher, clusters |
| `_keras_tuner_private` | every touch of KerasTuner's private API (pinned 1.4.8) |
"""

from kzoo.tuning.config import TuneConfig
from kzoo.tuning.records import SearchFailedError, TuneResult
from kzoo.tuning.settings import TUNERS

__all__ = ["tune", "TuneConfig", "TuneResult", "SearchFailedError", "TUNERS", "plot_search"]


def __getattr__(name):
    # Deferred: `tune` and `plot_search` import keras (and keras_tuner, matplotlib),
    # and `import kzoo.tuning` must leave the backend unchosen for the CLI's --backend.
    if name == "tune":
        from kzoo.tuning.api import tune

        return tune
    if name == "plot_search":
        from kzoo.plots.search import plot_search

        return plot_search
    raise AttributeError(f"module 'kzoo.tuning' has no attribute {name!r}")
