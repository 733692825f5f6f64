"""The chief's bookkeeping of dead workers, without gRPC."""

import keras_tuner

from kzoo.tuning.distribute.chief import Liveness, claim_end, drop_worker, search_done


def test_dead_worker_bookkeeping(tmp_path):
    # The chief's side of keras-tuner#915, without gRPC: a silent worker expires,
    # dropping it requeues its trial, and a late result for it is then accepted once.
    liveness = Liveness(timeout=5)
    liveness.beat("tuner0", now=0.0)
    liveness.beat("tuner1", now=3.0)
    assert liveness.expired(now=6.0) == ["tuner0"] and liveness.expired(now=6.0) == []

    oracle = keras_tuner.oracles.RandomSearchOracle(objective="val_loss", max_trials=3, seed=1)
    oracle._set_project_dir(str(tmp_path), "kt")
    hp = oracle.get_space()
    hp.Float("x", 0.0, 1.0)
    oracle.update_space(hp)
    trial = oracle.create_trial("tuner0")
    assert drop_worker(oracle, "tuner0") == trial.trial_id
    assert not oracle.ongoing_trials and "tuner0" not in oracle.tuner_ids
    assert not search_done(oracle)  # the trial still has to run
    again = oracle.create_trial("tuner1")
    assert (
        again.trial_id == trial.trial_id and claim_end(oracle, trial.trial_id) == "tuner1"
    )
    assert claim_end(oracle, "99") is None
