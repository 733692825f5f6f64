import numpy as np
import pytest

from kzoo import datasets


def test_digits_shapes_and_splits():
    ds = datasets.load("digits")
    assert ds.input_shape == (64,) and ds.kind == "tabular" and ds.num_classes == 10
    assert len(ds.x_train) + len(ds.x_val) + len(ds.x_test) == 1797
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int32
    assert set(np.unique(ds.y_test)) == set(range(10))  # stratified


def test_digits_seq_is_rows_of_the_same_images():
    flat, seq = datasets.load("digits"), datasets.load("digits-seq")
    assert seq.input_shape == (8, 8) and seq.kind == "sequence"
    np.testing.assert_array_equal(flat.y_train, seq.y_train)

    # Standardisation differs (per pixel vs per row feature) but the raw order is the same:
    # undoing each one's scaling gives the same pixels.
    def raw(ds):
        mean = np.array(ds.info["standardize"]["mean"])
        std = np.array(ds.info["standardize"]["std"])
        return ds.x_train.reshape(len(ds.x_train), -1, len(mean)) * std + mean

    np.testing.assert_allclose(raw(flat).reshape(-1, 64), raw(seq).reshape(-1, 64), atol=1e-4)


def test_splits_are_deterministic_and_seeded():
    a, b = datasets.load("digits", seed=0), datasets.load("digits", seed=0)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    c = datasets.load("digits", seed=1)
    assert not np.array_equal(a.y_train, c.y_train)


def test_standardisation_fitted_on_train_only():
    ds = datasets.load("digits")
    nonconstant = ds.x_train.std(axis=0) > 0
    np.testing.assert_allclose(ds.x_train.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(ds.x_train.std(axis=0)[nonconstant], 1, atol=1e-4)
    assert not np.allclose(ds.x_test.mean(axis=0), 0, atol=1e-3)


def test_unknown_dataset_lists_choices():
    with pytest.raises(ValueError, match=r"Unknown dataset 'digitz'.*adding.*digits.*digits-seq"):
        datasets.load("digitz")


def test_parse_spec():
    assert datasets.parse_spec("adding:T=100,task=classification") == (
        "adding",
        [],
        {"T": 100, "task": "classification"},
    )
    assert datasets.parse_spec("ucr:GunPoint") == ("ucr", ["GunPoint"], {})
    with pytest.raises(ValueError, match="non-empty string"):
        datasets.parse_spec("")
