"""Does a model family fit the data? Shape checks and masking for padded data.

Used by `kzoo.train`, `kzoo lr-find` and `kzoo tune` before a model is built.
"""

import warnings

import numpy as np

from kzoo.runtime.errors import UsageError
from kzoo.zoo import _registry


def check_model_fits_data(model_name, data):
    """Shapes that cannot match the model's kind raise before any model is built.

    Args:
        model_name: a registered model name.
        data: an object with `input_shape` (one example's shape) and `name`
            (the data's name, shown in the error).
    """
    spec = _registry.get_spec(model_name)
    if spec.kind == "sequence" and len(data.input_shape) != 2:
        raise UsageError(
            f"Model {model_name!r} takes sequences (batch, timesteps, features), but {data.name} "
            f"has examples shaped {tuple(data.input_shape)}. Use sequence data (e.g. digits-seq) "
            f"or a tabular model ({', '.join(_registry.list('tabular'))})."
        )


def auto_masking(model_name, hparams, info):
    """Turn masking on for padded (unequal-length) data when the family can mask.

    Data is padded when `info["equal_length"]` is False (`Dataset.info` of
    `ucr:` datasets). Then, if the family's builder takes `masking` and
    `hparams` does not set it, `masking=True` is added, with
    `mask_value=info["mask_value"]` and `dimension_shuffle=False` (LSTM-FCN's
    transposed LSTM cannot mask) where the builder takes them and `hparams`
    leaves them unset. Masking set by the caller is kept: an explicit
    `masking=False` (or `dimension_shuffle=True`) on padded data only warns.

    Args:
        model_name: a registered model name.
        hparams: the hyperparameters (or tuner overrides) given by the caller.
        info: the data's `info` dict; equal length when the key is missing.

    Returns:
        `(hparams, note)`: a new dict, and a line saying what was set (`None`
        when nothing was).

    Example:

    >>> auto_masking("tcn", {}, {"equal_length": False, "mask_value": 0.0})[0]
    {'masking': True, 'mask_value': 0.0}
    """
    hparams = dict(hparams)
    defaults = _registry.get_spec(model_name).defaults
    if (info or {}).get("equal_length", True) or "masking" not in defaults:
        return hparams, None
    if "masking" in hparams or hparams.get("dimension_shuffle") is True:
        if hparams.get("masking") is not True:
            given = ("masking", "dimension_shuffle")
            given = ", ".join(f"{k}={hparams[k]!r}" for k in given if k in hparams)
            warnings.warn(
                f"{model_name}: the data is padded to equal length, but masking is off "
                f"({given}), "
                "so padded steps count as data. Leave masking unset (or masking=True, "
                "dimension_shuffle=False) to skip them.",
                stacklevel=3,
            )
        return hparams, None
    added = {"masking": True}
    if "mask_value" in defaults and "mask_value" not in hparams:
        added["mask_value"] = float(info.get("mask_value", defaults["mask_value"]))
    if "dimension_shuffle" in defaults and "dimension_shuffle" not in hparams:
        added["dimension_shuffle"] = False
    hparams.update(added)
    shown = ", ".join(f"{k}={v!r}" for k, v in added.items())
    note = (
        f"kzoo: the data holds unequal-length series padded to equal length; {model_name} "
        f"skips the padding: {shown} (pass masking=False to keep padded steps)."
    )
    return hparams, note


# Examples a data-fitted layer sees when the training data is a stream.
FIT_EXAMPLES_FROM_STREAM = 4096


def fit_to_data(model, x, y=None):
    """Fit the data-dependent layers of `model` (those with an `adapt(x)` method that
    kzoo defines, such as MiniRocket's biases) to the training inputs `x`, then, given
    the labels `y`, the heads solved in closed form (`fit_closed_form`, MiniRocket's
    ridge head) on their inputs for `x`.

    A no-op for models without such layers. Such layers take the model's input.

    Args:
        model: a model from `kzoo.zoo.create`.
        x: the training inputs: an array, an `(x, y)` tuple (`y` is then taken from
            it), or a stream of `(x, y)` batches (its first `FIT_EXAMPLES_FROM_STREAM`
            examples are used, and no head is solved).
        y: the training labels (None: no head is solved).

    Returns:
        The names of the layers fitted.

    Example:

    >>> model = kzoo.zoo.create("minirocket", (150, 1), 2)
    >>> kzoo.zoo.fit_to_data(model, x_train, y_train)
    ['minirocket', 'head']
    """
    kzoo_layers = [layer for layer in model._flatten_layers(include_self=False)
                   if type(layer).__module__.startswith("kzoo.")]
    layers = [layer for layer in kzoo_layers if callable(getattr(layer, "adapt", None))]
    heads = [layer for layer in kzoo_layers if callable(getattr(layer, "fit_closed_form", None))]
    if not layers and not heads:
        return []
    if isinstance(x, tuple):
        y = x[1] if y is None and len(x) > 1 else y
        x = x[0]
    if not hasattr(x, "shape") or not hasattr(x, "__len__"):
        x, y = _stream_inputs(x), None
    outputs = {id(layer): layer.adapt(x) for layer in layers}
    fitted = [layer.name for layer in layers]
    for head in heads if y is not None else ():
        source = head.input._keras_history.operation  # the layer that feeds the head
        features = outputs.get(id(source))
        if features is None:
            features = keras_predict(model, head.input, x)
        if head.fit_closed_form(features, np.asarray(y)) is not None:
            fitted.append(head.name)
    return fitted


def keras_predict(model, tensor, x):
    """The value of the symbolic `tensor` of `model` for inputs `x` (NumPy)."""
    import keras

    return keras.Model(model.inputs, tensor).predict(x, verbose=0)


def _stream_inputs(stream):
    import numpy as np
    from keras import ops

    parts, seen = [], 0
    for batch in stream:
        xb = batch[0] if isinstance(batch, (tuple, list)) else batch
        parts.append(np.asarray(ops.convert_to_numpy(xb)))
        seen += len(parts[-1])
        if seen >= FIT_EXAMPLES_FROM_STREAM:
            break
    return np.concatenate(parts)
