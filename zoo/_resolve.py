"""Resolving a family's training defaults (`kzoo.zoo._defaults`) for a run.

`resolve(recipe, n_train=..., **overrides)` turns a recipe, the size of the
training data and the user's overrides into concrete settings, each with its
provenance: `"recipe"`, `"data rule"` or `"user"`, for `config.json`.

The data rules:

- batch size (`"auto"`): the published UCR rule `min(n_train / 10, 16)`
  (Fawaz et al. 2019; the cap is the recipe's `batch_max`), at least
  `batch_min`. For families with BatchNormalization, the run must then take
  enough optimizer steps for BatchNorm's moving statistics to forget their
  initial values: after T steps with momentum m a fraction m**T of the initial
  statistics remains, so T >= ln(eps) / ln(m) (about ln(1 / eps) / (1 - m))
  steps leave at most eps.
  With m = 0.99 and eps = 1 % that is 459 steps. The failure this prevents:
  GunPoint's 40 training examples at batch 64 give 1 step per epoch, and
  after 150 epochs 0.99**150 = 22 % of the initial statistics remain, so
  inference mode scores chance (0.507) while training accuracy is 1.0. When
  the steps fall short, the batch shrinks (down to `batch_min`) and then, when
  the epochs are `"auto"`, the epochs grow.
- epochs (`"auto"`): the recipe's budget, <= 1/10 of the published one for
  the UCR families.
- protocol: with fewer than `tiny_threshold` training examples (train and
  validation splits together), train on all of them and keep the weights of
  the epoch with the lowest training loss (the published protocol of Fawaz et
  al. 2019); otherwise hold out the validation split and keep the epoch with
  the lowest validation loss. The threshold comes from the experiment in
  `benchmarks/ucr/protocol.md`.
- learning rate: on a tiny set the recipe's `tiny_lr` when it has one (LITE:
  the whole budget must fit the set, issue 31), unless the user set `lr`.
"""

import dataclasses
import math

from kzoo.runtime.checks import is_int
from kzoo.runtime.errors import UsageError
from kzoo.zoo._defaults import (
    BN_MOMENTUM,
    BN_RESIDUAL,
    FAWAZ_2019,
    SELECTIONS,
    TrainRecipe,
    bn_min_steps,
)


@dataclasses.dataclass
class Resolved:
    """Concrete training settings and where each came from.

    Attributes:
        values: setting -> value (`batch_size`, `epochs`, `lr`, ...).
        sources: setting -> `"recipe"`, `"data rule"` or `"user"`.
        notes: setting -> one line saying why (the rule or the citation).
    """

    values: dict
    sources: dict
    notes: dict

    def to_json(self):
        return {k: {"value": v, "source": self.sources[k], "note": self.notes.get(k, "")}
                for k, v in self.values.items()}


def resolve(recipe, *, n_train, n_val=0, batch_size="auto", epochs="auto", head_fit=None,
            **overrides):
    """Resolve a recipe for `n_train` training examples.

    Args:
        recipe: a `TrainRecipe`.
        n_train: examples in the training split.
        n_val: examples in the validation split (0: none). The protocol
            decides from `n_train + n_val` whether to hold it out or train on both.
        batch_size, epochs: an int (the user's), or `"auto"` (data rules).
        head_fit: `head_fit(n_fit)` -> `"ridge"` when the model's head is solved in
            closed form for `n_fit` examples (`ModelSpec.head_fit`): then `"auto"`
            epochs are 1, which evaluates it; `"logistic"`: trained. None: the family
            has no closed-form head.
        **overrides: other recipe fields set by the user (`lr`, `optimizer`,
            `selection`, `clipnorm`, `patience`, `schedule`, ...); None means
            "not given".

    Returns:
        A `Resolved` with `batch_size`, `epochs`, `protocol` (`"holdout"` or
        `"whole_train"`), `n_fit` (examples the model is fitted on) and every
        recipe field, each with its source.
    """
    if not is_int(n_train) or n_train < 1:
        raise UsageError(f"n_train must be a positive int, got {n_train!r}.")
    if not is_int(n_val) or n_val < 0:
        raise UsageError(f"n_val must be an int >= 0, got {n_val!r}.")
    # The ensemble fields are the ensemble's (kzoo.training.ensemble), not one network's.
    fields = {f.name for f in dataclasses.fields(TrainRecipe)} - {
        "sources", "ensemble", "ensemble_max_work", "ridge_max_examples"}
    unknown = set(overrides) - fields
    if unknown:
        raise UsageError(
            f"Unknown recipe field(s) {', '.join(sorted(unknown))}. Valid: "
            f"{', '.join(sorted(fields))}, batch_size, epochs."
        )
    values, sources, notes = {}, {}, {}

    def put(name, value, source, note=""):
        values[name], sources[name], notes[name] = value, source, note

    for name in sorted(fields):
        user = overrides.get(name)
        if user is not None:
            put(name, user, "user")
        else:
            put(name, getattr(recipe, name), "recipe", recipe.source(name))
    if values["selection"] not in SELECTIONS:
        raise UsageError(f"selection must be one of {SELECTIONS}, got {values['selection']!r}.")

    # Protocol: tiny sets train on everything and select by training loss.
    total = n_train + n_val
    tiny = total < values["tiny_threshold"]
    if tiny or not n_val:
        put("protocol", "whole_train", "data rule",
            f"{total} training examples < tiny_threshold={values['tiny_threshold']}: train on "
            f"train+val, keep the lowest training loss ({FAWAZ_2019})" if tiny
            else "no validation split")
        if sources["selection"] != "user" and values["selection"] == "val_loss":
            put("selection", "loss", "data rule", "no held-out split: lowest training loss")
            if sources["patience"] != "user":
                put("patience", 0, "data rule", "the full epoch budget, as published")
        n_fit = total
        if tiny and values["tiny_lr"] is not None and sources["lr"] != "user":
            put("lr", values["tiny_lr"], "data rule",
                f"{total} training examples < tiny_threshold={values['tiny_threshold']}: the "
                f"recipe's tiny_lr ({recipe.source('tiny_lr')})")
    else:
        put("protocol", "holdout", "data rule",
            f"{total} training examples >= tiny_threshold={values['tiny_threshold']}: hold "
            "out the validation split")
        n_fit = n_train
    put("n_fit", n_fit, "data rule")

    _resolve_batch_and_epochs(values, sources, notes, put, batch_size, epochs)
    if head_fit is not None:
        _resolve_head_fit(recipe, head_fit(n_fit), epochs, put)
    return Resolved(values, sources, notes)


