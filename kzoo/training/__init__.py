"""kzoo.training: the route of `kzoo train` and `kzoo.train(...)`, one concept per module.

    config.py         TrainConfig, RunResult, the choices of each option, validate_config
    inputs.py         prepare_data: any supported data into a checked PreparedData
    recipe.py         the family's recipe resolved for this data: auto values, the
                      tiny-set protocol, the kept epoch (resolve_run)
    learning_rate.py  `--lr auto`, batch-size scaling and the schedule
    callback_stack.py the Keras callbacks of a run
    fit.py            plain fit, or checkpointed and resumable
    preflight.py      the data prepared and the settings resolved, before anything is written
    session.py        one session of a run: fit, summarize, write the results
    runner.py         train(), which calls the modules above in that order
    results.py        the summary, the kept epoch and diagnosis, the files written at the end
    resume_run.py     resume(): continue a killed run from its checkpoint through train()
    ensemble.py       --ensemble N: N members of one family, one averaging model
    combination.py    combine(): finished runs of any families, one averaging model

The run directory (its files, readers, marker and lock) is `kzoo.rundir`.

Example:

>>> result = kzoo.training.train("mlp", "digits", epochs=5, out="runs/mlp")
>>> result = kzoo.training.resume("runs/mlp")
"""

import importlib

from kzoo.training.config import RunResult, TrainConfig

# config.py (like kzoo.rundir) is keras-free; the rest
# load keras, so they load on first use: the CLI builds its parser from config.py
# before `--backend` takes effect.
_LAZY_ATTRS = {
    "train": "runner",
    "resume": "resume_run",
    "combine": "combination",
    "prepare_data": "inputs",
    "PreparedData": "inputs",
}

__all__ = ["RunResult", "TrainConfig", *_LAZY_ATTRS]


def __getattr__(name):
    if name in _LAZY_ATTRS:
        return getattr(importlib.import_module(f"kzoo.training.{_LAZY_ATTRS[name]}"), name)
    raise AttributeError(f"module 'kzoo.training' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
