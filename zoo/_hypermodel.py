"""`hypermodel`: a KerasTuner `HyperModel` for any registered zoo family.

The search space is the family's own `spec.space(hp)` plus two training
hyperparameters every family shares: `learning_rate` (log scale, used when
compiling) and `batch_size` (used in `HyperModel.fit`, the pattern KerasTuner's
maintainers recommend for tuning fit arguments; keras-tuner#613, #1042).
Both are centred on the family's training recipe (`kzoo.zoo._defaults`): the
learning rate spans the recipe's rate / 10 to x 10 with the recipe's rate as
default, and the default batch size is the recipe's data rule for `n_train`
training examples (when given).

Any hyperparameter can be fixed or narrowed by keyword:

- a scalar fixes it (`depth=2` becomes `hp.Fixed("depth", 2)`);
- a tuple `(low, high)` narrows a numeric range, keeping its step and sampling;
- a list narrows it to those choices (`units=[32, 64]`);
- a `keras_tuner` hyperparameter object replaces the declaration outright.

Builder arguments the space does not tune (`masking=True`, `activation="tanh"`)
are passed to the builder as constants, and recorded as `hp.Fixed` when they
are scalars so every trial shows them.
"""

import contextlib

import keras_tuner

from kzoo.runtime import devices as kzoo_devices
from kzoo.runtime.errors import UsageError
from kzoo.zoo._data_fit import fit_to_data
from kzoo.zoo._registry import HEADS, check_choice, create, get_spec
from kzoo.zoo._space import TRAINING_HPS, base_space, declare_training, override_hp, training_space


def devices_scope(devices):
    """`kzoo.runtime.devices.scope(devices)`; with None or 1 device, nothing to install."""
    if devices is None or devices == 1:
        return contextlib.nullcontext(kzoo_devices.Placement())
    return kzoo_devices.scope(devices)


