"""`load_model_safely`: load a `.keras` file, refusing serialized Python code."""

import pathlib
import zipfile

import keras

from kzoo.runtime.errors import DataError, UsageError


def load_model_safely(path):
    """`keras.saving.load_model(path, safe_mode=True)` with a clear refusal.

    A `.keras` file with a `Lambda` layer (or any other serialized Python
    code) is refused: loading it would execute code from the file. On torch
    its recurrent layers get the fused kernels, as the zoo's builders give them.
    """
    from kzoo.zoo._torch_rnn import fuse_model

    # Keras reads a .keras archive as a zip; another file it reports as "File not found".
    file = pathlib.Path(path)
    legacy = file.suffix.lower() in (".h5", ".hdf5")  # Keras' HDF5 format, not a zip
    if file.is_file() and not legacy and not zipfile.is_zipfile(file):
        raise DataError(
            f"{path} is not a .keras archive (not a zip file: truncated, or another format "
            "renamed); save the model again with model.save('name.keras').")
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
