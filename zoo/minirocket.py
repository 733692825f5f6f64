"""`minirocket`: MiniRocket (Dempster, Schmidt & Webb 2021), a Keras layer and a linear head.

The transform (`MiniRocketFeatures`) follows the paper (KDD 2021, "MiniRocket:
a very fast (almost) deterministic transform for time series classification",
section 3; reference code: angus924/minirocket):

- 84 fixed kernels of length 9 with weights -1 and 2: one for each choice of
  the three positions of the 2s, `itertools.combinations(range(9), 3)` in order;
- dilations `floor(2 ** linspace(0, log2((L - 1) / 8), 32))`, duplicates merged,
  each dilation taking features in proportion to how often it occurred;
  `num_features // 84` per kernel (9,996 of 10,000 by default);
- zero padding ("same") for the kernel/dilation pairs where
  `(dilation index + kernel index)` is even, no padding for the others;
- biases: quantiles (the golden-ratio sequence `(i * phi) % 1`) of the padded
  convolution output of one random training example per kernel/dilation pair;
- PPV pooling: the proportion of positive values of `conv - bias`.

It is computed with Keras ops (one dilated convolution per dilation over all
84 kernels, then one comparison per feature column), so the same features
come out on jax, tensorflow and torch, on CPU or GPU. Multivariate input
follows the paper's multivariate variant: each kernel/dilation pair sums the
convolutions of a random subset of `2 ** U(0, log2(min(C, 9) + 1))` channels.
Series shorter than 9 steps use dilation 1 with padding everywhere (the
reference needs length >= 9).

The biases and the feature standardisation are fitted to the training data
by `MiniRocketFeatures.adapt(x)`: `kzoo.train`, `kzoo tune` and `kzoo lr-find`
call it (`kzoo.zoo.fit_to_data`) before training; with `kzoo.zoo.create`
call `kzoo.zoo.fit_to_data(model, x_train)` before `model.fit`.

The head (`minirocket_head.LinearHead`) follows the paper: ridge regression with
its penalty chosen by leave-one-out cross-validation (RidgeClassifierCV) for
training sets of at most 10,000 examples (the recipe's `ridge_max_examples`),
logistic regression (softmax, zero start, trained by Adam) above that
(angus924/minirocket: "for larger datasets (10,000+ training examples)" SGD).
`fit_to_data(model, x, y)` solves the ridge on the standardised features that
`adapt` computes anyway, writes it into the Dense head and freezes it; the
output is softmax (sigmoid for a binary head) of the ridge scores times one
temperature fitted to their leave-one-out values (calibrated probabilities),
so the predicted class is RidgeClassifierCV's. `kzoo.train` then runs one epoch (the
recipe's rule: nothing is left to train, the epoch evaluates it). `head_fit`
chooses: `"auto"` (the rule), `"ridge"` or `"logistic"`; `depth > 1`, `l2` and
`dropout` configure the trained head, so `"auto"` trains it when they are set.
"""


import keras
import numpy as np
from keras import ops

from kzoo.runtime.errors import DataError
from kzoo.zoo import minirocket_kernels as kernels
from kzoo.zoo._registry import check_range, output_units, register_model
from kzoo.zoo.layers import regularizer, sequence_input
from kzoo.zoo.minirocket_head import LinearHead, choose_head_fit
from kzoo.zoo.minirocket_kernels import (
    KERNEL_LENGTH,
    NUM_KERNELS,
    channel_combinations,
    compiled,
    fit_biases,
    fit_dilations,
    kernel_weights,
    time_weights,
)


