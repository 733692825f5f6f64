"""`kzoo train` / `kzoo report` / `kzoo list`, in process on this backend, plus the
import-isolation and backend-flag checks in subprocesses."""

import json
import os
import subprocess
import sys

import keras
import pytest
from _backends import one_backend

from kzoo import zoo
from kzoo.cli import main

BACKEND = keras.backend.backend()


def _data_for(model):
    return (
        "digits" if zoo.get_spec(model).kind == "tabular" else "adding:T=5,n=40,task=classification"
    )


# Each family trains through the CLI on one backend, so every backend runs a convolutional
# BN family, a recurrent one and two others through the whole CLI route (3 x 12 runs took
# ~4 min of CI). Every family is built, fitted, saved and reloaded on every backend by
# tests/zoo/test_registry.py, which this run adds the CLI, recipe and run files to.
CLI_BACKEND = {
    "fcn": "tensorflow", "lstm": "tensorflow", "minirocket": "tensorflow",
    "transformer": "tensorflow",
    "inception_time": "jax", "gru": "jax", "mlp": "jax", "tcn": "jax",
    "resnet1d": "torch", "lstm_fcn": "torch", "lite": "torch", "simple_rnn": "torch",
}


def test_every_model_has_a_cli_backend():
    assert sorted(CLI_BACKEND) == sorted(zoo.list())
    assert set(CLI_BACKEND.values()) == {"tensorflow", "jax", "torch"}


@pytest.mark.parametrize("model", zoo.list())
def test_train_every_model(model, tmp_path, capsys):
    if CLI_BACKEND.get(model, BACKEND) != BACKEND:
        pytest.skip(f"{model} trains through the CLI on {CLI_BACKEND[model]} (CI time)")
    out = tmp_path / model
    # One network each (inception_time and lite default to 5 members on small data; the
    # ensemble route is tests/kzoo/training/test_ensemble.py's).
    code = main(
        [
            "train",
            "--model",
            model,
            "--data",
            _data_for(model),
            "--epochs",
            "1",
            "--batch-size",
            "32",
            "--backend",
            BACKEND,
            "--out",
            str(out),
            "--quiet",
            "--ensemble",
            "1",
        ]
    )
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model"] == model and summary["backend"] == BACKEND
    assert summary["epochs_run"] == 1
    assert "Results written to" in capsys.readouterr().out


def test_hp_flag_reaches_the_builder(tmp_path):
    out = tmp_path / "r"
    assert (
        main(
            [
                "train",
                "--model",
                "mlp",
                "--data",
                "digits",
                "--epochs",
                "1",
                "--hp",
                "width=[16,8]",
                "--hp",
                "depth=2",
                "--hp",
                "norm=layer",
                "--out",
                str(out),
                "--backend",
                BACKEND,
                "--quiet",
            ]
        )
        == 0
    )
    config = json.loads((out / "config.json").read_text())
    assert config["hparams"] == {"width": [16, 8], "depth": 2, "norm": "layer"}


def test_bad_input_exits_2_with_message(tmp_path, capsys):
    code = main(
        [
            "train",
            "--model",
            "nope",
            "--data",
            "digits",
            "--backend",
            BACKEND,
            "--out",
            str(tmp_path / "x"),
        ]
    )
    assert code == 2
    assert "Unknown model 'nope'" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_backend_flag_cannot_switch_a_loaded_keras(capsys):
    other = next(b for b in ("jax", "torch", "tensorflow") if b != BACKEND)
    assert main(["list", "--backend", other]) == 2
    assert "already imported" in capsys.readouterr().err


def test_report_replots(tmp_path, capsys):
    out = tmp_path / "r"
    main(
        [
            "train",
            "--model",
            "mlp",
            "--data",
            "digits",
            "--epochs",
            "2",
            "--out",
            str(out),
            "--backend",
            BACKEND,
            "--quiet",
        ]
    )
    png = out / "plots" / "learning_curves.png"
    png.unlink()
    assert main(["report", str(out), "--backend", BACKEND]) == 0
    assert png.stat().st_size > 1000
    assert main(["report", str(tmp_path), "--backend", BACKEND]) == 5  # EXIT_RUN_DIR
    assert "not a kzoo run" in capsys.readouterr().err


def test_list(capsys):
    assert main(["list", "--backend", BACKEND]) == 0
    text = capsys.readouterr().out
    for name in zoo.list():
        assert name in text
    assert "digits-seq" in text


def _run(code, **env):
    full = {**os.environ, **env}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=full, timeout=120
    )


def test_import_kzoo_loads_no_backend_and_no_keras():
    proc = _run(
        "import sys, kzoo, kzoo.cli; "
        "print(sorted(m for m in ('keras','jax','torch','tensorflow') if m in sys.modules))"
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_kzoo_adds_no_backend_beyond_what_keras_imports():
    code = (
        "import sys; import keras; before = {m for m in ('jax','torch','tensorflow') "
        "if m in sys.modules}; import kzoo; kzoo.zoo; kzoo.datasets; import kzoo.training; "
        "after = {m for m in ('jax','torch','tensorflow') if m in sys.modules}; "
        "print(sorted(after - before))"
    )
    proc = _run(code, KERAS_BACKEND=BACKEND)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"


@one_backend("tensorflow", "spawns a full training run on another backend; one host backend "
             "suffices")
def test_cli_backend_flag_sets_keras_backend(tmp_path):
    other = {"jax": "torch", "torch": "jax", "tensorflow": "jax"}[BACKEND]
    code = (
        "import sys; from kzoo.cli import main; "
        f"sys.exit(main(['train','--model','mlp','--data','digits','--epochs','1',"
        f"'--quiet','--backend','{other}','--out',r'{tmp_path / 'r'}']))"
    )
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=180
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads((tmp_path / "r" / "summary.json").read_text())["backend"] == other


def test_building_the_parser_imports_no_keras():
    proc = _run(
        "import sys; from kzoo.cli import build_parser; build_parser(); "
        "print('keras' in sys.modules)"
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"
