"""`kzoo tune --model auto --budget` (issue 28): the family searched within a time
budget, stratified k-fold CV on a tiny training set, then the final training. One
backend: the search drives `kzoo.train`, whose backends are tested elsewhere."""

import csv
import json

import numpy as np
import pytest
from _backends import one_backend

from kzoo.cli import main
from kzoo.runtime.errors import UsageError
from kzoo.tuning import auto

pytestmark = one_backend("torch", "search rules; one backend is enough")


@pytest.fixture
def npz(tmp_path, tiny_sequence):
    x, y = tiny_sequence
    path = tmp_path / "seq.npz"
    np.savez(path, x_train=x[:36], y_train=y[:36], x_test=x[36:], y_test=y[36:])
    return path


def test_a_spent_budget_stops_after_one_trial_and_trains_the_best(npz, tmp_path, capsys):
    out = tmp_path / "search"
    result = auto.tune_auto(str(npz), out=out, budget=0.01, epochs=1, k_max=2,
                            families=("fcn", "resnet1d"), stream=None)
    printed = capsys.readouterr().out
    assert len(result["trials"]) == 1 and result["best"]["family"] == "fcn"
    trial = result["trials"][0]
    assert len(trial["folds"]) == 2  # stratified 2-fold: a score per held-out fold
    assert trial["score"] == pytest.approx(np.mean(trial["folds"]))
    assert "budget left" in printed and "stratified 2-fold CV" in printed
    rows = list(csv.DictReader(open(out / "trials.csv")))
    assert [r["family"] for r in rows] == ["fcn"]
    best = json.loads((out / "best.json").read_text())
    assert best["best"]["family"] == "fcn" and best["final"]["test_accuracy"] is not None
    assert (out / "final" / "model.keras").is_file()


def test_two_examples_a_class_folds_train_on_single_examples(tmp_path, tiny_sequence):
    """PigCVP's shape (2 examples a class, so 2 folds of one example a class): each fold
    trains on all of its examples with no validation split carved from it (one would
    take its classes out of training), and is scored on the held-out fold."""
    x, _ = tiny_sequence
    y = np.repeat(np.arange(6), 2)
    path = tmp_path / "pairs.npz"
    np.savez(path, x_train=x[:12], y_train=y, x_test=x[12:24], y_test=y)
    result = auto.tune_auto(str(path), out=tmp_path / "search", budget=0.01, epochs=1,
                            families=("fcn",), stream=None)
    assert len(result["trials"]) == 1 and len(result["trials"][0]["folds"]) == 2
    assert all(0.0 <= s <= 1.0 for s in result["trials"][0]["folds"])


def test_folds_are_stratified_and_only_for_tiny_sets():
    y = np.repeat([0, 1, 2], 4)
    k, splits = auto.folds(y, 5, 200, seed=0)
    assert k == 4 and len(splits) == 4
    for fit, held in splits:
        assert sorted(y[held]) == [0, 1, 2] and len(set(fit) & set(held)) == 0
    assert auto.folds(np.repeat([0, 1], 150), 5, 200, seed=0) == (0, [])


@pytest.mark.parametrize("text, seconds", [("90s", 90), ("10m", 600), ("1.5h", 5400), ("45", 45)])
def test_budget_durations(text, seconds):
    assert auto.parse_budget(text) == seconds


def test_bad_budgets_are_one_line_errors(tmp_path, capsys):
    with pytest.raises(UsageError, match="--budget takes a duration"):
        auto.parse_budget("ten minutes")
    assert main(["tune", "--model", "fcn", "--budget", "10m", "--out", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err.strip()
    assert "--budget applies to --model auto" in err and len(err.splitlines()) == 1


def test_every_family_refusing_the_data_stops_at_once(npz, tmp_path, monkeypatch):
    """Not a budget spent on refusals: the first round refused by every family is one
    error naming the first refusal; a crash (not a kzoo check) is not caught at all."""
    import kzoo
    from kzoo.runtime.errors import DataError

    def refuse(family, *args, **kwargs):
        raise DataError(f"{family} says no")

    monkeypatch.setattr(kzoo, "train", refuse)
    with pytest.raises(DataError, match="every family refused.*fcn says no"):
        auto.tune_auto(str(npz), out=tmp_path / "a", budget=600, epochs=1,
                       families=("fcn", "resnet1d"), stream=None)

    def crash(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(kzoo, "train", crash)
    with pytest.raises(RuntimeError, match="a bug"):
        auto.tune_auto(str(npz), out=tmp_path / "b", budget=600, epochs=1,
                       families=("fcn",), stream=None)


def test_a_trial_running_past_the_budget_is_cut_and_not_chosen(npz, tmp_path, capsys,
                                                               monkeypatch):
    """On a clock the test moves: fcn's folds take 1 s each, so 2 s are kept for its
    final training; resnet1d starts at 2 s of a 10 s budget and is still training at
    9 s, past the 8 s left to trials: it stops there, is recorded as cut and is not a
    candidate, and the search ends with fcn's final training."""
    import types

    import kzoo

    clock, real = [0.0], kzoo.train
    monkeypatch.setattr(auto, "time", types.SimpleNamespace(monotonic=lambda: clock[0]))

    def timed(family, *args, **kwargs):
        clock[0] += 1.0 if family == "fcn" else 7.0
        return real(family, *args, **kwargs)

    monkeypatch.setattr(kzoo, "train", timed)
    out = tmp_path / "search"
    result = auto.tune_auto(str(npz), out=out, budget=10, epochs=2, k_max=2,
                            families=("fcn", "resnet1d"), stream=None)
    trials = result["trials"]
    assert [(t["family"], bool(t.get("cut"))) for t in trials] == [("fcn", False),
                                                                    ("resnet1d", True)]
    assert len(trials[1]["folds"]) == 1  # its second fold never started
    assert result["best"]["family"] == "fcn"
    assert [r["cut"] for r in csv.DictReader(open(out / "trials.csv"))] == ["0", "1"]
    assert "cut at the budget" in capsys.readouterr().out
