"""The marker for tests that run on one backend.

The suite runs once per backend (tests/run_backends.sh). A test of backend-free logic
(files, locks, flags, numpy rules) or a full run too costly to repeat three times runs
on one backend only; which one is chosen to balance CI's shards (the seconds per file
in tests/durations.json; torch's eager calls are the cheapest for tiny runs). A test
that needs one backend's own feature (torch's fused RNN path, tensorflow's SavedModel,
jax's multi-process join) runs there for that reason. Both say so with `one_backend`,
so the skip reads the same everywhere:

    pytestmark = one_backend("torch", "file and lock logic")
"""

import keras
import pytest

BACKENDS = ("tensorflow", "jax", "torch")


def one_backend(backend, why):
    """Skip unless this suite runs on `backend`; `why`: why one backend is the right
    place (the reason pytest -ra prints on the others)."""
    if backend not in BACKENDS:
        raise ValueError(f"one_backend({backend!r}): want one of {', '.join(BACKENDS)}")
    return pytest.mark.skipif(keras.backend.backend() != backend,
                              reason=f"runs on {backend} only: {why}")
