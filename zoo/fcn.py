"""`fcn`: the fully convolutional network of Wang et al. (2017) for time series.

`depth` blocks of Conv1D -> BatchNorm -> ReLU ('same' padding, so every block
keeps the number of steps), then global average pooling and the head. With
`filters=128` it is the published network: 128-256-128 filters, kernels 8-5-3
(the default, 64, is half as wide to stay cheap on CPU).
Convolutions cannot skip steps, so variable-length batches are right-padded;
with `masking=True` the pooling leaves the padded steps out.
"""

import keras

from kzoo.zoo._registry import check_range, register_model
from kzoo.zoo.layers import (
    conv_block,
    needs_kzoo_pooling,
    pooled_head,
    regularizer,
    remat_scope,
    sequence_input,
)


def space(hp):
    """KerasTuner search space of FCN."""
    return {
        "depth": hp.Int("depth", 2, 5, default=3),
        "filters": hp.Choice("filters", [32, 64, 128], default=64),
        "dropout": hp.Float("dropout", 0.0, 0.5, step=0.1, default=0.0),
    }


def block_widths(depth, filters):
    """Wang et al.'s widening pattern: `filters`, then 2x in the middle, `filters` last."""
    if depth == 1:
        return [filters]
    return [filters] + [2 * filters] * (depth - 2) + [filters]


def block_kernels(depth, kernel_sizes):
    """The kernel of each block; the last one given repeats for deeper stacks."""
    sizes = [int(k) for k in kernel_sizes]
    return (sizes + [sizes[-1]] * depth)[:depth]


@register_model(
    "fcn",
    space=space,
    kind="sequence",
    needs_kzoo=needs_kzoo_pooling,
    description="Fully convolutional network: depth x (Conv1D, BN, ReLU), global average pooling.",
    reference="Wang, Yan & Oates 2017, 'Time series classification from scratch with deep "
    "neural networks: a strong baseline'",
)
def fcn(
    input_shape,
    num_classes,
    *,
    head="multiclass",
    depth=3,
    filters=64,
    kernel_sizes=(8, 5, 3),
    dropout=0.0,
    l2=0.0,
    masking=False,
    mask_value=0.0,
    remat=None,
):
    """Build an FCN.

    Args:
        input_shape: `(timesteps, features)`; `timesteps` may be `None`.
        num_classes: output size (see `kzoo.zoo.create`).
        head: output head. Defaults to `"multiclass"`.
        depth: number of convolutional blocks. Defaults to `3`.
        filters: filters of the first and last block; middle blocks use twice
            as many. Defaults to `64`; the paper used `128` (128-256-128).
        kernel_sizes: kernel of each block, the last repeated when `depth` is
            larger. Defaults to `(8, 5, 3)`.
        dropout: dropout before the head. Defaults to `0.0`.
        l2: L2 penalty on kernels. Defaults to `0.0`.
        masking: skip padded steps (all features equal `mask_value`) in the
            pooling. Defaults to `False`.
        mask_value: padding value. Defaults to `0.0`.
        remat: `keras.RematScope` mode (`"full"`, `"activations"`,
            `"larger_than"`) to recompute activations in the backward pass
            instead of storing them. Defaults to `None`.

    Example:

    >>> model = kzoo.zoo.create("fcn", input_shape=(150, 1), num_classes=2)
    """
    check_range("depth", depth, 1, kind=int)
    check_range("filters", filters, 1, kind=int)
    check_range("dropout", dropout, 0.0, 0.99)
    check_range("l2", l2, 0.0)
    reg = regularizer(0.0, l2)
    with remat_scope(remat):
        inputs = sequence_input(input_shape)
        x = inputs
        for i, (width, kernel) in enumerate(
            zip(block_widths(depth, filters), block_kernels(depth, kernel_sizes), strict=True)
        ):
            x = conv_block(x, width, kernel, name=f"block_{i}", reg=reg)
        outputs = pooled_head(x, inputs, head=head, num_classes=num_classes, reg=reg,
                              dropout=dropout, masking=masking, mask_value=mask_value)
    return keras.Model(inputs, outputs, name="fcn")
