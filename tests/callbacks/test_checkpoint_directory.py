"""Checkpoint's directory rule: never mix with another run's checkpoints (#19)."""

import json

import keras
import numpy as np
import pytest

from kzoo.callbacks import Checkpoint
from kzoo.fit import fit_resumable


def _model():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    return model


def _data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(16, 4)).astype("float32"), rng.integers(0, 2, 16).astype("int32")


def _files(directory):
    return sorted(p.name for p in directory.glob("step-*.ckpt"))


def test_plain_fit_refuses_another_runs_checkpoints_before_training(tmp_path):
    x, y = _data()
    _model().fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[Checkpoint(tmp_path)])
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    other = _model()
    weights = [w.copy() for w in other.get_weights()]
    with pytest.raises(ValueError, match="another run.*overwrite=True"):
        other.fit(x, y, epochs=1, batch_size=8, verbose=0, callbacks=[Checkpoint(tmp_path)])
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # nothing touched
    for a, b in zip(weights, other.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)  # refused before the first step


def test_overwrite_replaces_only_checkpoint_files(tmp_path):
    x, y = _data()
    _model().fit(x, y, epochs=3, batch_size=8, verbose=0,
                 callbacks=[Checkpoint(tmp_path, keep_last=3, save_best_k=0)])
    (tmp_path / "notes.txt").write_text("mine")
    ckpt = Checkpoint(tmp_path, overwrite=True)
    _model().fit(x, y, epochs=1, batch_size=8, verbose=0, callbacks=[ckpt])
    assert _files(tmp_path) == ["step-00000002.ckpt"]
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert json.loads((tmp_path / "manifest.json").read_text())["run_id"] == ckpt.run_id


def test_same_run_and_resumed_run_are_not_another_run(tmp_path):
    x, y = _data()
    ckpt = Checkpoint(tmp_path, run_id="r1")
    model = _model()
    model.fit(x, y, epochs=1, batch_size=8, verbose=0, callbacks=[ckpt])
    model.fit(x, y, epochs=1, batch_size=8, verbose=0, callbacks=[ckpt])  # same instance
    model.fit(x, y, epochs=1, batch_size=8, verbose=0,
              callbacks=[Checkpoint(tmp_path, run_id="r1")])  # same run id
    # A resumed run (restore) adopts the directory's run, whatever its own id.
    fit_resumable(_model(), x, y, epochs=2, batch_size=8, checkpoint=Checkpoint(tmp_path))
    resumed = Checkpoint(tmp_path)
    history = fit_resumable(_model(), x, y, epochs=3, batch_size=8, checkpoint=resumed,
                            resume=True)
    assert resumed.run_id == "r1" and len(history["loss"]) == 3


def test_resuming_a_run_whose_checkpoints_are_all_corrupt_starts_over_in_place(tmp_path):
    x, y = _data()
    _model().fit(x, y, epochs=1, batch_size=8, verbose=0, callbacks=[Checkpoint(tmp_path)])
    for path in tmp_path.glob("step-*.ckpt"):
        path.write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="corrupt"):
        history = fit_resumable(_model(), x, y, epochs=1, batch_size=8,
                                checkpoint=Checkpoint(tmp_path), resume=True)
    assert len(history["loss"]) == 1
