"""`load_model_safely`: load a `.keras` file, refusing serialized Python code."""

import keras

from kzoo.errors import UsageError


def load_model_safely(path):
    """`keras.saving.load_model(path, safe_mode=True)` with a clear refusal.

    A `.keras` file with a `Lambda` layer (or any other serialized Python
    code) is refused: loading it would execute code from the file. On torch
    its recurrent layers get the fused kernels, as the zoo's builders give them.
    """
    from kzoo.zoo._torch_rnn import fuse_model

    try:
        return fuse_model(keras.saving.load_model(path, safe_mode=True))
    except ValueError as err:
        text = str(err)
        if "safe_mode" in text or "lambda" in text.lower():
            raise UsageError(
                f"Refusing to load {path}: it contains a Lambda layer or other serialized "
                "Python code, which would run on load. kzoo keeps safe_mode=True. Rebuild "
                "the model in code and load only its weights (model.load_weights on a "
                ".weights.h5 file)."
            ) from None
        raise
