"""Fixtures of the training tests."""

import numpy as np
import pytest


@pytest.fixture(scope="module")
def three_class_npz(tmp_path_factory):
    """`(path, x_test)`: a small 3-class .npz (60 training, 30 test rows of 12 features)."""
    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(90, 12)).astype("float32")
    y = (x[:, 0] > 0).astype("int32") + (x[:, 1] > 0).astype("int32")
    np.savez(root / "tiny.npz", x_train=x[:60], y_train=y[:60], x_test=x[60:], y_test=y[60:])
    return root / "tiny.npz", x[60:]
