"""Your own data files as a `Dataset`: `.npz` (x_train, y_train [, x_val, y_val,
x_test, y_test]) and `.csv` (one row per series plus a label column), through
`from_arrays` (`kzoo.datasets.custom`): the same split, standardisation and checks.
Sizes are checked from the file's headers before any array is read.
"""

import os
import pathlib
import zipfile

import numpy as np

from kzoo.datasets import npy_rows
from kzoo.datasets._base import register_file_loader
from kzoo.datasets.custom import from_arrays
from kzoo.reading import read_csv_rows
from kzoo.runtime.errors import DataError, UsageError

NPZ_KEYS = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")
LABEL_NAMES = ("label", "class", "target")
# Arrays larger than this (per file, as the .npy headers declare) are refused before
# any is read; raise it with KZOO_MAX_ARRAY_BYTES.
MAX_ARRAY_BYTES = 16 << 30


@register_file_loader
def load_file(path, *, seed=0, **options):
    """`load_npz` or `load_csv` by the file's suffix."""
    path = pathlib.Path(path)
    suffix = path.suffix.lower()
    if path.is_dir() and suffix not in (".npz", ".csv"):  # a folder of .npy files
        from kzoo.datasets.npy_folder import load_npy_folder

        return load_npy_folder(path, seed=seed, **options)
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
                    try:
                        shape, _, dtype = npy_rows.parse_header(member)
                    except ValueError as err:
                        raise DataError(f"array {key!r}: {err}") from None
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
