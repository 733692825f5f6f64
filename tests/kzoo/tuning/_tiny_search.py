"""The tiny dataset and model the tuning tests search over (shared by test_tune and
test_tpe; imported by name, as pytest puts this folder on sys.path)."""

import numpy as np

from kzoo.datasets import Dataset

TINY = {"depth": 1, "width": 8}


def tiny_data(n=96):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 6)).astype("float32")
    y = (x[:, 0] > 0).astype("int32")
    a, b = int(n * 2 / 3), int(n * 5 / 6)
    return Dataset("tiny", x[:a], y[:a], x[a:b], y[a:b], x[b:], y[b:], "multiclass", 2, "tabular")
