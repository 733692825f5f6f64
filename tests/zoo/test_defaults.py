"""Training recipes: every family has one, and the data rules resolve with provenance."""

import dataclasses

import pytest

from kzoo import zoo
from kzoo.zoo import _defaults
from kzoo.zoo._defaults import TrainRecipe, bn_min_steps
from kzoo.zoo._resolve import resolve


@pytest.mark.parametrize("name", zoo.list())
def test_every_family_has_a_cited_recipe(name):
    recipe = zoo.get_spec(name).recipe
    assert recipe is _defaults.RECIPES[name]
    # Every value that is not a plain default carries its source.
    for field in ("optimizer", "lr", "epochs", "selection"):
        assert recipe.source(field), f"{name}: {field} has no source"


def test_bn_rule_is_the_derived_step_count():
    # 0.99**T <= 1 %  <=>  T >= ln(0.01) / ln(0.99) = 458.2 -> 459 steps; the GunPoint
    # failure had 150 steps and 0.99**150 = 22 % of the initial statistics left.
    need = bn_min_steps()
    assert need == 459 and 0.99**need <= 0.01 < 0.99 ** (need - 1)
    assert 0.99**150 == pytest.approx(0.22, abs=0.005)


def test_ucr_batch_rule_min_n_over_10_and_16():
    fcn = zoo.get_spec("fcn").recipe
    big = resolve(fcn, n_train=400, n_val=100)
    assert big.values["batch_size"] == 16 and big.sources["batch_size"] == "data rule"
    assert big.values["protocol"] == "holdout" and big.values["selection"] == "val_loss"
    mid = resolve(fcn, n_train=200, n_val=50)
    assert mid.values["protocol"] == "holdout" and mid.values["n_fit"] == 200
    assert mid.values["batch_size"] == 16
    trace = resolve(fcn, n_train=80, n_val=20)  # below tiny_threshold: fits all 100
    assert trace.values["batch_size"] == 10  # int(100 / 10)
    assert trace.values["epochs"] == 200 and trace.sources["epochs"] == "recipe"


def test_tiny_set_trains_on_everything_and_selects_by_training_loss():
    fcn = zoo.get_spec("fcn").recipe
    r = resolve(fcn, n_train=22, n_val=6)  # Coffee
    assert r.values["protocol"] == "whole_train" and r.values["n_fit"] == 28
    assert r.values["selection"] == "loss" and r.sources["selection"] == "data rule"
    assert r.values["patience"] == 0 and r.sources["patience"] == "data rule"
    assert r.values["batch_size"] == 4  # max(batch_min 4, int(28 / 10) = 2)


