"""The Keras callbacks of a run, built from its `TrainConfig`.

Order matters: callbacks that add values to the epoch logs (the LR logger,
the gradient callbacks) run before `CSVLogger`, so those values reach
`history.csv`.
"""

import keras

from kzoo import rundir as layout
from kzoo.callbacks import GradientClipping, GradientHealth, GradientNormLogger
from kzoo.runtime import processes


def build_gradient_callbacks(config, run_dir=None):
    """The gradient callbacks of `--grad-health`, `--clip` and `--grad-log-every`,
    in the order they must run. `validate_config` has checked the settings; the
    callbacks' own range checks raise here (before anything is written)."""
    callbacks = []
    if config.grad_health != "off":
        callbacks.append(GradientHealth(action=config.grad_health))
    if config.clip not in (None, "none"):
        clip_value = config.clip_value
        if clip_value is None:
            clip_value = 0.01 if config.clip == "agc" else 1.0
        percentile = 10.0 if config.clip_percentile is None else config.clip_percentile
        callbacks.append(
            GradientClipping(config.clip, clip_value=clip_value, percentile=percentile)
        )
    if config.grad_log_every:
        callbacks.append(
            GradientNormLogger(
                every=config.grad_log_every, run_dir=None if run_dir is None else str(run_dir)
            )
        )
    if config.tensorboard not in (None, False):
        from kzoo.training.tensorboard import tensorboard_logger

        callbacks.append(tensorboard_logger(config, run_dir, callbacks))
    return callbacks


def build_callbacks(config, run_dir, data, gradient_callbacks):
    """Keras callbacks for a run: the gradient ones and CSV history. Early stopping
    and the kept epoch come from the recipe (`kzoo.training.recipe.make_callbacks`).
    Only the process that writes (`kzoo.runtime.processes.is_writer`) logs history.csv."""
    callbacks = list(gradient_callbacks)
    if run_dir is not None and processes.is_writer():
        callbacks.append(keras.callbacks.CSVLogger(str(run_dir / layout.HISTORY_FILE)))
    return callbacks
