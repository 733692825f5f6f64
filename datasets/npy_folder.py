"""A folder of `.npy` files as a streamed `Dataset`: data larger than memory.

Layout (README, "Bring your own data"):

    data/x.npy, data/y.npy                 one pair, or shards read in name order:
    data/x_000.npy, data/y_000.npy, data/x_001.npy, data/y_001.npy, ...
    data/val/ and data/test/ (optional)    the same layout: those splits as given

`x` is `(examples, features)` or `(examples, steps, channels)`, numeric, the
same example shape and dtype in every file; `y` one label per example. The
features stay on disk and are read by row (`kzoo.datasets.npy_rows`), never
loaded whole; the labels are read into memory. The split, the label encoding
and the task come from `kzoo.datasets.custom` on the labels, as for arrays,
and the statistics are fitted block by block (float64) on the training rows,
so the `Dataset` equals `from_arrays(x, y, ...)` of the same arrays.
"""

import pathlib
import re

import numpy as np

from kzoo.datasets import custom
from kzoo.datasets._base import Dataset, statistics
from kzoo.datasets.npy_rows import NpyRows, Shards, read_header
from kzoo.runtime.errors import DataError, UsageError

SHARD = re.compile(r"^([xy])(?:_(\d+))?\.npy$")


def load_npy_folder(path, *, seed=0, val=0.2, test=None, task=None, kind=None,
                    standardize_features=True):
    """The folder `path` (see the module docstring) as a checked `Dataset` whose
    `x_*` are `NpyRows`. `val`/`test` are fractions carved from the data, unless
    `val/` or `test/` subfolders give those splits (then a fraction is refused)."""
    root = pathlib.Path(path).expanduser()
    name = str(root)
    if not root.is_dir():
        raise DataError(f"{root} is not a folder; a streamed dataset is a folder holding "
                        "x.npy and y.npy (or x_000.npy, y_000.npy, ...).")
    shards, y = _pair(root, name)
    given = {}
    for part, value in (("val", val), ("test", test)):
        sub = root / part
        if sub.is_dir():
            if value is not None and part == "test" or (part == "val" and value != 0.2):
                raise UsageError(f"{sub} gives the {part} split; drop {part}={value!r}.")
            given[part] = _pair(sub, name)
            if given[part][0].example_shape != shards.example_shape:
                raise DataError(
                    f"{sub}: examples are shaped {given[part][0].example_shape} but in {root} "
                    f"{shards.example_shape}; every split needs the same features.")
    named = {"y": y, **{f"{p}/y": g[1] for p, g in given.items()}}
    task, classes, encode, note = custom._task(task, named, name)
    y = encode(y)
    val_f = None if "val" in given else float(val)
    test_f = None if "test" in given or test is None else float(test)
    train_i, val_i, test_i = custom._split(y, task, val_f, test_f, seed)
    ndim = 1 + len(shards.example_shape)
    kind = kind or ("sequence" if ndim == 3 else "tabular")
    if kind not in ("sequence", "tabular") or (kind == "tabular" and ndim != 2):
        raise UsageError(f"{name}: kind must be 'sequence' or 'tabular' (2-D x), got {kind!r} "
                         f"for examples shaped {shards.example_shape}.")
    channel = kind == "sequence" and ndim == 2
    parts = {"train": (NpyRows(shards, train_i, channel=channel), y[train_i])}
    for part, idx in (("val", val_i), ("test", test_i)):
        if part in given:
            s, yp = given[part]
            parts[part] = (NpyRows(s, np.arange(s.n), channel=channel), encode(yp))
        elif idx is not None:
            parts[part] = (NpyRows(shards, idx, channel=channel), y[idx])
    _check_finite(name, root, shards, [parts[p][0] for p in parts if p not in given])
    for part in given:
        _check_finite(name, root / part, given[part][0], [parts[part][0]])
    info = {"source": name, "seed": seed, "streamed": "memory-mapped .npy",
            "val": "given" if "val" in given else custom._describe(val),
            "test": "given" if "test" in given else custom._describe(test)}
    if note:
        info["task_note"] = note
    if standardize_features:
        mean, std = statistics(*parts["train"][0].statistics())
        parts = {k: (x.with_statistics(mean, std), yk) for k, (x, yk) in parts.items()}
        info["standardize"] = {"mean": mean.ravel().tolist(), "std": std.ravel().tolist()}
    for x, _ in parts.values():
        x.nonfinite = 0  # counted above, block by block
    has_test = "test" in parts
    return Dataset(
        name=name, x_train=parts["train"][0], y_train=parts["train"][1],
        x_val=parts["val"][0], y_val=parts["val"][1],
        x_test=parts["test"][0] if has_test else None,
        y_test=parts["test"][1] if has_test else None,
        task=task if task == "regression" else ("binary" if len(classes) == 2 else "multiclass"),
        num_classes=1 if task == "regression" else len(classes), kind=kind,
        classes=None if task == "regression" else classes, info=info,
    ).check()


