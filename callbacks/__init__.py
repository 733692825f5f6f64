"""Training-time tools: gradient callbacks, schedules, the LR finder, checkpoints
and the resumable fit that uses them."""

from kzoo.callbacks._accumulate import PerOptimizerStep  # noqa: F401
from kzoo.callbacks.checkpoint import Checkpoint, CheckpointWriteError  # noqa: F401
from kzoo.callbacks.cycle_momentum import CycleMomentum  # noqa: F401
from kzoo.callbacks.gradient_clipping import GradientClipping  # noqa: F401
from kzoo.callbacks.gradient_health import GradientHealth  # noqa: F401
from kzoo.callbacks.gradient_norm_logger import GradientNormLogger  # noqa: F401
from kzoo.callbacks.learning_rate_logger import LearningRateLogger  # noqa: F401
from kzoo.callbacks.lr_finder import LRFinder  # noqa: F401
from kzoo.callbacks.precise_bn import PreciseBatchNorm, recompute_batch_norm  # noqa: F401
from kzoo.callbacks.reduce_lr_on_plateau_with_warmup import (  # noqa: F401
    ReduceLROnPlateauWithWarmup,
)
from kzoo.callbacks.resumable_fit import ShuffledBatches, fit_resumable  # noqa: F401
from kzoo.callbacks.schedule_factory import build_schedule, scale_learning_rate  # noqa: F401
from kzoo.callbacks.schedules import OneCycle, StepDecay, Warmup  # noqa: F401
from kzoo.callbacks.tensorboard import TensorBoardLogger  # noqa: F401

