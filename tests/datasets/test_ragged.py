"""`ragged:` (datasets/ragged.py): issue 32's development set, series cut to random
lengths and rescaled per series, seeded; made from tiny synthetic series here."""

import numpy as np
import pytest
from _backends import one_backend

from kzoo import datasets
from kzoo.datasets.ragged import distort

pytestmark = one_backend("torch", "CI time budget: numpy only, the backend cannot matter")


def _series(n=300, steps=40):
    rng = np.random.default_rng(1)
    return rng.normal(size=(n, steps, 2)).astype("float32")


def test_distort_is_seeded_and_cuts_rescales_and_pads():
    x = _series()
    a, la = distort(x, [40] * len(x), np.random.default_rng(0), min_fraction=0.5, decades=6)
    b, lb = distort(x, [40] * len(x), np.random.default_rng(0), min_fraction=0.5, decades=6)
    np.testing.assert_array_equal(a, b)
    assert la == lb and min(la) >= 20 and max(la) <= 40 and len(set(la)) > 10
    for i, n in enumerate(la):
        assert np.all(a[i, n:] == 0.0)
        # an affine image of the original prefix: same correlation, any scale
        assert np.corrcoef(a[i, :n, 0], x[i, :n, 0])[0, 1] > 0.9999
    scales = np.array([a[i, :n].std() / x[i, :n].std() for i, n in enumerate(la)])
    assert np.log10(scales.max() / scales.min()) > 5  # ~6 decades drawn for 300 series


def test_stretch_resamples_the_whole_series():
    """cut="stretch" keeps the whole shape, squeezed to the new length (ends kept)."""
    t = np.linspace(0, 1, 40)
    x = np.stack([np.sin(2 * np.pi * (k % 3 + 1) * t) for k in range(50)])[..., None]
    a, la = distort(x, [40] * len(x), np.random.default_rng(0), min_fraction=0.5,
                    decades=0, cut="stretch")
    assert min(la) >= 20 and max(la) <= 40 and len(set(la)) > 5
    for i, n in enumerate(la):
        assert np.all(a[i, n:] == 0.0)
        back = np.interp(t, np.linspace(0, 1, n), a[i, :n, 0] - a[i, 0, 0] + x[i, 0, 0])
        ratio = a[i, :n].std() / x[i].std()  # one factor and offset per series
        np.testing.assert_allclose(a[i, [0, n - 1], 0] - a[i, 0, 0],
                                   ratio * (x[i, [0, -1], 0] - x[i, 0, 0]), atol=1e-4)
        assert np.corrcoef(back, x[i, :, 0])[0, 1] > 0.99


def test_registered_loader_on_the_shared_trace(ucr_dir):
    ds = datasets.load(f"ragged:name=Trace,root={ucr_dir}", seed=0)
    again = datasets.load(f"ragged:name=Trace,root={ucr_dir}", seed=1)
    assert ds.info["equal_length"] is False and ds.input_shape == (275, 1)
    np.testing.assert_array_equal(ds.x_test, again.x_test)  # data_seed, not seed, draws it
    assert len(ds.x_train) + len(ds.x_val) == 100 and len(ds.x_test) == 100
    assert min(ds.info["lengths_train"]) < 0.5 * 275


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="min_fraction"):
        datasets.load("ragged:name=Trace,min_fraction=0")
    with pytest.raises(ValueError, match="cut must be"):
        datasets.load("ragged:name=Trace,cut=middle")
