"""`SeriesPreparation` (zoo/series.py): per-series z-normalisation over valid steps and
resampling of right-padded series, inside the model (so the saved model applies them)."""

import keras
import numpy as np
import pytest

from kzoo import zoo
from kzoo.zoo.series import SeriesPreparation


def _padded():
    """Two right-padded series on scales 1e-4 and 1e3, with offsets; lengths 10 and 16."""
    rng = np.random.default_rng(0)
    x = np.zeros((2, 16, 2), "float32")
    x[0, :10] = rng.normal(size=(10, 2)) * 1e-4 + 5e-4
    x[1, :16] = rng.normal(size=(16, 2)) * 1e3 - 2e3
    return x


def test_normalize_uses_valid_steps_only_and_keeps_padding():
    x = _padded()
    out = keras.ops.convert_to_numpy(SeriesPreparation(normalize=True)(x))
    for i, n in enumerate((10, 16)):
        want = (x[i, :n] - x[i, :n].mean(0)) / x[i, :n].std(0)
        np.testing.assert_allclose(out[i, :n], want, atol=1e-4)
    assert np.all(out[0, 10:] == 0.0)


def test_resample_interpolates_each_series_on_its_own_length():
    x = _padded()
    out = keras.ops.convert_to_numpy(SeriesPreparation(resample_to=7)(x))
    assert out.shape == (2, 7, 2)
    for i, n in enumerate((10, 16)):
        grid = np.linspace(0, n - 1, 7)
        want = np.interp(grid, np.arange(n), x[i, :n, 1])
        np.testing.assert_allclose(out[i, :, 1], want, rtol=1e-5, atol=1e-8)


def test_prepared_model_ignores_scale_offset_and_padding_and_survives_saving(tmp_path):
    model = zoo.create("fcn", (16, 2), 3, filters=8, depth=2, series_norm=True, resample_to=12)
    assert model.layers[1].name == "series_prep" and model.input_shape == (None, None, 2)
    assert not zoo.get_spec("fcn").portable(series_norm=True)
    x = _padded()
    base = model.predict(x, verbose=0)
    rescaled = x * np.array([[[1e4]], [[1e-3]]], "float32") + 0.0
    rescaled[0, :10] += 7.0  # an offset on the valid steps only
    np.testing.assert_allclose(model.predict(rescaled, verbose=0), base, atol=2e-3)
    longer = np.concatenate([x, np.zeros((2, 9, 2), "float32")], axis=1)  # more padding
    np.testing.assert_allclose(model.predict(longer, verbose=0), base, atol=1e-5)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(loaded.predict(rescaled, verbose=0), base, atol=2e-3)


@pytest.mark.parametrize("bad", [{"resample_to": 1}, {"resample_to": -3},
                                 {"resample_to": 2.5}, {"series_norm": "yes"}])
def test_bad_values_are_refused_naming_the_setting(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        zoo.create("fcn", (16, 1), 2, **bad)


def test_tabular_families_do_not_take_them():
    with pytest.raises(ValueError, match="series_norm"):
        zoo.create("mlp", (8,), 2, series_norm=True)
