"""The learning rate of a run: `--lr auto`, batch-size scaling and the schedule."""

import math

from kzoo import rundir as layout
from kzoo.callbacks import LearningRateLogger
from kzoo.callbacks._accumulate import per_optimizer_step
from kzoo.plots import plot_lr_find
from kzoo.plots.learning_rate import LR_FIND_PNG
from kzoo.runtime import processes
from kzoo.runtime.errors import UsageError
from kzoo.schedules import LRFinder, build_schedule, scale_learning_rate
from kzoo.schedules.lr_finder import recommend_lr


def setup_learning_rate(config, net, data, run_dir):
    """Apply `--lr auto`, batch-size scaling and the schedule; return callbacks.

    Sets `config.lr` to the rate used (the finder's valley suggestion for
    `auto`), sets the optimizer's learning rate, and returns the schedule's
    callbacks plus a `LearningRateLogger` (put them before CSVLogger so the
    `lr` column reaches history.csv).
    """
    arrays = isinstance(data.train, tuple)
    if config.lr == "auto":
        config.lr = _find_learning_rate(config, net, data, run_dir)
    lr = float(config.lr)
    accumulate = getattr(config, "accumulate", 1)
    if config.lr_scaling != "none":
        # batch_size is the global batch (all devices together) of one micro-batch: the
        # rule scales with the batch of an optimizer step, batch_size x accumulate.
        lr = scale_learning_rate(lr, config.batch_size * accumulate, config.base_batch_size,
                                 config.lr_scaling)
    if arrays:
        steps_per_epoch = math.ceil(len(data.train[0]) / config.batch_size)
    else:
        steps_per_epoch = len(data.train) if hasattr(data.train, "__len__") else 1
    total = config.epochs * steps_per_epoch
    if accumulate > 1:  # the schedule counts optimizer steps (accumulators span epochs)
        total = max(1, total // accumulate)
        steps_per_epoch = steps_per_epoch / accumulate
    warmup = config.warmup_steps or int(round(config.warmup_epochs * steps_per_epoch))
    warmup = min(warmup, total - 1)
    rate, callbacks = build_schedule(
        config.schedule,
        lr,
        total,
        warmup_steps=warmup,
        steps_per_epoch=steps_per_epoch,
        monitor="val_loss" if data.val is not None else "loss",
    )
    net.optimizer.learning_rate = per_optimizer_step(rate, accumulate)
    lr_csv = str(run_dir / layout.LR_STEPS_FILE) if run_dir is not None else None
    return [*callbacks, LearningRateLogger(path=lr_csv)]


def _find_learning_rate(config, net, data, run_dir):
    """`--lr auto`: the LR finder's valley suggestion, or on resume the rate the
    run chose (lr_find.json's `recommended_lr`, as `kzoo lr-find` writes it)."""
    if not isinstance(data.train, tuple):
        raise UsageError("--lr auto needs array data (the finder sweeps over x, y).")
    if config.resume:
        return float(layout.read_lr_find(run_dir / layout.LR_FIND_FILE)["recommended_lr"])
    finder = LRFinder(num_steps=60, batch_size=config.batch_size, seed=config.seed)
    result = finder.find(net, *data.train)
    lr, rule = recommend_lr(result["suggestions"])
    if run_dir is not None and processes.is_writer():
        layout.write_lr_find(run_dir / layout.LR_FIND_FILE, result, lr, rule)
        plot_lr_find(result, run_dir / layout.PLOTS_DIR / LR_FIND_PNG)
    return float(lr)
