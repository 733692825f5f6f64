"""Training-time tools: gradient callbacks, schedules, the LR finder, checkpoints
and the resumable fit that uses them."""

from kzoo.callbacks.checkpoint import (  # noqa: F401
    Checkpoint,
    CheckpointWriteError,
    load_model_safely,
)
from kzoo.callbacks.gradient_clipping import GradientClipping  # noqa: F401
from kzoo.callbacks.gradient_health import GradientHealth  # noqa: F401
from kzoo.callbacks.gradient_norm_logger import GradientNormLogger  # noqa: F401
from kzoo.callbacks.lr_finder import LRFinder  # noqa: F401
from kzoo.callbacks.resumable_fit import ShuffledBatches, fit_resumable  # noqa: F401
from kzoo.callbacks.schedules import (  # noqa: F401
    CycleMomentum,
    LearningRateLogger,
    OneCycle,
    ReduceLROnPlateauWithWarmup,
    StepDecay,
    Warmup,
    build_schedule,
    scale_learning_rate,
)
