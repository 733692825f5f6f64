"""The `Dataset` container, deterministic splits, and the dataset registry.

Datasets are named by spec strings: `"digits"`, `"digits-seq"`,
`"adding:T=100,task=classification"`, `"ucr:GunPoint"`. The part after the colon
is either `key=value` pairs passed to the loader as keyword arguments, or a
single bare value passed as its first argument.
"""

import dataclasses
import os
import pathlib

import numpy as np

from kzoo.runtime.checks import is_number
from kzoo.runtime.errors import DataError, UsageError

_LOADERS: dict = {}
# `load`'s reader of .npz/.csv files: `kzoo.datasets.data_files.load_file`, which registers
# itself on import (`kzoo.datasets` imports it), since it builds on this module.
_FILE_LOADER = []


@dataclasses.dataclass
class Dataset:
    """Train/validation/test arrays and what a model needs to know about them.

    Attributes:
        name: the spec string it was loaded from.
        x_train, y_train, x_val, y_val, x_test, y_test: numpy arrays; features are
            float32, labels int32 (classification) or float32 (regression).
            `x_test` and `y_test` are `None` when the data has no test split
            (`has_test` is then False, and no test metric should be reported).
            Loaded from a folder of `.npy` files, the `x_*` are
            `kzoo.datasets.npy_rows.NpyRows`: float32 rows read from disk on
            indexing (`np.asarray(x)` reads them all).
        task: `"multiclass"`, `"binary"`, `"multilabel"` or `"regression"`; the
            head a model should use.
        num_classes: number of classes (1 for regression).
        kind: `"tabular"` (x is 2-D) or `"sequence"` (x is 3-D).
        classes: the original label of each class index, if the data had labels.
        info: free-form provenance (source, seed, standardisation).
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    task: str
    num_classes: int
    kind: str
    classes: list | None = None
    info: dict = dataclasses.field(default_factory=dict)

    @property
    def input_shape(self):
        return tuple(self.x_train.shape[1:])

    @property
    def has_test(self):
        """Whether the data has a test split (`x_test` is not None)."""
        return self.x_test is not None

    def summary(self):
        n_test = len(self.x_test) if self.has_test else "none"
        return (
            f"{self.name}: {self.kind} {self.task}, input {self.input_shape}, "
            f"{self.num_classes} classes, train/val/test "
            f"{len(self.x_train)}/{len(self.x_val)}/{n_test}"
        )

    def check(self):
        """Raise `DataError` (a ValueError) naming the data, the split and the fix if
        the arrays are unusable (`kzoo.datasets._checks`): an empty split, x/y
        lengths that differ, no features, another example shape than train, NaN or
        inf, class labels that are not integers in `0..num_classes-1`, a training
        split with one class or without a class of the data, or a validation/test
        class the training split lacks. Returns `self`."""
        from kzoo.datasets._checks import check_dataset

        return check_dataset(self)


def register_file_loader(loader):
    """Decorator registering the loader of data files, `loader(path, seed=..., **options)`."""
    _FILE_LOADER[:] = [loader]
    return loader


def register_dataset(name, *, description=""):
    """Decorator registering a loader `loader(seed=..., **options) -> Dataset`."""

    def decorator(loader):
        if name in _LOADERS:
            raise UsageError(f"A dataset named {name!r} is already registered.")
        loader.description = description
        _LOADERS[name] = loader
        return loader

    return decorator


def list_datasets():
    """Names of the registered datasets."""
    return sorted(_LOADERS)


def parse_spec(spec):
    """Split `"name:k=v,k2=v2"` into `(name, args, kwargs)` with numbers converted."""
    if not isinstance(spec, str) or not spec.strip():
        raise UsageError(f"A dataset spec must be a non-empty string, got {spec!r}.")
    name, _, rest = spec.partition(":")
    args, kwargs = [], {}
    for part in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = part.partition("=")
        if eq:
            kwargs[key.strip()] = _convert(value.strip())
        else:
            args.append(_convert(key))
    return name.strip(), args, kwargs


def _convert(text):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


FILE_SUFFIXES = (".npz", ".csv")


def _file_spec(spec):
    """`(path, options)` when `spec` names a data file (`"a.npz"`, `"a.csv:label=kind"`)."""
    if isinstance(spec, os.PathLike):
        return pathlib.Path(spec), {}
    if not isinstance(spec, str):
        return None
    if spec.lower().endswith(FILE_SUFFIXES) or os.path.isdir(spec):  # a folder: .npy files
        return pathlib.Path(spec), {}
    head, sep, tail = spec.rpartition(":")
    if sep and (head.lower().endswith(FILE_SUFFIXES) or os.path.isdir(head)):
        _, args, kwargs = parse_spec(f"file:{tail}")
        if args:
            raise UsageError(f"Options after a file name are key=value pairs, got {spec!r}.")
        return pathlib.Path(head), kwargs
    return None


def load(spec, *, seed=0, **options):
    """Load a dataset by spec string, e.g. `load("adding:T=100")`, or a data file.

    Args:
        spec: a name from `list_datasets()`, optionally followed by `:options`;
            or the path of an `.npz` or `.csv` file (see `kzoo.datasets.data_files`),
            or of a folder of `.npy` files, streamed from disk
            (`kzoo.datasets.npy_folder`), optionally followed by `:key=value`
            options (`"waves.csv:label=kind"`, `"big/:val=0.1"`).
        seed: seed of the split (and of the data, for synthetic sets). Defaults to `0`.
        **options: keyword options for a file's loader (`val`, `test`, `task`,
            `label`, `kind`).

    Returns:
        A `Dataset`.
    """
    file_spec = _file_spec(spec)
    if file_spec is not None:
        path, kwargs = file_spec
        try:
            return _FILE_LOADER[0](path, seed=seed, **{**kwargs, **options})
        except TypeError as err:
            raise UsageError(f"Bad options for data file {path}: {err}") from None
    if options:
        raise UsageError("Keyword options are for data files; give a dataset's options in "
                         "its spec, e.g. 'adding:T=100'.")
    name, args, kwargs = parse_spec(spec)
    if name not in _LOADERS:
        raise UsageError(
            f"Unknown dataset {name!r}. Available: {', '.join(list_datasets())}, "
            "or the path of an .npz file (x_train, y_train and optionally x_val, y_val, "
            "x_test, y_test) or of a .csv file (one row per series plus a label column)."
        )
    try:
        ds = _LOADERS[name](*args, seed=seed, **kwargs)
    except TypeError as err:
        raise UsageError(f"Bad options for dataset {name!r} in {spec!r}: {err}") from None
    ds.name = spec
    return ds.check()  # the check every route shares (kzoo.datasets._checks)


def check_fractions(name, val_fraction, test_fraction):
    """A built-in set's split fractions: validation and test in (0, 1), together < 1."""
    for key, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not is_number(value) or not 0 < value < 1:
            raise UsageError(f"{name}: {key} must be a fraction in (0, 1), got {value!r}; "
                             f"e.g. '{name}:{key}=0.2'.")
    if val_fraction + test_fraction >= 1:
        raise UsageError(f"{name}: val_fraction + test_fraction = {val_fraction + test_fraction:g} "
                         "leaves no training examples; keep their sum below 1.")


