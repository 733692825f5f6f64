import keras
import numpy as np
import pytest

import kzoo.zoo
from kzoo.zoo.inception_time import ensemble_of


def test_ensemble_output_is_the_mean_of_its_members():
    model = kzoo.zoo.create("inception_time", (16, 2), 3, depth=1, filters=4, kernel_size=8,
                            ensemble=3)
    x = np.random.default_rng(0).normal(size=(5, 16, 2)).astype("float32")
    members = [model.get_layer(f"member_{m}_head").output for m in range(3)]
    per_member = keras.Model(model.input, members).predict(x, verbose=0)
    np.testing.assert_allclose(model.predict(x, verbose=0), np.mean(per_member, axis=0),
                               atol=1e-6)
    # Members differ (independent initialisation), so the ensemble is not one net thrice.
    assert np.abs(per_member[0] - per_member[1]).max() > 1e-4


def test_ensemble_of_separately_built_models():
    a = kzoo.zoo.create("inception_time", (16, 1), 2, depth=1, filters=4, kernel_size=8)
    b = kzoo.zoo.create("inception_time", (16, 1), 2, depth=1, filters=4, kernel_size=8)
    a.name, b.name = "member_a", "member_b"
    x = np.random.default_rng(1).normal(size=(4, 16, 1)).astype("float32")
    merged = ensemble_of([a, b])
    expected = (a.predict(x, verbose=0) + b.predict(x, verbose=0)) / 2
    np.testing.assert_allclose(merged.predict(x, verbose=0), expected, atol=1e-6)
    with pytest.raises(ValueError, match="at least 2"):
        ensemble_of([a])


def test_depth_modules_and_residual_every_three():
    model = kzoo.zoo.create("inception_time", (16, 3), 2, depth=6, filters=4, kernel_size=8)
    names = [layer.name for layer in model.layers]
    assert sum(n.endswith("_concat") for n in names) == 6
    assert [n for n in names if n.startswith("residual_") and n[-1].isdigit()] == [
        "residual_2", "residual_5"
    ]
    # Four branches of `filters` each; bottleneck only on multichannel input.
    assert model.get_layer("module_0_concat").output.shape[-1] == 16
    assert "module_0_bottleneck" in names
    univariate = kzoo.zoo.create("inception_time", (16, 1), 2, depth=1, filters=4)
    assert "module_0_bottleneck" not in [layer.name for layer in univariate.layers]
