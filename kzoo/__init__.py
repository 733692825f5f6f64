"""kzoo: a Keras 3 model zoo and recipe library.

`import kzoo` is cheap and imports no backend: the submodules (`kzoo.zoo`,
`kzoo.callbacks`, `kzoo.datasets`) and `kzoo.train` load keras, and with it the
backend named by `KERAS_BACKEND`, on first use. This lets the CLI's `--backend`
flag set the backend before keras is imported.

With KERAS_BACKEND unset, `import kzoo` sets it to the first installed of jax,
torch, tensorflow and says so on stderr (`kzoo.runtime.backend.select_backend`).
"""

import importlib

from kzoo.runtime.backend import check_backend as _check_backend
from kzoo.runtime.backend import select_backend as _select_backend
from kzoo.runtime.errors import (  # noqa: F401 (kzoo's error kinds, at the top)
    DataError,
    KzooError,
    MachineError,
    RunDirError,
    RunFailedError,
    UsageError,
)

_select_backend()

__version__ = "0.1.0"

_LAZY_MODULES = (
    "zoo", "callbacks", "datasets", "fit", "schedules", "training", "tuning", "plots", "recipes",
)
_LAZY_ATTRS = {
    "train": ("kzoo.training", "train"),
    "combine": ("kzoo.training.combination", "combine"),
    "clear_session": ("kzoo.runtime.backend", "clear_session"),
}

_ERRORS = ["KzooError", "UsageError", "DataError", "RunDirError", "RunFailedError", "MachineError"]
__all__ = ["__version__", "train", "combine", "clear_session", "runtime", *_ERRORS, *_LAZY_MODULES]


def __getattr__(name):
    if name in _LAZY_MODULES or name in _LAZY_ATTRS:
        _check_backend()
    if name in _LAZY_MODULES:
        return importlib.import_module(f"kzoo.{name}")
    if name in _LAZY_ATTRS:
        module, attr = _LAZY_ATTRS[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'kzoo' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
