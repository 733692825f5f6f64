"""A run directory is known by kzoo's marker, locked while written, and replaced
only when it is provably kzoo's (issue #13, data loss). Backend-independent
file logic: runs on torch only."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from _backends import one_backend

from kzoo import rundir as layout
from kzoo.cli import main
from kzoo.rundir.search import prepare_search_dir
from kzoo.runtime.errors import DataError, RunDirError
from kzoo.training import train

pytestmark = one_backend("torch", "file and lock logic; one backend is enough")
TINY = dict(epochs=1, batch_size=64, hparams={"width": 8, "depth": 1}, verbose=0)


def _user_folder(path, names=("config.json", "model.safetensors", "README.md")):
    """A folder that is not kzoo's but holds a config.json (a Hugging Face model)."""
    path.mkdir(parents=True, exist_ok=True)
    for name in names:
        (path / name).write_text(f"user's {name}")
    return {name: f"user's {name}" for name in names}


def _unchanged(path, files):
    return all((path / n).read_text() == text for n, text in files.items())


def test_overwrite_never_deletes_a_folder_that_only_has_a_config_json(tmp_path):
    files = _user_folder(tmp_path / "hf")
    with pytest.raises(RunDirError, match="not a kzoo run"):
        train("mlp", "digits", out=str(tmp_path / "hf"), overwrite=True, **TINY)
    assert _unchanged(tmp_path / "hf", files)


def test_overwrite_of_the_current_directory_is_refused(tmp_path, monkeypatch):
    files = _user_folder(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--model", "mlp", "--data", "digits", "--epochs", "1", "--out", ".",
                 "--overwrite", "--quiet"]) == 5
    assert _unchanged(tmp_path, files)
    # Even a real kzoo run is not replaced while it is the current directory.
    run = tmp_path / "run"
    train("mlp", "digits", out=str(run), **TINY)
    monkeypatch.chdir(run)
    with pytest.raises(RunDirError, match="current directory"):
        train("mlp", "digits", out=".", overwrite=True, **TINY)
    assert (run / layout.SUMMARY_FILE).exists()


def test_overwrite_refuses_a_symlink(tmp_path):
    run = tmp_path / "run"
    train("mlp", "digits", out=str(run), **TINY)
    link = tmp_path / "link"
    link.symlink_to(run)
    with pytest.raises(RunDirError, match="symlink"):
        train("mlp", "digits", out=str(link), overwrite=True, **TINY)
    assert (run / layout.MODEL_FILE).exists()


def test_tune_overwrite_never_deletes_a_folder_with_a_tune_config(tmp_path):
    files = _user_folder(tmp_path / "s", ("tune_config.json", "notes.txt"))
    with pytest.raises(RunDirError, match="holds no kzoo search"):
        prepare_search_dir(tmp_path / "s", {"model": "mlp"}, "max", overwrite=True,
                           role="single")
    assert _unchanged(tmp_path / "s", files)


def test_tune_overwrite_replaces_only_a_search_s_own_files(tmp_path):
    ident = {"model": "mlp", "data": "digits", "tuner": "random", "epochs": 1,
             "objective": "val_accuracy", "seed": 0}
    out = tmp_path / "s"
    def prepare(overwrite):
        resumed, lock = prepare_search_dir(out, ident, "max", overwrite=overwrite,
                                           role="single")
        lock.release()  # as tune() does when the search ends
        return resumed

    assert prepare(overwrite=False) is False
    assert layout.read_marker(out)["kind"] == "tune"
    (out / "trials.csv").write_text("old")
    (out / "notes.txt").write_text("mine")
    assert prepare(overwrite=False) is True
    assert prepare(overwrite=True) is False
    assert not (out / "trials.csv").exists() and (out / "notes.txt").read_text() == "mine"


