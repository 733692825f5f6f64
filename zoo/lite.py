"""`lite`: LITE (Ismail-Fawaz et al. 2023), a light Inception with boosting techniques.

Ismail-Fawaz, Devanne, Berretti, Weber & Forestier, "LITE: Light Inception
with boosTing tEchniques for Time Series Classification", DSAA 2023;
reference code: MSD-IRIMAS/LITE (`classifiers/lite.py`). The network:

1. a first layer of *multiplexing* convolutions (`filters` each, kernels
   `k`, `k/2`, `k/4`, linear, no bias) beside 17 fixed *hand-crafted* filters
   (Ismail-Fawaz et al. 2022): increasing-trend detectors (alternating -1, +1,
   starting with -1) and decreasing-trend detectors (starting with +1) of
   lengths 2, 4, ..., 64, and peak detectors of lengths 6, 12, ..., 96 (a
   squared-ramp bump of +2 between two -1 lobes) whose ReLU'd outputs join the
   concatenation; then BatchNorm and ReLU;
2. `depth - 1` depthwise-separable convolutions (kernel `k/2`, then halved
   each layer; dilation 2, 4, ...), each followed by BatchNorm and ReLU;
3. global average pooling and the head.

With the defaults (`filters=32`, `kernel_size=40`, the reference's 41 - 1)
it has about 2 % of InceptionTime's parameters. LITETime is five LITE
networks whose probabilities are averaged.

The hand-crafted filters are one Keras `Conv1D` with `trainable=False`
whose kernel is set when the model is built; it is an ordinary weight. The
separable layers are kzoo's `SeparableConv1D` (`zoo/_depthwise.py`: Keras'
layer, with a depthwise part that jax's CPU backend runs several times
faster), so with `depth > 1` (the default) the `.keras` file needs
`import kzoo.zoo` before loading, as does `masking` (kzoo's pooling).
"""

import keras
import numpy as np

from kzoo.zoo._depthwise import SeparableConv1D
from kzoo.zoo._registry import check_range, register_model
from kzoo.zoo.layers import (
    batch_norm,
    needs_kzoo_pooling,
    pooled_head,
    regularizer,
    remat_scope,
    sequence_input,
)

HANDCRAFTED_SIZES = (2, 4, 8, 16, 32, 64)


def space(hp):
    """KerasTuner search space of LITE."""
    return {
        "depth": hp.Int("depth", 2, 4, default=3),
        "filters": hp.Choice("filters", [16, 32, 64], default=32),
        "kernel_size": hp.Choice("kernel_size", [20, 40, 80], default=40),
    }


def trend_filter(size, increasing):
    """Alternating -1/+1 of `size` steps; increasing detection starts with -1."""
    signs = np.where(np.arange(size) % 2 == 0, -1.0, 1.0)
    return signs if increasing else -signs


def peak_filter(size):
    """The peak detector of the paper for base `size`: `size * 3 / 2` steps, a
    -1 lobe, a +2 bump and a -1 lobe, each made of squared ramps up and down."""
    quarter = size // 4
    up = np.linspace(0.0, 1.0, quarter + 1)[1:] ** 2
    down = up[::-1]
    return np.concatenate([-up, -down, 2 * up, 2 * down, -up, -down])


def handcrafted_filters():
    """The 17 fixed filters, as 1-D arrays, in the reference's order."""
    filters = [trend_filter(s, True) for s in HANDCRAFTED_SIZES]
    filters += [trend_filter(s, False) for s in HANDCRAFTED_SIZES]
    filters += [peak_filter(s) for s in HANDCRAFTED_SIZES[1:]]
    return filters


