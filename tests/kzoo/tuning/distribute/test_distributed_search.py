"""Searches in subprocesses: SIGKILL and resume, a chief with two workers."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import keras
import pytest

from kzoo.plots import read_csv

# --------------------------------------------------------------------------- subprocesses

# Callbacks are rebuilt in the workers from their class and arguments (JSON, no pickle),
# so they live in an importable module.
_CALLBACKS = """
import time, keras

class Slow(keras.callbacks.Callback):
    def __init__(self, seconds):
        super().__init__()
        self.seconds = seconds

    def on_epoch_end(self, epoch, logs=None):
        time.sleep(self.seconds)
"""

_SCRIPT = """
import sys, numpy as np
from kzoo.datasets import Dataset
from kzoo.tuning import tune
from slow_callbacks import Slow

rng = np.random.default_rng(0)
x = rng.normal(size=(96, 6)).astype("float32"); y = (x[:, 0] > 0).astype("int32")
ds = Dataset("tiny", x[:64], y[:64], x[64:80], y[64:80], x[80:], y[80:], "multiclass", 2,
             "tabular")
tune("mlp", ds, out=sys.argv[1], max_trials={trials}, epochs=2, workers={workers},
     fixed={{"depth": 1, "width": 8}}, callbacks=[Slow({sleep})], heartbeat_timeout=30)
"""


def _only_on(backend):
    # Subprocess searches are slow; the engine is backend-neutral (KerasTuner's oracle
    # and kzoo's bookkeeping), so each runs on one backend to stay in the CI budget.
    return pytest.mark.skipif(
        keras.backend.backend() != backend,
        reason=f"subprocess search: runs on the {backend} backend only (CI time budget)",
    )


def _script(tmp_path, **fmt):
    (tmp_path / "slow_callbacks.py").write_text(_CALLBACKS)
    path = tmp_path / "search.py"
    path.write_text(textwrap.dedent(_SCRIPT.format(**fmt)))
    return path


def _env(tmp_path):
    return {
        **os.environ,
        "KERAS_BACKEND": keras.backend.backend(),
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
    }


def _wait_for(predicate, timeout, proc=None):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process exited early: {proc.communicate()}")
        time.sleep(0.1)
    raise AssertionError("timed out")


def _completed(path):
    try:
        return [r for r in read_csv(path) if r["status"] == "COMPLETED"]
    except (OSError, KeyError):
        return []


@_only_on("torch")
@pytest.mark.slow
def test_sigkill_then_restart_continues_the_search(tmp_path):
    script, out = _script(tmp_path, sleep=0.25, trials=4, workers=0), tmp_path / "out"
    cmd = [sys.executable, str(script), str(out)]
    env = _env(tmp_path)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    _wait_for(lambda: len(_completed(out / "trials.csv")) >= 1, 120, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = {r["trial_id"]: r for r in _completed(out / "trials.csv")}

    rerun = subprocess.run(cmd, env=_env(tmp_path), capture_output=True, text=True, timeout=180)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "Resuming the search" in rerun.stdout
    rows = read_csv(out / "trials.csv")
    assert [r["trial_id"] for r in rows] == [0, 1, 2, 3]
    assert {r["status"] for r in rows} == {"COMPLETED"}
    for trial_id, row in before.items():  # finished trials were not rerun
        assert rows[int(trial_id)] == row
    assert f"trial {int(max(before)) + 1} COMPLETED" in rerun.stdout
    assert json.loads((out / "best.json").read_text())["trials"]["completed"] == 4


# The chief-and-two-workers search with a killed worker (keras-tuner#915) is covered by
# test_search_at_scale.py, which also resumes the dead worker's trial from its checkpoint.
