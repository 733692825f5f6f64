"""Layers shared by the zoo families.

They are registered as serializable under the `kzoo` package, so models that
use them save to `.keras` and load back with `safe_mode=True` (no `Lambda`).
"""

import keras
from keras import ops

from kzoo.zoo._registry import output_units


@keras.saving.register_keras_serializable(package="kzoo")
class AttentionPooling(keras.layers.Layer):
    """Attention pooling over time: a learned score per step, softmax, weighted sum.

    Padded steps (mask == False) get zero weight.

    Args:
        units: size of the hidden scoring layer. Defaults to `None`, a single
            linear score per step.

    Reference: Bahdanau et al. 2015; Raffel & Ellis 2015 ("feed-forward attention").
    """

    def __init__(self, units=None, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.supports_masking = True

    def build(self, input_shape):
        features = input_shape[-1]
        if self.units:
            self.hidden = keras.layers.Dense(self.units, activation="tanh", name="hidden")
            self.hidden.build(input_shape)
            features = self.units
        self.score = keras.layers.Dense(1, use_bias=False, name="score")
        self.score.build((*input_shape[:-1], features))

    def call(self, inputs, mask=None):
        h = self.hidden(inputs) if self.units else inputs
        scores = ops.squeeze(self.score(h), axis=-1)
        if mask is not None:
            scores = ops.where(mask, scores, ops.full_like(scores, -1e9))
        weights = ops.softmax(ops.cast(scores, "float32"), axis=-1)
        weights = ops.cast(weights, inputs.dtype)
        return ops.sum(inputs * ops.expand_dims(weights, -1), axis=1)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def output_head(x, head, num_classes, *, kernel_regularizer=None, name="head"):
    """The output layer for `head`, kept in float32 under mixed precision."""
    units, activation = output_units(head, num_classes)
    return keras.layers.Dense(
        units,
        activation=activation,
        kernel_regularizer=kernel_regularizer,
        dtype="float32",
        name=name,
    )(x)


def regularizer(l1=0.0, l2=0.0):
    """An L1/L2 regularizer, or None when both are zero."""
    if l1 or l2:
        return keras.regularizers.L1L2(l1=l1, l2=l2)
    return None


def default_initializer(activation):
    """He init for the ReLU family (He et al. 2015), LeCun for SELU (Klambauer et al.
    2017), Glorot otherwise (Glorot & Bengio 2010)."""
    if activation == "selu":
        return "lecun_normal"
    relu_like = {"relu", "elu", "gelu", "leaky_relu", "relu6", "silu", "swish", "mish"}
    return "he_normal" if activation in relu_like else "glorot_uniform"
