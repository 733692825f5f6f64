"""`adding`: the adding problem of Hochreiter & Schmidhuber (1997), synthetic and seeded.

Each example is a sequence of `T` steps with two features: a value drawn
uniformly from [0, 1] and a marker that is 1 at exactly two steps and 0
elsewhere. One marked step lies in the first half of the sequence and one in
the second half, so the model must remember across at least ~T/2 steps. The
target is the sum of the two marked values.

- `task="regression"`: predict the sum. Predicting the mean (1.0) gives
  MSE 1/6 ~ 0.167; the classic success criterion is MSE well below that
  (e.g. < 0.05 here, < 0.04 in the original paper).
- `task="classification"`: predict whether the sum exceeds 1 (binary, balanced).

Spec examples: `adding:T=100`, `adding:T=200,task=classification,n=6000`.
"""

import numpy as np

from kzoo.datasets._base import Dataset, check_fractions, register_dataset
from kzoo.runtime.checks import is_int
from kzoo.runtime.errors import UsageError

TASKS = ("regression", "classification")
MAX_BYTES = 4 << 30  # refuse absurd sizes before allocating


def _count(name, value, minimum):
    """An int >= minimum; whole floats from a spec (`T=1e3`) are accepted."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not is_int(value) or value < minimum:
        raise UsageError(f"adding: {name} must be a whole number >= {minimum}, got {value!r}.")
    return value


def make_adding(n, T, rng):
    """`n` adding-problem sequences of length `T`: x `(n, T, 2)`, target `(n,)`."""
    values = rng.uniform(0.0, 1.0, size=(n, T)).astype("float32")
    markers = np.zeros((n, T), dtype="float32")
    half = T // 2
    first = rng.integers(0, half, size=n)
    second = rng.integers(half, T, size=n)
    rows = np.arange(n)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    target = values[rows, first] + values[rows, second]
    return np.stack([values, markers], axis=-1), target.astype("float32")


@register_dataset(
    "adding", description="Adding problem (Hochreiter & Schmidhuber 1997); T=, task=."
)
def adding(*, T=100, task="regression", n=5000, seed=0, val_fraction=0.2, test_fraction=0.2):
    if task not in TASKS:
        raise UsageError(f"adding: task must be one of {TASKS}, got {task!r}.")
    T, n = _count("T", T, 2), _count("n", n, 10)
    check_fractions("adding", val_fraction, test_fraction)
    if n * T * 2 * 4 > MAX_BYTES:  # x is (n, T, 2) float32
        raise UsageError(
            f"adding: n={n} x T={T} needs {n * T * 8 / 2**30:.3g} GiB for x, over the "
            f"{MAX_BYTES / 2**30:g} GiB limit; lower n or T."
        )
    rng = np.random.default_rng(seed)
    x, s = make_adding(n, T, rng)
    y = s if task == "regression" else (s > 1.0).astype("int32")
    n_test = int(round(n * test_fraction))
    n_val = int(round(n * val_fraction))
    n_train = n - n_val - n_test
    cut = (slice(0, n_train), slice(n_train, n_train + n_val), slice(n_train + n_val, n))
    return Dataset(
        name=f"adding:T={T}",
        x_train=x[cut[0]],
        y_train=y[cut[0]],
        x_val=x[cut[1]],
        y_val=y[cut[1]],
        x_test=x[cut[2]],
        y_test=y[cut[2]],
        task="regression" if task == "regression" else "binary",
        num_classes=1 if task == "regression" else 2,
        kind="sequence",
        classes=None if task == "regression" else [0, 1],
        info={"source": "synthetic", "T": T, "n": n, "seed": seed, "task": task},
    )
