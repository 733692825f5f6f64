"""`kzoo combine` (issue 28): finished runs averaged into one model.

The saved model equals the mean of the runs' models (an ensemble run weighs as one
run) and plain Keras loads it; the runs are left byte for byte as they were; runs
that disagree (data, split seed, unfinished, one run, a run twice, --out a run) are refused in
one line before anything is written; arrays need their data passed again.
"""

import hashlib
import json

import keras
import numpy as np
import pytest
from _backends import one_backend

from kzoo import rundir as layout
from kzoo.cli import main
from kzoo.runtime.errors import RunDirError, UsageError
from kzoo.training import combine, prepare_data, train

SETTINGS = dict(epochs=2, batch_size=16, verbose=0)
ONE_BACKEND = one_backend("torch", "run-directory rules; one backend is enough")


@pytest.fixture(scope="module")
def runs(three_class_npz, tmp_path_factory):
    root = tmp_path_factory.mktemp("combine")
    made = {"data": three_class_npz[0], "x": three_class_npz[1]}
    for name, kw in {"single": dict(hparams={"width": 16, "depth": 1}),
                     "pair": dict(hparams={"width": 8, "depth": 2}, ensemble=2)}.items():
        made[name] = root / name
        train("mlp", str(made["data"]), out=str(made[name]), **SETTINGS, **kw)
    return made


def _predict(path, x):
    return keras.saving.load_model(path).predict(x, verbose=0)


def _digests(run_dir):
    return {str(p.relative_to(run_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(run_dir.rglob("*")) if p.is_file()}


def test_the_combined_model_is_the_mean_of_the_runs(runs, tmp_path):
    before = {k: _digests(runs[k]) for k in ("single", "pair")}
    out = tmp_path / "both"
    result = combine([runs["single"], str(runs["pair"])], out=str(out), verbose=0)
    x = runs["x"]
    # The ensemble run enters once, as its own mean: weights 1/2, 1/4, 1/4.
    each = [_predict(runs[k] / layout.MODEL_FILE, x) for k in ("single", "pair")]
    assert not np.allclose(each[0], each[1], atol=1e-3)
    saved = _predict(out / layout.MODEL_FILE, x)  # plain Keras: stock layers only
    np.testing.assert_allclose(saved, np.mean(each, axis=0), atol=1e-6)
    summary = json.loads((out / layout.SUMMARY_FILE).read_text())
    x_test, y_test = prepare_data(str(runs["data"]), seed=0).test
    probs = _predict(out / layout.MODEL_FILE, x_test)
    assert summary["test_accuracy"] == pytest.approx(np.mean(probs.argmax(-1) == y_test),
                                                     abs=1e-6)
    assert result.summary["test_accuracy"] == summary["test_accuracy"]
    own = [json.loads((runs[k] / layout.SUMMARY_FILE).read_text()) for k in ("single", "pair")]
    assert [m["test_accuracy"] for m in summary["members"]] == [s["test_accuracy"] for s in own]
    assert [m["run_dir"] for m in summary["members"]] == [str(runs["single"]),
                                                          str(runs["pair"])]
    assert summary["members"][1]["ensemble"] == 2 and summary["model"] == "mlp+mlp"
    recorded = json.loads((out / layout.COMBINE_FILE).read_text())
    assert recorded["runs"] == [str(runs["single"]), str(runs["pair"])]
    assert recorded["seed"] == 0 and recorded["data"] == str(runs["data"])
    assert {k: _digests(runs[k]) for k in ("single", "pair")} == before  # only read
    # A combination combines again, and replaces only its own directory.
    again = combine([out, runs["single"]], out=str(tmp_path / "again"), verbose=0)
    np.testing.assert_allclose(again.model.predict(x, verbose=0),
                               (np.mean(each, axis=0) + each[0]) / 2, atol=1e-6)
    with pytest.raises(UsageError, match="is one of the runs"):  # never its own source
        combine([out, runs["single"]], out=str(out), overwrite=True, verbose=0)
    assert (out / layout.MODEL_FILE).is_file()


@ONE_BACKEND
def test_the_cli_writes_a_directory_report_reads(runs, tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["combine", str(runs["single"]), str(runs["pair"]), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "combined 2 runs: test accuracy" in printed and f"wrote {out}" in printed
    assert main(["report", str(out)]) == 0
    assert "ensemble of 2 (members' test_accuracy" in capsys.readouterr().out
    # The same --out again: refused (the earlier combination is kept), then replaced.
    stamp = _digests(out)
    assert main(["combine", str(runs["single"]), str(runs["pair"]), "--out", str(out)]) == 5
    assert "already holds a run" in capsys.readouterr().err and _digests(out) == stamp
    assert main(["combine", str(runs["single"]), str(runs["pair"]), "--out", str(out),
                 "--overwrite"]) == 0


@ONE_BACKEND
def test_runs_that_disagree_are_refused_before_anything_is_written(runs, tmp_path, capsys):
    out = tmp_path / "never"
    seed1 = tmp_path / "seed1"
    train("mlp", str(runs["data"]), out=str(seed1), hparams={"width": 16, "depth": 1}, seed=1,
          **SETTINGS)

    def refused(args, code, *words):
        assert main(["combine", *map(str, args), "--out", str(out)]) == code
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and all(w in err for w in words), err
        assert not out.exists()

    refused([runs["single"], seed1], 2, "--seed", str(seed1))
    refused([runs["single"]], 2, "two or more runs")
    refused([runs["single"], runs["single"]], 2, "given twice")
    refused([runs["single"], tmp_path / "nowhere"], 5, "does not exist")
    # A run killed before its end (no completed summary): finish it first.
    half = tmp_path / "half"
    half.mkdir()
    for name in (layout.MARKER_FILE, layout.CONFIG_FILE):
        (half / name).write_bytes((runs["single"] / name).read_bytes())
    refused([runs["single"], half], 5, "not finished", f"kzoo train --resume {half}")
    # Another dataset (same shapes, other labels): its splits are not this run's.
    other = tmp_path / "other.npz"
    with np.load(runs["data"]) as d:
        np.savez(other, **{k: d[k] for k in d.files})
    train("mlp", str(other), out=str(tmp_path / "o"), hparams={"width": 4, "depth": 1},
          **SETTINGS)
    refused([runs["single"], tmp_path / "o"], 2, "different data")
    # The out directory is a train run: kzoo never replaces it with a combination.
    assert main(["combine", str(runs["single"]), str(runs["pair"]), "--out", str(seed1),
                 "--overwrite"]) == 5
    assert "not a combine one" in capsys.readouterr().err


@ONE_BACKEND
def test_runs_on_arrays_take_their_data_again(runs, tmp_path):
    with np.load(runs["data"]) as d:
        x, y, xt, yt = d["x_train"], d["y_train"], d["x_test"], d["y_test"]
    for name, width in (("a", 8), ("b", 4)):
        train("mlp", (x, y), test_data=(xt, yt), out=str(tmp_path / name),
              hparams={"width": width, "depth": 1}, **SETTINGS)
    with pytest.raises(UsageError, match="in memory"):
        combine([tmp_path / "a", tmp_path / "b"], verbose=0)
    result = combine([tmp_path / "a", tmp_path / "b"], data=(x, y), test_data=(xt, yt),
                     verbose=0)
    assert result.run_dir is None and 0 <= result.summary["test_accuracy"] <= 1
    with pytest.raises(RunDirError):
        combine([tmp_path / "a", tmp_path], verbose=0)  # a folder of the user's
