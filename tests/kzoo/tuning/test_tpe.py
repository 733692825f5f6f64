"""`TPEOracle` (`tune(tuner="tpe")`): Optuna's own proposals, the space both ways, the
study kept in the search directory across kills, and a chief with two workers."""

import json
import os
import signal
import subprocess
import sys

import keras
import keras_tuner as kt
import numpy as np
import pytest
from _backends import one_backend
from _tiny_search import TINY, completed, search_command, subprocess_env, tiny_data, wait_for
from keras_tuner.engine import hyperparameters as hp_types

from kzoo.cli import main
from kzoo.rundir import read_csv
from kzoo.tuning import tpe
from kzoo.tuning import tuner as tuner_module
from kzoo.tuning.api import tune
from kzoo.tuning.tuner import random_startup_trials

# The optional extra kzoo[optuna] (in [all]); test_settings checks the error without it.
optuna = pytest.importorskip("optuna")

def _journal_trials(out):
    study = optuna.load_study(
        study_name=tpe.STUDY,
        storage=optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(str(out / "kt" / tpe.JOURNAL))
        ),
    )
    return study.get_trials()


# ------------------------------------------------------------------ the space, both ways

KINDS = [
    hp_types.Float("f", 0.0, 1.0),
    hp_types.Float("f_step", 0.0, 0.5, step=0.1),
    hp_types.Float("f_log", 1e-4, 1e-1, sampling="log"),
    hp_types.Int("i", 1, 5),
    hp_types.Int("i_step", 2, 8, step=3),
    hp_types.Int("i_log", 1, 64, sampling="log"),
    hp_types.Choice("c_int", [16, 32, 64]),
    hp_types.Choice("c_float", [0.0, 1e-5, 1e-4]),
    hp_types.Choice("c_str", ["none", "batch", "layer"]),
    hp_types.Choice("c_unordered", [3, 1, 2], ordered=False),
    hp_types.Boolean("b"),
    hp_types.Fixed("fixed", 7),
]


def _sample_set(hp, n=400):
    """The values KerasTuner samples for `hp` (a value set, or the observed range)."""
    values = [hp.random_sample(seed) for seed in range(n)]
    continuous = isinstance(hp, hp_types.Float) and hp.step is None
    if continuous or getattr(hp, "sampling", None) == "log":  # too many values to see all
        return type(values[0]), (hp.min_value, hp.max_value)
    return type(values[0]), sorted({round(v, 9) if isinstance(v, float) else v for v in values},
                                   key=repr)


@pytest.mark.parametrize("hp", KINDS, ids=lambda hp: hp.name)
def test_the_space_translates_both_ways_exactly(hp):
    distribution = tpe.to_distribution(hp)
    back = tpe.to_hyperparameter(hp.name, distribution)
    assert type(back) is type(hp)
    config, expected = back.get_config(), hp.get_config()
    if hp.name == "c_unordered":  # `ordered` is a hint to KerasTuner's GP; Optuna has none
        assert config.pop("ordered") is True and expected.pop("ordered") is False
    if getattr(hp, "step", None) is not None:  # the same values, up to the last one taken
        assert list(back.values) == list(hp.values)
        del config["max_value"], expected["max_value"]
    assert config == expected
    # Optuna samples the very values KerasTuner samples, with their Python types.
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    drawn = [tpe.suggest(study.ask(), hp.name, distribution) for _ in range(400)]
    kind, expected = _sample_set(hp)
    assert {type(v) for v in drawn} == {kind}
    if isinstance(expected, tuple):
        assert all(expected[0] <= v <= expected[1] for v in drawn)
    else:
        got = sorted({round(v, 9) if isinstance(v, float) else v for v in drawn}, key=repr)
        assert got == expected


def test_a_step_that_misses_the_maximum_keeps_kerastuners_values():
    distribution = tpe.to_distribution(hp_types.Float("x", 0.0, 0.45, step=0.1))
    assert (distribution.low, distribution.high, distribution.step) == (0.0, 0.4, 0.1)
    # KerasTuner's float floor division: 0.5 // 0.1 == 4, so 0.5 is never sampled.
    assert tpe.to_distribution(hp_types.Float("x", 0.0, 0.5, step=0.1)).high == 0.4
    assert tpe.to_distribution(hp_types.Float("x", 0.0, 0.8, step=0.2)).high == 0.8
    assert tpe.to_distribution(hp_types.Int("n", 1, 10, step=4)).high == 9


