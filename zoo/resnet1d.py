"""`resnet1d`: the residual network for time series of Wang et al. (2017).

`depth` residual blocks; each block is three Conv1D -> BatchNorm (-> ReLU)
units with kernels 8-5-3 and a shortcut (a 1x1 convolution + BatchNorm when the
width changes) added before the last ReLU. `filters=64` gives the published
64-128-128 (the default, 32, is half as wide). Variable-length batches are
right-padded; with `masking=True` the final pooling leaves the padded steps out.
"""

import keras

from kzoo.zoo._registry import check_range, register_model
from kzoo.zoo.layers import (
    batch_norm,
    conv_block,
    needs_kzoo_pooling,
    pooled_head,
    regularizer,
    remat_scope,
    sequence_input,
)


def space(hp):
    """KerasTuner search space of ResNet1D."""
    return {
        "depth": hp.Int("depth", 1, 5, default=3),
        "filters": hp.Choice("filters", [32, 64, 128], default=32),
        "dropout": hp.Float("dropout", 0.0, 0.5, step=0.1, default=0.0),
    }


@register_model(
    "resnet1d",
    space=space,
    kind="sequence",
    needs_kzoo=needs_kzoo_pooling,
    description="1-D ResNet: depth x residual blocks of three Conv1D/BN units, global pooling.",
    reference="Wang, Yan & Oates 2017; evaluated in Fawaz et al. 2019",
)
def resnet1d(
    input_shape,
    num_classes,
    *,
    head="multiclass",
    depth=3,
    filters=32,
    kernel_sizes=(8, 5, 3),
    dropout=0.0,
    l2=0.0,
    masking=False,
    mask_value=0.0,
    remat=None,
):
    """Build a 1-D ResNet.

    Args:
        input_shape: `(timesteps, features)`; `timesteps` may be `None`.
        num_classes: output size (see `kzoo.zoo.create`).
        head: output head. Defaults to `"multiclass"`.
        depth: number of residual blocks. Defaults to `3`.
        filters: width of the first block; later blocks use twice as many.
            Defaults to `32`; the paper used `64` (64-128-128).
        kernel_sizes: kernels of the three units of a block. Defaults to `(8, 5, 3)`.
        dropout: dropout before the head. Defaults to `0.0`.
        l2: L2 penalty on kernels. Defaults to `0.0`.
        masking: skip padded steps in the pooling. Defaults to `False`.
        mask_value: padding value. Defaults to `0.0`.
        remat: `keras.RematScope` mode for deep stacks. Defaults to `None`.

    Example:

    >>> model = kzoo.zoo.create("resnet1d", input_shape=(150, 1), num_classes=2, depth=2)
    """
    check_range("depth", depth, 1, kind=int)
    check_range("filters", filters, 1, kind=int)
    check_range("dropout", dropout, 0.0, 0.99)
    check_range("l2", l2, 0.0)
    reg = regularizer(0.0, l2)
    with remat_scope(remat):
        inputs = sequence_input(input_shape)
        x = inputs
        for b in range(depth):
            width = filters if b == 0 else 2 * filters
            shortcut = x
            for u, kernel in enumerate(kernel_sizes):
                last = u == len(kernel_sizes) - 1
                x = conv_block(
                    x, width, kernel, name=f"block_{b}_unit_{u}",
                    activation=None if last else "relu", reg=reg,
                )
            if shortcut.shape[-1] != width:
                shortcut = conv_block(
                    shortcut, width, 1, name=f"block_{b}_shortcut", activation=None, reg=reg
                )
            else:
                shortcut = batch_norm(f"block_{b}_shortcut_bn")(shortcut)
            x = keras.layers.Add(name=f"block_{b}_add")([shortcut, x])
            x = keras.layers.Activation("relu", name=f"block_{b}_out")(x)
        outputs = pooled_head(x, inputs, head=head, num_classes=num_classes, reg=reg,
                              dropout=dropout, masking=masking, mask_value=mask_value)
    return keras.Model(inputs, outputs, name="resnet1d")
