"""Choosing the Keras backend before keras is imported."""

import os
import sys

BACKENDS = ("tensorflow", "jax", "torch")
DEFAULT_BACKEND = "jax"


def set_backend(name):
    """Select the Keras backend for this process.

    Keras fixes its backend when it is first imported, so this must run before
    `import keras`. Calling it afterwards with a different backend raises.

    Args:
        name: one of `"tensorflow"`, `"jax"`, `"torch"`.
    """
    if name not in BACKENDS:
        raise ValueError(f"Unknown backend {name!r}. Choose one of: {', '.join(BACKENDS)}.")
    if "keras" in sys.modules:
        import keras

        current = keras.backend.backend()
        if current != name:
            raise RuntimeError(
                f"keras is already imported with the {current!r} backend, so it cannot "
                f"switch to {name!r} in this process. Set KERAS_BACKEND={name} before "
                "importing keras, or run in a new process."
            )
        return
    os.environ["KERAS_BACKEND"] = name


def current_backend():
    """The backend keras uses (or will use) in this process."""
    if "keras" in sys.modules:
        import keras

        return keras.backend.backend()
    return os.environ.get("KERAS_BACKEND", DEFAULT_BACKEND)
