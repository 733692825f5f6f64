"""The model registry: `register_model`, `create`, `list`.

A zoo family is one file that defines a builder and a search space and
registers them here with `@register_model`. Builders take
`(input_shape, num_classes, *, head, **hparams)` and return an uncompiled
functional `keras.Model`; `create` validates the hyperparameters against the
builder's signature and compiles the model for its head.
"""

import dataclasses
import inspect
from collections.abc import Callable

from kzoo.runtime.checks import check_choice, check_range  # noqa: F401 (the families use them)
from kzoo.runtime.errors import UsageError

HEADS = ("multiclass", "binary", "multilabel", "regression")
KINDS = ("tabular", "sequence")

_REGISTRY: dict = {}


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """What the registry knows of one model.

    Attributes:
        name: registered name, short snake_case (`"lstm"`).
        builder: `builder(input_shape, num_classes, *, head, **hparams)`.
        space: `space(hp)` declares the family's KerasTuner hyperparameters and
            returns the builder's keyword arguments.
        kind: `"tabular"` (any input rank, flattened) or `"sequence"`
            (input `(timesteps, features)`).
        description: one line for `kzoo.zoo.list(verbose=True)` and the CLI.
        reference: the paper the family follows, if any.
        needs_kzoo: `needs_kzoo(hparams)` tells whether a model built with these
            hyperparameters (all of them, defaults filled in) uses kzoo layers,
            so that loading its `.keras` file needs `import kzoo.zoo` first.
            `None`: it only ever uses Keras' own layers. See `portable`.
        head_fit: `head_fit(hparams, n_fit, head)` -> `"ridge"` when a model built
            with `hparams` (defaults filled in) solves its head in closed form in
            `kzoo.zoo.fit_to_data` for `n_fit` training examples (so `epochs="auto"`
            is 1: `kzoo.zoo._resolve`), else `"logistic"`. `None`: always trained.
    """

    name: str
    builder: Callable
    space: Callable
    kind: str
    description: str = ""
    reference: str = ""
    needs_kzoo: Callable | None = None
    head_fit: Callable | None = None

    def portable(self, **hparams):
        """Whether the model built with `hparams` (defaults for the rest) uses only
        Keras' own layers, so its `.keras` file loads with plain
        `keras.saving.load_model` in a process that never imports kzoo."""
        if hparams.get("series_norm") or hparams.get("resample_to"):
            return False  # kzoo's SeriesPreparation layer (zoo/series.py)
        if self.needs_kzoo is None:
            return True
        return not self.needs_kzoo({**self.defaults, **hparams})

    @property
    def recipe(self):
        """The family's `TrainRecipe` (how it is trained by default; `zoo/_defaults.py`)."""
        from kzoo.zoo._defaults import get_recipe

        return get_recipe(self.name)

    @property
    def defaults(self):
        """The builder's hyperparameters and their default values."""
        from kzoo.zoo.series import INPUT_HPARAMS

        sig = inspect.signature(self.builder)
        own = {
            k: p.default
            for k, p in sig.parameters.items()
            if p.kind == p.KEYWORD_ONLY and k != "head"
        }
        # Sequence families also take the input preparation (zoo/series.py).
        return {**own, **INPUT_HPARAMS} if self.kind == "sequence" else own


def register_model(name, *, space, kind, description="", reference="", needs_kzoo=None,
                   head_fit=None):
    """Decorator registering a builder under `name` (arguments: see `ModelSpec`)."""
    if kind not in KINDS:
        raise UsageError(f"kind must be one of {KINDS}, got {kind!r}")

    def decorator(builder):
        if name in _REGISTRY:
            raise UsageError(f"A model named {name!r} is already registered.")
        _REGISTRY[name] = ModelSpec(
            name, builder, space, kind, description, reference, needs_kzoo, head_fit
        )
        return builder

    return decorator


def list(kind=None):  # noqa: A001 - mirrors timm.list_models / keras_hub presets
    """Names of the registered models, sorted; optionally only one `kind`."""
    return sorted(n for n, s in _REGISTRY.items() if kind is None or s.kind == kind)


