"""The JSON settings a launcher hands its workers: a round trip, and what it refuses."""

import json

import keras
import numpy as np
import pytest

from kzoo.datasets import Dataset
from kzoo.tuning.distribute import handoff


def _kwargs(**over):
    kwargs = dict(model="mlp", data="digits", out="o", tuner="random", max_trials=3, epochs=2,
                  objective="val_accuracy", fixed={"depth": 1, "units": [8, 16],
                                                    "learning_rate": (1e-3, 1e-2)},
                  seed=0, early_stopping=0, prune=False, callbacks=[], heartbeat_timeout=30.0,
                  verbose=1)
    return {**kwargs, **over}


def test_round_trip_keeps_ranges_choices_datasets_and_callbacks(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 3)).astype("float32")
    y = (x[:, 0] > 0).astype("int32")
    data = Dataset("mine", x[:8], y[:8], x[8:10], y[8:10], x[10:], y[10:], "multiclass", 2,
                   "tabular", info={"mean": np.float32(0.5)})
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=3)
    path = handoff.write(handoff.encode(_kwargs(data=data, callbacks=[stop])), tmp_path)
    assert path.name == "settings.json" and json.loads(path.read_text())["data"]["npz"]
    back = handoff.read(path)
    assert back["fixed"] == {"depth": 1, "units": [8, 16], "learning_rate": (1e-3, 1e-2)}
    assert back["data"].name == "mine" and np.array_equal(back["data"].x_val, x[8:10])
    assert back["data"].info == {"mean": 0.5}
    (cb,) = back["callbacks"]
    assert type(cb) is keras.callbacks.EarlyStopping and cb.patience == 3


def test_refuses_what_it_cannot_rebuild_or_what_is_not_a_callback(tmp_path):
    class Local(keras.callbacks.Callback):
        pass

    with pytest.raises(ValueError, match="importable module"):
        handoff.encode(_kwargs(callbacks=[Local()]))
    path = handoff.write(handoff.encode(_kwargs()), tmp_path)
    doc = json.loads(path.read_text())
    # A forged file may name only a keras Callback, never any other callable.
    doc["callbacks"] = [{"class": "os:system", "config": {"command": "touch pwned"}}]
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="not a keras.callbacks.Callback"):
        handoff.read(path)
    assert not (tmp_path / "pwned").exists()
    doc["callbacks"], doc["max_trials"] = [], "3"
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="'max_trials' must be int"):
        handoff.read(path)