@keras.saving.register_keras_serializable(package="kzoo")
class MiniRocketFeatures(keras.layers.Layer):
    """The MiniRocket transform: `(batch, steps, channels)` -> `(batch, features)`.

    Fixed kernels, no trainable weights; biases and the standardisation are
    non-trainable weights set by `adapt`, so they save and load with the model.
    Computed in float32 whatever the dtype policy (PPV counts sign changes).

    Args:
        num_features: target number of features (rounded down to a multiple of 84).
            Defaults to `10_000`, the paper's.
        max_dilations: most dilations per kernel. Defaults to `32`, the paper's.
        standardize: subtract the training mean and divide by the training
            standard deviation of each feature. Defaults to `True`.
        seed: seed of the channel combinations (multivariate input) and of the
            examples `adapt` draws; `None` draws it from NumPy's global state
            (seeded by `keras.utils.set_random_seed`). Defaults to `None`.
    """

    def __init__(self, num_features=10_000, max_dilations=32, standardize=True, seed=None,
                 **kwargs):
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        check_range("num_features", num_features, NUM_KERNELS, kind=int)
        check_range("max_dilations", max_dilations, 1, kind=int)
        self.num_features = num_features
        self.max_dilations = max_dilations
        self.standardize = standardize
        self.seed = seed

    def _rng(self):
        seed = self.seed if self.seed is not None else np.random.randint(2**31 - 1)
        return np.random.default_rng(seed)

    def build(self, input_shape):
        length, channels = input_shape[1], input_shape[2]
        if length is None:
            raise DataError(
                "MiniRocket needs a fixed series length (its dilations follow from it); "
                "got input_shape with timesteps=None. Pad the series to one length."
            )
        self.length, self.channels = int(length), int(channels)
        self.dilations, self.per_dilation = fit_dilations(
            self.length, self.num_features, self.max_dilations)
        self.total = NUM_KERNELS * int(self.per_dilation.sum())
        n_pairs = len(self.dilations) * NUM_KERNELS
        self.channel_mask = self.add_weight(
            name="channel_mask", shape=(len(self.dilations), NUM_KERNELS, self.channels),
            initializer="ones", trainable=False)
        if self.channels > 1:
            mask = channel_combinations(self.channels, n_pairs, self._rng())
            self.channel_mask.assign(mask.reshape(len(self.dilations), NUM_KERNELS, -1))
        self.biases = self.add_weight(
            name="biases", shape=(self.total,), initializer="zeros", trainable=False)
        self.mean = self.add_weight(
            name="mean", shape=(self.total,), initializer="zeros", trainable=False)
        self.inv_std = self.add_weight(
            name="inv_std", shape=(self.total,), initializer="ones", trainable=False)

    def convolve(self, x, index):
        """(batch, steps, 84): the zero-padded convolution of `x` with the 84 kernels at
        dilation number `index`, each summing its channels."""
        dilation = int(self.dilations[index])
        pad = (KERNEL_LENGTH - 1) // 2 * dilation
        # (9, channels, 84): the kernel of each pair, restricted to its channels.
        kernel = ops.convert_to_tensor(kernel_weights())[:, None, :] * ops.transpose(
            self.channel_mask[index])[None, :, :]
        x = ops.pad(ops.cast(x, "float32"), [[0, 0], [pad, pad], [0, 0]])
        return ops.conv(x, kernel, strides=1, padding="valid", dilation_rate=dilation)

    def raw_features(self, x):
        """The PPV features before standardisation, `(batch, features)`.

        Computed `chunk_size(x)` examples at a time (`keras.ops.map` over chunks):
        no backend fuses the comparison of every convolution output with its
        biases into the sum over time, so a whole batch would hold
        `batch x steps x features` comparisons at once (20 GB for 256 series of
        length 2,000 on jax's CPU); a chunk holds at most `minirocket_kernels.CHUNK_BYTES` of them,
        which is also faster on a CPU (they stay in cache).
        """
        chunk = self.chunk_size(x)
        batch = x.shape[0]
        if batch is not None and batch <= chunk:
            return self._ppv(x)
        batch = ops.shape(x)[0]
        padded = ops.pad(x, [[0, (chunk - batch % chunk) % chunk], [0, 0], [0, 0]])
        chunks = ops.reshape(padded, (-1, chunk, self.length, self.channels))
        features = ops.reshape(ops.map(self._ppv, chunks), (-1, self.total))
        return features[:batch]

    def chunk_size(self, x):
        """Examples per chunk: `minirocket_kernels.CHUNK_BYTES` of comparisons for the widest
        dilation (32 MB on a CPU, 1 GB on an accelerator, where parallel work
        counts more than cache)."""
        budget = kernels.CHUNK_BYTES * (32 if kernels.on_accelerator(x) else 1)
        per_example = self.length * NUM_KERNELS * int(self.per_dilation.max()) * 4
        return max(1, budget // per_example)

    def _ppv(self, x):
        features, start = [], 0
        for index, dilation in enumerate(int(d) for d in self.dilations):
            conv = self.convolve(x, index)
            count = int(self.per_dilation[index])
            weights = ops.convert_to_tensor(time_weights(self.length, index, dilation))
            biases = ops.reshape(
                self.biases[start:start + NUM_KERNELS * count], (NUM_KERNELS, count))
            ppv = ops.cast(conv[..., None] > biases, "float32") * weights[..., None]
            # Feature order as in the paper: dilation, then kernel, then quantile.
            features.append(ops.reshape(ops.sum(ppv, axis=1), (-1, NUM_KERNELS * count)))
            start += NUM_KERNELS * count
        return ops.concatenate(features, axis=-1)

    def call(self, inputs):
        features = self.raw_features(inputs)
        if self.standardize:
            features = (features - self.mean) * self.inv_std
        return features

    def adapt(self, x, batch_size=64):
        """Fit the biases (and the standardisation) to training series `x`, an array
        `(examples, steps, channels)`. Returns the layer's output for `x` (NumPy,
        float32), which a closed-form head is solved on."""
        x = np.asarray(x, dtype="float32")
        if not self.built:
            self.build((None, *x.shape[1:]))
        mask = np.asarray(ops.convert_to_numpy(self.channel_mask), dtype="float64")
        self.biases.assign(fit_biases(
            x, self.dilations, self.per_dilation, mask, self.total, self._rng()))
        transform = compiled(self.raw_features)
        raw = np.concatenate([
            ops.convert_to_numpy(transform(ops.convert_to_tensor(x[i:i + batch_size])))
            for i in range(0, len(x), batch_size)
        ])
        if not self.standardize:
            return raw
        std = raw.std(axis=0, dtype="float64")
        mean = raw.mean(axis=0, dtype="float64").astype("float32")
        # Constant features (common on tiny sets) keep scale 1, as scikit-learn does.
        inv_std = np.where(std > 1e-8, 1.0 / np.maximum(std, 1e-8), 1.0).astype("float32")
        self.mean.assign(mean)
        self.inv_std.assign(inv_std)
        return (raw - mean) * inv_std  # as `call` computes it, in float32

    def compute_output_shape(self, input_shape):
        length = input_shape[1]
        _, per_dilation = fit_dilations(length, self.num_features, self.max_dilations)
        return (input_shape[0], NUM_KERNELS * int(per_dilation.sum()))

    def get_config(self):
        return {**super().get_config(), "num_features": self.num_features,
                "max_dilations": self.max_dilations, "standardize": self.standardize,
                "seed": self.seed}


def space(hp):
    """KerasTuner search space of MiniRocket: the head and the transform's size. The
    default point (depth 1, no l2) is the paper's ridge head where `head_fit="auto"`
    chooses ridge; the others train a logistic head."""
    return {
        "depth": hp.Int("depth", 1, 2, default=1),
        "l2": hp.Choice("l2", [0.0, 1e-4, 1e-3, 1e-2], default=0.0),
        "num_features": hp.Choice("num_features", [2_000, 5_000, 10_000], default=10_000),
    }


@register_model(
    "minirocket",
    space=space,
    kind="sequence",
    needs_kzoo=lambda hparams: True,
    description="MiniRocket: 84 fixed dilated kernels, PPV features, ridge (closed form) "
    "or logistic regression head.",
    head_fit=lambda hparams, n, head: choose_head_fit(
        hparams["head_fit"], head=head, depth=hparams["depth"], l2=hparams["l2"],
        dropout=hparams["dropout"], n=n),
    reference="Dempster, Schmidt & Webb 2021, 'MiniRocket: a very fast (almost) "
    "deterministic transform for time series classification' (KDD)",
)
def minirocket(
    input_shape,
    num_classes,
    *,
    head="multiclass",
    depth=1,
    num_features=10_000,
    max_dilations=32,
    units=128,
    dropout=0.0,
    l2=0.0,
    head_fit="auto",
):
    """Build a MiniRocket classifier: the fixed transform and a trained head.

    Args:
        input_shape: `(timesteps, features)`; `timesteps` must be fixed.
        num_classes: output size (see `kzoo.zoo.create`).
        head: output head. Defaults to `"multiclass"`.
        depth: Dense layers of the head; `1` is the published linear classifier,
            more add hidden ReLU layers of `units`. Defaults to `1`.
        num_features: size of the transform (a multiple of 84 is used).
            Defaults to `10_000`, the paper's.
        max_dilations: most dilations per kernel. Defaults to `32`, the paper's.
        units: width of the hidden layers when `depth > 1`. Defaults to `128`.
        dropout: dropout on the features. Defaults to `0.0`.
        l2: L2 penalty on the logistic head's weights. Defaults to `0.0`.
        head_fit: `"ridge"` (closed form, `kzoo.zoo.fit_to_data` solves it),
            `"logistic"` (trained by `fit`) or `"auto"`: ridge for at most 10,000
            training examples, as the paper (module docstring). Defaults to `"auto"`.

    Example:

    >>> model = kzoo.zoo.create("minirocket", input_shape=(150, 1), num_classes=2)
    >>> kzoo.zoo.fit_to_data(model, x_train, y_train)  # biases, standardisation, ridge
    >>> model.evaluate(x_test, y_test)
    """
    check_range("depth", depth, 1, kind=int)
    check_range("units", units, 1, kind=int)
    check_range("dropout", dropout, 0.0, 0.99)
    check_range("l2", l2, 0.0)
    inputs = sequence_input(input_shape)
    if input_shape[0] is None:
        raise DataError(
            "minirocket needs a fixed series length (its dilations follow from it); got "
            "timesteps=None. Pad the series to one length."
        )
    x = MiniRocketFeatures(num_features, max_dilations, name="minirocket")(inputs)
    reg = regularizer(0.0, l2)
    if dropout:
        x = keras.layers.Dropout(dropout, name="feature_dropout")(x)
    for i in range(depth - 1):
        x = keras.layers.Dense(units, activation="relu", kernel_regularizer=reg,
                               name=f"hidden_{i}")(x)
    out_units, activation = output_units(head, num_classes)
    fit = choose_head_fit(head_fit, head=head, depth=depth, l2=l2, dropout=dropout)
    # Zero start, as logistic regression: the standardised features are 10^4 wide.
    head_layer = LinearHead if depth == 1 else keras.layers.Dense
    outputs = head_layer(
        out_units, activation=activation, kernel_regularizer=reg, dtype="float32",
        kernel_initializer="zeros" if depth == 1 else "glorot_uniform", name="head",
        **({"head_fit": fit} if depth == 1 else {}))(x)
    return keras.Model(inputs, outputs, name="minirocket")
