"""A batch-size search that survives out-of-memory (issue 30): with an out-of-memory
error injected from batch 128 on (`KZOO_FAKE_OOM_FROM_BATCH`), every trial finishes,
the out-of-memory ones are recorded with their batch size, and no batch >= 128 is
proposed after the first. Backend-free search logic: one backend."""

import numpy as np
import pytest
from _backends import one_backend
from _tiny_search import TINY, tiny_data

from kzoo.training.batch_size import FAKE_OOM_ENV
from kzoo.tuning.api import tune
from kzoo.tuning.oom import batch_limits, is_out_of_memory, model_key

pytestmark = one_backend("torch", "search logic, backend-free")


def test_search_goes_on_and_stops_proposing_batches_that_ran_out(tmp_path, monkeypatch):
    monkeypatch.setenv(FAKE_OOM_ENV, "128")
    result = tune("mlp", tiny_data(300), out=tmp_path, max_trials=8, epochs=1, verbose=0,
                  seed=2, fixed={**TINY, "norm": "none", "residual": False,
                                 "batch_size": [32, 64, 128, 256]})
    trials = sorted(result.trials, key=lambda r: int(r["trial_id"]))
    assert len(trials) == 8 and {r["status"] for r in trials} <= {"COMPLETED", "FAILED"}
    oom = [r for r in trials if r.get("out_of_memory") == 1]
    assert oom, "the seeded search proposes a batch >= 128: the test needs one"
    assert all(r["batch_size"] >= 128 and r["status"] == "FAILED" for r in oom)
    assert all("RESOURCE_EXHAUSTED" in r["error"] for r in oom)
    first = int(oom[0]["trial_id"])
    later = [r["batch_size"] for r in trials if int(r["trial_id"]) > first]
    assert later and max(later) < 128
    assert result.best and result.best["hyperparameters"]["batch_size"] < 128


class _Trial:
    def __init__(self, values, status="FAILED", message=None):
        self.status, self.message = status, message
        self.hyperparameters = type("HP", (), {"values": values})()


@pytest.mark.parametrize("message, oom", [
    ("Traceback ...\nRuntimeError: RESOURCE_EXHAUSTED: Out of memory", True),
    ("Traceback ...\ntorch.OutOfMemoryError: CUDA out of memory. Tried", True),
    ("Traceback ...\nMemoryError", True),
    ("Traceback ...\nValueError: shapes differ", False),
])
def test_limits_are_per_model_size(message, oom):
    small = {"width": 8, "batch_size": 256, "learning_rate": 1e-3}
    trials = [_Trial(small, message=message), _Trial({**small, "batch_size": 128}, message=message),
              _Trial({**small, "width": 64}, status="COMPLETED")]
    assert is_out_of_memory(trials[0]) is oom
    assert batch_limits(trials) == ({model_key(small): 128} if oom else {})
    assert model_key(small) == model_key({**small, "learning_rate": 0.1, "batch_size": 8,
                                          "dropout": 0.5})
    assert model_key(small) != model_key({**small, "width": 64})
    assert np.isfinite(small["learning_rate"])
