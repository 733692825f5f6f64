"""Issue #19, what a user reads: data without a test split, regression test
error, the default run directory, resumed runs, `kzoo describe`, `kzoo list`,
`kzoo recipes`, `kzoo lr-find`'s one recommendation. Each test here failed on
main before the fix (0962ef3)."""

import json

import numpy as np
import pytest

from kzoo.cli import main
from kzoo.cli.train import default_run_dir
from kzoo.training import train


def _npz(path, test=False, n=60, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(5.0, 3.0, size=(n, 4)).astype("float32")
    y = (x[:, 0] > 5).astype("int64")
    arrays = {"x_train": x, "y_train": y}
    if test:
        arrays.update(x_test=x[:10], y_test=y[:10])
    np.savez(path, **arrays)
    return path


def test_npz_without_test_split_reports_no_test_metric(tmp_path, capsys):
    path = _npz(tmp_path / "d.npz")
    result = train("mlp", str(path), epochs=1, verbose=1, out=str(tmp_path / "run"))
    s = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert s["has_test"] is False
    assert not [k for k in s if k.startswith("test_")]
    assert "has no test split" in capsys.readouterr().out
    # standardised on train, as the built-in sets are
    x_train = result.model  # noqa: F841 - the model trained; the data is checked below
    from kzoo.training import prepare_data

    data = prepare_data(str(path))
    assert abs(float(data.train[0].mean())) < 0.1 and data.test is None


def test_npz_with_test_split_reports_test_accuracy(tmp_path):
    path = _npz(tmp_path / "d.npz", test=True)
    s = train("mlp", str(path), epochs=1, verbose=0).summary
    assert s["has_test"] is True and 0 <= s["test_accuracy"] <= 1


def test_csv_is_read_through_kzoo_datasets(tmp_path):
    rng = np.random.default_rng(0)
    rows = ["label," + ",".join(f"t{i}" for i in range(6))]
    for i in range(40):
        rows.append(f"{'ab'[i % 2]}," + ",".join(f"{v:.3f}" for v in rng.normal(size=6) + i % 2))
    (tmp_path / "w.csv").write_text("\n".join(rows) + "\n")
    result = train("gru", str(tmp_path / "w.csv"), epochs=1, verbose=0, hparams={"units": 4})
    assert result.summary["task"] == "binary" and "test_accuracy" not in result.summary


def test_regression_reports_test_error_not_accuracy():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3)).astype("float32")
    y = (x @ np.array([1.0, -2.0, 0.5]) + 0.3).astype("float32")
    test = (x[:12], y[:12])
    s = train("mlp", (x, y), test_data=test, epochs=1, verbose=0).summary
    assert s["task"] == "regression"
    assert "test_accuracy" not in s
    assert s["test_mse"] == s["test_loss"] > 0 and s["test_mae"] > 0


def test_default_run_dir_names_model_data_and_time():
    assert default_run_dir("mlp", "digits", now=0).startswith("runs/mlp-digits-19700101-")
    assert default_run_dir("fcn", "data/waves.csv:label=kind", now=0).startswith(
        "runs/fcn-waves-")


def test_kzoo_train_without_out_writes_and_names_a_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--model", "mlp", "--data", "digits", "--epochs", "1", "--quiet"]) == 0
    out = capsys.readouterr().out
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1 and runs[0].name.startswith("mlp-digits-")
    assert (runs[0] / "summary.json").exists()
    assert f"Results written to runs/{runs[0].name}/" in out
    assert "test_accuracy" in json.loads(out.splitlines()[0])


def test_resume_says_where_and_adds_wall_time(tmp_path, capsys):
    out = tmp_path / "run"
    train("mlp", "digits", epochs=2, verbose=0, out=str(out), checkpoint_every_epochs=1)
    summary = json.loads((out / "summary.json").read_text())
    first = summary["wall_time_s"]
    # A finished run is left as it is (issue 26): resume one whose end failed.
    (out / "summary.json").write_text(json.dumps({**summary, "status": "failed"}))
    assert main(["train", "--resume", str(out)]) == 0
    text = capsys.readouterr().out
    assert "from epoch 2, step 0" in text
    s = json.loads((out / "summary.json").read_text())
    assert s["wall_time_sessions"][0] == first
    assert s["wall_time_s"] == pytest.approx(sum(s["wall_time_sessions"]), abs=1e-3)
    assert s["wall_time_s"] >= first


def test_describe_lists_defaults_ranges_recipe_and_portability(capsys):
    assert main(["describe", "lstm"]) == 0
    text = capsys.readouterr().out
    assert "units" in text and "64" in text
    assert ".." in text or "one of" in text  # a search range
    assert "training recipe" in text and "lr=" in text
    assert "saved model:" in text
    assert main(["describe", "transformer"]) == 0
    assert "import kzoo.zoo" in capsys.readouterr().out


