"""Your own data: numpy arrays, `.npz` and `.csv` files, as a `Dataset`.

They go through the same steps as the built-in sets: a deterministic split
(stratified for classification), standardisation fitted on the training split,
and `Dataset.check()`. A test split is never carved silently: without one
(no `x_test` in the file, `test=None`) the `Dataset` has `x_test=None` and
`has_test=False`, and no test metric should be reported.

>>> ds = kzoo.datasets.from_arrays(x, y, val=0.2, test=0.2, seed=0)
>>> ds = kzoo.datasets.load("waves.npz")  # x_train, y_train [, x_val, y_val, x_test, y_test]
>>> ds = kzoo.datasets.load("waves.csv", label="kind")  # one row per series + a label column
"""

import os
import pathlib
import zipfile

import numpy as np

from kzoo.datasets._base import Dataset, split_indices, standardize
from kzoo.reading import read_csv_rows
from kzoo.runtime.errors import DataError, UsageError

TASKS = ("classification", "multiclass", "binary", "regression")
NPZ_KEYS = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")
LABEL_NAMES = ("label", "class", "target")
# Arrays larger than this (per file, as the .npy headers declare) are refused before
# any is read; raise it with KZOO_MAX_ARRAY_BYTES.
MAX_ARRAY_BYTES = 16 << 30


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
    train, val_i, test_i = _split(y, task, val_f, test_f, seed)
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


def _split(y, task, val_f, test_f, seed):
    """Train/val/test indices for the fractions that are not None; stratified for
    classes when every class has enough examples, plainly shuffled otherwise."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    strat = y if task != "regression" else None
    for stratify in ((strat, None) if strat is not None else (None,)):
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
        except ValueError:  # a class too small to stratify: shuffle plainly
            if stratify is None:
                raise
    raise AssertionError("unreachable")


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


# ---- files ---------------------------------------------------------------------


def load_file(path, *, seed=0, **options):
    """`load_npz` or `load_csv` by the file's suffix."""
    path = pathlib.Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return load_npz(path, seed=seed, **options)
    if suffix == ".csv":
        return load_csv(path, seed=seed, **options)
    raise DataError(f"{path}: unsupported file type {suffix!r}; kzoo reads .npz and .csv.")


def _existing_file(path):
    path = pathlib.Path(path).expanduser()
    if path.is_dir():
        raise DataError(f"{path} is a directory, not a data file; give the path of the "
                         f"{path.suffix or '.npz/.csv'} file itself.")
    if not path.is_file():
        raise DataError(f"Data file {path} does not exist; check the path.")
    return path


def _max_array_bytes():
    return int(os.environ.get("KZOO_MAX_ARRAY_BYTES", MAX_ARRAY_BYTES))


def inspect_npz(path):
    """`{name: (shape, dtype)}` of the arrays in an `.npz`, read from the .npy
    headers alone (nothing is loaded). Raises `DataError` for anything that is
    not a valid npz of plain numeric arrays, or that would exceed the size limit."""
    path = _existing_file(path)
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic.startswith(b"\x93NUMPY"):
        raise DataError(f"{path} is a single .npy array, not an .npz archive; save with "
                         "np.savez(path, x_train=..., y_train=...).")
    if not magic.startswith(b"PK"):
        raise DataError(f"{path} is not a valid .npz file (it is not a zip archive; a text "
                         "or other file renamed to .npz?). Save arrays with np.savez(path, "
                         "x_train=..., y_train=...).")
    arrays, total = {}, 0
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                key = info.filename.removesuffix(".npy")
                with zf.open(info) as member:
                    version = np.lib.format.read_magic(member)
                    readers = {(1, 0): np.lib.format.read_array_header_1_0,
                               (2, 0): np.lib.format.read_array_header_2_0}
                    if version not in readers:
                        raise DataError(f"array {key!r} has .npy format {version}")
                    shape, _, dtype = readers[version](member, max_header_size=10_000)
                if dtype.hasobject:
                    raise DataError(
                        f"{path}: array {key!r} holds Python objects (dtype {dtype}); kzoo "
                        "loads only numeric arrays (no pickles). Convert it, e.g. "
                        "np.asarray(y, dtype=str) or a numeric dtype.")
                nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
                total += nbytes
                if nbytes > info.file_size:
                    raise DataError(
                        f"{path}: array {key!r} declares shape {shape} ({_size(nbytes)}) but "
                        f"its member holds {_size(info.file_size)}; the file is corrupt or "
                        "truncated. Re-save it with np.savez.")
                arrays[key] = (tuple(shape), dtype)
    except (zipfile.BadZipFile, EOFError, OSError) as err:
        raise DataError(f"{path} is truncated or corrupt: not a valid .npz archive ({err}). "
                         "Re-save it with np.savez.") from None
    except ValueError as err:
        if str(path) in str(err):
            raise
        raise DataError(f"{path} is not a valid .npz file: {err}. Re-save it with "
                         "np.savez.") from None
    if total > _max_array_bytes():
        raise DataError(
            f"{path}: its arrays declare {_size(total)} in all, more than the "
            f"{_size(_max_array_bytes())} limit; subsample the data, or raise the limit with "
            "KZOO_MAX_ARRAY_BYTES if the machine has the memory.")
    return arrays


def _size(n):
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