@pytest.mark.parametrize("hp, match", [
    (hp_types.Float("x", 1e-3, 1.0, sampling="reverse_log"), "'x'.*no reverse-log distribution"),
    (hp_types.Int("n", 1, 64, sampling="reverse_log"), "reverse-log"),
    (hp_types.Float("lr", 1e-4, 1e-1, step=10, sampling="log"), "log sampling with a step"),
    (hp_types.Int("bs", 16, 256, step=2, sampling="log"), "hp.Choice"),
])
def test_a_space_optuna_cannot_search_is_refused_before_any_trial(hp, match, tmp_path):
    with pytest.raises(ValueError, match=match):
        tpe.to_distribution(hp)
    hps = kt.HyperParameters()
    hps.merge([hp])
    oracle = _oracle(tmp_path, hps)
    with pytest.raises(ValueError, match=match):
        oracle.create_trial("t0")
    assert not oracle.study.trials  # refused before Optuna was asked


def test_missing_optuna_is_a_clear_error_before_anything_is_written(tmp_path, monkeypatch,
                                                                    capsys):
    monkeypatch.setitem(sys.modules, "optuna", None)  # as if not installed
    with pytest.raises(ValueError, match=r"needs Optuna.*pip install 'kzoo\[optuna\]'"):
        tune("mlp", tiny_data(), out=tmp_path / "s", tuner="tpe", fixed=TINY)
    assert not (tmp_path / "s").exists()
    with pytest.raises(ValueError, match=r"kzoo\[optuna\]"):
        tpe.require_optuna()
    args = ["tune", "--model", "mlp", "--data", "digits", "--tuner", "tpe", "--out",
            str(tmp_path / "cli"), "--backend", keras.backend.backend()]
    assert main(args) != 0
    assert "pip install 'kzoo[optuna]'" in capsys.readouterr().err
    assert not (tmp_path / "cli").exists()


# ------------------------------------------------------------------ proposals and the study


def _space():
    """Numeric, log, categorical and a conditional hyperparameter (`width` only when
    `kind` is "wide")."""
    hps = kt.HyperParameters()
    hps.Float("lr", 1e-4, 1e-1, sampling="log")
    hps.Choice("batch_size", [16, 32, 64])
    hps.Choice("kind", ["narrow", "wide"])
    with hps.conditional_scope("kind", ["wide"]):
        hps.Int("width", 8, 64, step=8)
    return hps


def _score(values):
    return -((np.log10(values["lr"]) + 2) ** 2) + values.get("width", 0) / 64


def _oracle(directory, hps, seed=3, n_startup_trials=3):
    oracle = tpe.TPEOracle(objective=kt.Objective("score", "max"), max_trials=20, seed=seed,
                           n_startup_trials=n_startup_trials)
    oracle.verbose = 0
    oracle._set_project_dir(str(directory), "p")
    oracle.hyperparameters = hps
    return oracle


def _run(oracle, n, start=0):
    proposals = []
    for i in range(start, start + n):
        trial = oracle.create_trial(f"t{i}")
        oracle.update_trial(trial.trial_id, {"score": _score(trial.hyperparameters.values)})
        trial.status = "COMPLETED"
        oracle.end_trial(trial)
        proposals.append(dict(trial.hyperparameters.values))
    return proposals


def test_proposals_equal_optunas_own_for_the_same_seed_and_space(tmp_path):
    oracle = _oracle(tmp_path, _space())
    ours = _run(oracle, 6)
    # The space grows, as when a build declares a new hyperparameter.
    oracle.hyperparameters.Boolean("residual")
    ours += _run(oracle, 6, start=6)

    # Optuna's own loop, written by hand: same sampler, same order, same scores.
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=3, n_startup_trials=3),
    )
    theirs = []
    for i in range(12):
        trial = study.ask()
        values = {
            "lr": trial.suggest_float("lr", 1e-4, 1e-1, log=True),
            "batch_size": trial.suggest_categorical("batch_size", [16, 32, 64]),
            "kind": trial.suggest_categorical("kind", ["narrow", "wide"]),
        }
        if values["kind"] == "wide":
            values["width"] = trial.suggest_int("width", 8, 64, step=8)
        if i >= 6:
            values["residual"] = trial.suggest_categorical("residual", [False, True])
        study.tell(trial, _score(values))
        theirs.append(values)
    assert ours == theirs
    assert {v["kind"] for v in ours} == {"narrow", "wide"}  # the condition was exercised
    assert all(("width" in v) == (v["kind"] == "wide") for v in ours)
    assert len({v["lr"] for v in ours}) == 12
    other = _run(_oracle(tmp_path / "seed4", _space(), seed=4), 3)
    assert other != ours[:3]


