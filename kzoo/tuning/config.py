"""`TuneConfig`: every setting of a search, listed once, as `TrainConfig` lists a run's.

`tune()`'s keyword signature, the defaults of `kzoo tune`'s flags, what the chief and
workers are handed (`distribute.handoff`), the identity that `tune_config.json` keeps
and the progress report all read this class. Keras-free: the CLI builds its parser
from it before `--backend` takes effect.
"""

import dataclasses
import inspect

# A field's metadata `handoff`: the JSON type(s) it travels to the chief and workers in
# (`OUT/workers/settings.json`); fields without it are this process's alone.
_INT, _FLOAT, _STR, _BOOL = {"handoff": int}, {"handoff": (int, float)}, {"handoff": str}, \
    {"handoff": bool}


@dataclasses.dataclass
class TuneConfig:
    """The settings of a search (`kzoo.tuning.tune`'s arguments; see its docstring).

    `fixed`, `callbacks`, `objective` and `devices` travel to the workers in a form of
    their own (`handoff`); `workers`, `overwrite`, `cluster`, `rank`, `chief_port` and
    `gpus_per_worker` shape how this process runs the search and stay here.
    """

    model: str = dataclasses.field(metadata=_STR)
    data: object
    out: str = dataclasses.field(metadata=_STR)
    tuner: str = dataclasses.field(default="random", metadata=_STR)
    max_trials: int = dataclasses.field(default=10, metadata=_INT)
    epochs: int = dataclasses.field(default=10, metadata=_INT)
    objective: str | None = None
    fixed: dict | None = None
    seed: int = dataclasses.field(default=0, metadata=_INT)
    early_stopping: int = dataclasses.field(default=0, metadata=_INT)
    prune: bool = dataclasses.field(default=False, metadata=_BOOL)
    callbacks: list | None = None
    workers: int = 0
    heartbeat_timeout: float = dataclasses.field(default=60.0, metadata=_FLOAT)
    overwrite: bool = False
    verbose: int = dataclasses.field(default=1, metadata=_INT)
    devices: int | str = 1
    gpus_per_worker: int | None = None
    cluster: str | None = None
    rank: int | None = None
    chief_port: int | None = None
    accumulate: int = dataclasses.field(default=1, metadata=_INT)
    tensorboard: bool = dataclasses.field(default=False, metadata=_BOOL)


def default(name):
    """The default of setting `name` (for the CLI's flags)."""
    return TuneConfig.__dataclass_fields__[name].default


def handed_off():
    """`{name: JSON type(s)}` of the scalar settings the chief and workers are handed."""
    return {f.name: f.metadata["handoff"] for f in dataclasses.fields(TuneConfig)
            if "handoff" in f.metadata}


def signature():
    """`tune(model, data, *, out, tuner="random", ...)`: the fields as `tune`'s signature."""
    params = []
    for f in dataclasses.fields(TuneConfig):
        if f.name in ("model", "data"):
            params.append(inspect.Parameter(f.name, inspect.Parameter.POSITIONAL_OR_KEYWORD))
            continue
        has = f.default is not dataclasses.MISSING
        params.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY,
                                        default=f.default if has else inspect.Parameter.empty))
    return inspect.Signature(params)
