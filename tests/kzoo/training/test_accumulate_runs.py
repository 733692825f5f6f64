"""`kzoo train --accumulate N` (issue 30): the run records N, and its step counters,
LR schedule and gradient-norm log count optimizer steps. The per-backend equality with
one large batch is in tests/callbacks/test_accumulate.py; one backend here."""

import csv
import json

import keras
import numpy as np
import pytest
from _backends import one_backend

from kzoo.cli import main
from kzoo.training import train

pytestmark = one_backend("torch", "run wiring, backend-free")
TINY = dict(epochs=2, hparams={"width": 8, "depth": 1}, verbose=0, precise_bn=False)


def _rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_accumulated_run_counts_optimizer_steps(tmp_path, tiny_binary):
    out = tmp_path / "run"
    result = train("mlp", tiny_binary(160, 6), out=str(out), batch_size=16, accumulate=4,
                   schedule="cosine", grad_log_every=1, clip="autoclip", **TINY)
    config = json.loads((out / "config.json").read_text())
    assert config["accumulate"] == 4
    micro = 2 * -(-config["resolved"]["n_fit"]["value"] // 16)
    steps = micro // 4
    assert int(keras.ops.convert_to_numpy(result.model.optimizer.iterations)) == steps
    lrs = _rows(out / "lr_steps.csv")
    assert [int(r["step"]) for r in lrs] == list(range(steps))
    # the cosine decays over the run's optimizer steps (not its micro-batches)
    expected = [0.5 * (1 + np.cos(np.pi * i / steps)) for i in range(steps)]
    np.testing.assert_allclose([float(r["lr"]) / float(lrs[0]["lr"]) for r in lrs], expected,
                               rtol=1e-4)
    norms = _rows(out / "grad_norms.csv")
    assert [int(r["step"]) for r in norms] == list(range(steps))


@pytest.mark.parametrize("settings, match", [
    ({"accumulate": 0}, "accumulate must be an int >= 1"),
    ({"accumulate": 2, "lr": "auto"}, "--lr auto with --accumulate"),
])
def test_bad_accumulate_is_refused_before_training(settings, match, tmp_path):
    with pytest.raises(ValueError, match=match):
        train("mlp", "digits", out=str(tmp_path / "run"), **{**TINY, **settings})
    assert not (tmp_path / "run").exists()
    assert main(["train", "--model", "mlp", "--data", "digits", "--accumulate", "0",
                 "--out", str(tmp_path / "cli")]) == 2