def test_list_shows_hyperparameters(capsys):
    assert main(["list"]) == 0
    text = capsys.readouterr().out
    assert "units=" in text and "depth=" in text


def test_recipes_list_and_copy_never_overwrites(tmp_path, capsys):
    assert main(["recipes"]) == 0
    assert "lr_finder" in capsys.readouterr().out
    assert main(["recipes", "copy", "lr_finder", str(tmp_path)]) == 0
    target = tmp_path / "lr_finder.py"
    assert "KERAS_BACKEND" in target.read_text()
    target.write_text("mine")
    assert main(["recipes", "copy", "lr_finder", str(tmp_path)]) == 2
    assert "--force" in capsys.readouterr().err
    assert target.read_text() == "mine"
    assert main(["recipes", "copy", "lr_finder", str(tmp_path), "--force"]) == 0
    assert target.read_text() != "mine"
    assert main(["recipes", "copy", "nope", str(tmp_path)]) == 2


def test_lr_find_recommends_one_rate_and_has_only_its_flags(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["lr-find", "--help"])
    help_text = capsys.readouterr().out
    for flag in ("--min-lr", "--num-steps", "--batch-size", "--model"):
        assert flag in help_text
    for train_only in ("--epochs", "--clip", "--resume", "--schedule", "--checkpoint"):
        assert train_only not in help_text
    assert main(["lr-find", "--model", "mlp", "--data", "digits", "--num-steps", "20",
                 "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    shown = json.loads(out.splitlines()[0])
    assert shown["recommended_lr"] > 0
    assert "Recommended learning rate" in out and "valley" in out
    saved = json.loads((tmp_path / "lr_find.json").read_text())
    assert saved["recommended_lr"] == shown["recommended_lr"]


def test_recommend_lr_rule():
    from kzoo.training.learning_rate import recommend_lr

    assert recommend_lr({"valley": 3e-3, "min_over_10": 1e-2, "steepest": 1e-1})[0] == 3e-3
    assert recommend_lr({"valley": None, "min_over_10": 1e-2, "steepest": None})[0] == 1e-2
    assert recommend_lr({"valley": None, "min_over_10": None, "steepest": None})[0] == 1e-3


def test_train_help_documents_lr_auto(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "'auto'" in capsys.readouterr().out


def test_plots_title_best_epoch_and_no_constant_lr_plot(tmp_path):
    from kzoo.plots.learning_curves import best_epoch, title

    out = tmp_path / "run"
    train("mlp", "digits", epochs=3, verbose=0, out=str(out))
    assert title(out) == "mlp on digits"
    assert best_epoch(out, [], []) == json.loads((out / "summary.json").read_text())["best_epoch"]
    assert (out / "plots" / "learning_curves.png").exists()
    assert (out / "lr_steps.csv").exists()
    assert not (out / "plots" / "lr.png").exists(), "a constant rate gets no plot"
    sched = tmp_path / "cos"
    train("mlp", "digits", epochs=2, verbose=0, out=str(sched), schedule="cosine")
    assert (sched / "plots" / "lr.png").exists()


def test_learning_curve_axes_are_plain_and_integer(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    from kzoo.plots import _mpl
    from kzoo.plots.learning_curves import plot_learning_curves

    (tmp_path / "history.csv").write_text(
        "epoch,loss,val_loss\n0,0.75,0.80\n1,0.72,0.74\n2,0.71,0.73\n")
    figs = []
    monkeypatch.setattr(_mpl, "figure", lambda size: figs.append(Figure(figsize=size))
                        or figs[-1])
    assert plot_learning_curves(tmp_path) is not None
    ax = figs[0].axes[0]
    figs[0].canvas.draw()
    ticks = [t for t in ax.get_xticks() if 1 <= t <= 3]
    assert ticks and all(float(t).is_integer() for t in ticks)
    labels = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    assert labels and not any("10^" in t or "times" in t or "\\" in t for t in labels)
    assert any("best epoch (3)" in (line.get_label() or "") for line in ax.get_lines())


def test_cli_output_has_no_tensorflow_log_lines():
    """keras_tuner imports tensorflow when it is installed, whatever the backend; its
    C++ start-up lines ("oneDNN custom operations", "absl::InitializeLog") stay out."""
    import os
    import subprocess
    import sys

    pytest.importorskip("tensorflow")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    # Whether keras imports tensorflow depends on the command and the versions, so the
    # handler imports it itself, as keras would, after main() started.
    script = (
        "import sys, kzoo.cli.describe as d\n"
        "real = d.describe_model\n"
        "def describe(name):\n"
        "    import tensorflow  # noqa: F401\n"
        "    return real(name)\n"
        "d.describe_model = describe\n"
        "from kzoo.cli import main\n"
        "sys.exit(main(['describe', 'lstm']))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    output = done.stdout + done.stderr
    assert "oneDNN" not in output and "absl::InitializeLog" not in output
    assert "units" in done.stdout
