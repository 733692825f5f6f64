"""`tune(workers=2, gpus_per_worker=2)` on virtual CPU devices: every trial on its block,
and a worker killed mid-trial has its trial finished elsewhere from the last checkpoint."""

import json
import os
import signal
import subprocess
import sys
import textwrap

import keras
import pytest
from _backends import one_backend
from _tiny_search import SLOW_CALLBACKS, subprocess_env, wait_for

from kzoo.cli import main
from kzoo.rundir import read_csv
from kzoo.tuning.api import tune

EPOCHS, TRIALS = 3, 2

_SCRIPT = f"""
import sys, numpy as np
from kzoo.datasets import Dataset
from kzoo.tuning import tune
from slow_callbacks import Slow

rng = np.random.default_rng(0)
x = rng.normal(size=(90, 6)).astype("float32"); y = (x[:, 0] > 0).astype("int32")
ds = Dataset("tiny", x[:61], y[:61], x[61:80], y[61:80], x[80:], y[80:], "multiclass", 2,
             "tabular")
tune("mlp", ds, out=sys.argv[1], max_trials={TRIALS}, epochs={EPOCHS}, workers=2,
     gpus_per_worker=2, fixed={{"depth": 1, "width": 8}}, callbacks=[Slow(0.6)],
     heartbeat_timeout=30)
"""


def _checkpointed_trial(out):
    """`(worker, trial_id)` of a running trial with a checkpoint on disk, or None."""
    try:
        ongoing = json.loads((out / "kt" / "oracle.json").read_text())["ongoing_trials"]
    except (OSError, ValueError, KeyError):
        return None
    for worker, trial_id in ongoing.items():
        manifest = out / "kt" / f"trial_{trial_id}" / "ckpt" / "manifest.json"
        try:
            if json.loads(manifest.read_text())["checkpoints"]:
                return worker, trial_id
        except (OSError, ValueError, KeyError):
            continue
    return None


@one_backend("jax", "a chief and two workers on virtual CPU devices (XLA_FLAGS makes the "
             "devices; one backend keeps the subprocess search within the CI time budget)")
@pytest.mark.slow
def test_gpu_blocks_and_a_killed_worker_resuming_from_its_checkpoint(tmp_path):
    (tmp_path / "slow_callbacks.py").write_text(SLOW_CALLBACKS)
    (tmp_path / "search.py").write_text(textwrap.dedent(_SCRIPT))
    out = tmp_path / "out"
    env = {**subprocess_env(tmp_path), "KZOO_VIRTUAL_DEVICES": "1", "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.Popen([sys.executable, str(tmp_path / "search.py"), str(out)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        found = []
        wait_for(lambda: found.append(_checkpointed_trial(out)) or found[-1], 150, proc)
        worker, trial_id = found[-1]
        pid = json.loads((out / "workers" / "pids.json").read_text())[worker]
        os.kill(pid, signal.SIGKILL)  # after the trial's first checkpoint, before its end
        stdout, _ = proc.communicate(timeout=150)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stdout
    assert f"worker {worker} exited (-9); restarted" in stdout and "requeued" in stdout
    rows = read_csv(out / "trials.csv")
    assert [int(r["trial_id"]) for r in rows] == list(range(TRIALS))  # none lost
    assert {r["status"] for r in rows} == {"COMPLETED"}
    assert stdout.count(" COMPLETED ") == TRIALS  # none run twice
    killed = rows[int(trial_id)]
    # Resumed from the dead worker's checkpoint, not from epoch 0, and ran to the end.
    assert 1 <= killed["resumed_from_epoch"] < EPOCHS and killed["epochs_run"] == EPOCHS
    assert [r["resumed_from_epoch"] for r in rows if r is not killed] == [0] * (TRIALS - 1)
    # Every trial trained on its worker's block: two (virtual) devices.
    assert [r["devices"] for r in rows] == [2] * TRIALS
    assert {r["device_block"] for r in rows} == {"virtual-cpu:2"}
    assert json.loads((out / "workers" / "devices.json").read_text()) == {
        "tuner0": "virtual-cpu:2", "tuner1": "virtual-cpu:2"}
    assert not list((out / "kt").glob("trial_*/ckpt"))  # recorded trials drop their checkpoints
    settings = json.loads((out / "workers" / "settings.json").read_text())  # JSON, no pickle
    assert settings["callbacks"] == [{"class": "slow_callbacks:Slow", "config": {"seconds": 0.6}}]
    assert not list((out / "workers").glob("*.pkl"))


def test_cli_refuses_gpu_blocks_it_cannot_give_before_writing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2")
    out = tmp_path / "search"
    args = ["tune", "--model", "mlp", "--data", "digits", "--max-trials", "2", "--epochs", "1",
            "--workers", "2", "--gpus-per-worker", "2", "--out", str(out),
            "--backend", keras.backend.backend()]
    assert main(args) != 0
    err = capsys.readouterr().err
    assert "2 workers x 2 GPUs per worker need 4 GPUs, and this host has 3 (0, 1, 2)" in err
    assert not out.exists()


def test_more_devices_than_this_process_has_are_refused_before_writing(tmp_path):
    out = tmp_path / "search"
    # jax and tensorflow: more than the devices they see; torch: no distribution in Keras 3.15.
    with pytest.raises(ValueError, match="devices=64"):
        tune("mlp", "digits", out=out, devices=64, max_trials=1, epochs=1, verbose=0)
    assert not out.exists()
