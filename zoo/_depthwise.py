"""A `SeparableConv1D` whose depthwise part is fast on jax's CPU backend.

Keras' depthwise convolution on jax is `lax.conv_general_dilated` with
`feature_group_count=channels`, which XLA's CPU backend runs very slowly (at
batch 16, 275 steps, 96 channels, kernel 20, dilation 2: 57 ms forward and
135 ms for the gradient, against 0.7 ms and 28 ms for the sum of shifted
slices below; no XLA flag helps). LITE's separable layers made it slower
than InceptionTime on kzoo's default backend. TensorFlow and torch run the
grouped convolution fast, so they keep Keras' own call.
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kzoo")
class SeparableConv1D(keras.layers.SeparableConv1D):
    """`keras.layers.SeparableConv1D` with the same arguments, weights and config.

    On the jax backend, for stride 1 and `channels_last` (the rest falls back to
    Keras' call), the depthwise convolution is computed as
    `sum_j xpad[:, j*d : j*d + L_out, :] * depthwise_kernel[j]`, the same values as
    Keras' convolution to float rounding, then the pointwise 1x1 as a matmul.
    Padding `"same"` pads `(k - 1) * d` steps, half (rounded down) on the left,
    as XLA and TensorFlow do (Keras' separable layers take no `"causal"`).
    """

    def _shifted_slices(self):
        return (
            keras.backend.backend() == "jax"
            and self.data_format == "channels_last"
            and tuple(self.strides) == (1,)
            and self.padding in ("same", "valid")
        )

    def call(self, inputs):
        if not self._shifted_slices():
            return super().call(inputs)
        kernel = self.depthwise_kernel  # (k, channels, depth_multiplier)
        size, dilation = self.kernel_size[0], self.dilation_rate[0]
        total = (size - 1) * dilation
        if self.padding == "same":
            left = total // 2
            inputs = ops.pad(inputs, ((0, 0), (left, total - left), (0, 0)))
        multiplier = self.depth_multiplier
        if multiplier > 1:
            inputs = ops.expand_dims(inputs, -1)  # (batch, steps, channels, 1)
        outputs = None
        for j in range(size):
            stop = j * dilation - total  # <= 0: that many steps cut from the end
            piece = inputs[:, j * dilation: stop if stop else None]
            tap = kernel[j] if multiplier > 1 else kernel[j, :, 0]
            term = ops.multiply(piece, tap)
            outputs = term if outputs is None else ops.add(outputs, term)
        if multiplier > 1:
            # Keras' depthwise channel order: input channel c, multiplier m -> c * M + m.
            shape = ops.shape(outputs)
            outputs = ops.reshape(outputs, (shape[0], shape[1], shape[2] * multiplier))
        outputs = ops.matmul(outputs, self.pointwise_kernel[0])
        if self.use_bias:
            outputs = ops.add(outputs, self.bias)
        if self.activation is not None:
            return self.activation(outputs)
        return outputs
