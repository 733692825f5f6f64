"""kzoo.training: the route of `kzoo train` and `kzoo.train(...)`, one concept per module.

    config.py         TrainConfig, RunResult, the choices of each option, validate_config
    run_dir.py        the run directory: file names, marker, lock, check_out/claim, writers
    inputs.py         prepare_data: any supported data into a checked PreparedData
    recipe.py         the family's recipe resolved for this data: auto values, the
                      tiny-set protocol, the kept epoch (resolve_run)
    learning_rate.py  `--lr auto`, batch-size scaling and the schedule
    callbacks.py      the Keras callbacks of a run
    fit.py            plain fit, or checkpointed and resumable
    runner.py         train() and resume(), which call the modules above in that order

Example:

>>> result = kzoo.training.train("mlp", "digits", epochs=5, out="runs/mlp")
>>> result = kzoo.training.resume("runs/mlp")
"""

import importlib

from kzoo.training.config import RunResult, TrainConfig

# config.py and run_dir.py are keras-free; the rest load keras, so they load on first
# use: the CLI builds its parser from config.py before `--backend` takes effect.
_LAZY_ATTRS = {
    "train": "runner",
    "resume": "runner",
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
