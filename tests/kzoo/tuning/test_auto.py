"""`kzoo tune --model auto --budget` (issue 28): the family searched within a time
budget, stratified k-fold CV on a tiny training set, then the final training. One
backend: the search drives `kzoo.train`, whose backends are tested elsewhere."""

import csv
import json

import keras
import numpy as np
import pytest

from kzoo.cli import main
from kzoo.runtime.errors import UsageError
from kzoo.tuning import auto

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "torch",
    reason="search rules; one backend is enough: torch (ends first in CI)")


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
