"""`kzoo.diagnose`'s gradient rules over grad_norms.csv rows: vanishing and exploding
layers are named; healthy gradients are silent. Pure Python."""

import math

import numpy as np
from _histories import healthy as _healthy

from kzoo import diagnose as dg


def _grad_rows(layers, steps=40, nan_at=None, blow_at=None):
    rows = []
    for s in range(steps):
        row = {"step": float(s * 10), "clip_threshold": 0.0, "clipped": 0.0}
        row.update({name: scale * (1 + 0.1 * np.sin(s)) for name, scale in layers.items()})
        if blow_at is not None and s >= blow_at:
            row["dense"] = 1e6
        if nan_at is not None and s == nan_at:
            row["dense"] = math.nan
        row["global_norm"] = math.sqrt(sum(v * v for k, v in row.items() if k in layers))
        rows.append(row)
    return rows


def test_vanishing_gradients_name_the_layer():
    rows = _grad_rows({"simple_rnn_0": 1e-7, "simple_rnn_1": 1e-3, "dense": 0.5})
    (f,) = dg.diagnose(_healthy(), grad_norms=rows)
    assert f["kind"] == "vanishing_gradients"
    assert list(f["evidence"]["layers"]) == ["simple_rnn_0"]


def test_exploding_gradients_name_the_layer_and_steps():
    rows = _grad_rows({"lstm_0": 0.3, "dense": 0.5}, blow_at=30)
    (f,) = dg.diagnose(_healthy(), grad_norms=rows)
    assert f["kind"] == "exploding_gradients"
    assert f["evidence"]["large_steps"][0][0] == 300.0 and "dense" in f["evidence"]["layers"]
    rows = _grad_rows({"lstm_0": 0.3, "dense": 0.5}, nan_at=12)
    (f,) = dg.diagnose(_healthy(), grad_norms=rows)
    assert f["evidence"]["nonfinite_steps"] == [120.0]
    assert f["evidence"]["layers"] == {"dense": "non-finite"}


def test_healthy_gradients_are_silent():
    rows = _grad_rows({"gru_0": 0.2, "gru_1": 0.05, "dense": 0.5})
    assert dg.diagnose(_healthy(), grad_norms=rows) == []
