"""Your own data: numpy arrays as a `Dataset` (`.npz` and `.csv` files: `data_files`).

They go through the same steps as the built-in sets: a deterministic split
(stratified for classification), standardisation fitted on the training split,
and `Dataset.check()`. A test split is never carved silently: without one
(no `x_test` in the file, `test=None`) the `Dataset` has `x_test=None` and
`has_test=False`, and no test metric should be reported.

>>> ds = kzoo.datasets.from_arrays(x, y, val=0.2, test=0.2, seed=0)
>>> ds = kzoo.datasets.load("waves.npz")  # x_train, y_train [, x_val, y_val, x_test, y_test]
>>> ds = kzoo.datasets.load("waves.csv", label="kind")  # one row per series + a label column
"""

import numpy as np

from kzoo.datasets._base import Dataset, carve_per_class, split_indices, standardize
from kzoo.runtime.errors import DataError, UsageError

TASKS = ("classification", "multiclass", "binary", "regression")


def from_arrays(x, y, *, val=0.2, test=None, seed=0, task=None, kind=None, name="arrays",
                standardize_features=True, _y_name="y"):
    """A `Dataset` from arrays, split and standardised like the built-in sets.

    Args:
        x: features, `(n, features)` (tabular) or `(n, steps, channels)` (sequences).
        y: labels `(n,)`: integers or strings (classification) or floats (regression).
        val: a fraction of the examples to hold out for validation, or an
            `(x_val, y_val)` pair. Defaults to `0.2`.
        test: a fraction to hold out for testing, an `(x_test, y_test)` pair, or
            `None` for no test split (`has_test=False`). Defaults to `None`.
        seed: seed of the split. Defaults to `0`.
        task: `"classification"` (or `"multiclass"`/`"binary"`) or `"regression"`;
            `None` infers it: integer or string labels are classes, non-integer
            floats are regression targets. Defaults to `None`.
        kind: `"sequence"` or `"tabular"`; `None` reads it from `x.ndim`.
        name: the `Dataset`'s name. Defaults to `"arrays"`.
        standardize_features: fit mean/std on train and apply to every split.
            Defaults to `True`.

    Returns:
        A checked `Dataset`; `classes` maps class indices back to the original labels.
    """
    x = _features(x, "x", name)
    y = _labels(y, "y", name, len(x))
    splits = {"val": val, "test": test}
    given = {}
    for part, value in splits.items():
        if isinstance(value, (tuple, list)):
            if len(value) != 2:
                raise UsageError(f"{name}: {part}= must be a fraction or an (x_{part}, y_{part}) "
                                 f"pair, got a sequence of {len(value)}.")
            xp = _features(value[0], f"x_{part}", name)
            given[part] = (xp, _labels(value[1], f"y_{part}", name, len(xp)))
        elif value is not None and not (isinstance(value, (int, float)) and 0 < value < 1):
            raise UsageError(f"{name}: {part}= must be a fraction in (0, 1), an (x, y) pair "
                             f"or None, got {value!r}.")
    for part, (xp, _) in given.items():  # before standardising, which would broadcast
        if xp.shape[1:] != x.shape[1:]:
            raise DataError(
                f"{name}: x_{part} has features shaped {xp.shape[1:]} but x is shaped "
                f"{x.shape[1:]}; every split needs the same features (same columns, steps "
                "and channels)."
            )
    if "val" not in given and val is None:
        raise UsageError(f"{name}: a validation split is needed; give val= a fraction or a pair.")
    named = {_y_name: y, **{f"y_{part}": p[1] for part, p in given.items()}}
    task, classes, encode, note = _task(task, named, name)
    y = encode(y)
    given = {part: (xp, encode(yp)) for part, (xp, yp) in given.items()}
    val_f = None if "val" in given else float(val)
    test_f = None if "test" in given or test is None else float(test)
    train, val_i, test_i = _split(y, task, val_f, test_f, seed, name)
    parts = {"train": (x[train], y[train])}
    parts["val"] = given["val"] if "val" in given else (x[val_i], y[val_i])
    if "test" in given:
        parts["test"] = given["test"]
    elif test_i is not None:
        parts["test"] = (x[test_i], y[test_i])
    if len(parts["train"][0]) == 0:
        raise DataError(f"{name}: no training examples are left after the split.")
    kind = kind or ("sequence" if x.ndim == 3 else "tabular")
    if kind not in ("sequence", "tabular") or (kind == "tabular" and x.ndim != 2):
        raise UsageError(f"{name}: kind must be 'sequence' or 'tabular' (2-D x), got {kind!r} "
                         f"for x shaped {x.shape}.")
    if kind == "sequence" and x.ndim == 2:  # one channel per step
        parts = {k: (v[0][..., None], v[1]) for k, v in parts.items()}
    info = {"source": name, "seed": seed, "val": _describe(val), "test": _describe(test)}
    if note:  # said by `kzoo train` and `kzoo tune`, and kept in the Dataset
        info["task_note"] = note
    names = list(parts)
    xs = [parts[k][0] for k in names]
    if standardize_features and np.all([np.isfinite(a).all() for a in xs]):
        xs, info["standardize"] = standardize(*xs)
    xs = dict(zip(names, (a.astype("float32") for a in xs), strict=True))
    has_test = "test" in parts
    ds = Dataset(
        name=name,
        x_train=xs["train"],
        y_train=parts["train"][1],
        x_val=xs["val"],
        y_val=parts["val"][1],
        x_test=xs["test"] if has_test else None,
        y_test=parts["test"][1] if has_test else None,
        task=task if task == "regression" else ("binary" if len(classes) == 2 else "multiclass"),
        num_classes=1 if task == "regression" else len(classes),
        kind=kind,
        classes=None if task == "regression" else classes,
        info=info,
    )
    return ds.check()


