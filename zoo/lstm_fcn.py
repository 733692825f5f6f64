"""`lstm_fcn`: LSTM-FCN (Karim et al. 2018).

Two branches read the same input and are concatenated before the head: an
FCN (`depth` Conv1D -> BatchNorm -> ReLU blocks, kernels 8-5-3, global average
pooling; the paper's 128-256-128 filters are `filters=128`) and a small LSTM
followed by heavy dropout.
With `dimension_shuffle=True` (the paper's choice) the LSTM reads the input
transposed, i.e. `features` steps of `timesteps` values each, which needs a
fixed number of steps. For variable-length input set `dimension_shuffle=False`
and `masking=True`: the LSTM then skips padded steps and the FCN pooling
leaves them out.

Under a mixed-precision policy the LSTM is kept in float32: its fused
(cuDNN) kernel has no bfloat16 version on some backends.
"""

import keras

from kzoo.runtime.errors import UsageError
from kzoo.zoo._registry import check_range, register_model
from kzoo.zoo._torch_rnn import fuse
from kzoo.zoo.fcn import block_kernels, block_widths
from kzoo.zoo.layers import (
    conv_block,
    global_pool,
    needs_kzoo_pooling,
    output_head,
    regularizer,
    remat_scope,
    sequence_input,
)


def space(hp):
    """KerasTuner search space of LSTM-FCN."""
    return {
        "depth": hp.Int("depth", 2, 4, default=3),
        "units": hp.Choice("units", [8, 64, 128], default=8),
        "lstm_dropout": hp.Float("lstm_dropout", 0.0, 0.8, step=0.2, default=0.8),
    }


@register_model(
    "lstm_fcn",
    space=space,
    kind="sequence",
    needs_kzoo=needs_kzoo_pooling,
    description="LSTM-FCN: an FCN branch and an LSTM branch (dimension shuffle), concatenated.",
    reference="Karim, Majumdar, Darabi & Chen 2018, 'LSTM fully convolutional networks for "
    "time series classification'",
)
def lstm_fcn(
    input_shape,
    num_classes,
    *,
    head="multiclass",
    depth=3,
    filters=64,
    kernel_sizes=(8, 5, 3),
    units=8,
    lstm_dropout=0.8,
    dimension_shuffle=True,
    l2=0.0,
    masking=False,
    mask_value=0.0,
    remat=None,
):
    """Build an LSTM-FCN.

    Args:
        input_shape: `(timesteps, features)`; `timesteps` may be `None` only
            with `dimension_shuffle=False`.
        num_classes: output size (see `kzoo.zoo.create`).
        head: output head. Defaults to `"multiclass"`.
        depth: convolutional blocks of the FCN branch. Defaults to `3`.
        filters: FCN width (first/last block; middle blocks 2x). Defaults to `64`;
            the paper used `128`.
        kernel_sizes: FCN kernels. Defaults to `(8, 5, 3)`.
        units: LSTM units. Defaults to `8`.
        lstm_dropout: dropout after the LSTM. Defaults to `0.8` (the paper's).
        dimension_shuffle: the LSTM reads the transposed input. Defaults to `True`.
        l2: L2 penalty on kernels. Defaults to `0.0`.
        masking: skip padded steps (LSTM and pooling); needs
            `dimension_shuffle=False`. Defaults to `False`.
        mask_value: padding value. Defaults to `0.0`.
        remat: `keras.RematScope` mode for deep stacks. Defaults to `None`.

    Example:

    >>> model = kzoo.zoo.create("lstm_fcn", input_shape=(150, 1), num_classes=2)
    """
    check_range("depth", depth, 1, kind=int)
    check_range("filters", filters, 1, kind=int)
    check_range("units", units, 1, kind=int)
    check_range("lstm_dropout", lstm_dropout, 0.0, 0.99)
    check_range("l2", l2, 0.0)
    if dimension_shuffle and (masking or input_shape[0] is None):
        raise UsageError(
            "lstm_fcn: dimension_shuffle=True needs a fixed number of timesteps and no "
            "masking; pass dimension_shuffle=False for variable-length (masked) input."
        )
    reg = regularizer(0.0, l2)
    lstm_dtype = "float32" if keras.config.dtype_policy().name.startswith("mixed") else None
    with remat_scope(remat):
        inputs = sequence_input(input_shape)
        if dimension_shuffle:
            r = keras.layers.Permute((2, 1), name="dimension_shuffle")(inputs)
        elif masking:
            r = keras.layers.Masking(mask_value, name="masking")(inputs)
        else:
            r = inputs
        r = fuse(keras.layers.LSTM(units, kernel_regularizer=reg, dtype=lstm_dtype, name="lstm"))(r)
        if lstm_dropout:
            r = keras.layers.Dropout(lstm_dropout, name="lstm_dropout")(r)
        x = inputs
        for i, (width, kernel) in enumerate(
            zip(block_widths(depth, filters), block_kernels(depth, kernel_sizes), strict=True)
        ):
            x = conv_block(x, width, kernel, name=f"block_{i}", reg=reg)
        x = global_pool(x, inputs, masking=masking, mask_value=mask_value, name="gap")
        x = keras.layers.Concatenate(name="concat")([r, x])
        outputs = output_head(x, head, num_classes, kernel_regularizer=reg)
    return keras.Model(inputs, outputs, name="lstm_fcn")
