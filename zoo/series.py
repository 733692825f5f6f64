"""Input preparation inside a sequence model: per-series z-normalisation and
resampling of right-padded unequal-length series to one length.

Both live in the model (`SeriesPreparation`, the first layer), so the saved
`.keras` file prepares raw series at predict time exactly as in training.
Every sequence family takes them through `kzoo.zoo.create` (`INPUT_HPARAMS`):

- `series_norm=True`: each series is z-normalised per channel over its valid
  (unpadded) steps, the UCR archive's convention; padding stays `mask_value`.
- `resample_to=R` (> 1): each series' valid steps are linearly interpolated to
  `R` steps (the UCR archive's "_eq" versions of unequal sets are made the same
  way), so no padding reaches the convolutions; the model then takes series of
  any padded length.

Padding is found as in `MaskedGlobalPooling1D`: right padding, steps whose
features all equal `mask_value`. `kzoo.training.series_rule` decides when the
plain command turns them on.
"""

import keras
import numpy as np
from keras import ops

from kzoo.runtime.checks import is_int
from kzoo.runtime.errors import UsageError

# Hyperparameters every sequence family takes (`kzoo.zoo.create` applies them).
INPUT_HPARAMS = {"series_norm": False, "resample_to": 0}
# Per-series scale spread: ratio of these percentiles of the per-series std.
PERCENTILES = (5, 95)


@keras.saving.register_keras_serializable(package="kzoo")
class SeriesPreparation(keras.Layer):
    """Resample right-padded series to `resample_to` steps (0: keep the steps) and/or
    z-normalise each series per channel over its valid steps (`normalize`).

    Computes in float32 whatever the dtype policy: per-series scales as small as
    1e-5 would underflow in float16.
    """

    def __init__(self, resample_to=0, normalize=False, mask_value=0.0, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.resample_to = int(resample_to or 0)
        self.normalize = bool(normalize)
        self.mask_value = float(mask_value)

    def call(self, x):
        x = ops.cast(x, "float32")
        valid = ops.any(ops.not_equal(x, self.mask_value), axis=-1)  # (batch, steps)
        if self.resample_to:
            x = self._resample(x, valid)
            valid = ops.ones(ops.shape(x)[:2], dtype="bool")
        if self.normalize:
            w = ops.cast(valid, x.dtype)[..., None]
            count = ops.maximum(ops.sum(w, axis=1, keepdims=True), 1.0)
            mean = ops.sum(x * w, axis=1, keepdims=True) / count
            var = ops.sum(ops.square((x - mean) * w), axis=1, keepdims=True) / count
            std = ops.sqrt(var)
            std = ops.where(std > 1e-20, std, ops.ones_like(std))  # constant series -> 0
            x = ops.where(valid[..., None], (x - mean) / std, self.mask_value)
        return x

    def _resample(self, x, valid):
        steps = ops.shape(x)[1]
        index = ops.arange(steps, dtype="int32")[None, :]
        length = ops.max(ops.where(valid, index + 1, 0), axis=1)  # last valid step + 1
        last = ops.cast(ops.maximum(length, 1) - 1, "float32")[:, None]  # (batch, 1)
        grid = ops.arange(self.resample_to, dtype="float32")[None, :] / (self.resample_to - 1)
        pos = grid * last  # (batch, R) positions on each series' own valid steps
        lo = ops.floor(pos)
        frac = (pos - lo)[..., None]
        lo = ops.cast(lo, "int32")
        hi = ops.minimum(lo + 1, ops.cast(last, "int32"))
        shape = (ops.shape(x)[0], self.resample_to, ops.shape(x)[2])
        take = lambda i: ops.take_along_axis(x, ops.broadcast_to(i[..., None], shape), axis=1)  # noqa: E731
        return take(lo) * (1.0 - frac) + take(hi) * frac

    def compute_output_shape(self, input_shape):
        steps = self.resample_to or input_shape[1]
        return (input_shape[0], steps, input_shape[2])

    def get_config(self):
        return {**super().get_config(), "resample_to": self.resample_to,
                "normalize": self.normalize, "mask_value": self.mask_value}


def split_input_hparams(kind, hparams):
    """`(preparation, rest)`: the `INPUT_HPARAMS` given (sequence families only)."""
    if kind != "sequence":
        return {}, dict(hparams)
    prep = {k: hparams[k] for k in INPUT_HPARAMS if k in hparams}
    return prep, {k: v for k, v in hparams.items() if k not in INPUT_HPARAMS}


def check_input_hparams(prep):
    """Raise ValueError on a bad `series_norm` / `resample_to`."""
    norm, steps = prep.get("series_norm", False), prep.get("resample_to", 0)
    if not isinstance(norm, bool):
        raise UsageError(f"series_norm must be true or false, got {norm!r}.")
    if steps is None:
        return
    if not is_int(steps) or steps == 1 or steps < 0:
        raise UsageError(f"resample_to must be 0 (off) or an int >= 2 steps, got {steps!r}.")


def build_prepared(builder, input_shape, num_classes, head, hparams, prep):
    """The family's model with a `SeriesPreparation` first layer, as one flat graph
    (the family's own layers, called on the prepared series)."""
    resample_to = int(prep.get("resample_to") or 0)
    if not (resample_to or prep.get("series_norm")):
        return builder(input_shape, num_classes, head=head, **hparams)
    steps, channels = input_shape
    inner = builder((resample_to or steps, channels), num_classes, head=head, **hparams)
    inputs = keras.Input(shape=(None if resample_to else steps, channels),
                         name=inner.inputs[0].name)
    prepared = SeriesPreparation(resample_to, bool(prep.get("series_norm")),
                                 hparams.get("mask_value", 0.0), name="series_prep")(inputs)
    # The family's own layers called on the prepared tensor (not `inner(prepared)`,
    # which would nest the family as one layer and hide its BatchNorms).
    outputs = inner._run_through_graph([prepared], operation_fn=lambda op: op)
    return keras.Model(inputs, outputs, name=inner.name)


# Facts about padded series data (numpy), read by the plain command's rule
# (kzoo.training.series_rule) and by the diagnosis (kzoo.diagnose.facts).
def valid_lengths(x, mask_value=0.0):
    """Steps up to each series' last step not wholly equal to `mask_value`."""
    valid = np.any(x != mask_value, axis=-1)
    steps = np.arange(1, x.shape[1] + 1)
    return np.max(np.where(valid, steps, 0), axis=1)


def scale_spread(x, lengths):
    """The largest per-channel ratio of the 95th to the 5th percentile of the
    per-series standard deviations (over valid steps); 1.0 when undefined."""
    stds = np.stack([x[i, : max(n, 1)].std(axis=0) for i, n in enumerate(lengths)])
    spread = 1.0
    for channel in stds.T:
        channel = channel[channel > 0]
        if len(channel) >= 2:
            low, high = np.percentile(channel, PERCENTILES)
            spread = max(spread, float(high / max(low, 1e-30)))
    return spread
