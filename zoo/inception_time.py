"""`inception_time`: InceptionTime (Ismail Fawaz et al. 2020), optionally an ensemble.

A network is `depth` Inception modules with a residual connection every
three. A module is a 1x1 bottleneck (when the input has more than one
channel), three parallel convolutions with kernels `k`, `k/2`, `k/4`, and a
max-pool -> 1x1 convolution branch; the four are concatenated and go through
BatchNorm and ReLU. Global average pooling and the head follow.

The paper's InceptionTime is an ensemble of 5 such networks trained
separately, averaging their predicted probabilities. Two ways here:
`ensemble=N` builds N members side by side in one model whose output is the
mean of their probabilities (trained jointly, in one fit; members differ by
initialisation only); `ensemble_of(models)` averages networks that were
trained separately, as in the paper.
"""

import keras

from kzoo.runtime.errors import UsageError
from kzoo.zoo._registry import check_range, register_model
from kzoo.zoo.layers import (
    batch_norm,
    needs_kzoo_pooling,
    pooled_head,
    regularizer,
    remat_scope,
    sequence_input,
)


def space(hp):
    """KerasTuner search space of InceptionTime."""
    return {
        "depth": hp.Int("depth", 3, 9, step=3, default=3),
        "filters": hp.Choice("filters", [16, 32, 64], default=32),
        "kernel_size": hp.Choice("kernel_size", [10, 20, 40], default=40),
    }


def _conv(x, filters, kernel, name, reg):
    return keras.layers.Conv1D(
        filters, kernel, padding="same", use_bias=False, kernel_regularizer=reg, name=name
    )(x)


def inception_module(x, *, filters, kernel_size, bottleneck, name, reg=None):
    """One Inception module (Fawaz et al. 2020, figure 2)."""
    branch_in = x
    if bottleneck and x.shape[-1] > 1:
        branch_in = _conv(x, bottleneck, 1, f"{name}_bottleneck", reg)
    kernels = [max(1, kernel_size // (2**i)) for i in range(3)]
    branches = [_conv(branch_in, filters, k, f"{name}_conv_{k}", reg) for k in kernels]
    pooled = keras.layers.MaxPooling1D(3, strides=1, padding="same", name=f"{name}_maxpool")(x)
    branches.append(_conv(pooled, filters, 1, f"{name}_pool_conv", reg))
    x = keras.layers.Concatenate(name=f"{name}_concat")(branches)
    x = batch_norm(f"{name}_bn")(x)
    return keras.layers.Activation("relu", name=f"{name}_act")(x)


def _network(inputs, *, depth, filters, kernel_size, bottleneck, residual, reg, prefix):
    x = shortcut = inputs
    for d in range(depth):
        x = inception_module(
            x, filters=filters, kernel_size=kernel_size, bottleneck=bottleneck,
            name=f"{prefix}module_{d}", reg=reg,
        )
        if residual and d % 3 == 2:
            s = _conv(shortcut, x.shape[-1], 1, f"{prefix}shortcut_{d}", reg)
            s = batch_norm(f"{prefix}shortcut_{d}_bn")(s)
            x = keras.layers.Add(name=f"{prefix}residual_{d}")([s, x])
            x = shortcut = keras.layers.Activation("relu", name=f"{prefix}residual_{d}_act")(x)
    return x


@register_model(
    "inception_time",
    space=space,
    kind="sequence",
    needs_kzoo=needs_kzoo_pooling,
    description="InceptionTime: depth x Inception modules with residuals; ensemble=N averages N.",
    reference="Ismail Fawaz et al. 2020, 'InceptionTime: finding AlexNet for time series "
    "classification'",
)
def inception_time(
    input_shape,
    num_classes,
    *,
    head="multiclass",
    depth=3,
    filters=32,
    kernel_size=40,
    bottleneck=32,
    residual=True,
    ensemble=1,
    dropout=0.0,
    l2=0.0,
    masking=False,
    mask_value=0.0,
    remat=None,
):
    """Build an InceptionTime network (or a jointly trained ensemble of them).

    Args:
        input_shape: `(timesteps, features)`; `timesteps` may be `None`.
        num_classes: output size (see `kzoo.zoo.create`).
        head: output head. Defaults to `"multiclass"`.
        depth: number of Inception modules. Defaults to `3`; the paper used `6`.
        filters: filters per branch (a module outputs 4x as many). Defaults to `32`.
        kernel_size: longest kernel; the others are 1/2 and 1/4 of it. Defaults to `40`.
        bottleneck: bottleneck width, `0` for none. Defaults to `32`.
        residual: a residual connection every three modules. Defaults to `True`.
        ensemble: number of member networks whose probabilities are averaged.
            Defaults to `1`.
        dropout: dropout before each head. Defaults to `0.0`.
        l2: L2 penalty on kernels. Defaults to `0.0`.
        masking: skip padded steps in the pooling. Defaults to `False`.
        mask_value: padding value. Defaults to `0.0`.
        remat: `keras.RematScope` mode for deep stacks. Defaults to `None`.

    Example:

    >>> model = kzoo.zoo.create("inception_time", input_shape=(150, 1), num_classes=2)
    """
    check_range("depth", depth, 1, kind=int)
    check_range("filters", filters, 1, kind=int)
    check_range("kernel_size", kernel_size, 1, kind=int)
    check_range("bottleneck", bottleneck, 0, kind=int)
    check_range("ensemble", ensemble, 1, kind=int)
    check_range("dropout", dropout, 0.0, 0.99)
    check_range("l2", l2, 0.0)
    reg = regularizer(0.0, l2)
    with remat_scope(remat):
        inputs = sequence_input(input_shape)
        outputs = []
        for m in range(ensemble):
            prefix = f"member_{m}_" if ensemble > 1 else ""
            x = _network(
                inputs, depth=depth, filters=filters, kernel_size=kernel_size,
                bottleneck=bottleneck, residual=residual, reg=reg, prefix=prefix,
            )
            outputs.append(pooled_head(
                x, inputs, head=head, num_classes=num_classes, reg=reg, dropout=dropout,
                masking=masking, mask_value=mask_value, prefix=prefix,
            ))
        if ensemble > 1:
            output = keras.layers.Average(dtype="float32", name="ensemble_mean")(outputs)
        else:
            output = outputs[0]
    return keras.Model(inputs, output, name="inception_time")


def ensemble_of(models, name="inception_time_ensemble"):
    """Average the predictions of separately trained models, as in the paper.

    Args:
        models: trained `keras.Model`s with the same input shape and output size.
        name: name of the returned model.

    Returns:
        A functional `keras.Model` whose output is the mean of the members'
        outputs; compile it (e.g. with `kzoo.zoo.compile_for_head`) to evaluate.

    Example:

    >>> members = [kzoo.zoo.create("inception_time", (150, 1), 2) for _ in range(5)]
    >>> ...  # fit each member with its own seed
    >>> model = ensemble_of(members)
    """
    if len(models) < 2:
        raise UsageError(f"ensemble_of needs at least 2 models, got {len(models)}.")
    shapes = {tuple(m.input_shape[1:]) for m in models}
    if len(shapes) != 1:
        raise UsageError(f"The members' input shapes differ: {sorted(shapes, key=str)}.")
    inputs = keras.Input(shape=shapes.pop(), name="sequence")
    outputs = [m(inputs) for m in models]
    output = keras.layers.Average(dtype="float32", name="ensemble_mean")(outputs)
    return keras.Model(inputs, output, name=name)
