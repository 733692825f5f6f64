"""The plain command's preparation of sequences (kzoo/training/series_rule.py): per-series
z-normalisation when per-series scales spread, resampling of padded data for the
convolutional families; recorded in config.json with the reason."""

import json

import numpy as np
from _backends import one_backend

import kzoo
from kzoo.datasets import Dataset
from kzoo.datasets.ragged import distort
from kzoo.training import series_rule
from kzoo.training.inputs import prepare_data

pytestmark = one_backend(
    "torch", "CI time budget (the rule is numpy; the layer's backends are tested in "
    "tests/zoo/test_series.py)")


def _shapes(n, steps, rng):
    """Three classes told apart by shape only: sine, sawtooth and square wave of one
    frequency. (Not by frequency: a prefix resampled to the full length changes a
    wave's frequency, so frequency classes would test what resampling cannot keep.)"""
    y = np.arange(n) % 3
    t = np.linspace(0, 1, steps)
    phase = rng.uniform(0, 2 * np.pi, n)[:, None]
    slow = np.sin(4 * np.pi * t + phase)
    saw = 2.0 * ((2 * t + phase / (2 * np.pi)) % 1.0) - 1.0
    x = np.where(y[:, None] == 0, slow, np.where(y[:, None] == 1, saw, np.sign(slow)))
    x = x + rng.normal(0, 0.2, x.shape)
    return x[..., None].astype("float32"), y.astype("int32")


def _tiny(ragged, steps=48):
    """36/12/60 series; `ragged`: cut to 50-100 % and rescaled over 6 decades."""
    rng = np.random.default_rng(100)
    parts = [_shapes(n, steps, rng) for n in (36, 12, 60)]
    if ragged:
        parts = [(distort(x, [steps] * len(x), rng, min_fraction=0.5)[0], y) for x, y in parts]
    (xt, yt), (xv, yv), (xs, ys) = parts
    info = {"equal_length": not ragged, "mask_value": 0.0}
    return Dataset("tiny", xt, yt, xv, yv, xs, ys, "multiclass", 3, "sequence", info=info)


def test_rule_on_spread_scales_and_unequal_lengths():
    data = _tiny(True)
    hp, record = series_rule.choose("fcn", {}, data)
    longest = int(series_rule.valid_lengths(data.x_train).max())
    assert 40 <= longest <= 48 and hp == {"series_norm": True, "resample_to": longest}
    assert record["series_norm"]["source"] == "data rule"
    assert float(record["series_norm"]["note"].split(" std ")[1].split()[0]) > 1e3
    assert record["lengths"]["value"] == f"resample to {longest}"
    # a family that masks every step keeps masking; the user's values are kept
    assert series_rule.choose("gru", {}, data)[0] == {"series_norm": True}
    assert series_rule.choose("gru", {}, data)[1]["lengths"]["value"] == "mask"
    hp, record = series_rule.choose("fcn", {"series_norm": False, "resample_to": 0}, data)
    assert hp == {"series_norm": False, "resample_to": 0}
    assert {e["source"] for e in record.values()} == {"user"}


def test_rule_leaves_one_scale_equal_length_data_and_tabular_data_alone(tiny_tabular):
    hp, record = series_rule.choose("fcn", {}, _tiny(False))
    assert hp == {} and record["series_norm"]["value"] is False
    assert record["lengths"]["value"] == "equal"
    x = np.random.default_rng(0).normal(size=(100, 30, 1)) * np.linspace(1, 50, 100)[:, None, None]
    assert series_rule.scale_spread(x, np.full(100, 30)) < 100  # 50x: not spread enough
    assert series_rule.choose("mlp", {}, prepare_data(tiny_tabular)) == ({}, {})


def test_plain_train_on_ragged_data_matches_clean_data_and_records_why(tmp_path):
    """Issue 32's done-when, small: the plain command on ragged, rescaled series scores
    like on the clean ones (mean of 3 seeds); without the rule it does not learn."""
    def score(data, seed, out=None, **hp):
        return kzoo.train("fcn", data, seed=seed, epochs=20, out=out, verbose=0,
                          hparams={"filters": 8, "depth": 2, **hp}).summary

    clean = [score(_tiny(False), s)["test_accuracy"] for s in range(3)]
    ragged = [score(_tiny(True), s, out=str(tmp_path / f"r{s}"))["test_accuracy"]
              for s in range(3)]
    assert np.mean(ragged) >= np.mean(clean) - 0.05, (ragged, clean)
    resolved = json.loads((tmp_path / "r0" / "config.json").read_text())["resolved"]
    assert resolved["series_norm"]["value"] is True
    assert resolved["lengths"]["value"].startswith("resample to ")
    today = score(_tiny(True), 0, series_norm=False, resample_to=0)
    assert today["test_accuracy"] < np.mean(ragged) - 0.3
    assert "underfitting" in [f["kind"] for f in today["diagnosis"]]