def _resolve_head_fit(recipe, head_fit, epochs, put):
    closed = head_fit == "ridge"
    put("head_fit", head_fit, "data rule",
        f"ridge solved in closed form, logistic regression for more than "
        f"{recipe.ridge_max_examples} training examples ({recipe.source('ridge_max_examples')})")
    if closed and epochs == "auto":
        put("epochs", 1, "data rule",
            "the head is solved in closed form before training: one epoch evaluates it")


def _resolve_batch_and_epochs(values, sources, notes, put, batch_size, epochs):
    n = values["n_fit"]
    if batch_size == "auto":
        rule = int(n * values["batch_fraction"])
        batch = max(values["batch_min"], min(values["batch_max"], rule))
        put("batch_size", batch, "data rule",
            f"min(n/10, {values['batch_max']}) with n={n}, at least {values['batch_min']} "
            f"({FAWAZ_2019})")
    else:
        _check_positive_int("batch_size", batch_size)
        put("batch_size", batch_size, "user")
    if epochs == "auto":
        put("epochs", values["epochs"], sources["epochs"], notes.get("epochs", ""))
    else:
        _check_positive_int("epochs", epochs)
        put("epochs", epochs, "user")
    if not values["batchnorm"]:
        return
    need = bn_min_steps()
    steps = math.ceil(n / values["batch_size"]) * values["epochs"]
    if steps >= need:
        return
    why = (f"BatchNorm needs >= {need} steps (momentum {BN_MOMENTUM}: "
           f"{BN_MOMENTUM}**{need} < {BN_RESIDUAL})")
    if batch_size == "auto":
        # Largest batch in [batch_min, current] that yields enough steps.
        per_epoch = math.ceil(need / values["epochs"])
        batch = max(values["batch_min"], min(values["batch_size"], n // per_epoch or 1))
        put("batch_size", batch, "data rule", f"{notes['batch_size']}; shrunk: {why}")
        steps = math.ceil(n / batch) * values["epochs"]
    if steps < need and epochs == "auto":
        grown = math.ceil(need / math.ceil(n / values["batch_size"]))
        put("epochs", grown, "data rule", f"grown from {values['epochs']}: {why}")


def _check_positive_int(name, value):
    if not is_int(value) or value < 1:
        raise UsageError(f"{name} must be a positive integer or 'auto', got {value!r}.")


def make_optimizer(values):
    """The optimizer of resolved `values` (keras is imported here, not at module load)."""
    import keras

    optimizer = keras.optimizers.get(values["optimizer"])
    optimizer.learning_rate = values["lr"]
    if values.get("clipnorm"):
        optimizer.global_clipnorm = values["clipnorm"]
    return optimizer


def make_callbacks(values):
    """Keras callbacks carrying out resolved `values`: the LR schedule and the selection.

    The selection is an `EarlyStopping(restore_best_weights=True)` on `"val_loss"` or
    `"loss"` (patience 0 means never stop: `epochs + 1`); Keras 3 restores the best
    epoch's weights at the end even without stopping, and `best_epoch + 1` is the
    epoch kept. `"last"` adds nothing.
    """
    import keras

    callbacks = []
    if values["schedule"] == "plateau":
        callbacks.append(keras.callbacks.ReduceLROnPlateau(
            "loss", factor=values["plateau_factor"], patience=values["plateau_patience"],
            min_lr=values["plateau_min_lr"]))
    if values["selection"] != "last":
        callbacks.append(keras.callbacks.EarlyStopping(
            values["selection"], patience=values["patience"] or values["epochs"] + 1,
            restore_best_weights=True))
    return callbacks
