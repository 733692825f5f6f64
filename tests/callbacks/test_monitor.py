"""Tests of kzoo.callbacks._monitor: one rule for a metric's direction."""

import pytest

from kzoo.callbacks import Checkpoint, ReduceLROnPlateauWithWarmup
from kzoo.callbacks._monitor import direction, is_better, sign


@pytest.mark.parametrize(
    "monitor", ["loss", "val_loss", "mae", "val_mae", "mse", "val_mse", "val_rmse", "val_mape"]
)
def test_errors_and_losses_are_minimised(monitor):
    assert direction(monitor) == "min" and sign(monitor) == 1.0
    assert is_better(0.1, 0.2, monitor) and not is_better(0.3, 0.2, monitor)


@pytest.mark.parametrize(
    "monitor",
    ["accuracy", "val_accuracy", "acc", "val_sparse_categorical_accuracy", "auc", "val_auc",
     "val_precision", "val_recall"],
)
def test_accuracy_and_auc_are_maximised(monitor):
    assert direction(monitor) == "max" and sign(monitor) == -1.0
    assert is_better(0.9, 0.8, monitor) and not is_better(0.7, 0.8, monitor)


def test_explicit_mode_wins_and_bad_mode_is_refused():
    assert direction("val_accuracy", "min") == "min" and direction("val_mae", "max") == "max"
    with pytest.raises(ValueError, match="mode"):
        direction("loss", "lowest")


def test_min_delta_and_first_value():
    assert is_better(5.0, None, "loss")
    assert not is_better(0.195, 0.2, "loss", min_delta=0.01)
    assert is_better(0.85, 0.8, "val_auc", min_delta=0.01)


def test_callbacks_share_the_rule(tmp_path):
    for monitor, expected in (("val_mae", 1.0), ("val_mse", 1.0), ("val_accuracy", -1.0)):
        assert Checkpoint(tmp_path / monitor, monitor=monitor)._sign == expected
        assert ReduceLROnPlateauWithWarmup(0.1, monitor=monitor)._sign == expected
    with pytest.raises(ValueError, match="mode"):
        Checkpoint(tmp_path / "x", mode="up")
    with pytest.raises(ValueError, match="mode"):
        ReduceLROnPlateauWithWarmup(0.1, mode="up")