def get_spec(name):
    """The `ModelSpec` of `name`; ValueError listing the choices if unknown."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UsageError(
            f"Unknown model {name!r}. Registered models: {', '.join(list())}."
        ) from None


def check_hparams(name, hparams):
    """Raise ValueError for hyperparameter names the builder does not take."""
    spec = get_spec(name)
    valid = spec.defaults
    unknown = sorted(set(hparams) - set(valid))
    if unknown:
        raise UsageError(
            f"Unknown hyperparameter(s) {', '.join(unknown)} for model {name!r}. "
            f"Valid ones: {', '.join(sorted(valid))}."
        )


def create(
    name,
    input_shape,
    num_classes,
    *,
    head="multiclass",
    compile=True,
    optimizer="adam",
    learning_rate=1e-3,
    **hparams,
):
    """Build a registered model.

    Args:
        name: a name from `kzoo.zoo.list()`.
        input_shape: shape of one example, without the batch axis: `(features,)`
            for tabular models, `(timesteps, features)` for sequence models
            (`timesteps` may be `None` for variable-length input).
        num_classes: number of classes (multiclass, multilabel), 1 or 2 for
            binary, number of targets for regression.
        head: `"multiclass"` (softmax), `"binary"` (one sigmoid unit),
            `"multilabel"` (independent sigmoids) or `"regression"` (linear).
            Defaults to `"multiclass"`.
        compile: whether to compile with the head's loss and metrics. Defaults to
            `True`; pass `False` to get an uncompiled model.
        optimizer: optimizer name or instance used when compiling. Defaults to
            `"adam"`.
        learning_rate: used when `optimizer` is a name. Defaults to `1e-3`.
        **hparams: the family's hyperparameters (see `kzoo.zoo.get_spec(name).defaults`).

    Returns:
        A functional `keras.Model`, compiled unless `compile=False`.

    Example:

    >>> model = kzoo.zoo.create("lstm", input_shape=(8, 8), num_classes=10, units=32)
    >>> model.fit(x, y, epochs=5)
    """
    from kzoo.zoo import series

    spec = get_spec(name)
    check_hparams(name, hparams)
    check_choice("head", head, HEADS)
    input_shape = tuple(input_shape)
    if spec.kind == "sequence" and len(input_shape) != 2:
        raise UsageError(
            f"Model {name!r} takes sequences shaped (timesteps, features); got "
            f"input_shape={input_shape}. Reshape the data to 3-D (batch, timesteps, features)."
        )
    if not isinstance(num_classes, int) or num_classes < 1:
        raise UsageError(f"num_classes must be a positive int, got {num_classes!r}.")
    prep, hparams = series.split_input_hparams(spec.kind, hparams)
    series.check_input_hparams(prep)
    model = series.build_prepared(spec.builder, input_shape, num_classes, head, hparams, prep)
    if compile:
        compile_for_head(model, head, optimizer=optimizer, learning_rate=learning_rate)
    return model


def compile_for_head(model, head, *, optimizer="adam", learning_rate=1e-3, **compile_kwargs):
    """Compile `model` with the loss and metrics that suit `head`."""
    import keras

    check_choice("head", head, HEADS)
    if isinstance(optimizer, str):
        optimizer = keras.optimizers.get({"class_name": optimizer, "config": {}})
        optimizer.learning_rate = learning_rate
    loss, metrics = {
        "multiclass": ("sparse_categorical_crossentropy", ["accuracy"]),
        "binary": ("binary_crossentropy", [keras.metrics.BinaryAccuracy(name="accuracy")]),
        "multilabel": ("binary_crossentropy", [keras.metrics.BinaryAccuracy(name="accuracy")]),
        "regression": ("mse", ["mae"]),
    }[head]
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics, **compile_kwargs)
    return model


def output_units(head, num_classes):
    """Units and activation of the output layer for a head."""
    if head == "binary":
        if num_classes not in (1, 2):
            raise UsageError(f"A binary head takes num_classes 1 or 2, got {num_classes}.")
        return 1, "sigmoid"
    if head == "multiclass":
        if num_classes < 2:
            raise UsageError("A multiclass head needs num_classes >= 2; use head='binary'.")
        return num_classes, "softmax"
    if head == "multilabel":
        return num_classes, "sigmoid"
    return num_classes, "linear"
