"""The checkpoint file format: reading, verifying and applying `step-*.ckpt` files.

A checkpoint file (`step-00000123.ckpt`) is a NumPy `.npz` archive read with
`allow_pickle=False`, so loading one never runs code. Members: `m<i>` model
variables, `o<i>` optimizer variables, `t<i>` the metrics' running sums,
`c<k>w<j>` callback arrays, `torch_rng`, and `meta`, the JSON record (format,
epoch, step, global step, history, callback states, RNG states, score).
`manifest.json` lists each file with its SHA-256, size, step and score.
"""

import hashlib
import io
import json
import pathlib
import re
import warnings

import numpy as np

from kzoo.runtime.errors import RunDirError

FORMAT = 1
MANIFEST = "manifest.json"
NAME = re.compile(r"^step-(\d{8,})\.ckpt$")


def read_manifest(directory):
    """The manifest of `directory` (an empty one if absent or unreadable)."""
    path = pathlib.Path(directory) / MANIFEST
    try:
        manifest = json.loads(path.read_text())
        if isinstance(manifest.get("checkpoints"), list):
            return manifest
    except (OSError, ValueError):
        pass
    return {"format": FORMAT, "checkpoints": [], "best": [], "last": None}


def load_checkpoint(path, sha256=None):
    """`(arrays, record)` of a checkpoint file; ValueError if corrupt or truncated."""
    path = pathlib.Path(path)
    try:
        data = path.read_bytes()
        if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
            raise ValueError("SHA-256 differs from the manifest")
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}  # reading checks each member's CRC
        record = json.loads(arrays.pop("meta").tobytes().decode())
        if record.get("format") != FORMAT:
            raise ValueError(f"unknown format {record.get('format')!r}")
    except Exception as err:  # zipfile, OSError, JSON, missing keys: all mean corrupt
        raise RunDirError(f"Checkpoint {path} is corrupt or truncated: {err}") from None
    return arrays, record


def latest_checkpoint(directory):
    """`(path, arrays, record)` of the newest valid checkpoint, or None.

    Files are tried newest first; one that fails its checks is skipped with a
    warning. Files missing from the manifest (a kill between rename and the
    manifest update) are still found by name.
    """
    directory = pathlib.Path(directory)
    if not directory.is_dir():
        return None
    digests = {e["file"]: e.get("sha256") for e in read_manifest(directory)["checkpoints"]}
    names = sorted(
        (p.name for p in directory.iterdir() if NAME.match(p.name)),
        key=lambda n: int(NAME.match(n).group(1)),
        reverse=True,
    )
    for name in names:
        try:
            arrays, record = load_checkpoint(directory / name, digests.get(name))
        except ValueError as err:
            warnings.warn(f"{err}. Falling back to the previous checkpoint.", stacklevel=2)
            continue
        return directory / name, arrays, record
    return None


def apply_checkpoint(model, arrays, record):
    """Assign a checkpoint's model and optimizer variables to `model`."""
    model_vars = model.variables
    saved = record["model_variables"]
    if len(saved) != len(model_vars) or any(
        tuple(s) != tuple(v.shape) for (_, s), v in zip(saved, model_vars, strict=False)
    ):
        raise RunDirError(
            "The checkpoint does not fit this model: it holds "
            f"{len(saved)} variables, the model has {len(model_vars)} (or shapes differ). "
            "Rebuild the same model (same family and hyperparameters) to resume."
        )
    optimizer = model.optimizer
    if not optimizer.built:
        optimizer.build(model.trainable_variables)
    opt_vars = optimizer.variables
    saved_opt = record["optimizer_variables"]
    # Variables added after build (e.g. CycleMomentum's) come last and are
    # recomputed from the step counter, so only the common prefix must match.
    n = min(len(saved_opt), len(opt_vars))
    shapes_differ = any(
        tuple(s) != tuple(v.shape) for (_, s), v in zip(saved_opt[:n], opt_vars[:n], strict=True)
    )
    if shapes_differ or len(opt_vars) > len(saved_opt):
        raise RunDirError(
            "The checkpoint's optimizer state does not fit this optimizer. Use the same "
            "optimizer as the run that wrote it."
        )
    for i, v in enumerate(model_vars):
        v.assign(arrays[f"m{i}"])
    for i in range(n):
        opt_vars[i].assign(arrays[f"o{i}"])
