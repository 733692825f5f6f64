"""kzoo: a Keras 3 model zoo and recipe library.

`import kzoo` is cheap and imports no backend: the submodules (`kzoo.zoo`,
`kzoo.callbacks`, `kzoo.datasets`) and `kzoo.train` load keras, and with it the
backend named by `KERAS_BACKEND`, on first use. This lets the CLI's `--backend`
flag set the backend before keras is imported.

With KERAS_BACKEND unset, `import kzoo` sets it to the first installed of jax,
torch, tensorflow and says so on stderr (`kzoo.backend.select_backend`).
"""

import importlib

from kzoo.backend import check_backend as _check_backend
from kzoo.backend import select_backend as _select_backend

_select_backend()

__version__ = "0.1.0"

_LAZY_MODULES = ("zoo", "callbacks", "datasets", "training", "tuning", "plots", "recipes")
_LAZY_ATTRS = {
    "train": ("kzoo.training", "train"),
    "clear_session": ("kzoo.backend", "clear_session"),
}

__all__ = ["__version__", "train", "clear_session", *_LAZY_MODULES]


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
