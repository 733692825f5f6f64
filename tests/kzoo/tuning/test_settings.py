"""The checks a search's settings pass before anything is written."""

import sys

import pytest

from kzoo.tuning.settings import check_objective, check_settings


def test_objective_must_be_a_metric_the_model_logs():
    check_objective("val_mae", ["mae", "loss"], "min")
    check_objective("loss", ["mae", "loss"], "min")
    with pytest.raises(ValueError, match="logs loss, mae, val_loss, val_mae"):
        check_objective("val_bogus", ["mae", "loss"], None)
    with pytest.raises(ValueError, match="cannot tell whether 'val_custom'"):
        check_objective("val_custom", ["custom", "loss"], None)


def test_settings_refuse_bad_values():
    check_settings("random", 1, 1, 0, 1.0)
    for args, match in [
        (("grid", 1, 1, 0, 1.0), "Unknown tuner"),
        (("random", True, 1, 0, 1.0), "max_trials"),
        (("random", 1, 0, 0, 1.0), "epochs"),
        (("random", 1, 1, 0, 0.0), "heartbeat_timeout"),
    ]:
        with pytest.raises(ValueError, match=match):
            check_settings(*args)


def test_the_tpe_tuner_names_the_optuna_extra_when_optuna_is_missing(monkeypatch):
    check_settings("tpe", 1, 1, 0, 1.0, prune=True)
    monkeypatch.setitem(sys.modules, "optuna", None)  # as if not installed
    with pytest.raises(ValueError, match=r"needs Optuna.*pip install 'kzoo\[optuna\]'"):
        check_settings("tpe", 1, 1, 0, 1.0)
    check_settings("random", 1, 1, 0, 1.0)
