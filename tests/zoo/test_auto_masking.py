"""Auto-masking: `kzoo.train` and `kzoo tune` skip the padding of unequal-length data."""

import json
import warnings

import numpy as np
import pytest

from kzoo import zoo
from kzoo.training import train
from kzoo.tuning import tune
from kzoo.zoo import auto_masking

PADDED = {"equal_length": False, "mask_value": 0.0}
# filters == channels: no shortcut conv, fewer weight shapes to initialise (jax compiles each).
TINY_TCN = {"depth": 1, "filters": 2, "kernel_size": 3, "dropout": 0.0}


def _write_toy(root, n_train=24, n_test=10, dims=2):
    """A two-class `.ts` dataset of 5 to 12 steps per series, in `root/Toy`."""
    rng = np.random.default_rng(0)
    header = f"@problemName Toy\n@univariate false\n@dimensions {dims}\n"
    header += "@equalLength false\n@classLabel true a b\n@data\n"
    for split, n in (("TRAIN", n_train), ("TEST", n_test)):
        lines = []
        for i in range(n):
            length, label = int(rng.integers(5, 13)), "ab"[i % 2]
            ramp = np.linspace(1.0, 2.0, length)[:: 1 if label == "a" else -1]
            dims_text = [
                ",".join(f"{v:.4f}" for v in ramp + 0.1 * rng.normal(size=length) + d)
                for d in range(dims)
            ]
            lines.append(":".join(dims_text) + f":{label}")
        (root / "Toy").mkdir(parents=True, exist_ok=True)
        (root / "Toy" / f"Toy_{split}.ts").write_text(header + "\n".join(lines) + "\n")


@pytest.fixture
def toy(tmp_path, monkeypatch):
    _write_toy(tmp_path / "ucr")
    monkeypatch.setenv("KZOO_DATA", str(tmp_path / "ucr"))
    return "ucr:Toy"


def _pad(x, extra):
    return np.concatenate([x, np.zeros((len(x), extra, x.shape[2]), x.dtype)], axis=1)


def _predict(model, x):
    return model.predict(x, batch_size=len(x), verbose=0)


def test_train_masks_padded_data_records_it_and_ignores_padding(toy, tmp_path, capsys):
    out = tmp_path / "run"
    result = train("tcn", toy, epochs=1, batch_size=32, out=str(out), verbose=2,
                   hparams=TINY_TCN)
    assert capsys.readouterr().out.count("skips the padding: masking=True, mask_value=0.0") == 1
    hparams = json.loads((out / "config.json").read_text())["hparams"]
    assert hparams == {**TINY_TCN, "masking": True, "mask_value": 0.0}

    # The recorded hparams rebuild a model whose prediction ignores extra padding.
    from kzoo.datasets import load

    x = load(toy).x_test
    assert (x[:, -1] == 0).all(axis=-1).any(), "the toy data should hold padded series"
    same = zoo.create("tcn", (None, 2), 2, compile=False, **hparams)
    same.set_weights(result.model.get_weights())
    expected = _predict(result.model, x)
    np.testing.assert_allclose(_predict(same, _pad(x, 7)), expected, atol=1e-5)
    # Without masking the padded steps enter the mean pooling: the check above can fail.
    unmasked = zoo.create("tcn", (None, 2), 2, compile=False, **{**hparams, "masking": False})
    unmasked.set_weights(result.model.get_weights())
    assert not np.allclose(_predict(unmasked, _pad(x, 7)), expected, atol=1e-3)


def test_tune_masks_padded_data_and_records_it(toy, tmp_path, capsys):
    out = tmp_path / "search"
    result = tune("tcn", toy, out=str(out), max_trials=1, epochs=1,
                  fixed={**TINY_TCN, "batch_size": 32})
    assert capsys.readouterr().out.count("skips the padding") == 1
    fixed = json.loads((out / "tune_config.json").read_text())["fixed"]
    assert fixed["masking"] is True and fixed["mask_value"] == 0.0
    assert result.best["hyperparameters"]["masking"] is True


def test_explicit_masking_off_is_kept_with_a_warning():
    with pytest.warns(UserWarning, match=r"masking is off \(masking=False\)"):
        hparams, note = auto_masking("tcn", {"masking": False}, PADDED)
    assert hparams == {"masking": False} and note is None
    with pytest.warns(UserWarning, match=r"dimension_shuffle=True"):
        hparams, note = auto_masking("lstm_fcn", {"dimension_shuffle": True}, PADDED)
    assert hparams == {"dimension_shuffle": True} and note is None


def test_lstm_fcn_gets_dimension_shuffle_off():
    # lstm_fcn's default dimension_shuffle=True refuses masking (its builder raises).
    given = {"units": 4}
    hparams, note = auto_masking("lstm_fcn", given, {**PADDED, "mask_value": -1.0})
    assert hparams == {**given, "masking": True, "mask_value": -1.0, "dimension_shuffle": False}
    assert "dimension_shuffle=False" in note
    assert given == {"units": 4}  # the caller's dict is not modified


def test_left_alone_when_not_padded_not_maskable_or_set():
    cases = [
        ("tcn", {}, {"equal_length": True, "mask_value": 0.0}),  # equal length
        ("tcn", {}, {}),  # arrays and .npz: nothing says they are padded
        ("mlp", {}, PADDED),  # a family without masking
        ("gru", {"masking": True}, PADDED),  # set by the caller: kept as given
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for model, given, info in cases:
            assert auto_masking(model, given, info) == (given, None), (model, info)
