"""The Transformer family's layers: fixed sinusoidal position codes and a pre-norm
encoder block. Registered as serializable under the `kzoo` package (the names
saved `.keras` files hold, `kzoo>TransformerEncoderBlock`, ...), like `layers`.
"""

import keras
from keras import ops

from kzoo.runtime.errors import UsageError


@keras.saving.register_keras_serializable(package="kzoo")
class SinusoidalPositionEmbedding(keras.layers.Layer):
    """Adds fixed sine/cosine position codes to a `(batch, steps, features)` input.

    Having no weights, it works for any number of steps (variable-length input)
    and passes the Keras mask through.

    Args:
        max_wavelength: the longest wavelength of the codes. Defaults to `10000`.

    Reference: Vaswani et al. 2017, "Attention is all you need", section 3.5.
    """

    def __init__(self, max_wavelength=10000, **kwargs):
        super().__init__(**kwargs)
        self.max_wavelength = max_wavelength
        self.supports_masking = True

    def call(self, inputs):
        steps, features = ops.shape(inputs)[1], inputs.shape[-1]
        position = ops.cast(ops.arange(steps), "float32")[:, None]
        index = ops.cast(ops.arange(features) // 2 * 2, "float32")[None, :]
        angle = position / ops.power(float(self.max_wavelength), index / features)
        even = ops.equal(ops.arange(features) % 2, 0)[None, :]
        codes = ops.where(even, ops.sin(angle), ops.cos(angle))
        return inputs + ops.cast(codes, inputs.dtype)[None]

    def compute_mask(self, inputs, mask=None):
        return mask

    def get_config(self):
        return {**super().get_config(), "max_wavelength": self.max_wavelength}


@keras.saving.register_keras_serializable(package="kzoo")
class TransformerEncoderBlock(keras.layers.Layer):
    """One pre-norm Transformer encoder block: self-attention then a feed-forward net,
    each with a residual connection. Padded steps (Keras mask False) are never
    attended to.

    Args:
        num_heads: attention heads. Defaults to `4`.
        ff_dim: hidden units of the feed-forward net. Defaults to `128`.
        dropout: dropout on attention weights and residual branches. Defaults to `0.1`.
        activation: feed-forward activation. Defaults to `"gelu"`.

    Reference: Vaswani et al. 2017; pre-norm placement as in Xiong et al. 2020.
    """

    def __init__(self, num_heads=4, ff_dim=128, dropout=0.1, activation="gelu", **kwargs):
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.ff_dim = ff_dim
        self.dropout = dropout
        self.activation = activation
        self.supports_masking = True

    def build(self, input_shape):
        dim = input_shape[-1]
        if dim % self.num_heads:
            raise UsageError(
                f"The model width {dim} must be divisible by num_heads={self.num_heads}."
            )
        self.norm_attention = keras.layers.LayerNormalization(epsilon=1e-6, name="norm_attention")
        self.attention = keras.layers.MultiHeadAttention(
            self.num_heads, dim // self.num_heads, dropout=self.dropout, name="attention"
        )
        self.norm_ff = keras.layers.LayerNormalization(epsilon=1e-6, name="norm_ff")
        self.ff_hidden = keras.layers.Dense(self.ff_dim, activation=self.activation, name="ff_1")
        self.ff_out = keras.layers.Dense(dim, name="ff_2")
        self.drop = keras.layers.Dropout(self.dropout)
        self.norm_attention.build(input_shape)
        self.attention.build(input_shape, input_shape)
        self.norm_ff.build(input_shape)
        self.ff_hidden.build(input_shape)
        self.ff_out.build((*input_shape[:-1], self.ff_dim))

    def call(self, inputs, mask=None, training=None):
        attention_mask = None
        if mask is not None:
            keys = ops.cast(mask, "bool")[:, None, :]
            attention_mask = ops.logical_and(keys, ops.ones_like(keys)[:, :1, :1])
            attention_mask = ops.broadcast_to(
                attention_mask, (ops.shape(inputs)[0], ops.shape(inputs)[1], ops.shape(inputs)[1])
            )
        h = self.norm_attention(inputs)
        h = self.attention(h, h, attention_mask=attention_mask, training=training)
        x = inputs + self.drop(h, training=training)
        h = self.ff_out(self.ff_hidden(self.norm_ff(x)))
        return x + self.drop(h, training=training)

    def compute_mask(self, inputs, mask=None):
        return mask

    def get_config(self):
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "ff_dim": self.ff_dim,
            "dropout": self.dropout,
            "activation": self.activation,
        }
