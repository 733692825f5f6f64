"""One training session of `train()`: the fit, the summary, and the files written
at its end. A resume is a new session of the same run (`add_earlier_sessions`)."""

import contextlib
import time

from kzoo import diagnose, zoo
from kzoo import rundir as layout
from kzoo.callbacks.precise_bn import PreciseBatchNorm, recompute_batch_norm
from kzoo.fit import streamed_rows
from kzoo.fit.resumable_fit import padded_evaluation
from kzoo.runtime import devices as kzoo_devices
from kzoo.runtime import processes
from kzoo.training.bn_settle import guard_early_stopping, settle_guard
from kzoo.training.callback_stack import build_callbacks
from kzoo.training.config import RunResult
from kzoo.training.fit import fit_run
from kzoo.training.learning_rate import setup_learning_rate
from kzoo.training.recipe import make_callbacks
from kzoo.training.results import (
    add_earlier_sessions,
    select_and_diagnose,
    summarize,
    write_results,
)


def run_session(config, plan, net, run_dir, gradient_callbacks, callbacks, exact=None):
    """Fit `net` with the resolved settings (`plan.config`) and write the results
    into `run_dir` (locked by the caller)."""
    with streamed_rows.routed(net):  # .npy rows reach Keras as batches, never whole
        return _session(config, plan, net, run_dir, gradient_callbacks, callbacks, exact)


def _session(config, plan, net, run_dir, gradient_callbacks, callbacks, exact=None):
    run, prepared = plan.config, plan.data
    # LR callbacks first: the `lr` they put in the epoch logs reaches CSVLogger. Set
    # outside the engine: `--lr auto`'s finder sweeps unpadded batches, which a
    # multi-device engine would refuse (the variables are replicated, so it still
    # reads and restores the same weights).
    lr_callbacks = setup_learning_rate(run, net, prepared, run_dir)
    kzoo_callbacks = [*lr_callbacks, *build_callbacks(run, run_dir, prepared, gradient_callbacks)]
    with kzoo_devices.scope(run.devices):
        history, wall = _fit(config, plan, net, run_dir, kzoo_callbacks, callbacks, exact)
        # The test and training-set evaluations, in padded batches on several devices.
        with _padded(net, run.devices):
            summary = summarize(run, prepared, net, history, wall)
            summary.update(select_and_diagnose(plan, net, history, run_dir))
    if run.tensorboard not in (None, False):  # the diagnosis and test scores, as text
        from kzoo.training import tensorboard

        tensorboard.finish(gradient_callbacks, summary)
    if run.devices > 1:
        zoo.layers.unsynchronize_batch_norm(net)  # model.keras loads on every backend
    if config.verbose != 0:
        print(diagnose.render(summary["diagnosis"]), flush=True)
    if run_dir is not None:
        if config.resume:
            add_earlier_sessions(summary, run_dir / layout.SUMMARY_FILE)
        write_results(net, summary, run_dir)
    return RunResult(net, history, summary, run_dir)


def _padded(net, devices):
    if devices == 1:
        return contextlib.nullcontext()
    return padded_evaluation(net, devices, processes.process_index(),
                             processes.process_count())


def _fit(config, plan, net, run_dir, kzoo_callbacks, callbacks, exact=None):
    """The fit (inside the device engine); returns the history and its wall time."""
    run, prepared = plan.config, plan.data
    # Precise BN: statistics of the validated weights before each validation (selection
    # and early stopping read it) and of the kept weights before the test.
    precise = plan.resolved.values.get("precise_bn")
    selection = make_callbacks(plan)
    # Without it, selection and early stopping wait for the moving statistics to settle.
    guard_early_stopping(selection, settle_guard(plan, net))
    all_callbacks = [
        *kzoo_callbacks,
        *([PreciseBatchNorm(prepared.train[0])] if precise else []),
        *selection,
        *(callbacks or []),
    ]

    fit_kwargs = {"epochs": run.epochs, "callbacks": all_callbacks, "verbose": config.verbose}
    if isinstance(prepared.train, tuple):
        x, y = prepared.train
        fit_kwargs.update(x=x, y=y, batch_size=run.batch_size, shuffle=True)
    else:
        fit_kwargs.update(x=prepared.train)
    if prepared.val is not None:
        fit_kwargs["validation_data"] = prepared.val

    start = time.perf_counter()
    history = fit_run(net, fit_kwargs, run, run_dir, run_config=exact)
    if precise:
        recompute_batch_norm(net, prepared.train[0])
    return history, time.perf_counter() - start
