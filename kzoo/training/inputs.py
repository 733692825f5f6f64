"""Training inputs: any supported data turned into `PreparedData`, checked first.

`prepare_data` accepts a dataset spec, a `kzoo.datasets.Dataset`, an `.npz` or
`.csv` path, `(x, y)` arrays, or an iterable dataset, and raises a clear
ValueError on bad data before any model is built. Files and arrays go through
`kzoo.datasets` (load / from_arrays), so they are split, standardised and
checked exactly as the built-in sets are.
"""

import dataclasses
import pathlib

import keras
import numpy as np

from kzoo import datasets
from kzoo.datasets._checks import check_batch
from kzoo.runtime.errors import DataError, UsageError


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

    Accepts a dataset spec string, a `kzoo.datasets.Dataset`, the path of an
    `.npz` or `.csv` file (`kzoo.datasets.load`), a tuple `(x, y)` of arrays
    (`kzoo.datasets.from_arrays`: a seeded 20 % validation split unless
    `val_data` is given; `val_data=False`: none, every example trains, as the tiny
    protocol does, selecting by training loss), or an iterable dataset
    (`tf.data.Dataset`, `keras.utils.PyDataset`, torch `DataLoader`) yielding
    `(x, y)` batches. Files and arrays are checked by `Dataset.check()`, the
    checks of the built-in sets. Without a test split `PreparedData.test` is None.
    """
    no_val = val_data is False
    try:
        if isinstance(data, (str, pathlib.Path)):
            data = datasets.load(str(data), seed=seed)
        arrays = isinstance(data, (tuple, list)) and len(data) == 2
        if no_val and not (arrays and not is_iterable_dataset(data[0])):
            raise UsageError("val_data=False (no validation split) takes (x, y) arrays; "
                             "for a dataset name or file give its own val fraction.")
        if arrays and not is_iterable_dataset(data[0]):
            data = _from_arrays(data, seed, val_data, test_data, num_classes, task)
        if isinstance(data, datasets.Dataset):
            data.check()
    except DataError:
        raise
    except ValueError as err:  # the data's fault, reported as such (the CLI's exit code 3)
        raise DataError(str(err)) from None
    if isinstance(data, datasets.Dataset):
        return PreparedData(
            (data.x_train, data.y_train),
            None if no_val else (data.x_val, data.y_val),
            (data.x_test, data.y_test) if data.has_test else None,
            data.input_shape,
            data.num_classes,
            data.task,
            data.kind,
            data.name,
            dict(data.info or {}),
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
        check_batch(xb, yb, task, num_classes, type(data).__name__)
        kind = "sequence" if xb.ndim == 3 else "tabular"
        return PreparedData(
            data, val_data, test_data, xb.shape[1:], num_classes, task, kind, type(data).__name__
        )
    raise DataError(
        f"Unsupported data of type {type(data).__name__}. Pass a dataset name, an .npz path, "
        "a (x, y) tuple of arrays, a tf.data.Dataset, a keras.utils.PyDataset or a torch "
        "DataLoader."
    )


def _from_arrays(data, seed, val_data, test_data, num_classes, task):
    """`(x, y)` as a checked `Dataset` (`kzoo.datasets.from_arrays`)."""
    x, y = (np.asarray(a) for a in data)
    if val_data is False:  # no validation split: a placeholder row, dropped by the caller
        val_data = (x[:1], y[:1])
    if y.ndim == 2 and y.shape[1] > 1 and task in (None, "multilabel"):
        return _multilabel(x, y, seed, val_data, test_data)
    if task in ("multiclass", "binary") and num_classes is not None and len(y):
        # The caller fixed the classes: labels outside 0..C-1 are an error here, where
        # from_arrays would re-index whatever classes it sees.
        n = 2 if task == "binary" else num_classes
        lo, hi = float(np.min(y)), float(np.max(y))
        if lo < 0 or hi >= n:
            raise DataError(
                f"train: labels span [{lo:g}, {hi:g}] but the model has {n} classes, so labels "
                f"must lie in [0, {n - 1}]. Map labels to 0..C-1 or raise num_classes."
            )
    kind_task = {"multiclass": "classification", "binary": "classification"}.get(task, task)
    ds = datasets.from_arrays(
        x, y, val=0.2 if val_data is None else val_data, test=test_data, seed=seed,
        task=kind_task,
    )
    if num_classes is not None and ds.task != "regression" and num_classes > ds.num_classes:
        ds.num_classes = num_classes
        ds.task = "binary" if num_classes == 2 else "multiclass"
    return ds


def _multilabel(x, y, seed, val_data, test_data):
    """Multi-label `(x, y)` (one 0/1 column per label), which from_arrays' class
    encoding does not cover: split and standardised the same way, then checked."""
    x, y = x.astype("float32"), y.astype("float32")
    train, val, _ = datasets.split_indices(len(x), val_fraction=0.2, test_fraction=0.0,
                                           seed=seed)
    parts = {"train": (x[train], y[train]),
             "val": (x[val], y[val]) if val_data is None else tuple(val_data)}
    if test_data is not None:
        parts["test"] = tuple(test_data)
    names = list(parts)
    xs, stats = datasets.standardize(*(np.asarray(parts[k][0], "float32") for k in names))
    xs = dict(zip(names, xs, strict=True))
    ys = {k: np.asarray(parts[k][1], "float32") for k in names}
    return datasets.Dataset(
        "arrays", xs["train"], ys["train"], xs["val"], ys["val"], xs.get("test"),
        ys.get("test"), "multilabel", y.shape[1], "sequence" if x.ndim == 3 else "tabular",
        info={"source": "arrays", "seed": seed, "standardize": stats},
    ).check()
