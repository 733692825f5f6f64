"""kzoo.zoo: model builders, their search spaces, and the registry.

Example:

>>> import kzoo
>>> kzoo.zoo.list()
>>> model = kzoo.zoo.create("gru", input_shape=(8, 8), num_classes=10)
"""

from kzoo.runtime.backend import check_backend

# A missing backend gets one line naming the extra, not keras' import traceback.
check_backend()

# Importing a family registers it.
from kzoo.zoo import fcn as _fcn  # noqa: E402,F401
from kzoo.zoo import inception_time as _inception_time  # noqa: E402,F401
from kzoo.zoo import lite as _lite  # noqa: E402,F401
from kzoo.zoo import lstm_fcn as _lstm_fcn  # noqa: E402,F401
from kzoo.zoo import minirocket as _minirocket  # noqa: E402,F401
from kzoo.zoo import mlp as _mlp  # noqa: E402,F401
from kzoo.zoo import resnet1d as _resnet1d  # noqa: E402,F401
from kzoo.zoo import rnn as _rnn  # noqa: E402,F401
from kzoo.zoo import tcn as _tcn  # noqa: E402,F401
from kzoo.zoo import transformer as _transformer  # noqa: E402,F401
from kzoo.zoo._data_fit import auto_masking, check_model_fits_data, fit_to_data  # noqa: E402
from kzoo.zoo._hypermodel import ZooHyperModel, hypermodel  # noqa: E402
from kzoo.zoo._loading import load_model_safely  # noqa: E402
from kzoo.zoo._precision import POLICIES, precision  # noqa: E402
from kzoo.zoo._registry import (  # noqa: E402
    HEADS,
    ModelSpec,
    check_choice,
    check_hparams,
    check_range,
    compile_for_head,
    create,
    get_spec,
    list,
    register_model,
)

__all__ = [
    "HEADS",
    "POLICIES",
    "ModelSpec",
    "auto_masking",
    "check_choice",
    "check_hparams",
    "check_model_fits_data",
    "check_range",
    "fit_to_data",
    "load_model_safely",
    "compile_for_head",
    "create",
    "get_spec",
    "ZooHyperModel",
    "hypermodel",
    "list",
    "precision",
    "register_model",
]
