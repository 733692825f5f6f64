"""The search space of `hypermodel`: a family's own `spec.space(hp)` plus the
training hyperparameters every family shares (`learning_rate`, `batch_size`),
centred on the family's training defaults, and the user's overrides of either."""

import keras_tuner

from kzoo.runtime.errors import UsageError
from kzoo.zoo import _resolve
from kzoo.zoo._registry import get_spec

BATCH_SIZES = [16, 32, 64, 128]
LR_SPAN = 10.0  # the learning rate is searched within recipe lr / 10 .. x 10
TRAINING_HPS = ("learning_rate", "batch_size")


def training_space(name, n_train=None):
    """The training hyperparameters' ranges of family `name`, centred on its recipe.

    Returns:
        `{"learning_rate": {min_value, max_value, default}, "batch_size":
        {values, default}}`. The batch default is the recipe's data rule for
        `n_train` examples (the recipe's cap when `n_train` is None), added to
        the choices when it is not among them.
    """
    recipe = get_spec(name).recipe
    # Rounded so the space reads 0.0003, not 0.00030000000000000003.
    lr = {"min_value": float(f"{recipe.lr / LR_SPAN:.4g}"),
          "max_value": float(f"{recipe.lr * LR_SPAN:.4g}"), "default": recipe.lr}
    if n_train:
        batch = _resolve.resolve(recipe, n_train=int(n_train)).values["batch_size"]
    else:
        batch = recipe.batch_max
    return {"learning_rate": lr,
            "batch_size": {"values": sorted({*BATCH_SIZES, batch}), "default": batch}}


def declare_training(hp, space):
    lr = hp.Float("learning_rate", sampling="log", **space["learning_rate"])
    batch_size = hp.Choice("batch_size", **space["batch_size"])
    return lr, batch_size


def base_space(name, n_train=None):
    """The unconstrained `HyperParameters` of family `name` (family + training)."""
    hp = keras_tuner.HyperParameters()
    get_spec(name).space(hp)
    declare_training(hp, training_space(name, n_train))
    return hp


def override_hp(base, name, value):
    """A hyperparameter replacing `base` (or None) according to `value`."""
    hps = keras_tuner.engine.hyperparameters
    if isinstance(value, hps.HyperParameter):
        if value.name != name:
            raise UsageError(f"Override for {name!r} is a hyperparameter named {value.name!r}.")
        return value
    if isinstance(value, list):
        if not value:
            raise UsageError(f"{name}=[] gives no choices; list at least one value.")
        default = base.default if base is not None and base.default in value else value[0]
        return hps.Choice(name, value, default=default)
    if isinstance(value, tuple):
        if not isinstance(base, (hps.Int, hps.Float)):
            kind = type(base).__name__ if base is not None else "not tuned"
            raise UsageError(
                f"{name}={value!r}: a (low, high) range needs a numeric hyperparameter, but "
                f"{name!r} is {kind}. Give a list of choices or a single value instead."
            )
        if len(value) != 2 or not value[0] <= value[1]:
            raise UsageError(f"{name}={value!r}: give a range as (low, high) with low <= high.")
        config = base.get_config()
        low, high = value
        config.update(min_value=low, max_value=high, default=min(max(base.default, low), high))
        if isinstance(base, hps.Int):
            config.update(min_value=int(low), max_value=int(high), default=int(config["default"]))
        if config.get("sampling") == "log" and low <= 0:
            raise UsageError(f"{name}={value!r}: a log-scale range must be positive.")
        return type(base).from_config(config)
    if isinstance(value, (bool, int, float, str)):
        return hps.Fixed(name, value)
    return None  # not a scalar: passed to the builder as a constant
