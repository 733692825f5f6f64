"""Touches every KerasTuner-private symbol kzoo uses, so an upgrade fails here first."""

import keras
import keras_tuner
import numpy as np

from kzoo.tuning import _keras_tuner_private as private


def test_every_private_symbol_still_works(tmp_path):
    assert keras_tuner.__version__ == "1.4.8"  # the pin this module was checked against
    assert private.objective_direction("val_mae") == "min"
    assert private.objective_direction("val_accuracy") == "max"
    assert private.objective_direction("val_bogus") is None
    service, grpc_module = private.service(), private.service_grpc()
    assert service.GetTrialRequest(trial_id="x").trial_id == "x"
    assert service.GetTrialResponse() is not None and service.EndTrialResponse() is not None
    assert hasattr(grpc_module, "OracleStub")
    assert hasattr(grpc_module, "add_OracleServicer_to_server")
    assert {"GetTrial", "EndTrial"} <= set(dir(private.OracleServicer))
    assert private.RUNNING == "RUNNING"
    saver = private.SaveBestEpoch(keras_tuner.Objective("val_loss", "min"), str(tmp_path / "w"))
    assert saver.best_value == float("inf") and saver.objective.has_value({"val_loss": 1.0})
    from keras_tuner.src import config

    with private.quiet_trial_errors():
        assert config.DEBUG is False
    assert config.DEBUG is True

    hp = keras_tuner.HyperParameters()
    hp.Float("x", 0.0, 1.0)
    oracle = keras_tuner.oracles.BayesianOptimizationOracle(
        objective=keras_tuner.Objective("val_loss", "min"), max_trials=4, seed=1
    )
    oracle._set_project_dir(str(tmp_path), "p")
    oracle.hyperparameters = hp
    trial = oracle.create_trial("t0")
    assert private.Trial.from_proto(trial.to_proto()).trial_id == trial.trial_id
    oracle.update_trial(trial.trial_id, {"val_loss": 0.5})
    trial.status = "COMPLETED"
    oracle.end_trial(trial)
    assert private.retry_queue(oracle) == [] and private.inner_oracle(oracle) is oracle
    assert private.project_dir(oracle) == str(tmp_path / "p")
    x, y = private.vectorize_trials(oracle)
    assert x.shape == (1, 1) and y.shape == (1,)
    bounds = private.hp_bounds(oracle)
    assert bounds.tolist() == [[0.0, 1.0]]
    assert private.vector_to_values(oracle, np.array([0.25]))["x"] == 0.25
    assert 0 <= private.random_state(oracle).uniform() <= 1
    proposal = private.random_proposal(oracle)
    assert proposal["status"] == "RUNNING" and 0 <= proposal["values"]["x"] <= 1

    history = keras.callbacks.History()
    history.history = {"val_loss": [0.5, 0.2, 0.4], "loss": [1.0, 0.6, 0.5]}
    objective = keras_tuner.Objective("val_loss", "min")
    assert private.metrics_dict([history], objective)["val_loss"] == 0.2
    assert private.best_step([history], objective) == 1
