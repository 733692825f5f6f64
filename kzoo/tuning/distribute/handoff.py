"""The settings a launcher hands to its chief and workers: JSON, validated, never pickle.

`OUT/workers/settings.json` holds `tune`'s settings (`TuneConfig`'s handed-off
fields). Nothing in it can run code when read: a `Dataset` travels as
`OUT/workers/data.npz` (read with `allow_pickle=False`), and a callback as its
import path and `__init__` arguments. A callback is rebuilt only from a
`keras.callbacks.Callback` subclass that keeps its `__init__` arguments as
same-named attributes (the Keras convention) holding JSON values, defined in an
importable module.
"""

import dataclasses
import importlib
import inspect
import json
import pathlib

import keras
import numpy as np

from kzoo import rundir as layout
from kzoo.datasets import Dataset
from kzoo.runtime.errors import RunDirError, UsageError
from kzoo.tuning.config import TuneConfig, default, handed_off

SETTINGS_FILE = layout.WORKER_SETTINGS_FILE
DATA_FILE = layout.WORKER_DATA_FILE
_ARRAYS = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")
_SCALARS = handed_off()  # {setting: JSON type(s)}, from TuneConfig


def encode(config):
    """A `TuneConfig` (or a dict of its fields) as a JSON document and the arrays of a
    `Dataset` (or None); raises ValueError for what JSON cannot carry, before anything
    is written."""
    kwargs = vars(config) if isinstance(config, TuneConfig) else config
    # A dict may leave out settings at their TuneConfig default (an older caller's).
    doc = {k: kwargs[k] if k in kwargs else default(k) for k in _SCALARS}
    doc["objective"] = kwargs["objective"]
    doc["devices"] = kwargs.get("devices", 1)  # each worker's trials: its GPU block
    doc["fixed"] = _encode_fixed(kwargs["fixed"])
    doc["callbacks"] = [_encode_callback(cb) for cb in kwargs.get("callbacks") or []]
    data, arrays = kwargs["data"], None
    if isinstance(data, Dataset):
        # A data file without a test split has x_test = None: saved as absent, not pickled.
        arrays = {k: getattr(data, k) for k in _ARRAYS if getattr(data, k) is not None}
        meta = {f.name: getattr(data, f.name) for f in dataclasses.fields(data)
                if f.name not in _ARRAYS}
        # Provenance (`info`, `classes`) may hold numpy values: plain JSON equivalents.
        doc["data"] = {"npz": DATA_FILE, **json.loads(json.dumps(meta, default=_plain))}
    else:
        doc["data"] = str(data)
    return doc, arrays


def write(encoded, folder):
    """Write what `encode` returned into `folder`; returns the settings path."""
    doc, arrays = encoded
    folder = pathlib.Path(folder)
    if arrays is not None:
        np.savez(folder / DATA_FILE, **arrays)
    layout.atomic_write_text(folder / SETTINGS_FILE, json.dumps(doc, indent=2))
    return folder / SETTINGS_FILE


def read(path):
    """The `TuneConfig` fields of a settings file `write` made (validated), as a dict."""
    path = pathlib.Path(path)
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise RunDirError(f"cannot read the search settings {path}: {err}") from None
    if not isinstance(doc, dict):
        raise RunDirError(f"{path}: the search settings must be a JSON object.")
    kwargs = {}
    for key, kind in _SCALARS.items():
        value = doc.get(key)
        if isinstance(value, bool) and kind is not bool or not isinstance(value, kind):
            raise RunDirError(f"{path}: {key!r} must be {_name(kind)}, got {value!r}.")
        kwargs[key] = value
    if not (doc.get("objective") is None or isinstance(doc.get("objective"), str)):
        raise RunDirError(f"{path}: 'objective' must be a string.")
    kwargs["objective"] = doc.get("objective")
    devices = doc.get("devices", 1)
    if isinstance(devices, bool) or not isinstance(devices, int) or devices < 1:
        raise RunDirError(f"{path}: 'devices' must be an int >= 1, got {devices!r}.")
    kwargs["devices"] = devices
    kwargs["fixed"] = _decode_fixed(doc.get("fixed"), path)
    callbacks = doc.get("callbacks", [])
    if not isinstance(callbacks, list):
        raise RunDirError(f"{path}: 'callbacks' must be a list.")
    kwargs["callbacks"] = [_decode_callback(cb, path) for cb in callbacks]
    data = doc.get("data")
    if isinstance(data, dict):
        meta = {k: v for k, v in data.items() if k != "npz"}
        with np.load(path.parent / DATA_FILE, allow_pickle=False) as f:
            arrays = {k: f[k] if k in f.files else None for k in _ARRAYS}
        try:
            data = Dataset(**arrays, **meta)
        except TypeError as err:
            raise RunDirError(f"{path}: bad dataset fields ({err}).") from None
    elif not isinstance(data, str):
        raise RunDirError(f"{path}: 'data' must be a dataset spec or an .npz dataset.")
    kwargs["data"] = data
    return kwargs


def _name(kind):
    return " or ".join(k.__name__ for k in kind) if isinstance(kind, tuple) else kind.__name__


def _plain(value):
    return value.tolist() if hasattr(value, "tolist") else str(value)


def _checked_json(value, what):
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError):
        raise UsageError(
            f"workers > 0 sends {what} to the workers as JSON, and {value!r} is not JSON."
        ) from None


def _encode_fixed(fixed):
    # Tuples (ranges) and lists (choices) mean different things: keep them apart.
    return {k: {"range": list(v)} if isinstance(v, tuple) else _checked_json(v, f"--hp {k}")
            for k, v in fixed.items()}


def _decode_fixed(fixed, path):
    if not isinstance(fixed, dict):
        raise RunDirError(f"{path}: 'fixed' must be an object.")
    return {k: tuple(v["range"]) if isinstance(v, dict) and list(v) == ["range"] else v
            for k, v in fixed.items()}


def _encode_callback(cb):
    cls = type(cb)
    if cls.__module__ == "__main__" or "<locals>" in cls.__qualname__:
        raise UsageError(
            f"workers > 0 rebuilds callbacks in the workers from their import path, and "
            f"{cls.__qualname__} is defined in {cls.__module__}: define it in an importable "
            "module."
        )
    params = [p for p in inspect.signature(cls.__init__).parameters.values()
              if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    missing = [p.name for p in params if not hasattr(cb, p.name)]
    if missing:
        raise UsageError(
            f"workers > 0 rebuilds {cls.__qualname__} from its __init__ arguments, kept as "
            f"same-named attributes (the Keras convention); it lacks {', '.join(missing)}."
        )
    config = {p.name: getattr(cb, p.name) for p in params}
    return {"class": f"{cls.__module__}:{cls.__qualname__}",
            "config": _checked_json(config, f"{cls.__qualname__}'s arguments")}


def _decode_callback(entry, path):
    try:
        module, _, qualname = entry["class"].partition(":")
        config = dict(entry["config"])
        obj = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (KeyError, TypeError, ValueError, ImportError, AttributeError) as err:
        raise RunDirError(f"{path}: cannot rebuild callback {entry!r} ({err}).") from None
    if not (inspect.isclass(obj) and issubclass(obj, keras.callbacks.Callback)):
        raise RunDirError(f"{path}: {entry['class']} is not a keras.callbacks.Callback.")
    return obj(**config)
