"""`kzoo tune --tensorboard` without the `tensorboard` package: one UsageError before
anything is written. (The files it writes, each trial's curves and the HParams
sessions read back by TensorBoard's own reader after a kill and a resume, on torch
without TensorFlow: tests/kzoo/cli/test_cli_tensorboard.py; on jax: CI's wheel smoke.
Both run .ci/tensorboard_check.py.)"""

import sys

import pytest
from _backends import one_backend
from _tiny_search import TINY, tiny_data

from kzoo.tuning.api import tune

# Backend-free: one backend is enough, torch.
pytestmark = one_backend("torch", "backend-free check; one backend is enough")


def test_missing_tensorboard_is_one_usage_error_before_writing(tmp_path, monkeypatch):
    from kzoo.runtime.errors import UsageError

    for name in ("tensorboard", "tensorboard.compat.proto.event_pb2",
                 "tensorboard.summary.writer.record_writer"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(UsageError, match=r"kzoo tune --tensorboard needs the tensorboard"):
        tune("mlp", tiny_data(), out=tmp_path / "s", max_trials=1, epochs=1, fixed=TINY,
             verbose=0, tensorboard=True)
    assert not (tmp_path / "s").exists()
