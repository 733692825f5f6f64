"""Training inputs: any supported data turned into `PreparedData`, checked first.

`prepare_data` accepts a dataset spec, a `kzoo.datasets.Dataset`, an `.npz`
path, `(x, y)` arrays, or an iterable dataset, and raises a clear DataError (a ValueError) on
bad data before any model is built.
"""

import dataclasses
import pathlib

import keras
import numpy as np

from kzoo import datasets
from kzoo.errors import DataError


def split_validation(x, y, seed):
    """`((x_train, y_train), (x_val, y_val))`: a seeded 20 % of the examples
    (at least one) carved off as validation data."""
    idx = np.random.default_rng(seed).permutation(len(x))
    n_val = max(1, len(x) // 5)
    return (x[idx[n_val:]], y[idx[n_val:]]), (x[idx[:n_val]], y[idx[:n_val]])


@dataclasses.dataclass
class PreparedData:
    """Training inputs in the form `model.fit` takes, plus what the model needs."""

    train: object  # (x, y) tuple or an iterable dataset
    val: object | None
    test: object | None
    input_shape: tuple
    num_classes: int
    task: str
    kind: str
    name: str
    info: dict = dataclasses.field(default_factory=dict)  # Dataset.info (padding, ...)


def is_iterable_dataset(obj):
    """tf.data.Dataset, keras.utils.PyDataset or torch DataLoader (duck-typed by module)."""
    mod = type(obj).__module__
    return (
        isinstance(obj, keras.utils.PyDataset)
        or mod.startswith("tensorflow")
        or mod.startswith("torch.utils.data")
    )


def first_batch(dataset):
    """The first `(x, y)` batch of an iterable dataset, as numpy arrays."""
    if isinstance(dataset, keras.utils.PyDataset):
        if len(dataset) == 0:
            raise DataError("The PyDataset is empty (len() == 0): give it at least one batch.")
        batch = dataset[0]
    else:
        try:
            batch = next(iter(dataset))
        except StopIteration:
            raise DataError("The dataset yields no batch: it is empty.") from None
    if not isinstance(batch, (tuple, list)) or len(batch) < 2:
        raise DataError(
            "Each batch must be a tuple (x, y); got "
            f"{type(batch).__name__}. Map the dataset to (features, labels) pairs."
        )
    return tuple(np.asarray(b) for b in batch[:2])


def infer_task(y, num_classes=None):
    """`(task, num_classes)` read off the targets."""
    if np.issubdtype(y.dtype, np.floating) and not np.all(np.equal(np.mod(y, 1), 0)):
        return "regression", 1 if y.ndim == 1 else y.shape[-1]
    if y.ndim == 2 and y.shape[1] > 1:
        return "multilabel", y.shape[1]
    n = num_classes or int(np.max(y)) + 1
    return ("binary", 2) if n <= 2 else ("multiclass", n)


def prepare_data(data, *, seed=0, val_data=None, test_data=None, num_classes=None, task=None):
    """Turn any supported input into `PreparedData`.

    Accepts a dataset spec string, a `kzoo.datasets.Dataset`, a path to an
    `.npz`, a tuple `(x, y)` of arrays, or an iterable dataset
    (`tf.data.Dataset`, `keras.utils.PyDataset`, torch `DataLoader`) yielding
    `(x, y)` batches. Arrays without a validation split get a deterministic 20 %
    carved off.
    """
    if isinstance(data, (str, pathlib.Path)) and str(data).endswith(".npz"):
        data = load_npz(data)
    if isinstance(data, str):
        data = datasets.load(data, seed=seed)
    if isinstance(data, datasets.Dataset):
        for part in ("train", "val", "test"):
            check_arrays(
                getattr(data, f"x_{part}"),
                getattr(data, f"y_{part}"),
                data.task,
                data.num_classes,
                part,
                like=None if part == "train" else data.x_train,
            )
        return PreparedData(
            (data.x_train, data.y_train),
            (data.x_val, data.y_val),
            (data.x_test, data.y_test),
            data.input_shape,
            data.num_classes,
            data.task,
            data.kind,
            data.name,
            dict(data.info or {}),
        )
    if isinstance(data, (tuple, list)) and len(data) == 2 and not is_iterable_dataset(data[0]):
        x, y = (np.asarray(a) for a in data)
        if x.ndim == 0 or len(x) == 0 or y.ndim == 0 or len(y) == 0:
            raise DataError("The training data is empty: x and y need at least one example.")
        if len(x) != len(y):
            raise DataError(f"train: x has {len(x)} examples but y has {len(y)}; they must "
                            "match.")
        inferred_task, inferred_n = infer_task(y, num_classes)
        if task in ("multiclass", "binary") and inferred_task == "regression":
            raise DataError(
                f"task={task!r} needs integer class labels, but y holds non-integer values "
                "(e.g. 0.5); map them to 0..C-1, or pass task='regression'."
            )
        task = task or inferred_task
        num_classes = num_classes or inferred_n
        x = x.astype("float32")
        y = y.astype("float32" if task in ("regression", "multilabel") else "int32")
        check_arrays(x, y, task, num_classes, "train")
        if val_data is None and len(x) >= 5:
            (x, y), val_data = split_validation(x, y, seed)
        for part, pair in (("val", val_data), ("test", test_data)):
            if pair is not None:
                if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                    raise DataError(f"{part}_data must be an (x, y) pair.")
                check_arrays(np.asarray(pair[0]), np.asarray(pair[1]), task, num_classes, part,
                             like=x)
        kind = "sequence" if x.ndim == 3 else "tabular"
        return PreparedData(
            (x, y), val_data, test_data, x.shape[1:], num_classes, task, kind, "arrays"
        )
    if is_iterable_dataset(data):
        xb, yb = first_batch(data)
        if not np.all(np.isfinite(xb.astype("float64"))):
            raise DataError("The first batch holds NaN or inf features: clean or impute them.")
        inferred_task, inferred_n = infer_task(yb, num_classes)
        task = task or inferred_task
        if num_classes is None and task in ("multiclass", "binary"):
            raise DataError(
                "With a streaming dataset kzoo cannot see every label: pass num_classes= "
                "(and task= if not multiclass)."
            )
        num_classes = num_classes or inferred_n
        kind = "sequence" if xb.ndim == 3 else "tabular"
        return PreparedData(
            data, val_data, test_data, xb.shape[1:], num_classes, task, kind, type(data).__name__
        )
    raise DataError(
        f"Unsupported data of type {type(data).__name__}. Pass a dataset name, an .npz path, "
        "a (x, y) tuple of arrays, a tf.data.Dataset, a keras.utils.PyDataset or a torch "
        "DataLoader."
    )


def load_npz(path):
    """A `Dataset` from an `.npz` of `x_train`, `y_train` (and optionally the
    val and test splits; without val, 20 % of train is carved off).

    The archive is checked from its headers first (`kzoo.datasets.inspect_npz`:
    not a zip, truncated, pickled or oversized arrays), so a bad file gets a
    DataError naming the problem before anything is loaded.
    """
    path = pathlib.Path(path).expanduser()
    if path.is_dir():
        raise DataError(f"{path} is a directory, not an .npz file; give the file's path.")
    if not path.is_file():
        raise DataError(f"Data file {path} does not exist; check the path.")
    try:
        declared = datasets.inspect_npz(path)
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in declared}
    except MemoryError:
        raise
    except ValueError as err:
        raise DataError(str(err)) from None
    except Exception as err:  # zipfile/zlib/EOF errors of a file damaged after its header
        raise DataError(f"{path} is truncated or corrupt ({type(err).__name__}: {err}); "
                        "re-save it with np.savez.") from None
    for key in ("x_train", "y_train"):
        if key not in arrays:
            raise DataError(f"{path} lacks {key!r}; it needs x_train and y_train arrays "
                            "(np.savez(path, x_train=..., y_train=...)).")
    for part in ("val", "test"):
        if (f"x_{part}" in arrays) != (f"y_{part}" in arrays):
            raise DataError(f"{path} has only one of x_{part} and y_{part}; save both or "
                            "neither.")
    for part in ("train", "val", "test"):
        if f"x_{part}" in arrays:
            x_part, y_part = arrays[f"x_{part}"], arrays[f"y_{part}"]
            if x_part.ndim == 0 or y_part.ndim == 0 or len(x_part) != len(y_part):
                raise DataError(
                    f"{path}: x_{part} has {len(x_part) if x_part.ndim else 0} examples but "
                    f"y_{part} has {len(y_part) if y_part.ndim else 0}; they must match (one "
                    "label per example).")
    x, y = arrays["x_train"].astype("float32"), arrays["y_train"]
    if len(x) == 0:
        raise DataError(f"{path}: x_train and y_train are empty; save at least one example.")
    task, n = infer_task(y)
    ycast = "float32" if task in ("regression", "multilabel") else "int32"
    if "x_val" not in arrays:
        (x, y), (arrays["x_val"], arrays["y_val"]) = split_validation(x, y, seed=0)
    x_test = arrays.get("x_test", arrays["x_val"])
    y_test = arrays.get("y_test", arrays["y_val"])
    return datasets.Dataset(
        str(path),
        x,
        y.astype(ycast),
        arrays["x_val"].astype("float32"),
        arrays["y_val"].astype(ycast),
        x_test.astype("float32"),
        y_test.astype(ycast),
        task,
        n,
        "sequence" if x.ndim == 3 else "tabular",
    )


