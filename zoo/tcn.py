"""`tcn`: a temporal convolutional network (Bai, Kolter & Koltun 2018).

`depth` residual blocks; block `i` holds two causal Conv1D units with dilation
`dilation_base**i`, each followed by an optional normalisation, ReLU and
dropout, and a residual connection (1x1 convolution when the width changes).
Causal padding means the output at step `t` depends only on inputs at steps
`<= t`; the receptive field is `1 + 2 * (kernel_size - 1) * sum(dilations)`.

Variable-length input is right-padded; because the network is causal, padding
at the end never changes the outputs at real steps, and with `masking=True`
the pooling ("last" picks the last real step) ignores padded steps, so the
prediction does not depend on the padding at all.
"""

import keras

from kzoo.zoo._registry import check_choice, check_range, register_model
from kzoo.zoo.layers import (
    MaskedGlobalPooling1D,
    batch_norm,
    needs_kzoo_pooling,
    pooled_head,
    regularizer,
    remat_scope,
    sequence_input,
)

NORMS = (None, "layer", "batch")
POOLINGS = MaskedGlobalPooling1D.MODES


def space(hp):
    """KerasTuner search space of the TCN."""
    return {
        "depth": hp.Int("depth", 2, 8, default=3),
        "filters": hp.Choice("filters", [32, 64, 128], default=32),
        "kernel_size": hp.Choice("kernel_size", [3, 5, 7], default=5),
        "dropout": hp.Float("dropout", 0.0, 0.3, step=0.1, default=0.1),
        "pooling": hp.Choice("pooling", list(POOLINGS), default="mean"),
    }


def receptive_field(depth, kernel_size, dilation_base=2):
    """Steps of input that one output step sees."""
    return 1 + 2 * (kernel_size - 1) * sum(dilation_base**i for i in range(depth))


@register_model(
    "tcn",
    space=space,
    kind="sequence",
    needs_kzoo=lambda hp: needs_kzoo_pooling(hp, hp["pooling"]),
    description="Temporal convolutional network: dilated causal Conv1D residual blocks.",
    reference="Bai, Kolter & Koltun 2018, 'An empirical evaluation of generic convolutional "
    "and recurrent networks for sequence modeling'",
)
def tcn(
    input_shape,
    num_classes,
    *,
    head="multiclass",
    depth=3,
    filters=32,
    kernel_size=5,
    dilation_base=2,
    norm="layer",
    dropout=0.1,
    pooling="mean",
    l2=0.0,
    masking=False,
    mask_value=0.0,
    remat=None,
):
    """Build a TCN.

    Args:
        input_shape: `(timesteps, features)`; `timesteps` may be `None`.
        num_classes: output size (see `kzoo.zoo.create`).
        head: output head. Defaults to `"multiclass"`.
        depth: number of residual blocks. Defaults to `3`.
        filters: filters of every convolution. Defaults to `32`.
        kernel_size: kernel of every convolution. Defaults to `5`.
        dilation_base: block `i` uses dilation `dilation_base**i`. Defaults to `2`.
        norm: `None`, `"layer"` (per step, keeps causality) or `"batch"` (its
            training-time batch statistics mix steps). Defaults to `"layer"`.
        dropout: dropout after each unit. Defaults to `0.1`.
        pooling: `"mean"`, `"max"` or `"last"` (the last real step, the causal
            summary). Defaults to `"mean"`.
        l2: L2 penalty on kernels. Defaults to `0.0`.
        masking: skip padded steps in the pooling. Defaults to `False`.
        mask_value: padding value. Defaults to `0.0`.
        remat: `keras.RematScope` mode for deep stacks. Defaults to `None`.

    Example:

    >>> model = kzoo.zoo.create("tcn", input_shape=(None, 3), num_classes=4, masking=True)
    """
    norm = None if norm == "none" else norm
    check_choice("norm", norm, NORMS)
    check_choice("pooling", pooling, POOLINGS)
    check_range("depth", depth, 1, kind=int)
    check_range("filters", filters, 1, kind=int)
    check_range("kernel_size", kernel_size, 1, kind=int)
    check_range("dilation_base", dilation_base, 1, kind=int)
    check_range("dropout", dropout, 0.0, 0.99)
    check_range("l2", l2, 0.0)
    reg = regularizer(0.0, l2)
    with remat_scope(remat):
        inputs = sequence_input(input_shape)
        x = inputs
        for b in range(depth):
            shortcut = x
            for u in range(2):
                name = f"block_{b}_unit_{u}"
                x = keras.layers.Conv1D(
                    filters, kernel_size, padding="causal", dilation_rate=dilation_base**b,
                    kernel_initializer="he_normal", kernel_regularizer=reg, name=f"{name}_conv",
                )(x)
                if norm == "layer":
                    x = keras.layers.LayerNormalization(name=f"{name}_ln")(x)
                elif norm == "batch":
                    x = batch_norm(f"{name}_bn")(x)
                x = keras.layers.Activation("relu", name=f"{name}_act")(x)
                if dropout:
                    x = keras.layers.Dropout(dropout, name=f"{name}_dropout")(x)
            if shortcut.shape[-1] != filters:
                shortcut = keras.layers.Conv1D(filters, 1, name=f"block_{b}_shortcut")(
                    shortcut
                )
            x = keras.layers.Add(name=f"block_{b}_add")([shortcut, x])
            x = keras.layers.Activation("relu", name=f"block_{b}_out")(x)
        outputs = pooled_head(x, inputs, head=head, num_classes=num_classes, reg=reg,
                              masking=masking, mask_value=mask_value, mode=pooling,
                              pool_name="pool")
    return keras.Model(inputs, outputs, name="tcn")
