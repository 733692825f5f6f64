"""`kzoo.zoo.hypermodel`: the space of every family, overrides, batch size in fit."""

import math

import keras
import keras_tuner
import numpy as np
import pytest

from kzoo import zoo
from kzoo.zoo._space import BATCH_SIZES, base_space


def _shape(name):
    return (12,) if zoo.get_spec(name).kind == "tabular" else (16, 3)


@pytest.mark.parametrize("name", zoo.list())
def test_space_defaults_and_fixed_overrides_per_family(name):
    # depth=1 keeps the (eager and explicit) builds cheap for the big families.
    hm = zoo.hypermodel(name, _shape(name), 4, depth=1, learning_rate=0.005)
    space = {hp.name: hp for hp in hm.search_space().space}

    lr = base_space(name).get("learning_rate")
    lr_hp = next(hp for hp in base_space(name).space if hp.name == "learning_rate")
    recipe = zoo.get_spec(name).recipe
    # The recipe is the centre and default of the training space.
    assert lr == pytest.approx(recipe.lr)
    assert isinstance(lr_hp, keras_tuner.engine.hyperparameters.Float)
    assert lr_hp.sampling == "log"
    assert (lr_hp.min_value, lr_hp.max_value) == pytest.approx((recipe.lr / 10, recipe.lr * 10))
    assert set(BATCH_SIZES) <= set(space["batch_size"].values)
    assert space["batch_size"].default == recipe.batch_max
    assert type(space["depth"]).__name__ == "Fixed" and space["depth"].value == 1
    assert type(space["learning_rate"]).__name__ == "Fixed"
    # The family's other hps keep the defaults its space declares.
    family = keras_tuner.HyperParameters()
    zoo.get_spec(name).space(family)
    assert "depth" in family
    for hp in family.space:
        if hp.name != "depth":
            assert space[hp.name].default == hp.default, hp.name
    hp = keras_tuner.HyperParameters()
    model = hm.build(hp)
    assert hp.values["depth"] == 1
    assert model.output_shape == (None, 4)
    assert math.isclose(float(model.optimizer.learning_rate), 0.005, rel_tol=1e-6)


@pytest.mark.parametrize(("name", "n_train", "batch"), [("fcn", 50, 5), ("fcn", 1000, 16),
                                                      ("gru", 1000, 32), ("mlp", 120, 12)])
def test_batch_size_default_follows_the_recipes_data_rule(name, n_train, batch):
    hm = zoo.hypermodel(name, _shape(name), 4, depth=1, n_train=n_train)
    space = {hp.name: hp for hp in hm.search_space().space}
    assert space["batch_size"].default == batch
    assert batch in space["batch_size"].values
    hp = keras_tuner.HyperParameters()
    hm.build(hp)
    assert hp.values["batch_size"] == batch


def test_depth_changes_the_built_model():
    shallow = zoo.hypermodel("mlp", (12,), 4, depth=1).build(keras_tuner.HyperParameters())
    deep = zoo.hypermodel("mlp", (12,), 4, depth=3).build(keras_tuner.HyperParameters())
    dense = lambda m: sum(layer.name.startswith("dense_") for layer in m.layers)
    assert (dense(shallow), dense(deep)) == (1, 3)


def test_narrowing_keeps_step_and_sampling():
    hm = zoo.hypermodel(
        "lstm", (8, 3), 2, depth=(1, 2), units=[32, 48], learning_rate=(1e-3, 5e-3)
    )
    space = {hp.name: hp for hp in hm.search_space().space}
    assert (space["depth"].min_value, space["depth"].max_value, space["depth"].step) == (1, 2, 1)
    assert list(space["units"].values) == [32, 48]
    assert space["learning_rate"].sampling == "log"
    assert space["learning_rate"].min_value == 1e-3
    assert space["learning_rate"].default == pytest.approx(3e-3)  # the recipe's, in range
    values = [space["learning_rate"].random_sample(seed) for seed in range(50)]
    assert all(1e-3 <= v <= 5e-3 for v in values)


