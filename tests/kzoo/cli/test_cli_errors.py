"""The CLI's one error boundary and its single validation pass (issue #13): a user's or
the machine's problem is one line naming it and the fix, with an exit code per kind,
before anything is written; a bug keeps its traceback. In process, torch only:
the checks run before keras trains anything."""

import errno
import json

import numpy as np
import pytest
from _backends import one_backend

import kzoo.training.runner
import kzoo.training.session
from kzoo.cli import main
from kzoo.runtime.errors import (
    EXIT_DATA,
    EXIT_ENVIRONMENT,
    EXIT_INTERRUPTED,
    EXIT_RUN_DIR,
    EXIT_USAGE,
)

pytestmark = one_backend("torch", "argument and error handling; one backend is enough")


def _train(out, *flags):
    return main(["train", "--model", "mlp", "--data", "digits", "--epochs", "1", "--quiet",
                 "--out", str(out), *flags])


def _one_line(capsys, *words):
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    for word in words:
        assert word in err, err
    return err


@pytest.mark.parametrize(
    "flags, words",
    [
        (["--warmup-epochs", "nan"], ["warmup_epochs"]),
        (["--warmup-epochs", "inf"], ["warmup_epochs"]),
        (["--warmup-epochs", "1e308"], ["warmup_epochs", "longer than the run"]),  # overflowed
        (["--base-batch-size", "0"], ["base_batch_size"]),
        (["--seed", "-1"], ["seed must be"]),
        (["--lr", "nan"], ["lr must be"]),
    ],
)
def test_bad_settings_exit_2_before_anything_is_written(tmp_path, capsys, flags, words):
    assert _train(tmp_path / "run", *flags) == EXIT_USAGE
    _one_line(capsys, *words)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "hp, words",
    [("units=[32,64", "opens a JSON list"), ('activation={"a": 1}', "JSON object"),
     ("=3", "KEY=VALUE")],
)
def test_bad_hp_values_are_named(tmp_path, capsys, hp, words):
    with pytest.raises(SystemExit) as exit_:
        _train(tmp_path / "run", "--hp", hp)
    assert exit_.value.code == EXIT_USAGE
    assert words in capsys.readouterr().err and not (tmp_path / "run").exists()


def _npz(path, **arrays):
    np.savez(path, **arrays)
    return str(path)


def test_bad_data_files_exit_3_with_the_problem(tmp_path, capsys):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(30, 4)).astype("float32"), rng.integers(0, 2, 30)
    (tmp_path / "dir.npz").mkdir()
    (tmp_path / "text.npz").write_text("a,b\n1,2\n")
    good = _npz(tmp_path / "good.npz", x_train=x, y_train=y)
    (tmp_path / "cut.npz").write_bytes(open(good, "rb").read()[:200])
    cases = {
        str(tmp_path / "dir.npz"): "directory",
        str(tmp_path / "text.npz"): "not a valid .npz",
        str(tmp_path / "cut.npz"): ".npz",
        _npz(tmp_path / "len.npz", x_train=x, y_train=y[:-1]): "must match",
        _npz(tmp_path / "val.npz", x_train=x, y_train=y, x_val=x): "y_val",
        _npz(tmp_path / "empty.npz", x_train=x[:0], y_train=y[:0]): "empty",
        _npz(tmp_path / "emptyy.npz", x_train=x, y_train=y[:0]): "y is empty",
        _npz(tmp_path / "feat.npz", x_train=x, y_train=y, x_val=x[:, :3], y_val=y): "features",
    }
    for path, words in cases.items():
        out = tmp_path / "out"
        assert main(["train", "--model", "mlp", "--data", path, "--quiet", "--out",
                     str(out)]) == EXIT_DATA, path
        _one_line(capsys, words)
        assert not out.exists()


def test_test_split_with_other_features_fails_before_training(tmp_path, capsys):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(30, 4)), rng.integers(0, 2, 30)
    path = _npz(tmp_path / "t.npz", x_train=x, y_train=y, x_val=x, y_val=y,
                x_test=x[:, :2], y_test=y)
    assert main(["train", "--model", "mlp", "--data", path, "--quiet", "--out",
                 str(tmp_path / "out")]) == EXIT_DATA
    _one_line(capsys, "test", "features")
    assert not (tmp_path / "out").exists()