def check_arrays(x, y, task, num_classes, part, like=None):
    """Raise DataError on empty, mismatched, non-finite or out-of-range data, or
    (with `like`, the training features) on examples shaped unlike training's."""
    if np.ndim(x) == 0 or np.ndim(y) == 0:
        raise DataError(f"{part}: x and y must be arrays of examples, got a scalar.")
    if len(x) == 0:
        raise DataError(f"The {part} split is empty: x has 0 examples.")
    if len(x) != len(y):
        raise DataError(f"{part}: x has {len(x)} examples but y has {len(y)}; they must match.")
    if like is not None and (np.ndim(x) != np.ndim(like) or np.shape(x)[-1] != np.shape(like)[-1]
                             or (np.ndim(x) == 2 and np.shape(x)[1:] != np.shape(like)[1:])):
        raise DataError(
            f"{part}: examples are shaped {tuple(np.shape(x)[1:])} but training examples "
            f"{tuple(np.shape(like)[1:])}; every split needs the same features. Fix the "
            f"x_{part} array (or drop it)."
        )
    if not np.all(np.isfinite(x)):
        bad = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
        raise DataError(
            f"{part}: the features hold {bad} NaN or inf value(s). Impute or drop them before "
            "training (e.g. np.nan_to_num or sklearn.impute.SimpleImputer)."
        )
    if task in ("multiclass", "binary"):
        if not np.all(np.equal(np.mod(y, 1), 0)):
            raise DataError(f"{part}: class labels must be integers, got non-integer values.")
        lo, hi = int(np.min(y)), int(np.max(y))
        n = 2 if task == "binary" else num_classes
        if lo < 0 or hi >= n:
            raise DataError(
                f"{part}: labels span [{lo}, {hi}] but the model has {n} classes, so labels "
                f"must lie in [0, {n - 1}]. Map labels to 0..C-1 or raise num_classes."
            )
    elif not np.all(np.isfinite(y)):
        raise DataError(f"{part}: the targets hold NaN or inf values.")
