"""The one validation pass of `kzoo.train` on arrays: what used to be accepted
silently or caught only after training (issue #13). torch only:
numpy checks."""

import numpy as np
import pytest
from _backends import one_backend

from kzoo.runtime.errors import DataError, UsageError
from kzoo.training import prepare_data, train

pytestmark = one_backend("tensorflow", "numpy checks; one backend is enough")
RNG = np.random.default_rng(0)
X, Y = RNG.normal(size=(40, 6)), RNG.integers(0, 3, 40)


def test_non_integer_labels_are_refused_for_a_classification_request():
    with pytest.raises(DataError, match="non-integer"):
        prepare_data((X, Y + 0.5), task="multiclass")
    assert prepare_data((X, Y + 0.5)).task == "regression"  # no request: regression


@pytest.mark.parametrize("part", ["val_data", "test_data"])
def test_splits_with_other_features_fail_before_training(tmp_path, part):
    bad = {part: (RNG.normal(size=(8, 4)), RNG.integers(0, 3, 8))}
    with pytest.raises(DataError, match="same features"):
        train("mlp", (X, Y), out=str(tmp_path / "run"), epochs=1, verbose=0, **bad)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "setting", [{"seed": -1}, {"base_batch_size": 0}, {"warmup_epochs": float("inf")},
                {"clip": "norm", "clip_value": float("nan")}, {"warmup_steps": 1.5}]
)
def test_bad_settings_are_usage_errors_before_anything_is_written(tmp_path, setting):
    with pytest.raises(UsageError, match=next(iter(setting))):
        train("mlp", (X, Y), out=str(tmp_path / "run"), epochs=1, verbose=0, **setting)
    assert not (tmp_path / "run").exists()
