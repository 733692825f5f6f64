"""Layers shared by the zoo families.

They are registered as serializable under the `kzoo` package, so models that
use them save to `.keras` and load back with `safe_mode=True` (no `Lambda`).
"""

import keras
from keras import ops

from kzoo.runtime.errors import UsageError
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


@keras.saving.register_keras_serializable(package="kzoo")
class MaskedGlobalPooling1D(keras.layers.Layer):
    """Global pooling over time that skips padded steps.

    Called on `x` alone it is plain global pooling. Called on `[x, sequence]`,
    where `sequence` is the raw model input (same number of steps as `x`), the
    steps of `sequence` whose features all equal `mask_value` are left out, so
    convolutional families can pool right-padded variable-length batches.

    Args:
        mode: `"mean"`, `"max"` or `"last"` (the last unpadded step). Defaults
            to `"mean"`.
        mask_value: the padding value. Defaults to `0.0`.
    """

    MODES = ("mean", "max", "last")

    def __init__(self, mode="mean", mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        if mode not in self.MODES:
            raise UsageError(f"mode must be one of {self.MODES}, got {mode!r}.")
        self.mode = mode
        self.mask_value = mask_value

    def call(self, inputs):
        if isinstance(inputs, (list, tuple)):
            x, sequence = inputs
            valid = ops.any(ops.not_equal(sequence, self.mask_value), axis=-1)
        else:
            x = inputs
            valid = ops.ones(ops.shape(x)[:2], dtype="bool")
        weights = ops.cast(valid, x.dtype)
        if self.mode == "mean":
            total = ops.sum(x * weights[..., None], axis=1)
            count = ops.maximum(ops.sum(weights, axis=1, keepdims=True), 1.0)
            return total / count
        if self.mode == "max":
            lowest = ops.full_like(x, -1e4 if x.dtype in ("float16", "bfloat16") else -1e9)
            return ops.max(ops.where(valid[..., None], x, lowest), axis=1)
        # Index of the last valid step (right padding); 0 when a row is all padding.
        steps = ops.arange(ops.shape(x)[1])
        last = ops.max(ops.where(valid, steps[None, :], 0), axis=1)
        picked = ops.take_along_axis(x, ops.reshape(last, (-1, 1, 1)), axis=1)
        return ops.squeeze(picked, axis=1)

    def compute_output_shape(self, input_shape):
        shape = input_shape[0] if isinstance(input_shape, (list, tuple)) and isinstance(
            input_shape[0], (list, tuple)
        ) else input_shape
        return (shape[0], shape[-1])

    def get_config(self):
        return {**super().get_config(), "mode": self.mode, "mask_value": self.mask_value}


def _tf_replicas():
    if keras.backend.backend() != "tensorflow":
        return 1
    import tensorflow as tf

    return tf.distribute.get_strategy().num_replicas_in_sync


def batch_norm(name, **kwargs):
    """`BatchNormalization`, synchronized over the replicas of a TF strategy.

    Under `tf.distribute.MirroredStrategy` (kzoo's `devices` on tensorflow) each
    replica would normalise with its own slice's statistics; `synchronized=True`
    makes them the global batch's, as jax's `DataParallel` computes them (and
    one device does). Elsewhere it is the plain layer.

    Args:
        name: the layer's name.
        **kwargs: other `BatchNormalization` arguments.

    Returns:
        A `keras.layers.BatchNormalization`.
    """
    if _tf_replicas() > 1:
        kwargs["synchronized"] = True
    return keras.layers.BatchNormalization(name=name, **kwargs)


def unsynchronize_batch_norm(model):
    """Set `synchronized=False` on the model's BatchNormalization layers after a
    multi-replica fit, so its saved config loads on every backend (Keras
    accepts `synchronized=True` on tensorflow only). Inference is unchanged:
    it uses the moving statistics."""
    layers = list(model.layers)
    while layers:
        layer = layers.pop()
        layers.extend(getattr(layer, "layers", []))
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.synchronized = False


def conv_block(x, filters, kernel_size, *, name, activation="relu", dilation_rate=1,
               padding="same", reg=None):
    """Conv1D (no bias) -> BatchNorm -> activation, the unit of FCN/ResNet/LSTM-FCN."""
    x = keras.layers.Conv1D(
        filters,
        kernel_size,
        padding=padding,
        dilation_rate=dilation_rate,
        use_bias=False,
        kernel_initializer="he_uniform",
        kernel_regularizer=reg,
        name=f"{name}_conv",
    )(x)
    x = batch_norm(f"{name}_bn")(x)
    if activation:
        x = keras.layers.Activation(activation, name=f"{name}_act")(x)
    return x


def sequence_input(input_shape, name="sequence"):
    """The `keras.Input` of a sequence family (`timesteps` may be `None`)."""
    return keras.Input(shape=tuple(input_shape), name=name)


def global_pool(x, sequence, *, masking, mask_value, mode="mean", name="pool"):
    """Global pooling over time; with `masking`, padded steps of `sequence` are skipped.

    Without masking, mean and max pooling are Keras' own layers, so the model's
    `.keras` file loads without kzoo (see `needs_kzoo_pooling`).
    """
    if not masking and mode == "mean":
        return keras.layers.GlobalAveragePooling1D(name=name)(x)
    if not masking and mode == "max":
        return keras.layers.GlobalMaxPooling1D(name=name)(x)
    layer = MaskedGlobalPooling1D(mode, mask_value, name=name)
    return layer([x, sequence]) if masking else layer(x)


def needs_kzoo_pooling(hparams, mode="mean"):
    """Whether `global_pool` uses a kzoo layer: with masking, or for the last step."""
    return bool(hparams.get("masking")) or mode == "last"


def pooled_head(x, sequence, *, head, num_classes, reg=None, dropout=0.0, masking=False,
                mask_value=0.0, mode="mean", prefix="", pool_name="gap"):
    """The tail every convolutional family shares: global pooling over time (padded
    steps of `sequence` left out with `masking`), optional dropout, then the head."""
    x = global_pool(x, sequence, masking=masking, mask_value=mask_value, mode=mode,
                    name=f"{prefix}{pool_name}")
    if dropout:
        x = keras.layers.Dropout(dropout, name=f"{prefix}head_dropout")(x)
    return output_head(x, head, num_classes, kernel_regularizer=reg, name=f"{prefix}head")


def remat_scope(mode):
    """A `keras.RematScope` for `mode` (`None`: no rematerialisation), validated."""
    from kzoo.zoo._registry import check_choice

    check_choice("remat", mode, REMAT_MODES)
    backend = keras.backend.backend()
    if mode and keras.config.dtype_policy().name.startswith("mixed"):
        # Keras 3.15 fails here on torch (checkpoint recomputes with other dtypes)
        # and on jax (the functional call cannot be built); measured, not assumed.
        raise UsageError(
            f"remat={mode!r} cannot be combined with the {keras.config.dtype_policy().name} "
            "policy (Keras 3.15 fails on the torch and jax backends). Use float32 "
            "precision with remat, or remat=None."
        )
    if mode and backend in ("jax", "tensorflow"):
        from kzoo.zoo import _remat

        _remat.install()  # a checkpoint that Keras 3.15's layers survive (_remat.py)
    return keras.RematScope(mode=mode)


REMAT_MODES = (None, "full", "activations", "larger_than")
