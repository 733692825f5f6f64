"""`precision(policy)`: build models under a Keras dtype policy.

A layer takes its dtype policy when it is created, so a model built inside
`with kzoo.zoo.precision("mixed_bfloat16"):` computes in bfloat16 with float32
weights, and keeps doing so after the block ends; the global policy is put
back on exit. The zoo's heads stay float32 (stable softmax/loss) and recurrent
layers are kept in float32 under mixed policies (the fused cuDNN LSTM/GRU
kernels reject bfloat16 on the jax backend).
"""

import contextlib

from kzoo.runtime.errors import UsageError

POLICIES = ("float32", "mixed_float16", "mixed_bfloat16", "bfloat16", "float16")


@contextlib.contextmanager
def precision(policy):
    """Context manager setting the global Keras dtype policy.

    Args:
        policy: one of `"float32"`, `"mixed_float16"`, `"mixed_bfloat16"`,
            `"bfloat16"`, `"float16"`.

    Example:

    >>> with kzoo.zoo.precision("mixed_bfloat16"):
    ...     model = kzoo.zoo.create("fcn", input_shape=(150, 1), num_classes=2)
    """
    import keras

    if policy not in POLICIES:
        raise UsageError(
            f"Unknown precision {policy!r}. Choose one of: {', '.join(POLICIES)}."
        )
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
