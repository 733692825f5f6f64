"""`transformer`: a Transformer encoder for sequence classification.

Input steps are projected to `d_model` features, fixed sinusoidal position
codes are added, `depth` pre-norm encoder blocks (self-attention + feed-forward,
each residual) follow, then a final LayerNorm, masked mean pooling over time
and the head. With `masking=True`, steps whose features all equal `mask_value`
are masked: no block attends to them and the pooling skips them, so padding
does not change the prediction.
"""

import keras

from kzoo.runtime.errors import UsageError
from kzoo.zoo._registry import check_range, register_model
from kzoo.zoo.layers import output_head, regularizer, remat_scope, sequence_input
from kzoo.zoo.transformer_layers import SinusoidalPositionEmbedding, TransformerEncoderBlock


def space(hp):
    """KerasTuner search space of the Transformer encoder."""
    return {
        "depth": hp.Int("depth", 1, 4, default=2),
        "d_model": hp.Choice("d_model", [32, 64, 128], default=32),
        "num_heads": hp.Choice("num_heads", [2, 4, 8], default=4),
        "dropout": hp.Float("dropout", 0.0, 0.3, step=0.1, default=0.1),
    }


@register_model(
    "transformer",
    # Keras has no sinusoidal position embedding or encoder block of its own.
    needs_kzoo=lambda hp: True,
    space=space,
    kind="sequence",
    description="Transformer encoder: projection, sinusoidal positions, depth x blocks, "
    "masked mean pooling.",
    reference="Vaswani et al. 2017; for time series, Zerveas et al. 2021",
)
def transformer(
    input_shape,
    num_classes,
    *,
    head="multiclass",
    depth=2,
    d_model=32,
    num_heads=4,
    ff_dim=None,
    dropout=0.1,
    l2=0.0,
    masking=False,
    mask_value=0.0,
    remat=None,
):
    """Build a Transformer encoder classifier.

    Args:
        input_shape: `(timesteps, features)`; `timesteps` may be `None`.
        num_classes: output size (see `kzoo.zoo.create`).
        head: output head. Defaults to `"multiclass"`.
        depth: number of encoder blocks. Defaults to `2`.
        d_model: model width; must be divisible by `num_heads`. Defaults to `32`.
        num_heads: attention heads. Defaults to `4`.
        ff_dim: feed-forward hidden units. Defaults to `None`: `2 * d_model`.
        dropout: dropout on embeddings, attention and residual branches.
            Defaults to `0.1`.
        l2: L2 penalty on the input projection and the head. Defaults to `0.0`.
        masking: mask steps whose features all equal `mask_value`. Defaults to `False`.
        mask_value: padding value. Defaults to `0.0`.
        remat: `keras.RematScope` mode for deep stacks. Defaults to `None`.

    Example:

    >>> model = kzoo.zoo.create("transformer", input_shape=(None, 12), num_classes=9,
    ...                         masking=True)
    """
    check_range("depth", depth, 1, kind=int)
    check_range("d_model", d_model, 1, kind=int)
    check_range("num_heads", num_heads, 1, kind=int)
    check_range("dropout", dropout, 0.0, 0.99)
    check_range("l2", l2, 0.0)
    if d_model % num_heads:
        raise UsageError(
            f"d_model={d_model} must be divisible by num_heads={num_heads}; "
            "change one of them."
        )
    ff_dim = ff_dim or 2 * d_model
    reg = regularizer(0.0, l2)
    with remat_scope(remat):
        inputs = sequence_input(input_shape)
        x = keras.layers.Masking(mask_value, name="masking")(inputs) if masking else inputs
        x = keras.layers.Dense(d_model, kernel_regularizer=reg, name="projection")(x)
        x = SinusoidalPositionEmbedding(name="positions")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name="embedding_dropout")(x)
        for i in range(depth):
            x = TransformerEncoderBlock(num_heads, ff_dim, dropout, name=f"block_{i}")(x)
        x = keras.layers.LayerNormalization(epsilon=1e-6, name="final_norm")(x)
        x = keras.layers.GlobalAveragePooling1D(name="mean_pool")(x)
        outputs = output_head(x, head, num_classes, kernel_regularizer=reg)
    return keras.Model(inputs, outputs, name="transformer")
