"""The tiny dataset, model and subprocess search the tuning tests share (test_tune,
test_tpe, distribute/test_distributed_search, distribute/test_search_at_scale;
imported by name: tests/kzoo/tuning/conftest.py puts this folder on sys.path)."""

import os
import sys
import textwrap
import time

import keras
import numpy as np

from kzoo.datasets import Dataset
from kzoo.rundir import read_csv

TINY = {"depth": 1, "width": 8}


def tiny_data(n=96):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 6)).astype("float32")
    y = (x[:, 0] > 0).astype("int32")
    a, b = int(n * 2 / 3), int(n * 5 / 6)
    return Dataset("tiny", x[:a], y[:a], x[a:b], y[a:b], x[b:], y[b:], "multiclass", 2, "tabular")


# ------------------------------------------------------------- searches in subprocesses

# Callbacks are rebuilt in the workers from their class and arguments (JSON, no pickle),
# so they live in an importable module.
SLOW_CALLBACKS = """
import time, keras

class Slow(keras.callbacks.Callback):
    def __init__(self, seconds):
        super().__init__()
        self.seconds = seconds

    def on_epoch_end(self, epoch, logs=None):
        time.sleep(self.seconds)
"""

_SEARCH = """
import sys
from _tiny_search import TINY, tiny_data
from kzoo.tuning import tune
from slow_callbacks import Slow

tune("mlp", tiny_data(), out=sys.argv[1], tuner={tuner!r}, max_trials={trials}, epochs=2,
     workers={workers}, fixed=TINY, callbacks=[Slow({sleep})], heartbeat_timeout=30)
"""


def search_command(tmp_path, *, tuner="random", sleep, trials, workers):
    """Write a tiny search script (each epoch sleeps `sleep` s) into `tmp_path`; returns
    the command that runs it into `tmp_path / "out"`."""
    (tmp_path / "slow_callbacks.py").write_text(SLOW_CALLBACKS)
    path = tmp_path / "search.py"
    path.write_text(textwrap.dedent(_SEARCH.format(tuner=tuner, sleep=sleep, trials=trials,
                                                   workers=workers)))
    return [sys.executable, str(path), str(tmp_path / "out")]


def subprocess_env(tmp_path):
    """The environment of a search subprocess: this backend, `tmp_path` and this folder
    importable."""
    here = os.path.dirname(os.path.abspath(__file__))
    path = [str(tmp_path), here, os.environ.get("PYTHONPATH", "")]
    return {
        **os.environ,
        "KERAS_BACKEND": keras.backend.backend(),
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "PYTHONPATH": os.pathsep.join(path),
    }


def wait_for(predicate, timeout, proc=None):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process exited early: {proc.communicate()}")
        time.sleep(0.1)
    raise AssertionError("timed out")


def completed(path):
    """The COMPLETED rows of a trials.csv (none while it is missing or being written)."""
    try:
        return [r for r in read_csv(path) if r["status"] == "COMPLETED"]
    except (OSError, KeyError):
        return []