def _pair(folder, name):
    """`(Shards of the x files, y of all files concatenated)`, checked file by file."""
    found = {"x": {}, "y": {}}
    for p in folder.iterdir():
        m = SHARD.match(p.name)
        if m and p.is_file():
            found[m.group(1)][m.group(2)] = p
    keys = set(found["x"]) | set(found["y"])
    if not keys:
        raise DataError(f"{folder} holds no x.npy/y.npy pair (nor shards x_000.npy, "
                        "y_000.npy, ...); save them with np.save.")
    if None in keys and len(keys) > 1:
        raise DataError(f"{folder} holds both x.npy/y.npy and numbered shards; keep one "
                        "layout (move the others away).")
    for key in sorted(keys, key=lambda k: -1 if k is None else int(k)):
        for a, b in (("x", "y"), ("y", "x")):
            if key in found[a] and key not in found[b]:
                missing = f"{b}.npy" if key is None else f"{b}_{key}.npy"
                raise DataError(f"{found[a][key]} has no {missing} beside it; every x file "
                                "needs its y file with the same number.")
    order = sorted(keys, key=lambda k: -1 if k is None else int(k))
    xs = [found["x"][k] for k in order]
    first, ys = None, []
    for k in order:
        path = found["x"][k]
        shape, dtype, _ = read_header(path)  # the features stay on disk
        if not (np.issubdtype(dtype, np.number) or dtype.kind == "b"):
            raise DataError(f"{path} has dtype {dtype}; features must be numbers: re-save it "
                            "with x.astype('float32').")
        if len(shape) not in (2, 3) or 0 in shape[1:]:
            raise DataError(f"{path} is shaped {shape}; x is (examples, features) or "
                            "(examples, steps, channels) with at least one feature.")
        if first is not None and (shape[1:] != first[0][1:] or dtype != first[1]):
            raise DataError(
                f"{path} holds examples shaped {shape[1:]} of {dtype}, but {xs[0]} "
                f"{first[0][1:]} of {first[1]}; every shard needs the same example shape and "
                "dtype: re-save it to match.")
        first = first or (shape, dtype)
        y = _load_labels(found["y"][k])
        ys.append(custom._labels(y, found["y"][k].name, str(folder), shape[0]))
    return Shards(xs), np.concatenate(ys)


def _load_labels(path):
    read_header(path)  # names the file if it is not a whole .npy array
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise DataError(f"{path} is not a readable .npy file ({err}); re-save it with "
                        "np.save.") from None


def _check_finite(name, folder, shards, splits):
    """NaN or inf in any row the splits use, found block by block (names the file)."""
    used = np.unique(np.concatenate([s.rows for s in splits]))
    for rows, block in shards.blocks(used):
        finite = np.isfinite(block).reshape(len(block), -1).all(axis=1)
        if not finite.all():
            row = int(rows[np.argmin(finite)])
            k = int(np.searchsorted(shards.offsets, row, side="right") - 1)
            raise DataError(
                f"{shards.paths[k]}: row {row - int(shards.offsets[k])} holds NaN or inf "
                f"features ({name}); impute or drop those rows first (e.g. np.nan_to_num).")