def test_report_on_what_is_not_a_run(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty")]) == EXIT_RUN_DIR
    _one_line(capsys, "not a kzoo run")
    (tmp_path / "listy").mkdir()
    (tmp_path / "listy" / "summary.json").write_text("[1, 2]")
    assert main(["report", str(tmp_path / "listy")]) == EXIT_RUN_DIR
    _one_line(capsys, "summary.json", "list")
    (tmp_path / "corrupt").mkdir()
    (tmp_path / "corrupt" / "history.csv").write_text("epoch,loss\n0,1\n")
    (tmp_path / "corrupt" / "config.json").write_text("{not json")
    assert main(["report", str(tmp_path / "corrupt")]) == EXIT_RUN_DIR
    _one_line(capsys, "config.json", "corrupt")


def test_resume_of_a_foreign_or_broken_config(tmp_path, capsys):
    run = tmp_path / "run"
    assert _train(run, "--hp", "width=8") == 0
    capsys.readouterr()
    config = json.loads((run / "config.json").read_text())
    cases = {
        json.dumps({k: v for k, v in config.items() if k != "model"}): "lacks model",
        json.dumps({**config, "architectures": ["BertModel"]}): "does not know",
        "{broken": "corrupt",
        "[]": "list",
    }
    for text, words in cases.items():
        (run / "config.json").write_text(text)
        assert main(["train", "--resume", str(run)]) == EXIT_RUN_DIR
        _one_line(capsys, words)
    hf = tmp_path / "hf"
    hf.mkdir()
    (hf / "config.json").write_text(json.dumps({"model_type": "bert"}))
    assert main(["train", "--resume", str(hf)]) == EXIT_RUN_DIR
    _one_line(capsys, "not a kzoo run")


def _raising(exc):
    def run(*args, **kwargs):
        raise exc
    return run


@pytest.mark.parametrize(
    "exc, code, words",
    [
        (OSError(errno.ENOSPC, "No space left on device", "/x/model.keras"), EXIT_ENVIRONMENT,
         ["No space left", "free disk space"]),
        (OSError(errno.EROFS, "Read-only file system", "/ro"), EXIT_ENVIRONMENT, ["read-only"]),
        (PermissionError(errno.EACCES, "Permission denied", "/ro"), EXIT_ENVIRONMENT,
         ["Permission denied", "permissions"]),
        (MemoryError(), EXIT_ENVIRONMENT, ["out of memory", "--batch-size"]),
        # A backend's out of memory is the machine's limit, not a bug (issue 26).
        (RuntimeError("RESOURCE_EXHAUSTED: Out of memory allocating 5123396833664 bytes."),
         EXIT_ENVIRONMENT, ["out of memory", "RESOURCE_EXHAUSTED", "--batch-size"]),
        (KeyboardInterrupt(), EXIT_INTERRUPTED, ["interrupted", "run the command again"]),
    ],
)
def test_environment_errors_are_one_line(tmp_path, capsys, monkeypatch, exc, code, words):
    monkeypatch.setattr(kzoo.training.runner, "train", _raising(exc))
    assert _train(tmp_path / "run") == code
    _one_line(capsys, *words)


def test_kzoo_debug_raises_every_error(tmp_path, monkeypatch):
    """Bugs: tests/kzoo/cli/test_cli_bugs.py."""
    monkeypatch.setenv("KZOO_DEBUG", "1")
    monkeypatch.setattr(kzoo.training.runner, "train", _raising(MemoryError()))
    with pytest.raises(MemoryError):
        _train(tmp_path / "run")


def test_tune_data_file_and_missing_out(tmp_path, capsys):
    rng = np.random.default_rng(0)
    path = _npz(tmp_path / "x.npz", x_train=rng.normal(size=(30, 4)),
                y_train=rng.integers(0, 2, 30))
    assert main(["tune", "--model", "mlp", "--data", path]) == EXIT_USAGE
    _one_line(capsys, "--out")
    (tmp_path / "text.npz").write_text("not an archive")
    code = main(["tune", "--model", "mlp", "--data", str(tmp_path / "text.npz"), "--out",
                 str(tmp_path / "s")])
    assert code in (EXIT_USAGE, EXIT_DATA)
    _one_line(capsys, "text.npz")
    assert not (tmp_path / "s").exists()


def test_ctrl_c_during_training_says_how_to_resume(tmp_path, capsys, monkeypatch):
    run = tmp_path / "run"
    monkeypatch.setattr(kzoo.training.session, "fit_run", _raising(KeyboardInterrupt()))
    assert _train(run, "--hp", "width=8") == EXIT_INTERRUPTED
    _one_line(capsys, f"kzoo train --resume {run}")
    monkeypatch.undo()
    assert main(["train", "--resume", str(run), "--quiet"]) == 0