def test_hyperparameter_object_and_builder_constant():
    hm = zoo.hypermodel(
        "mlp",
        (12,),
        4,
        dropout=keras_tuner.engine.hyperparameters.Choice("dropout", [0.0, 0.3]),
        activation="tanh",
    )
    space = {hp.name: hp for hp in hm.search_space().space}
    assert list(space["dropout"].values) == [0.0, 0.3]
    assert space["activation"].value == "tanh"
    model = hm.build(keras_tuner.HyperParameters())
    assert model.get_layer("dense_0").activation.__name__ == "tanh"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"depthh": 2}, "Unknown hyperparameter"),
        ({"norm": (0, 1)}, "needs a numeric hyperparameter"),
        ({"depth": (3, 1)}, "low <= high"),
        ({"learning_rate": (0.0, 1e-2)}, "log-scale range must be positive"),
        ({"units": []}, "no choices"),
        ({"dropout": 2.0}, "dropout"),  # the defaults are built eagerly
    ],
)
def test_bad_overrides_raise(kwargs, match):
    name = "lstm" if "units" in kwargs else "mlp"
    with pytest.raises(ValueError, match=match):
        zoo.hypermodel(name, _shape(name), 4, **kwargs)


def test_fit_uses_the_batch_size_hyperparameter(tiny_tabular):
    x, y = tiny_tabular  # 64 examples
    steps = []

    class CountSteps(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            steps.append(0)

        def on_train_batch_end(self, batch, logs=None):
            steps[-1] += 1

    for batch_size in (16, 64):
        hm = zoo.hypermodel("mlp", (12,), 4, depth=1, width=8, batch_size=batch_size)
        hp = keras_tuner.HyperParameters()
        model = hm.build(hp)
        hm.fit(hp, model, x, y, epochs=1, verbose=0, callbacks=[CountSteps()])
    assert steps == [4, 1]
    with pytest.raises(ValueError, match="batch_size is a hyperparameter"):
        hm.fit(hp, model, x, y, batch_size=8)


def test_space_summary_lists_every_hp():
    hm = zoo.hypermodel("gru", (8, 3), 2, depth=2, masking=True)
    text = hm.space_summary()
    for hp in hm.search_space().space:
        assert hp.name in text
    assert "Fixed" in text and "[0.0003, 0.03] log" in text  # the GRU recipe's 3e-3 / 10, x 10


def test_tuner_samples_within_overrides():
    hm = zoo.hypermodel("mlp", (12,), 4, depth=2, batch_size=[16, 32])
    oracle = keras_tuner.oracles.RandomSearchOracle(objective="val_loss", max_trials=8, seed=1)
    oracle._set_project_dir("/tmp", "unused")
    hp = oracle.get_space()
    hm.declare(hp)
    oracle.update_space(hp)
    draws = [oracle._random_values() for _ in range(8)]
    assert {d["depth"] for d in draws} == {2}
    assert {d["batch_size"] for d in draws} <= {16, 32}
    assert np.ptp([d["learning_rate"] for d in draws]) > 0


def test_a_trial_with_batchnorm_validates_on_precise_statistics(tiny_tabular):
    # Issue 31: a trial's objective must score the weights, not BatchNorm's lagging
    # moving averages; models without BatchNorm fit as before. kzoo's tuners pass
    # `trial_callbacks` (the zoo does not import the callbacks).
    from kzoo.callbacks import PreciseBatchNorm
    from kzoo.tuning.trial_fit import trial_callbacks

    x, y = tiny_tabular
    seen = []
    for norm in ("batch", "none"):
        hm = zoo.hypermodel("mlp", (12,), 4, depth=1, width=8, batch_size=32, norm=norm)
        hp = keras_tuner.HyperParameters()
        model = hm.build(hp)
        fit = model.fit

        def spy(*args, _fit=fit, _model=model, **kwargs):
            seen.append([type(c).__name__ for c in kwargs.get("callbacks") or []])
            return _fit(*args, **kwargs)

        model.fit = spy
        hm.fit(hp, model, x, y, epochs=1, verbose=0, validation_data=(x, y),
               trial_callbacks=trial_callbacks)
    assert seen == [[PreciseBatchNorm.__name__], []]
