"""Choosing the Keras backend before keras is imported; clearing a session fully."""

import importlib.util
import os
import sys

from kzoo.runtime.errors import UsageError

BACKENDS = ("tensorflow", "jax", "torch")
DEFAULT_BACKEND = "jax"
# The order `select_backend` tries when KERAS_BACKEND is unset: jax compiles the
# fastest small-model steps on CPU in kzoo's benchmarks; tensorflow, Keras' own
# default, comes last because it is the heaviest import.
PREFERENCE = ("jax", "torch", "tensorflow")
# The backend `select_backend` picked and has not yet announced: the line is printed
# when kzoo first imports keras (`check_backend`), so an explicit choice made in
# between (the CLI's --backend) is never misreported.
_unannounced = None


class BackendNotInstalledError(ImportError, UsageError, RuntimeError):
    """The chosen Keras backend's package is not installed.

    An `ImportError` for library users, and a `UsageError`, so the CLI reports it in
    one line, exit 2, like the user's other errors (a RuntimeError, as it was, is a
    bug to the CLI now; it stays one for code that catches it so).
    """


def is_installed(name):
    """Whether the package of backend `name` can be imported, found without importing it."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def installed_backends():
    """The installed backends, in `PREFERENCE` order."""
    return tuple(b for b in PREFERENCE if is_installed(b))


def require_installed(name):
    """Raise `BackendNotInstalledError`, naming the extra to install, if `name` is missing."""
    if is_installed(name):
        return
    others = installed_backends()
    hint = (f" or choose an installed backend ({', '.join(others)})" if others
            else "; no Keras backend is installed")
    raise BackendNotInstalledError(
        f"The {name} backend is not installed: pip install \"kzoo[{name}]\"{hint}."
    )


def select_backend():
    """Set KERAS_BACKEND, when it is unset, to the first installed backend in `PREFERENCE`.

    Runs on `import kzoo`. Keras' own default is tensorflow, which a `kzoo[jax]`
    or `kzoo[torch]` install lacks. Says which one it picked in one line on
    stderr when kzoo first imports keras (`check_backend`), unless `set_backend`
    chose one in between; subprocesses inherit the variable and stay quiet. Leaves everything
    as it is when KERAS_BACKEND is set, when keras is already imported (its
    backend is fixed), or when no backend is installed (the first use then
    raises `BackendNotInstalledError`). `~/.keras/keras.json` is not read: Keras
    writes "tensorflow" there on its first import whatever is installed.

    Returns:
        The backend picked, or None when nothing was changed.
    """
    global _unannounced
    if os.environ.get("KERAS_BACKEND") or "keras" in sys.modules:
        return None
    found = installed_backends()
    if not found:
        return None
    os.environ["KERAS_BACKEND"] = _unannounced = found[0]
    return found[0]


def _announce():
    global _unannounced
    if _unannounced and os.environ.get("KERAS_BACKEND") == _unannounced:
        print(
            f"kzoo: KERAS_BACKEND is unset; using {_unannounced} (first installed of "
            f"{', '.join(PREFERENCE)}). Set KERAS_BACKEND to choose.",
            file=sys.stderr,
        )
    _unannounced = None


def set_backend(name):
    """Select the Keras backend for this process.

    Keras fixes its backend when it is first imported, so this must run before
    `import keras`. Calling it afterwards with a different backend raises, and
    so does a backend whose package is not installed
    (`BackendNotInstalledError`, naming the extra to install).

    Args:
        name: one of `"tensorflow"`, `"jax"`, `"torch"`.
    """
    if name not in BACKENDS:
        raise UsageError(f"Unknown backend {name!r}. Choose one of: {', '.join(BACKENDS)}.")
    if "keras" in sys.modules:
        import keras

        current = keras.backend.backend()
        if current != name:
            raise UsageError(
                f"keras is already imported with the {current!r} backend, so it cannot "
                f"switch to {name!r} in this process. Set KERAS_BACKEND={name} before "
                "importing keras, or run in a new process."
            )
        return
    require_installed(name)
    global _unannounced
    os.environ["KERAS_BACKEND"], _unannounced = name, None


def check_backend():
    """Before kzoo first imports keras: the backend in KERAS_BACKEND must be installed.

    Keras' own failure is a long traceback ending in "No module named ...";
    this names the extra instead. Does nothing once keras is imported.
    """
    if "keras" in sys.modules:
        return
    _announce()
    name = os.environ.get("KERAS_BACKEND")
    if not name:
        if not installed_backends():
            raise BackendNotInstalledError(
                'No Keras backend is installed: pip install "kzoo[jax]" '
                '(or "kzoo[torch]", "kzoo[tensorflow]").'
            )
        return
    if name in BACKENDS:
        require_installed(name)


def current_backend():
    """The backend keras uses (or will use) in this process."""
    if "keras" in sys.modules:
        import keras

        return keras.backend.backend()
    return os.environ.get("KERAS_BACKEND", DEFAULT_BACKEND)


def tf_gradient_registry():
    """TensorFlow's global registry of gradient functions (a dict), or None when
    the backend is not tensorflow or this TF has no such private registry."""
    import keras

    if keras.backend.backend() != "tensorflow":
        return None
    try:
        from tensorflow.python.framework import ops

        return ops._gradient_registry._registry
    except (ImportError, AttributeError):
        return None


def tf_custom_gradients():
    """Names of the graph-mode `tf.custom_gradient` registrations in TF's gradient
    registry (an empty set off tensorflow)."""
    registry = tf_gradient_registry()
    if registry is None:
        return set()
    return {k for k in registry if k.startswith("CustomGradient-")}


def drop_tf_custom_gradients(keep=()):
    """Remove the graph-mode `tf.custom_gradient` registrations not in `keep`.

    Keras' TF optimizer all-reduces the gradients through `tf.custom_gradient`,
    which in graph mode registers one gradient function per traced train step in
    TF's global registry and never removes it; the function's closure holds the
    traced graph, so every model trained keeps its graphs alive
    (`keras.backend.clear_session` does not reach them). Returns how many were
    removed (0 off tensorflow).
    """
    stale = tf_custom_gradients().difference(keep)
    registry = tf_gradient_registry()
    for name in stale:
        del registry[name]
    return len(stale)


def clear_session(free_memory=True):
    """`keras.backend.clear_session`, and on tensorflow the graphs it leaves behind.

    In a loop that builds, trains and discards models on tensorflow, memory grows
    ~4 MiB per small model with `keras.backend.clear_session()` alone and stays
    flat with this (measured: 3.97 vs 0.01 MiB per model over 20 models). Like
    Keras' own, call it only when the models built before it are done with: it
    also drops TF's record of how to differentiate their traced functions.

    Args:
        free_memory: passed to `keras.backend.clear_session`. Defaults to `True`.

    Example:

    >>> for fold in folds:
    ...     model = build(); model.fit(...); scores.append(model.evaluate(...))
    ...     kzoo.clear_session()
    """
    import keras

    keras.backend.clear_session(free_memory=free_memory)
    drop_tf_custom_gradients()
