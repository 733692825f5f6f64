"""kzoo.datasets: embedded and downloadable datasets, loaded by spec string, and your own.

>>> ds = kzoo.datasets.load("digits-seq")
>>> ds.x_train.shape
(1077, 8, 8)

Your own data gets the same split, standardisation and checks:
`kzoo.datasets.load("waves.npz")`, `kzoo.datasets.load("waves.csv", label="kind")`,
`kzoo.datasets.from_arrays(x, y, val=0.2, test=0.2, seed=0)`, and data larger than
memory: `kzoo.datasets.load("big/")`, a folder of `.npy` files read from disk by
row (`kzoo.datasets.npy_folder`). A `Dataset` without
a test split has `has_test == False` and `x_test is None`.
"""

from kzoo.datasets import adding as _adding  # noqa: F401  (registers)
from kzoo.datasets import digits as _digits  # noqa: F401
from kzoo.datasets import ragged as _ragged  # noqa: F401
from kzoo.datasets import ucr as _ucr  # noqa: F401
from kzoo.datasets._base import (
    Dataset,
    list_datasets,
    load,
    parse_spec,
    register_dataset,
    split_indices,
    standardize,
)
from kzoo.datasets.custom import from_arrays
from kzoo.datasets.data_files import inspect_npz, load_csv, load_npz

__all__ = [
    "Dataset",
    "from_arrays",
    "inspect_npz",
    "load_csv",
    "load_npz",
    "list_datasets",
    "load",
    "parse_spec",
    "register_dataset",
    "split_indices",
    "standardize",
]
