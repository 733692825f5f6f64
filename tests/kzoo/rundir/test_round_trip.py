"""Every run file written through its writer and read back through its reader
(`kzoo.rundir`): what a reader gives is what the writer was given. The files kzoo's
callbacks write during fit (history.csv, lr_steps.csv, grad_norms.csv) come from one
tiny `train`; the rest from `kzoo.rundir`'s writers. Backend-free (file formats, and
the writers load no backend): jax only."""

import json
import math

import pytest
from _backends import one_backend

from kzoo import rundir as layout
from kzoo.runtime.errors import RunDirError

pytestmark = one_backend("jax", "file formats; backend-free")


def test_json_files_round_trip(tmp_path):
    summary = {"model": "mlp", "epochs_run": 2, "test_accuracy": 0.75, "final_loss": math.nan,
               "diagnosis": [], "diagnosis_facts": {"chance": 0.25}}
    layout.write_json(tmp_path / layout.SUMMARY_FILE, summary)
    assert layout.read_summary(tmp_path) == {**summary, "final_loss": None}  # NaN as null
    config = {"model": "mlp", "data": "digits", "epochs": 3, "hparams": {"width": [8, 4]}}
    layout.write_json(tmp_path / layout.CONFIG_FILE, config)
    assert layout.read_config(tmp_path) == config
    ident = {"model": "mlp", "data": "digits", "tuner": "random", "epochs": 2,
             "objective": "val_accuracy", "fixed": {}, "seed": 0, "backend": "jax"}
    layout.write_json(tmp_path / layout.TUNE_CONFIG_FILE, {**ident, "direction": "max"})
    assert layout.read_tune_config(tmp_path) == {**ident, "direction": "max"}
    assert layout.read_best(tmp_path) == {}  # before the search ended
    layout.atomic_write_text(tmp_path / layout.BEST_FILE, json.dumps({"trial_id": "1"}))
    assert layout.read_best(tmp_path) == {"trial_id": "1"}
    assert not list(tmp_path.glob(".tmp-*"))  # the writer leaves no temporary file


def test_history_and_trials_round_trip(tmp_path):
    history = {"loss": [1.0, 0.5, math.nan], "val_loss": [1.1, 0.9]}
    layout.write_history_csv(tmp_path, history)
    read = layout.read_history(tmp_path / layout.HISTORY_FILE)
    assert read["loss"][:2] == [1.0, 0.5] and math.isnan(read["loss"][2])
    assert read["val_loss"][:2] == [1.1, 0.9] and math.isnan(read["val_loss"][2])  # blank
    rows = [{"trial_id": "0", "status": "COMPLETED", "score": 0.5, "units": 8},
            {"trial_id": "1", "status": "FAILED", "score": None, "units": 16, "error": "x"}]
    layout.write_trials_csv(tmp_path, rows)
    back = layout.read_trials(tmp_path)
    assert [r["status"] for r in back] == ["COMPLETED", "FAILED"]
    assert back[0]["score"] == 0.5 and back[1]["units"] == 16.0 and back[1]["error"] == "x"
    assert back[0]["error"] == "" and back[1]["score"] == ""  # a column one row lacks


def test_lr_find_has_one_schema_and_reads_the_old_key(tmp_path):
    result = {"lrs": [1e-4, 1e-3], "losses": [1.0, math.inf], "smoothed": [1.0, 0.9],
              "suggestions": {"valley": 1e-3}, "diverged_at": None}
    path = tmp_path / layout.LR_FIND_FILE
    layout.write_lr_find(path, result, 1e-3, "the valley rule")
    read = layout.read_lr_find(path)
    assert read["recommended_lr"] == 1e-3 and read["recommended_rule"] == "the valley rule"
    assert read["losses"] == [1.0, None] and "chosen_lr" not in read
    # A train run written before the one schema stored the rate as chosen_lr.
    path.write_text(json.dumps({**result, "losses": [1.0, 2.0], "chosen_lr": 2e-3}))
    assert layout.read_lr_find(path)["recommended_lr"] == 2e-3


def test_a_train_runs_callback_files_read_back(tmp_path, tiny_tabular):
    from kzoo.training import train

    out = tmp_path / "run"
    result = train("mlp", tiny_tabular, out=str(out), epochs=2, batch_size=16, lr=1e-2,
                   grad_log_every=1, checkpoint_every_epochs=0, verbose=0, seed=0)
    history = layout.read_history(out / layout.HISTORY_FILE)
    for key, values in result.history.items():
        assert history[key] == pytest.approx(values, rel=1e-6), key
    assert layout.read_summary(out)["epochs_run"] == 2
    assert layout.read_config(out)["model"] == "mlp"
    steps = layout.read_lr_steps(out / layout.LR_STEPS_FILE)
    assert [s for s, _ in steps] == list(range(len(steps))) and len(steps) > 1
    assert [lr for _, lr in steps] == pytest.approx([1e-2] * len(steps))
    grads = layout.read_grad_norms(out / layout.GRAD_NORMS_FILE)
    assert len(grads) == len(steps) and list(grads[0])[:2] == ["step", "global_norm"]
    assert all(r["global_norm"] > 0 for r in grads)
    assert layout.read_marker(out)["kind"] == "train"


def test_a_garbled_grad_norms_cell_names_the_file_and_line(tmp_path):
    path = tmp_path / layout.GRAD_NORMS_FILE
    path.write_text("step,global_norm\n0,1.5\n1,abc\n")
    with pytest.raises(RunDirError, match=r"grad_norms.csv, line 3: a cell is not a number"):
        layout.read_grad_norms(path)
    path.write_text("")
    assert layout.read_grad_norms(path) == []
