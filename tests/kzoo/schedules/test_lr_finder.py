"""Tests of kzoo.schedules.lr_finder: sweep, divergence stop, restore, suggestions, files."""

import json
import math

import keras
import numpy as np
import pytest
from _backends import one_backend

from kzoo.schedules.lr_finder import LRFinder, smooth_losses, suggest


def _problem():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 5)).astype("float32")
    y = (x @ rng.normal(size=(5, 1))).astype("float32")
    model = keras.Sequential(
        [keras.Input((5,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dropout(0.1),
         keras.layers.Dense(1)]
    )
    model.compile(keras.optimizers.SGD(0.01, momentum=0.9), "mse")
    return model, x, y


def test_suggestions_on_a_known_curve():
    lrs = np.logspace(-5, 1, 61)
    # Loss flat, then falls fastest around 1e-2, bottoms out at 1e-1, then rises.
    t = np.log10(lrs)
    loss = 2.0 - 1.5 / (1 + np.exp(-3 * (t + 2))) + np.where(t > -1, 5 * (t + 1) ** 2, 0)
    s = suggest(lrs, loss)
    assert s["steepest"] == pytest.approx(1e-2, rel=0.3)
    assert 1e-3 < s["valley"] < 1e-1
    assert s["min_over_10"] == pytest.approx(lrs[np.argmin(loss)] / 10)


def test_smoothing_is_bias_corrected():
    assert smooth_losses([3.0, 3.0, 3.0], 0.9) == pytest.approx([3.0, 3.0, 3.0])
    assert smooth_losses([1.0, 2.0], 0.0) == [1.0, 2.0]


def test_sweep_stops_on_divergence_restores_state_and_writes_files(tmp_path):
    model, x, y = _problem()
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    before = [keras.ops.convert_to_numpy(v) for v in model.variables]
    opt_before = [keras.ops.convert_to_numpy(v) for v in model.optimizer.variables]
    finder = LRFinder(min_lr=1e-4, max_lr=100.0, num_steps=40, batch_size=16)
    result = finder.find(model, x, y)
    assert result["lrs"][0] == pytest.approx(1e-4)
    assert np.all(np.diff(result["lrs"]) > 0)
    assert result["diverged_at"] is not None and result["steps_run"] < 40
    for v, b in zip(model.variables, before, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(v), b)
    for v, b in zip(model.optimizer.variables, opt_before, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(v), b)
    s = result["suggestions"]
    assert 1e-4 <= s["valley"] <= result["diverged_at"]
    assert 1e-4 <= s["steepest"] <= result["diverged_at"]
    finder.save(tmp_path)
    saved = json.loads((tmp_path / "lr_find.json").read_text())
    assert saved["suggestions"] == pytest.approx(s)
    assert not (tmp_path / "plots").exists()  # the library does not plot


def test_first_recorded_loss_is_the_batch_loss():
    model, x, y = _problem()
    finder = LRFinder(min_lr=1e-9, max_lr=1e-8, num_steps=5, batch_size=64)
    result = finder.find(model, x, y)
    # One batch = all data; at lr ~ 0 the weights barely move, so each recorded loss is
    # the full-data training loss (dropout aside): all close to each other.
    assert np.std(result["losses"]) < 0.2 * np.mean(result["losses"])


def test_bad_arguments_and_schedule_refused():
    with pytest.raises(ValueError, match="below max_lr"):
        LRFinder(min_lr=1.0, max_lr=0.1)
    with pytest.raises(ValueError, match="num_steps"):
        LRFinder(num_steps=2)
    model, x, y = _problem()
    model.compile(keras.optimizers.Adam(keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)),
                  "mse")
    with pytest.raises(ValueError, match="float"):
        LRFinder(num_steps=10).find(model, x, y)


@one_backend("jax", "file format; backend-free")
def test_save_is_atomic_and_writes_the_one_lr_find_schema(tmp_path, monkeypatch):
    from kzoo import rundir as layout
    from kzoo.runtime import files
    from kzoo.schedules.lr_finder import recommend_lr

    finder = LRFinder()
    finder.result = {"lrs": [1e-4, 1e-3], "losses": [1.0, math.inf], "smoothed": [1.0, 0.9],
                     "suggestions": {"valley": 2e-4, "min_over_10": 1e-4, "steepest": None},
                     "diverged_at": 1e-3, "steps_run": 2, "settings": finder.get_config()}
    written, real = [], files.atomic_write_with
    monkeypatch.setattr(files, "atomic_write_with",
                        lambda path, write, suffix="": (written.append(path),
                                                        real(path, write, suffix)))
    path = finder.save(tmp_path / "lib")
    assert written == [tmp_path / "lib" / layout.LR_FIND_FILE] == [path]
    # What --lr auto and kzoo lr-find write for the same sweep (kzoo.rundir's writer).
    layout.write_lr_find(tmp_path / "run.json", finder.result,
                         *recommend_lr(finder.result["suggestions"]))
    read = layout.read_lr_find(path)
    assert read == layout.read_lr_find(tmp_path / "run.json")
    assert read["recommended_lr"] == 2e-4 and read["losses"] == [1.0, None]
    # A save that fails leaves the earlier file whole and no temporary file behind.
    before = path.read_bytes()
    finder.result["suggestions"] = {"valley": 5e-4}

    def refused(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "replace", refused)
    with pytest.raises(OSError, match="No space"):
        finder.save(tmp_path / "lib")
    assert path.read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "lib").iterdir()) == [layout.LR_FIND_FILE]