def test_every_trial_is_told_once_and_a_restart_continues_the_study(tmp_path):
    oracle = _oracle(tmp_path, _space())
    _run(oracle, 3)
    # Killed mid-trial (t3 running), and between KerasTuner's save and the tell (t4 ended).
    running = oracle.create_trial("t3")
    ended = oracle.create_trial("t4")
    oracle.update_trial(ended.trial_id, {"score": 0.5})
    ended.status = "COMPLETED"
    kt.Oracle.end_trial(oracle, ended)  # KerasTuner's end, without the tell
    oracle.save()  # KerasTuner saved before dropping t4 from its running trials
    oracle.study.ask()  # asked, but killed before KerasTuner saved a trial for it
    journal = tmp_path / "p" / tpe.JOURNAL
    with open(journal, "ab") as f:
        f.write(b'{"op_code": 5, "worker_id": "x", "trial_id": 0, "par')  # torn last record

    again = _oracle(tmp_path, _space())
    again.reload()
    states = {t.user_attrs.get(tpe.KT_TRIAL_ID): t.state.name for t in again.study.trials}
    assert states == {"00": "COMPLETE", "01": "COMPLETE", "02": "COMPLETE", "03": "RUNNING",
                      "04": "COMPLETE", None: "FAIL"}
    assert again.study.trials[4].value == 0.5
    # The interrupted trial reruns with its values and is told once; new trials follow.
    rerun = again.create_trial("w")
    assert rerun.trial_id == running.trial_id
    assert rerun.hyperparameters.values == running.hyperparameters.values
    again.update_trial(rerun.trial_id, {"score": 0.25})
    rerun.status = "COMPLETED"
    again.end_trial(rerun)
    again.end_trial(again.trials[rerun.trial_id])  # a second end tells nothing new
    _run(again, 2, start=5)
    told = [t for t in again.study.trials if t.state.name == "COMPLETE"]
    ids = [f"0{i}" for i in range(7)]
    assert sorted(t.user_attrs[tpe.KT_TRIAL_ID] for t in told) == ids
    assert next(t.value for t in told if t.user_attrs[tpe.KT_TRIAL_ID] == "03") == 0.25
    assert journal.read_bytes().endswith(b"\n")


def test_model_based_searches_leave_random_sampling_within_small_budgets():
    # Optuna's default of 10 random start-up trials made an 8- or 10-trial TPE
    # search pure random sampling (issue #18's benchmark).
    assert [random_startup_trials("tpe", n) for n in (3, 8, 10, 30, 100)] == [2, 2, 3, 10, 10]
    assert [random_startup_trials("bayesian", n) for n in (3, 8, 100)] == [2, 2, 33]
    assert random_startup_trials("random", 8) is None


@one_backend("tensorflow", "Optuna's proposals from a seed do not depend on the backend, and "
             "each backend's search reproducing from its seed is test_tune.py's "
             "test_same_seed_same_search; one backend keeps the three searches cheap")
def test_a_tpe_search_records_its_study_and_reproduces_from_its_seed(tmp_path, monkeypatch):
    startups = []

    class Spy(tpe.TPEOracle):
        def __init__(self, *args, **kwargs):
            startups.append(kwargs.get("n_startup_trials"))
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(tuner_module, "TPEOracle", Spy)
    runs = [
        tune("mlp", tiny_data(), out=tmp_path / name, tuner="tpe", max_trials=3, epochs=1,
             fixed=TINY, verbose=0, seed=seed)
        for name, seed in (("a", 0), ("b", 0), ("c", 1))
    ]
    keys = ("learning_rate", "batch_size", "dropout", "norm")
    hps = [[tuple(r[k] for k in keys) for r in run.trials] for run in runs]
    assert hps[0] == hps[1] and hps[0] != hps[2] and len(set(hps[0])) == 3
    trials = _journal_trials(tmp_path / "a")
    assert [t.state.name for t in trials] == ["COMPLETE"] * 3
    for row, told in zip(runs[0].trials, trials, strict=True):
        assert told.user_attrs[tpe.KT_TRIAL_ID] == str(int(row["trial_id"]))
        assert told.value == pytest.approx(row["score"])
        assert told.params["learning_rate"] == pytest.approx(row["learning_rate"])
    assert runs[0].best["tuner"] == "tpe"
    assert startups == [2, 2, 2]  # kzoo tune passes its start-up rule to the oracle