def _split(y, task, val_f, test_f, seed, name="arrays"):
    """Train/val/test indices for the fractions that are not None; stratified for
    classes when every class has enough examples; else each held-out class keeps an
    example in train (`carve_per_class`); plainly shuffled for regression."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    stratify = y if task != "regression" else None
    try:
        if val_f is not None:
            train, val, test = split_indices(len(y), val_fraction=val_f,
                                             test_fraction=test_f or 0.0, seed=seed,
                                             stratify=stratify)
            return train, val, (test if test_f else None)
        if test_f is not None:
            train, test = train_test_split(idx, test_size=test_f, random_state=seed,
                                           stratify=stratify)
            return train, None, test
        return idx, None, None
    except ValueError:  # a class too small to stratify
        if stratify is None:
            raise
    rng = np.random.default_rng(seed)
    fix = ("give the split as a pair (x, y) of its own, or, with kzoo.train, "
           "val_data=False to train on every example without one.")
    test = (carve_per_class(y, idx, test_f, rng, what=f"{name}: test split", fix=fix)
            if test_f else None)
    rest = idx if test is None else np.setdiff1d(idx, test)
    val = (carve_per_class(y, rest, val_f, rng, what=f"{name}: validation split", fix=fix)
           if val_f is not None else None)
    train = rest if val is None else np.setdiff1d(rest, val)
    return train, val, test


def _describe(value):
    if isinstance(value, (tuple, list)):
        return "given"
    return "none" if value is None else f"{value:g} of the examples"


def _features(x, what, name):
    x = np.asarray(x)
    if x.dtype == object or not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise DataError(f"{name}: {what} must be numeric, got dtype {x.dtype}.")
    if x.ndim not in (2, 3):
        raise DataError(
            f"{name}: {what} must be 2-D (examples, features) or 3-D (examples, steps, "
            f"channels), got shape {x.shape}."
        )
    if 0 in x.shape[1:]:
        raise DataError(f"{name}: {what} is shaped {x.shape}: the examples have no features; "
                        "give at least one feature column.")
    return x.astype("float32")


def _labels(y, what, name, n):
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DataError(f"{name}: {what} must be 1-D (one label per example), got {y.shape}.")
    if len(y) == 0:
        raise DataError(f"{name}: {what} is empty; give one label per example.")
    if len(y) != n:
        raise DataError(
            f"{name}: x has {n} examples but {what} has {len(y)} labels; they must match "
            "(one label per example, in the same order)."
        )
    return y


def _task(task, named, name):
    """`(task, classes, encode, note)`: classes are the sorted distinct labels of all
    splits (`named`: {what: labels}); `note` says why a task was inferred as regression."""
    if task is not None and task not in TASKS:
        raise UsageError(f"{name}: task must be one of {TASKS} or None, got {task!r}.")
    ys = list(named.values())
    numeric = all(np.issubdtype(y.dtype, np.number) or y.dtype == bool for y in ys)
    note = None
    if numeric:
        ys = [y.astype("float64") for y in ys]
        for what, y in zip(named, ys, strict=True):
            if not np.all(np.isfinite(y)):
                raise DataError(f"{name}: {what} holds NaN or inf labels; drop those examples.")
        integral = all(np.all(np.mod(y, 1) == 0) for y in ys)
        if task is None:
            task = "classification" if integral else "regression"
            if not integral:
                bad = next(v for y in ys for v in y if v % 1)
                note = (f"{name}: the labels are non-integer numbers (e.g. {bad:g}), so this "
                        "is a regression; pass task='classification' (integer labels) if "
                        "they are classes.")
        if task == "regression":
            return "regression", None, lambda y: np.asarray(y, dtype="float32"), note
        if not integral:
            bad = next(v for y in ys for v in y if v % 1)
            raise DataError(
                f"{name}: task={task!r} needs integer class labels, but the labels hold "
                f"non-integer values (e.g. {bad!r}). Encode the classes as integers or "
                "strings, or ask for task='regression'."
            )
        for what, y in zip(named, ys, strict=True):
            if y.min() < 0:
                raise DataError(
                    f"{name}: {what} holds negative class labels (e.g. {y.min():g}); class "
                    "labels are 0..C-1 (or strings): map them first, e.g. y - y.min(), or "
                    "(y + 1) // 2 for -1/+1 labels; or ask for task='regression'.")
        values = sorted({int(v) for y in ys for v in np.unique(y)})
    else:
        if task == "regression":
            raise DataError(f"{name}: task='regression' needs numeric targets, got strings.")
        task = "classification"
        values = sorted({str(v) for y in ys for v in np.unique(y.astype(str))})
    if len(values) < 2:
        raise DataError(f"{name}: the labels hold a single class ({values[0]!r}); a "
                         "classifier needs at least two.")
    index = {v: i for i, v in enumerate(values)}
    if numeric and values == list(range(len(values))):
        return task, values, lambda y: np.asarray(y, dtype="float64").astype("int32"), note
    if numeric:
        return task, values, lambda y: np.asarray(
            [index[int(v)] for v in np.asarray(y, "float64")], dtype="int32"), note
    return task, values, lambda y: np.asarray([index[str(v)] for v in y], dtype="int32"), note