def load_npz(path, *, seed=0, val=0.2, test=None, task=None, kind=None,
             standardize_features=True):
    """Read `x_train`, `y_train` and optional `x_val`/`y_val`, `x_test`/`y_test`.

    Without `x_val`, a validation split of `val` is carved from train (stratified
    for classes). Without `x_test` there is no test split (`has_test=False`)
    unless `test` asks for a fraction to be carved. Array sizes are checked from
    the headers before anything is loaded.
    """
    path = _existing_file(path)
    declared = inspect_npz(path)
    for key in ("x_train", "y_train"):
        if key not in declared:
            raise DataError(f"{path} has no {key!r} (it holds {sorted(declared) or 'nothing'}); "
                             "save it with np.savez(path, x_train=..., y_train=...).")
    for part in ("val", "test"):
        has_x, has_y = f"x_{part}" in declared, f"y_{part}" in declared
        if has_x != has_y:
            missing = f"y_{part}" if has_x else f"x_{part}"
            raise DataError(f"{path} has {'x' if has_x else 'y'}_{part} but no {missing}; "
                             f"give both or neither.")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in NPZ_KEYS if k in declared}
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as err:
        raise DataError(f"{path} is truncated or corrupt ({err}); re-save it with "
                         "np.savez.") from None
    pair = {p: (arrays[f"x_{p}"], arrays[f"y_{p}"]) for p in ("val", "test") if f"x_{p}" in arrays}
    if "test" in pair and test is not None:
        raise UsageError(f"{path} has its own x_test/y_test; drop test={test!r}.")
    return from_arrays(
        arrays["x_train"], arrays["y_train"], val=pair.get("val", val),
        test=pair.get("test", test), seed=seed, task=task, kind=kind, name=str(path),
        standardize_features=standardize_features, _y_name="y_train",
    )


def load_csv(path, *, seed=0, label=None, val=0.2, test=None, task=None, kind="sequence",
             standardize_features=True):
    """Read a wide CSV: one row per series (or example), one column per step, plus a
    label column.

    The label column is `label` when given (a header name, or a 0-based column
    index). Otherwise, with a header row, the column named `label`, `class` or
    `target` (any case), and an error listing the columns when there is none;
    without a header row, the first column (the UCR archive's CSV layout). A
    header row is recognised by a non-numeric cell outside the label column.
    Rows become `(steps, 1)` series (`kind="sequence"`) or feature vectors
    (`kind="tabular"`). A UTF-8 byte-order mark is skipped.
    """
    path = _existing_file(path)
    rows = read_csv_rows(path, "save it as UTF-8 CSV, or fix that line")
    if not rows:
        raise DataError(f"{path} is empty; it needs one row per series plus a label column.")
    first = rows[0][1]
    header = None
    names = {c.strip().lower() for c in first}
    named = set(LABEL_NAMES) | ({label.lower()} if isinstance(label, str) else set())
    guessed = _guess_label(first, label)
    # A header names the label column, or has a non-numeric cell outside it.
    if names & named or any(not _is_number(c) for j, c in enumerate(first) if j != guessed):
        header = [c.strip() for c in first]
        rows = rows[1:]
    elif isinstance(label, str) and not label.isdigit():
        raise UsageError(f"{path} has no header row, so the label column {label!r} cannot be "
                         "found by name; pass its 0-based index instead.")
    col = _label_column(header, label, path, len(first))
    width = len(first)
    labels, values = [], []
    for lineno, row in rows:
        if len(row) != width:
            raise DataError(f"{path}, line {lineno}: {len(row)} columns, but the first row has "
                            f"{width}; every series needs the same length (pad them).")
        labels.append(row[col].strip())
        cells = row[:col] + row[col + 1:]
        try:
            values.append([float(c) for c in cells])
        except ValueError:
            j = next(j for j, c in enumerate(cells) if not _is_number(c))
            raise DataError(f"{path}, line {lineno}, column {j + (j >= col) + 1}: non-numeric "
                            f"value {cells[j].strip()!r}; every cell but the label must be a "
                            "number.") from None
    if not values:
        raise DataError(f"{path} holds a header but no data rows.")
    y = np.asarray(labels)
    if all(_is_number(v) for v in labels):
        y = y.astype("float64")
    column = header[col] if header else f"column {col}"
    return from_arrays(np.asarray(values, dtype="float64"), y, val=val, test=test, seed=seed,
                       task=task, kind=kind, name=str(path),
                       standardize_features=standardize_features,
                       _y_name=f"the label column ({column!r})")


def _is_number(text):
    try:
        float(text)
        return True
    except ValueError:
        return False


def _guess_label(first, label):
    names = [c.strip().lower() for c in first]
    if isinstance(label, int):
        return label
    if isinstance(label, str) and label.lower() in names:
        return names.index(label.lower())
    for candidate in LABEL_NAMES:
        if candidate in names:
            return names.index(candidate)
    return 0


def _label_column(header, label, path, width):
    if isinstance(label, str) and label.isdigit():
        label = int(label)
    if isinstance(label, int):
        if not 0 <= label < width:
            raise UsageError(f"{path}: label column {label} is out of range (0..{width - 1}).")
        return label
    if header is not None:
        names = [h.lower() for h in header]
        listed = f"{header[:8]}{' ...' if len(header) > 8 else ''}"
        if label is not None:
            if label.lower() not in names:
                raise UsageError(f"{path}: no column named {label!r}; the header has "
                                 f"{listed}.")
            return names.index(label.lower())
        for candidate in LABEL_NAMES:
            if candidate in names:
                return names.index(candidate)
        raise DataError(
            f"{path}: no label column: the header has {listed} and none is named "
            f"{', '.join(LABEL_NAMES)}; name the label column with label=NAME (or --data "
            f"'{path.name}:label=NAME'), or rename it in the header.")
    return 0  # no header: the first column, as in the UCR archive's CSV files
