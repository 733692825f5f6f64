"""`kzoo tune --accumulate N` (issue 30): every trial's optimizer steps every N batches.
Backend-free wiring (the accumulation itself is tested per backend in
tests/callbacks/test_accumulate.py): one backend."""

import json

import keras
import pytest
from _backends import one_backend
from _tiny_search import TINY, tiny_data

from kzoo.callbacks._accumulate import micro_steps
from kzoo.tuning.api import tune

pytestmark = one_backend("torch", "search wiring, backend-free")


class Seen(keras.callbacks.Callback):
    """Records each trial's accumulation and step counts (shared by the trials' copies)."""

    seen = []

    def on_train_end(self, logs=None):
        opt = self.model.optimizer
        Seen.seen.append((opt.gradient_accumulation_steps, micro_steps(opt),
                          int(keras.ops.convert_to_numpy(opt.iterations))))


def test_every_trial_accumulates(tmp_path):
    Seen.seen.clear()
    result = tune("mlp", tiny_data(), out=tmp_path, max_trials=2, epochs=1, verbose=0,
                  fixed={**TINY, "batch_size": [16]}, accumulate=2, callbacks=[Seen()])
    assert [r["status"] for r in result.trials] == ["COMPLETED", "COMPLETED"]
    assert Seen.seen == [(2, 4, 2), (2, 4, 2)]  # 64 examples: 4 batches of 16, 2 steps
    config = json.loads((tmp_path / "tune_config.json").read_text())
    assert "accumulate" in json.dumps(config)
    with pytest.raises(ValueError, match="accumulate must be an int >= 1"):
        tune("mlp", tiny_data(), out=tmp_path / "bad", accumulate=0, fixed=TINY, verbose=0)