class Scripted(keras.callbacks.Callback):
    """Sets val_accuracy to 100 x the trial's learning rate every epoch (before
    KerasTuner's callbacks read it): known, flat curves whatever the backend."""

    def on_epoch_end(self, epoch, logs=None):
        logs["val_accuracy"] = 100 * float(
            keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)
        )


def test_pruned_trials_are_told_with_the_score_they_reached(tmp_path):
    result = tune("mlp", tiny_data(), out=tmp_path, tuner="tpe", max_trials=5, epochs=3,
                  prune=True, fixed={**TINY, "batch_size": 64}, callbacks=[Scripted()],
                  verbose=0)
    rows = result.trials
    assert {r["status"] for r in rows} == {"COMPLETED"} and len(rows) == 5
    pruned = [r for r in rows if r["pruned"]]
    assert pruned and all(r["epochs_run"] == 2 for r in pruned)  # this seed prunes
    told = {t.user_attrs[tpe.KT_TRIAL_ID]: t for t in _journal_trials(tmp_path)}
    assert len(told) == 5 and {t.state.name for t in told.values()} == {"COMPLETE"}
    for r in rows:
        assert told[str(int(r["trial_id"]))].value == pytest.approx(r["score"])


# ------------------------------------------------------------------ subprocesses


@one_backend("torch", "CI time budget (the backend does not change it)")
@pytest.mark.slow
def test_sigkill_then_restart_loses_and_repeats_no_trial(tmp_path):
    cmd = search_command(tmp_path, tuner="tpe", sleep=0.25, trials=3, workers=0)
    out = tmp_path / "out"
    proc = subprocess.Popen(cmd, env=subprocess_env(tmp_path), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    wait_for(lambda: completed(out / "trials.csv"), 120, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = {r["trial_id"]: r for r in completed(out / "trials.csv")}

    rerun = subprocess.run(cmd, env=subprocess_env(tmp_path), capture_output=True, text=True,
                           timeout=180)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "Resuming the search" in rerun.stdout
    rows = read_csv(out / "trials.csv")
    assert [r["trial_id"] for r in rows] == [0, 1, 2]
    assert {r["status"] for r in rows} == {"COMPLETED"}
    for trial_id, row in before.items():  # finished trials were not rerun
        assert rows[int(trial_id)] == row
    told = [t for t in _journal_trials(out) if t.state.name == "COMPLETE"]
    assert sorted(t.user_attrs[tpe.KT_TRIAL_ID] for t in told) == ["0", "1", "2"]
    assert not [t for t in _journal_trials(out) if t.state.name == "RUNNING"]


@one_backend("torch", "CI time budget (the backend does not change it)")
@pytest.mark.slow
def test_chief_and_two_workers_run_a_tpe_search(tmp_path):
    cmd = search_command(tmp_path, tuner="tpe", sleep=0.25, trials=4, workers=2)
    out = tmp_path / "out"
    run = subprocess.run(cmd, env=subprocess_env(tmp_path), capture_output=True, text=True,
                         timeout=240)
    assert run.returncode == 0, run.stdout + run.stderr
    rows = read_csv(out / "trials.csv")
    assert [r["trial_id"] for r in rows] == [0, 1, 2, 3]
    assert {r["status"] for r in rows} == {"COMPLETED"}
    assert {r["worker"] for r in rows} == {"tuner0", "tuner1"}
    told = _journal_trials(out)  # the chief's study: each trial told once
    assert sorted(t.user_attrs[tpe.KT_TRIAL_ID] for t in told) == ["0", "1", "2", "3"]
    assert {t.state.name for t in told} == {"COMPLETE"}
    assert json.loads((out / "best.json").read_text())["tuner"] == "tpe"
