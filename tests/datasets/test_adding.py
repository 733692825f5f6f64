import numpy as np
import pytest

from kzoo import datasets
from kzoo.datasets.adding import make_adding


def test_target_is_sum_of_the_two_marked_values():
    x, y = make_adding(50, 20, np.random.default_rng(0))
    assert x.shape == (50, 20, 2)
    np.testing.assert_array_equal(x[:, :, 1].sum(axis=1), 2)
    np.testing.assert_allclose((x[:, :, 0] * x[:, :, 1]).sum(axis=1), y, rtol=1e-6)
    # One marker in each half: the model has to remember across ~T/2 steps.
    assert np.all(x[:, :10, 1].sum(axis=1) == 1) and np.all(x[:, 10:, 1].sum(axis=1) == 1)


def test_regression_and_classification_variants():
    reg = datasets.load("adding:T=30,n=200")
    assert reg.task == "regression" and reg.input_shape == (30, 2)
    assert reg.y_train.dtype == np.float32
    cls = datasets.load("adding:T=30,n=200,task=classification")
    assert cls.task == "binary" and set(np.unique(cls.y_train)) == {0, 1}
    # Same seed, same sequences: the label is the thresholded regression target.
    np.testing.assert_array_equal(cls.y_train, (reg.y_train > 1).astype("int32"))
    assert len(reg.x_train) == 120 and len(reg.x_val) == 40 and len(reg.x_test) == 40


def test_seeded():
    a = datasets.load("adding:T=10,n=50", seed=3)
    b = datasets.load("adding:T=10,n=50", seed=3)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert not np.array_equal(a.x_train, datasets.load("adding:T=10,n=50", seed=4).x_train)


@pytest.mark.parametrize(
    "spec,msg",
    [
        ("adding:T=1", "T must be a whole number >= 2"),
        ("adding:task=ranking", "task must be one of"),
        ("adding:colour=red", "Bad options for dataset 'adding'"),
    ],
)
def test_bad_options(spec, msg):
    with pytest.raises(ValueError, match=msg):
        datasets.load(spec)


@pytest.mark.parametrize("spec", ["adding:T=1e9", "adding:n=1e12", "adding:T=100000,n=100000"])
def test_absurd_sizes_are_refused_before_allocating(spec):
    with pytest.raises(ValueError, match="GiB limit; lower n or T"):
        datasets.load(spec)


@pytest.mark.parametrize("spec", ["adding:T=-5", "adding:T=2.5", "adding:n=inf", "adding:T=nan"])
def test_bad_sizes_name_the_option(spec):
    with pytest.raises(ValueError, match="must be a whole number"):
        datasets.load(spec)