def split_indices(n, *, val_fraction, test_fraction, seed, stratify=None):
    """Deterministic shuffled train/val/test index arrays.

    Stratified when `stratify` (the labels) is given. `test_fraction=0` gives an
    empty test array (no test split).
    """
    from sklearn.model_selection import train_test_split

    idx = np.arange(n)
    strat = stratify if stratify is not None else None
    if test_fraction == 0:
        rest, test = idx, idx[:0]
    else:
        rest, test = train_test_split(
            idx, test_size=test_fraction, random_state=seed, stratify=strat
        )
    strat_rest = strat[rest] if strat is not None else None
    val_share = val_fraction / (1.0 - test_fraction)
    train, val = train_test_split(rest, test_size=val_share, random_state=seed, stratify=strat_rest)
    return train, val, test


def carve_per_class(y, idx, fraction, rng, *, what, fix):
    """Held-out indices: about `fraction` of `idx`, so that every held-out class keeps
    an example in what is left. Per class (in label order) a seeded permutation gives
    round(n_c * fraction) of it (at most n_c - 1); when that rounds to none in every
    class, one example each from round(n * fraction) of the classes that have two or
    more (PigCVP's 52 classes of 2: 21 classes give one). The `ucr:` splits and the
    small-class fallback of `from_arrays` both come from here, so one seed gives one
    split. Raises `DataError` naming `what` and `fix` when every class has one example.
    """
    held, spare = [], []
    for c in np.unique(y[idx]):
        members = idx[y[idx] == c]
        shuffled = rng.permutation(members)
        held.extend(shuffled[:min(len(members) - 1, int(round(len(members) * fraction)))])
        if len(members) >= 2:
            spare.append(members)
    if not held:
        want = min(len(spare), max(1, int(round(len(idx) * fraction))))
        held = [int(rng.choice(spare[i])) for i in rng.permutation(len(spare))[:want]]
    if not held:
        raise DataError(f"{what}: every class has a single example, so no split can be "
                        f"carved without taking classes out of training; {fix}")
    return np.sort(np.asarray(held, dtype=int))


def standardize(x_train, *others, axis=0):
    """Standardise with mean/std fitted on the training split only.

    For sequences `(n, t, f)` the statistics are per feature over examples and
    steps. Constant features get std 1 so nothing is divided by zero.

    Returns:
        `([x_train, *others] standardised as float32, {"mean": [...], "std": [...]})`.
    """
    reduce = (0,) if x_train.ndim == 2 else (0, 1)
    # float64 sums (float32 ones drift over many rows), applied in float32: what a
    # streamed split (`kzoo.datasets.npy_rows`) computes block by block.
    mean, std = statistics(x_train.mean(axis=reduce, keepdims=True, dtype="float64"),
                           x_train.std(axis=reduce, keepdims=True, dtype="float64"))
    out = [((np.asarray(x, "float32") - mean) / std).astype("float32")
           for x in (x_train, *others)]
    return out, {"mean": mean.ravel().tolist(), "std": std.ravel().tolist()}


def statistics(mean, std):
    """float64 statistics as applied: float32, constant features with std 1."""
    return mean.astype("float32"), np.where(std < 1e-8, 1.0, std).astype("float32")