class ZooHyperModel(keras_tuner.HyperModel):
    """KerasTuner `HyperModel` building a registered zoo family.

    Args:
        name: a name from `kzoo.zoo.list()`.
        input_shape: shape of one example, without the batch axis.
        num_classes: output size (see `kzoo.zoo.create`).
        head: output head. Defaults to `"multiclass"`.
        optimizer: optimizer name used when compiling. Defaults to `"adam"`.
        **fixed: overrides of the space, or constant builder arguments (see the
            module docstring).

    Example:

    >>> hm = kzoo.zoo.hypermodel("lstm", (8, 8), 10, depth=1, units=[32, 64])
    >>> print(hm.space_summary())
    >>> tuner = keras_tuner.RandomSearch(hm, objective="val_accuracy", max_trials=5)
    >>> tuner.search(x, y, validation_data=(xv, yv), epochs=5)
    """

    def __init__(
        self, name, input_shape, num_classes, *, head="multiclass", optimizer="adam",
        n_train=None, **fixed
    ):
        spec = get_spec(name)
        check_choice("head", head, HEADS)
        super().__init__(name=name, tunable=True)
        self.model_name = name
        self.input_shape = tuple(input_shape)
        self.num_classes = num_classes
        self.head = head
        self.optimizer = optimizer
        self.fixed = dict(fixed)
        self.n_train = n_train
        self._training = training_space(name, n_train)

        base = {hp.name: hp for hp in base_space(name, n_train).space}
        valid = set(spec.defaults) | set(base)
        unknown = sorted(set(fixed) - valid)
        if unknown:
            raise UsageError(
                f"Unknown hyperparameter(s) {', '.join(unknown)} for model {name!r}. "
                f"Valid ones: {', '.join(sorted(valid))}."
            )
        self._overrides = {}  # name -> HyperParameter declared before the family's space
        self._constants = {}  # builder kwargs that are not hyperparameters (e.g. lists)
        for key, value in fixed.items():
            hp = override_hp(base.get(key), key, value)
            if hp is None:
                self._constants[key] = value
            else:
                self._overrides[key] = hp
        # Fail now, not in the first trial, if the defaults do not build.
        self.build(keras_tuner.HyperParameters())

    def declare(self, hp):
        """Declare the space on `hp`; return (builder kwargs, learning rate, batch size)."""
        for override in self._overrides.values():
            hp._retrieve(override)
        hparams = dict(get_spec(self.model_name).space(hp))
        lr, batch_size = declare_training(hp, self._training)
        for key in self._overrides:
            if key not in TRAINING_HPS:
                hparams[key] = hp.get(key)
        hparams.update(self._constants)
        return hparams, lr, batch_size

    def build(self, hp):
        hparams, lr, _ = self.declare(hp)
        return create(
            self.model_name,
            self.input_shape,
            self.num_classes,
            head=self.head,
            optimizer=self.optimizer,
            learning_rate=lr,
            **hparams,
        )

    def fit(self, hp, model, *args, devices=None, trial_checkpoint=None, trial_seed=0,
            trial_record=None, trial_fit=None, trial_callbacks=None, **kwargs):
        """`model.fit` with the trial's batch size.

        Args:
            hp: the trial's hyperparameters.
            model: the model `build` returned.
            *args, **kwargs: `fit`'s arguments (from `tuner.search`).
            devices: train on this many devices (`kzoo.runtime.devices.scope`); None or 1
                trains as `fit` does. Enter the same setting around `build` (the
                tuner's `distribution_strategy`), as KerasTuner's `clear_session`
                between trials resets a global distribution.
            trial_checkpoint: a directory: checkpoint every epoch there and resume
                from its last checkpoint (`kzoo.tuning.trial_fit`); needs arrays, as
                do several devices (batches padded to a multiple of them).
            trial_seed: seed of the checkpointed batch order.
            trial_record: a dict that gets `devices` and, when checkpointed,
                `resumed_from_epoch`.
            trial_fit: the fit that checkpoints and pads (the tuner passes
                `kzoo.tuning.trial_fit.fit_trial`; the zoo does not import the tuner);
                needed with `trial_checkpoint` or several devices.
            trial_callbacks: `(model, x, devices) -> callbacks` put before the fit's
                own (the tuner passes `kzoo.tuning.trial_fit.trial_callbacks`, which
                adds precise BatchNorm to a model with BatchNorm).
        """
        if "batch_size" in kwargs:
            raise UsageError(
                "batch_size is a hyperparameter of the search; fix it with "
                "hypermodel(..., batch_size=64) instead of passing it to fit/search."
            )
        _, batch_size = declare_training(hp, self._training)
        # Data-dependent layers (MiniRocket's biases, its ridge head) fit to this trial's
        # training data. A head solved in closed form leaves nothing to train: one epoch
        # evaluates it (as `kzoo train`'s recipe rule), the same scores at a fraction.
        fitted = fit_to_data(model, args[0] if args else kwargs.get("x"),
                             args[1] if len(args) > 1 else kwargs.get("y"))
        if (fitted and not model.trainable_weights and not kwargs.get("initial_epoch")
                and any(hasattr(model.get_layer(n), "fit_closed_form") for n in fitted)):
            kwargs["epochs"] = 1
        kwargs = _with_trial_callbacks(model, args, kwargs, devices, trial_callbacks)
        with devices_scope(devices) as placement:
            if trial_record is not None:
                trial_record["devices"] = placement.devices
            if trial_checkpoint is None and placement.devices == 1:
                return model.fit(*args, batch_size=batch_size, **kwargs)
            # Several devices: kzoo's batches, padded to a multiple of them.
            if trial_fit is None:
                raise UsageError(
                    "A checkpointed or multi-device trial needs trial_fit= (the tuner's "
                    "kzoo.tuning.trial_fit.fit_trial); kzoo's tuners pass it."
                )
            return trial_fit(model, *args, batch_size=batch_size, directory=trial_checkpoint,
                             seed=trial_seed, record=trial_record, devices=placement.devices,
                             **kwargs)

    def search_space(self):
        """The `keras_tuner.HyperParameters` this hypermodel declares, at defaults."""
        hp = keras_tuner.HyperParameters()
        self.declare(hp)
        return hp

    def space_summary(self):
        """The search space as a text table: name, type, range or choices, default."""
        rows = [("name", "type", "values", "default")]
        for hp in self.search_space().space:
            config = hp.get_config()
            kind = type(hp).__name__
            if kind == "Choice":
                values = ", ".join(str(v) for v in config["values"])
            elif kind in ("Int", "Float"):
                step = f" step {config['step']}" if config.get("step") else ""
                log = " log" if config.get("sampling") == "log" else ""
                values = f"[{config['min_value']}, {config['max_value']}]{step}{log}"
            elif kind == "Boolean":
                values = "True, False"
            else:
                values = str(config.get("value"))
            default = config.get("value") if kind == "Fixed" else config.get("default")
            rows.append((hp.name, kind, values, str(default)))
        for key, value in self._constants.items():
            rows.append((key, "constant", repr(value), repr(value)))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        lines = [
            "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
        ]
        return f"Search space of {self.model_name!r}:\n" + "\n".join(lines)


def hypermodel(name, input_shape, num_classes, *, head="multiclass", optimizer="adam",
               n_train=None, **fixed):
    """A KerasTuner `HyperModel` for the registered family `name`.

    Args:
        name: a name from `kzoo.zoo.list()`.
        input_shape: shape of one example, without the batch axis.
        num_classes: output size (see `kzoo.zoo.create`).
        head: output head. Defaults to `"multiclass"`.
        optimizer: optimizer name used when compiling. Defaults to `"adam"`.
        n_train: training examples; the default batch size follows the
            recipe's data rule for them. Defaults to None (the recipe's cap).
        **fixed: fix (`depth=2`), narrow (`depth=(1, 2)`, `units=[32, 64]`) or
            replace (a `keras_tuner` hyperparameter) any hyperparameter, including
            `learning_rate` and `batch_size`; other builder arguments are passed
            through as constants.

    Returns:
        A `ZooHyperModel`; `print(hm.space_summary())` shows its space.

    Example:

    >>> hm = kzoo.zoo.hypermodel("mlp", (64,), 10, depth=2, learning_rate=(1e-3, 1e-2))
    """
    return ZooHyperModel(name, input_shape, num_classes, head=head, optimizer=optimizer,
                         n_train=n_train, **fixed)


def _with_trial_callbacks(model, args, kwargs, devices, make):
    """`kwargs` with the callbacks `make(model, x, devices)` returns put first (the
    tuner passes `kzoo.tuning.trial_fit.trial_callbacks`: precise BatchNorm)."""
    if make is None:
        return kwargs
    x = args[0] if args else kwargs.get("x")
    extra = make(model, x, devices)
    if not extra:
        return kwargs
    return {**kwargs, "callbacks": [*extra, *(kwargs.get("callbacks") or [])]}
