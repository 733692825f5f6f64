"""The `Dataset` container, deterministic splits, and the dataset registry.

Datasets are named by spec strings: `"digits"`, `"digits-seq"`,
`"adding:T=100,task=classification"`, `"ucr:GunPoint"`. The part after the colon
is either `key=value` pairs passed to the loader as keyword arguments, or a
single bare value passed as its first argument.
"""

import dataclasses

import numpy as np

_LOADERS: dict = {}


@dataclasses.dataclass
class Dataset:
    """Train/validation/test arrays and what a model needs to know about them.

    Attributes:
        name: the spec string it was loaded from.
        x_train, y_train, x_val, y_val, x_test, y_test: numpy arrays; features are
            float32, labels int32 (classification) or float32 (regression).
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

    def summary(self):
        return (
            f"{self.name}: {self.kind} {self.task}, input {self.input_shape}, "
            f"{self.num_classes} classes, train/val/test "
            f"{len(self.x_train)}/{len(self.x_val)}/{len(self.x_test)}"
        )


def register_dataset(name, *, description=""):
    """Decorator registering a loader `loader(seed=..., **options) -> Dataset`."""

    def decorator(loader):
        if name in _LOADERS:
            raise ValueError(f"A dataset named {name!r} is already registered.")
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
        raise ValueError(f"A dataset spec must be a non-empty string, got {spec!r}.")
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


def load(spec, *, seed=0):
    """Load a dataset by spec string, e.g. `load("adding:T=100")`.

    Args:
        spec: a name from `list_datasets()`, optionally followed by `:options`.
        seed: seed of the split (and of the data, for synthetic sets). Defaults to `0`.

    Returns:
        A `Dataset`.
    """
    name, args, kwargs = parse_spec(spec)
    if name not in _LOADERS:
        raise ValueError(
            f"Unknown dataset {name!r}. Available: {', '.join(list_datasets())}, "
            "or a path to an .npz file with x_train/y_train (and optionally x_val, "
            "y_val, x_test, y_test)."
        )
    try:
        ds = _LOADERS[name](*args, seed=seed, **kwargs)
    except TypeError as err:
        raise ValueError(f"Bad options for dataset {name!r} in {spec!r}: {err}") from None
    ds.name = spec
    return ds


def split_indices(n, *, val_fraction, test_fraction, seed, stratify=None):
    """Deterministic shuffled train/val/test index arrays (stratified if labels given)."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(n)
    strat = stratify if stratify is not None else None
    rest, test = train_test_split(idx, test_size=test_fraction, random_state=seed, stratify=strat)
    strat_rest = strat[rest] if strat is not None else None
    val_share = val_fraction / (1.0 - test_fraction)
    train, val = train_test_split(rest, test_size=val_share, random_state=seed, stratify=strat_rest)
    return train, val, test


def standardize(x_train, *others, axis=0):
    """Standardise with mean/std fitted on the training split only.

    For sequences `(n, t, f)` the statistics are per feature over examples and
    steps. Constant features get std 1 so nothing is divided by zero.
    """
    reduce = (0,) if x_train.ndim == 2 else (0, 1)
    mean = x_train.mean(axis=reduce, keepdims=True)
    std = x_train.std(axis=reduce, keepdims=True)
    std = np.where(std < 1e-8, 1.0, std)
    out = [((x - mean) / std).astype("float32") for x in (x_train, *others)]
    return out, {"mean": mean.ravel().tolist(), "std": std.ravel().tolist()}