def test_gunpoint_old_default_is_repaired_by_the_bn_rule():
    # 40 examples, few epochs: the auto batch shrinks, then the epochs grow, until
    # the run takes enough steps for BatchNorm's statistics.
    fcn = zoo.get_spec("fcn").recipe
    r = resolve(fcn, n_train=40, n_val=10, epochs=10)
    steps = -(-r.values["n_fit"] // r.values["batch_size"]) * r.values["epochs"]
    assert r.values["batch_size"] == fcn.batch_min  # shrunk to the floor
    assert r.values["epochs"] == 10 and r.sources["epochs"] == "user"
    assert steps < bn_min_steps()  # user's epochs are kept, and diagnosis will say why
    auto = resolve(dataclasses.replace(fcn, epochs=10), n_train=40, n_val=10)
    steps = -(-auto.values["n_fit"] // auto.values["batch_size"]) * auto.values["epochs"]
    assert auto.sources["epochs"] == "data rule" and steps >= bn_min_steps()


def test_user_overrides_win_and_are_marked():
    gru = zoo.get_spec("gru").recipe
    r = resolve(gru, n_train=1000, n_val=300, batch_size=64, epochs=5, lr=3e-3, selection="last")
    assert r.values["batch_size"] == 64 and r.sources["batch_size"] == "user"
    assert r.values["epochs"] == 5 and r.sources["epochs"] == "user"
    assert r.values["lr"] == 3e-3 and r.sources["lr"] == "user"
    assert r.values["optimizer"] == "adam" and r.sources["optimizer"] == "recipe"
    as_json = r.to_json()
    assert as_json["lr"] == {"value": 3e-3, "source": "user", "note": ""}
    assert set(r.sources.values()) <= set(_defaults.SOURCES)


def test_user_selection_survives_the_tiny_protocol():
    r = resolve(zoo.get_spec("fcn").recipe, n_train=20, n_val=5, selection="last")
    assert r.values["selection"] == "last" and r.sources["selection"] == "user"


def test_lite_takes_its_tiny_rate_only_on_tiny_sets():
    # Issue 31: at 1e-3 LITE's 150 epochs left PigCVP (104 series) unfitted.
    lite = zoo.get_spec("lite").recipe
    tiny = resolve(lite, n_train=84, n_val=20)  # PigCVP
    assert tiny.values["lr"] == lite.tiny_lr == 1e-2 and tiny.sources["lr"] == "data rule"
    assert "tiny_threshold" in tiny.notes["lr"] and "issue 31" in tiny.notes["lr"]
    held_out = resolve(lite, n_train=216, n_val=54)  # JapaneseVowels
    assert held_out.values["lr"] == 1e-3 and held_out.sources["lr"] == "recipe"
    user = resolve(lite, n_train=84, n_val=20, lr=3e-3)
    assert user.values["lr"] == 3e-3 and user.sources["lr"] == "user"
    fcn = resolve(zoo.get_spec("fcn").recipe, n_train=84, n_val=20)
    assert fcn.values["lr"] == 1e-3 and fcn.sources["lr"] == "recipe"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_train": 0}, "n_train"),
        ({"n_train": 10, "n_val": -1}, "n_val"),
        ({"n_train": 10, "batch_size": 0}, "batch_size"),
        ({"n_train": 10, "epochs": "many"}, "epochs"),
        ({"n_train": 10, "momentum": 0.9}, "Unknown recipe field"),
        ({"n_train": 10, "selection": "best"}, "selection"),
    ],
)
def test_bad_input_is_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        resolve(zoo.get_spec("fcn").recipe, **kwargs)


def test_recipe_checks_its_fields():
    with pytest.raises(ValueError, match="selection"):
        TrainRecipe(selection="val_accuracy")
    with pytest.raises(ValueError, match="batch_min"):
        TrainRecipe(batch_min=32, batch_max=16)
    with pytest.raises(ValueError, match="tiny_lr"):
        TrainRecipe(tiny_lr=0.0)
    with pytest.raises(ValueError, match="unknown fields"):
        TrainRecipe(sources={"momentum": "x"})


def test_make_callbacks_keeps_the_lowest_training_loss_epoch():
    import keras
    import numpy as np

    from kzoo.zoo._resolve import make_callbacks, make_optimizer

    values = resolve(zoo.get_spec("fcn").recipe, n_train=20, n_val=5, epochs=6).values
    plateau, select = make_callbacks(values)
    assert isinstance(plateau, keras.callbacks.ReduceLROnPlateau)
    assert select.monitor == "loss" and select.patience == 7 and select.restore_best_weights
    optimizer = make_optimizer(values)
    assert optimizer.global_clipnorm == 1.0
    assert float(optimizer.learning_rate) == pytest.approx(1e-3)

    # Keras restores the best epoch even when it never stops: the last epoch starts
    # from wrecked weights, so its loss is the worst and its weights must not be kept.
    class Wreck(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 5:
                self.model.set_weights([-10.0 * w for w in self.model.get_weights()])
                self.wrecked = self.model.get_weights()

    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    wreck = Wreck()
    history = model.fit(x, y, epochs=6, batch_size=32, callbacks=[wreck, select], verbose=0)
    assert not select.model.stop_training  # never stopped early
    assert select.best_epoch == int(np.argmin(history.history["loss"])) < 5
    kept = model.get_weights()
    assert all(np.allclose(a, b) for a, b in zip(kept, select.best_weights, strict=True))
    assert not np.allclose(kept[0], wreck.wrecked[0])
