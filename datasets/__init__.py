"""kzoo.datasets: embedded and downloadable datasets, loaded by spec string.

>>> ds = kzoo.datasets.load("digits-seq")
>>> ds.x_train.shape
(1077, 8, 8)
"""

from kzoo.datasets import adding as _adding  # noqa: F401  (registers)
from kzoo.datasets import digits as _digits  # noqa: F401
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

__all__ = [
    "Dataset",
    "list_datasets",
    "load",
    "parse_spec",
    "register_dataset",
    "split_indices",
    "standardize",
]
