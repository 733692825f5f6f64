"""Keras callbacks: gradient logging, clipping and health, checkpoints, precise
batch norm, learning-rate logging and plateau reduction with warmup.

The schedules and the LR finder are `kzoo.schedules`, the resumable fit `kzoo.fit`.
"""

from kzoo.callbacks._accumulate import PerOptimizerStep  # noqa: F401
from kzoo.callbacks.checkpoint import Checkpoint, CheckpointWriteError  # noqa: F401
from kzoo.callbacks.gradient_clipping import GradientClipping  # noqa: F401
from kzoo.callbacks.gradient_health import GradientHealth  # noqa: F401
from kzoo.callbacks.gradient_norm_logger import GradientNormLogger  # noqa: F401
from kzoo.callbacks.learning_rate_logger import LearningRateLogger  # noqa: F401
from kzoo.callbacks.precise_bn import PreciseBatchNorm, recompute_batch_norm  # noqa: F401
from kzoo.callbacks.reduce_lr_on_plateau_with_warmup import (  # noqa: F401
    ReduceLROnPlateauWithWarmup,
)
from kzoo.callbacks.tensorboard import TensorBoardLogger  # noqa: F401