def handcrafted_kernel(channels):
    """(97, channels, 17): the 17 filters in one odd-length kernel. Filter `f` of
    length `k` sits at offset `48 - (k - 1) // 2`, so a "same" convolution with it
    equals the reference's own "same" convolution of `f` (TensorFlow's convention:
    `(k - 1) // 2` steps of padding on the left); the other taps are 0."""
    filters = handcrafted_filters()
    size = 2 * max(len(f) // 2 for f in filters) + 1
    kernel = np.zeros((size, channels, len(filters)), dtype="float32")
    for i, taps in enumerate(filters):
        start = size // 2 - (len(taps) - 1) // 2
        # The reference's filters repeat over the channels (their sum is filtered).
        kernel[start:start + len(taps), :, i] = taps[:, None]
    return kernel


def _handcrafted(x, name):
    """The fixed filters as one non-trainable `Conv1D` (one op to build and run, not
    17), ReLU'd as in the reference."""
    kernel = handcrafted_kernel(x.shape[-1])
    layer = keras.layers.Conv1D(kernel.shape[-1], kernel.shape[0], padding="same",
                                use_bias=False, trainable=False, name=name)
    x = layer(x)
    layer.kernel.assign(kernel.astype(layer.kernel.dtype))
    return keras.layers.Activation("relu", name=f"{name}_act")(x)


@register_model(
    "lite",
    space=space,
    kind="sequence",
    needs_kzoo=lambda hp: hp["depth"] > 1 or needs_kzoo_pooling(hp),
    description="LITE: multiplexing + hand-crafted filters, dilated depthwise-separable convs.",
    reference="Ismail-Fawaz et al. 2023, 'LITE: Light Inception with boosTing tEchniques "
    "for Time Series Classification' (DSAA); MSD-IRIMAS/LITE",
)
def lite(
    input_shape,
    num_classes,
    *,
    head="multiclass",
    depth=3,
    filters=32,
    kernel_size=40,
    handcrafted=True,
    multiplexing=True,
    dilation=True,
    dropout=0.0,
    l2=0.0,
    masking=False,
    mask_value=0.0,
    remat=None,
):
    """Build a LITE network.

    Args:
        input_shape: `(timesteps, features)`; `timesteps` may be `None`.
        num_classes: output size (see `kzoo.zoo.create`).
        head: output head. Defaults to `"multiclass"`.
        depth: layers: the multiplexing layer, then `depth - 1` depthwise-separable
            ones. Defaults to `3`, the paper's.
        filters: filters per convolution. Defaults to `32`, the paper's.
        kernel_size: longest multiplexing kernel; the others are 1/2 and 1/4, the
            separable layers start at 1/2 and halve. Defaults to `40`, the paper's.
        handcrafted: add the 17 fixed hand-crafted filters. Defaults to `True`.
        multiplexing: three kernel sizes in the first layer; `False` is one
            convolution of `3 * filters` filters. Defaults to `True`.
        dilation: dilate the separable layers (2, 4, ...). Defaults to `True`.
        dropout: dropout before the head. Defaults to `0.0`.
        l2: L2 penalty on the trainable kernels. Defaults to `0.0`.
        masking: skip padded steps in the pooling. Defaults to `False`.
        mask_value: padding value. Defaults to `0.0`.
        remat: `keras.RematScope` mode. Defaults to `None`.

    Example:

    >>> model = kzoo.zoo.create("lite", input_shape=(150, 1), num_classes=2)
    """
    check_range("depth", depth, 1, kind=int)
    check_range("filters", filters, 1, kind=int)
    check_range("kernel_size", kernel_size, 4, kind=int)
    check_range("dropout", dropout, 0.0, 0.99)
    check_range("l2", l2, 0.0)
    reg = regularizer(0.0, l2)
    with remat_scope(remat):
        inputs = sequence_input(input_shape)
        n_convs, width = (3, filters) if multiplexing else (1, 3 * filters)
        branches = [
            keras.layers.Conv1D(width, max(1, kernel_size // 2**i), padding="same",
                                use_bias=False, kernel_regularizer=reg,
                                name=f"multiplex_conv_{i}")(inputs)
            for i in range(n_convs)
        ]
        if handcrafted:
            branches.append(_handcrafted(inputs, "handcrafted"))
        x = branches[0] if len(branches) == 1 else keras.layers.Concatenate(
            name="multiplex_concat")(branches)
        x = batch_norm("multiplex_bn")(x)
        x = keras.layers.Activation("relu", name="multiplex_act")(x)
        for i in range(depth - 1):
            x = SeparableConv1D(
                filters, max(1, kernel_size // 2 // 2**i), padding="same",
                dilation_rate=2 ** (i + 1) if dilation else 1, use_bias=False,
                depthwise_regularizer=reg, pointwise_regularizer=reg, name=f"separable_{i}",
            )(x)
            x = batch_norm(f"separable_{i}_bn")(x)
            x = keras.layers.Activation("relu", name=f"separable_{i}_act")(x)
        outputs = pooled_head(x, inputs, head=head, num_classes=num_classes, reg=reg,
                              dropout=dropout, masking=masking, mask_value=mask_value)
    return keras.Model(inputs, outputs, name="lite")
