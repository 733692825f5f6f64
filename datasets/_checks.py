"""The one data check every route shares: `Dataset.check` (train, tune, lr-find,
`kzoo.train`, `kzoo.datasets.load`) and `check_batch` (the first batch of a stream).

Each failure is one `DataError` line naming the data (the file, for a file), the
split and the fix, raised before any model is built or anything is written.
For classification: integer labels in `0..C-1`, at least two classes in the
training split and every class of the data among them, validation and test
classes a subset of the training split's; features: at least one, numeric,
finite, shaped alike in every split.
"""

import numpy as np

from kzoo.runtime.errors import DataError

CLASS_TASKS = ("multiclass", "binary")


def _numeric(a):
    return np.issubdtype(a.dtype, np.number) or a.dtype == bool


def check_features(x, name, part):
    """Numeric, finite features with at least one value per example."""
    what = f"{name}: x_{part}"
    if x.ndim < 2:
        raise DataError(f"{what} is shaped {x.shape}: it needs one row per example and at "
                        "least one feature column, (examples, features) or (examples, steps, "
                        "channels).")
    if int(np.prod(x.shape[1:])) == 0:
        raise DataError(f"{what} is shaped {x.shape}: the examples have no features; give at "
                        "least one feature column (a label column read as the only column?).")
    if not _numeric(x):
        raise DataError(f"{what} has dtype {x.dtype}; features must be numbers: convert them "
                        "(e.g. x.astype('float32')) or encode text columns first.")
    streamed = getattr(x, "streamed", False)  # NpyRows: counted block by block on loading
    bad = x.nonfinite if streamed else int(x.size - np.count_nonzero(np.isfinite(x)))
    if bad:
        raise DataError(f"{what} holds {bad} NaN or inf value(s); impute or drop them first "
                        "(e.g. np.nan_to_num or sklearn.impute.SimpleImputer).")


def check_labels(y, task, num_classes, name, part):
    """Targets that fit `task`: finite numbers; for classes, integers in 0..C-1."""
    what = f"{name}: y_{part}"
    if not _numeric(y):
        raise DataError(f"{what} has dtype {y.dtype}; labels must be numbers here (string "
                        "labels are mapped by kzoo.datasets.from_arrays, .npz and .csv files).")
    if not np.all(np.isfinite(y.astype("float64"))):
        raise DataError(f"{what} holds NaN or inf labels; drop those examples.")
    if task not in CLASS_TASKS:
        return
    if y.ndim == 2 and y.shape[1] == 1:  # (n, 1): one label per example, as Keras takes it
        y = y[:, 0]
    if y.ndim != 1:
        raise DataError(f"{what} is shaped {y.shape}; a {task} task takes one class label per "
                        "example, shape (n,).")
    yf = y.astype("float64")
    fractional = yf[np.mod(yf, 1) != 0]
    if fractional.size:
        raise DataError(
            f"{what} holds non-integer labels (e.g. {fractional[0]:g}) but the task is {task}; "
            "class labels are whole numbers 0..C-1: encode the classes as integers, or ask for "
            "task='regression' if the targets are quantities.")
    if yf.min() < 0:
        raise DataError(
            f"{what} holds negative labels (e.g. {yf.min():g}); class labels are 0..C-1: map "
            "them first, e.g. y - y.min(), or (y + 1) // 2 for -1/+1 labels.")
    if yf.max() >= num_classes:
        raise DataError(
            f"{what} labels span [{yf.min():g}, {yf.max():g}] but there are {num_classes} "
            f"classes; labels must lie in 0..{num_classes - 1}: map them to 0..C-1 or declare "
            "num_classes.")


def _names(ds, indices):
    """The data's own label of each class index (for messages)."""
    classes = ds.classes if ds.classes is not None and len(ds.classes) == ds.num_classes else None
    shown = [classes[int(i)] if classes else int(i) for i in sorted(indices)[:5]]
    more = " ..." if len(indices) > 5 else ""
    return ", ".join(repr(s) if isinstance(s, str) else str(s) for s in shown) + more


def check_classes(ds, parts):
    """At least two classes in train, every class of the data among them, and no
    class in validation or test that train lacks."""
    seen = set(np.unique(ds.y_train).tolist())
    if len(seen) < 2:
        raise DataError(
            f"{ds.name}: y_train holds a single class ({_names(ds, seen)}); a classifier "
            "learns nothing from one class: give the training split examples of every class "
            "(check the label column).")
    for part, _, y in parts[1:]:
        extra = set(np.unique(y).tolist()) - seen
        if extra:
            raise DataError(
                f"{ds.name}: y_{part} holds class(es) {_names(ds, extra)} that the training "
                f"split never has, so the model cannot predict them and the {part} scores "
                f"would mean nothing; move examples of those classes into the training split, "
                f"or drop them from {part}.")
    if ds.classes is not None and len(ds.classes) == ds.num_classes:
        missing = set(range(ds.num_classes)) - seen
        if missing:
            raise DataError(
                f"{ds.name}: class(es) {_names(ds, missing)} never occur in the training "
                "split; give every class training examples (at least 2 each when a "
                "validation split is carved), or drop that class.")


def check_dataset(ds):
    """`Dataset.check`: see the module docstring. Returns `ds`."""
    parts = [("train", ds.x_train, ds.y_train), ("val", ds.x_val, ds.y_val)]
    if ds.has_test or ds.y_test is not None:
        parts.append(("test", ds.x_test, ds.y_test))
    for part, x, y in parts:
        if x is None or y is None:
            raise DataError(f"{ds.name}: x_{part} and y_{part} must both be given or both "
                            "omitted.")
        x, y = (x if getattr(x, "streamed", False) else np.asarray(x)), np.asarray(y)
        if len(x) == 0 or len(y) == 0:
            raise DataError(f"{ds.name}: the {part} split is empty (x_{part} has {len(x)} "
                            f"examples, y_{part} {len(y)}); give it examples.")
        if len(x) != len(y):
            raise DataError(
                f"{ds.name}: x_{part} has {len(x)} examples but y_{part} has {len(y)}; "
                "each example needs exactly one label.")
        check_features(x, ds.name, part)
        if x.shape[1:] != np.shape(ds.x_train)[1:]:
            raise DataError(
                f"{ds.name}: x_{part} examples are shaped {x.shape[1:]} but x_train "
                f"examples {np.shape(ds.x_train)[1:]}; every split needs the same features.")
        check_labels(y, ds.task, ds.num_classes, ds.name, part)
    if ds.task in CLASS_TASKS:
        check_classes(ds, parts)
    return ds


def check_batch(xb, yb, task, num_classes, name):
    """The first batch of a streamed dataset: the checks a stream allows (kzoo
    cannot see every label of a stream before training)."""
    check_features(np.asarray(xb), name, "train (first batch)")
    check_labels(np.asarray(yb), task, num_classes, name, "train (first batch)")