def test_overwrite_checks_everything_before_deleting(tmp_path):
    run = tmp_path / "run"
    train("mlp", "digits", out=str(run), **TINY)
    before = (run / layout.SUMMARY_FILE).read_text()
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 6)), rng.integers(0, 2, 40)
    bad_val = (rng.normal(size=(10, 5)), rng.integers(0, 2, 10))
    with pytest.raises(DataError, match="same features"):
        train("mlp", (x, y), val_data=bad_val, out=str(run), overwrite=True, **TINY)
    with pytest.raises(ValueError, match="warmup_epochs"):
        train("mlp", "digits", out=str(run), overwrite=True, warmup_epochs=float("nan"), **TINY)
    assert (run / layout.SUMMARY_FILE).read_text() == before
    assert (run / layout.MODEL_FILE).exists()


def test_overwrite_keeps_files_kzoo_did_not_write_and_marks_the_run(tmp_path):
    run = tmp_path / "run"
    train("mlp", "digits", out=str(run), **TINY)
    first = layout.read_marker(run)
    assert first["format"] == layout.MARKER_FORMAT and first["kind"] == "train"
    assert first["created"] and first["run_id"] and layout.CONFIG_FILE in first["files"]
    (run / "notes.txt").write_text("mine")
    train("mlp", "digits", out=str(run), overwrite=True, **TINY)
    assert (run / "notes.txt").read_text() == "mine"
    assert layout.read_marker(run)["run_id"] != first["run_id"]
    assert not (run / layout.LOCK_FILE).exists()


def test_kzoo_0_1_0_runs_without_a_marker(tmp_path):
    run = tmp_path / "old"
    train("mlp", "digits", out=str(run), **TINY)
    (run / layout.MARKER_FILE).unlink()
    assert layout.run_kind(run) == "train"  # kzoo's config.json and only kzoo's files
    (run / "notes.txt").write_text("mine")
    assert layout.run_kind(run) is None  # anything else: not provably kzoo's
    with pytest.raises(RunDirError, match="not a kzoo run"):
        train("mlp", "digits", out=str(run), overwrite=True, **TINY)


def test_a_second_process_on_the_same_out_is_refused(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock = {"pid": other.pid, "host": os.uname().nodename, "started": "now"}
        (out / layout.LOCK_FILE).write_text(json.dumps(lock))
        with pytest.raises(RunDirError, match=f"pid {other.pid}"):
            train("mlp", "digits", out=str(out), **TINY)
        assert not (out / layout.CONFIG_FILE).exists()
    finally:
        other.kill()
        other.wait()
    # The holder is dead now: its lock is stale and taken over.
    train("mlp", "digits", out=str(out), **TINY)
    assert (out / layout.SUMMARY_FILE).exists() and not (out / layout.LOCK_FILE).exists()


def test_lr_find_never_writes_into_a_user_folder(tmp_path):
    files = _user_folder(tmp_path / "mine", ("lr_find.json", "notes.txt"))
    (tmp_path / "mine" / "plots").mkdir()
    (tmp_path / "mine" / "plots" / "lr_find.png").write_text("user's plot")
    for extra in ([], ["--overwrite"]):
        code = main(["lr-find", "--model", "mlp", "--data", "digits", "--num-steps", "5",
                     "--out", str(tmp_path / "mine"), *extra])
        assert code == 5
    assert _unchanged(tmp_path / "mine", files)
    assert (tmp_path / "mine" / "plots" / "lr_find.png").read_text() == "user's plot"


def test_lr_find_writes_a_marked_directory_and_replaces_only_its_own(tmp_path):
    out = tmp_path / "lr"
    args = ["lr-find", "--model", "mlp", "--data", "digits", "--num-steps", "5", "--hp",
            "width=8", "--out", str(out)]
    assert main(args) == 0
    assert layout.read_marker(out)["kind"] == "lr-find"
    assert json.loads((out / layout.LR_FIND_FILE).read_text())["lrs"]
    assert main(args) == 5  # already holds one
    assert main([*args, "--overwrite"]) == 0


def test_out_under_a_file_is_refused_before_anything_runs(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(RunDirError, match="lies under the file"):
        layout.check_out(tmp_path / "f" / "run", "train")
    with pytest.raises(RunDirError, match="is a file"):
        layout.check_out(tmp_path / "f", "train")
    assert pathlib.Path(tmp_path / "f").read_text() == "x"
