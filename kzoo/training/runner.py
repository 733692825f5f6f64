"""`train()`: the route of `kzoo train` and `kzoo.train(...)` (`resume()`, in
resume_run.py, continues a run through it; results.py writes what it ends with).

validate -> prepare the data -> build the model -> set the learning rate ->
build the callbacks -> fit -> summarize -> write the run directory. Everything
that can fail on bad input fails before training starts or anything is
written; `kzoo.rundir` describes the files of a run and the rules
that keep a user's files safe (marker, lock, what `overwrite` may delete).
"""

import contextlib
import functools
import shutil
import time

import keras

from kzoo import diagnose, zoo
from kzoo import rundir as layout
from kzoo.callbacks.global_clipping import clip_global_gradient
from kzoo.callbacks.precise_bn import PreciseBatchNorm, recompute_batch_norm
from kzoo.fit import streamed_rows
from kzoo.fit.resumable_fit import padded_evaluation
from kzoo.runtime import devices as kzoo_devices
from kzoo.runtime import processes
from kzoo.runtime.errors import MachineError, UsageError, out_of_memory
from kzoo.training import batch_size as max_batch
from kzoo.training import ensemble, series_rule
from kzoo.training.callback_stack import build_callbacks, build_gradient_callbacks
from kzoo.training.compile_policy import jit_compile_for
from kzoo.training.config import RunResult, TrainConfig, field_names, validate_config
from kzoo.training.fit import check_checkpoints, exactness_config, fit_run
from kzoo.training.inputs import prepare_data
from kzoo.training.learning_rate import setup_learning_rate
from kzoo.training.recipe import (
    check_resume,
    make_callbacks,
    make_optimizer,
    resolve_run,
)
from kzoo.training.results import (
    add_earlier_sessions,
    select_and_diagnose,
    summarize,
    write_results,
)

NO_TEST_NOTE = (
    "{name} has no test split: kzoo reports validation metrics only (no test_* in "
    "summary.json). Add x_test/y_test to the .npz, or pass test= (a fraction or a pair) "
    "to kzoo.datasets.load / from_arrays, for a test score."
)


def _oom_is_a_machine_error(func):
    """An out-of-memory error of any backend leaves `func` as a MachineError (exit 4)
    with the advice to shrink the run (`kzoo.runtime.errors.out_of_memory`)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except Exception as err:
            message = out_of_memory(err)
            if message is None or isinstance(err, MachineError):
                raise
            raise MachineError(message) from err

    return wrapper


@_oom_is_a_machine_error
def train(
    model="gru",
    data="digits-seq",
    *,
    callbacks=None,
    val_data=None,
    test_data=None,
    num_classes=None,
    task=None,
    **settings,
):
    """Train a zoo model and (optionally) write a run directory.

    Args:
        model: a registered model name. Defaults to `"gru"`.
        data: a dataset spec, a `kzoo.datasets.Dataset`, an `.npz` or `.csv`
            path, a `(x, y)` tuple (split and standardised by
            `kzoo.datasets.from_arrays`), or a `tf.data.Dataset` /
            `keras.utils.PyDataset` / torch `DataLoader` yielding `(x, y)`
            batches. Without a test split the summary has no `test_*` metric
            (`has_test` is False). Defaults to `"digits-seq"`.
        callbacks: extra Keras callbacks, appended after kzoo's.
        val_data, test_data: optional `(x, y)` or iterable datasets for arrays
            and streams.
        num_classes, task: needed for streaming datasets, inferred otherwise.
        **settings: any field of `TrainConfig` (epochs, batch_size, lr, out, seed,
            hparams, early_stopping, precision, overwrite, verbose, ...). Unset
            training settings come from the family's recipe and the data rules
            (`kzoo.zoo._defaults`); config.json records each value and its source.

    Returns:
        A `RunResult` with the trained model, its history and the summary.

    Example:

    >>> result = kzoo.train("gru", "digits-seq", epochs=10, out="runs/gru")
    >>> result.summary["test_accuracy"]
    """
    unknown = set(settings) - set(field_names())
    if unknown:
        raise UsageError(
            f"Unknown setting(s) {', '.join(sorted(unknown))}. Valid: "
            f"{', '.join(field_names())}."
        )
    config = TrainConfig(
        model=model, data=data if isinstance(data, str) else type(data).__name__, **settings
    )
    config.backend = keras.backend.backend()
    validate_config(config)
    if ensemble.wanted(config):  # several members, each a run of its own (ensemble.py)
        result = ensemble.train_ensemble(  # each member is a `train` of its own
            config, data, train, callbacks=callbacks, val_data=val_data, test_data=test_data,
            num_classes=num_classes, task=task)
        if result is not None:
            return result
    devices = kzoo_devices.resolve(config.devices)
    # The output directory is checked now and again under its lock (`layout.claim`).
    run_dir, _ = layout.check_out(
        config.out, "train", overwrite=config.overwrite, resume=config.resume
    )
    created = run_dir is not None and not run_dir.exists()  # kzoo makes it in this call
    resuming = config.resume
    restart = resuming and not layout.has_checkpoint(run_dir)
    if restart:  # nothing to resume: the run starts over from its config (said below)
        config.resume = False

    # Everything that can fail on bad input fails here, before training or writing.
    zoo.get_spec(config.model)
    zoo.check_hparams(config.model, config.hparams)
    prepared = prepare_data(
        data,
        seed=config.seed,
        val_data=val_data,
        test_data=test_data,
        num_classes=num_classes,
        task=task,
    )
    zoo.check_model_fits_data(config.model, prepared)
    max_batch.check_max_batch(config, prepared, devices)
    if devices > 1 and not isinstance(prepared.train, tuple):
        raise UsageError(
            f"devices={config.devices} needs array data (x, y): kzoo pads each batch to a "
            f"multiple of the device count, which a {type(data).__name__} stream batches "
            "itself. Pass arrays, or train on one device."
        )
    if prepared.test is None and config.verbose != 0:
        print(NO_TEST_NOTE.format(name=prepared.name), flush=True)
    if prepared.info.get("task_note") and config.verbose != 0:  # an inferred regression
        print(prepared.info["task_note"], flush=True)
    if config.checkpoint_every_steps and not isinstance(prepared.train, tuple):
        raise UsageError(
            "checkpoint_every_steps needs array data (x, y): mid-epoch resume replays the "
            f"batch order, which a {type(data).__name__} stream owns. Pass arrays, or drop "
            "checkpoint_every_steps (streams train without checkpoints)."
        )
    # Recorded in config.hparams (config.json), so the run repeats without it.
    stored = {}
    if config.resume and not restart:
        stored = layout.read_json_object(run_dir / layout.CONFIG_FILE).get("resolved") or {}
        if "series_norm" not in stored and zoo.get_spec(config.model).kind == "sequence":
            # recorded before the rule (or a stream): prepared as it was then
            config.hparams = {"series_norm": False, "resample_to": 0, **config.hparams}
    config.hparams, series = series_rule.choose(config.model, config.hparams, prepared)
    info = dict(prepared.info or {})
    if series_rule.resampled(config.hparams):
        info["equal_length"] = True  # no padding reaches the family
    config.hparams, note = zoo.auto_masking(config.model, config.hparams, info)
    for line in (series_rule.notes(series), note):
        if line and config.verbose != 0:
            print(line, flush=True)
    # The recipe and the data rules fill every unset field; `config` stays as given
    # (config.json), `run` holds the concrete values.
    plan = resolve_run(config, prepared, devices)
    series_rule.record_into(plan.resolved, series)
    run, prepared = plan.config, plan.data
    search_batch = config.batch_size == "max" and not max_batch.adopt_recorded(config, plan, stored)
    # What the checkpoints record, before `--lr auto` sets the rate it finds.
    exact = exactness_config(run)
    if config.resume and not restart:
        check_checkpoints(run_dir, exact)  # readable, and written under these settings
        # `resume` validated an extended epoch budget; every other value must match.
        check_resume(plan, stored, ignore=("epochs", *(k for k in series if k not in stored)))
    check_device_settings(run, plan)
    gradient_callbacks = build_gradient_callbacks(run, run_dir)

    # An ensemble's member seeds its weights apart from the split (TrainConfig.init_seed).
    keras.utils.set_random_seed(config.seed if config.init_seed is None else config.init_seed)
    # Built and compiled under the engine; `_run` enters it again for the fit.
    with kzoo_devices.scope(devices), zoo.precision(config.precision):
        net = zoo.create(
            config.model,
            input_shape=prepared.input_shape,
            num_classes=prepared.num_classes,
            head=prepared.task,
            optimizer=make_optimizer(plan),
            **config.hparams,
        )
        if devices > 1:  # tensorflow: the recipe's clipnorm clips the global gradient
            clip_global_gradient(net.optimizer)
        # Data-dependent layers (MiniRocket's biases); a resume then restores the checkpoint.
        zoo.fit_to_data(net, prepared.train)
    # --compile: Keras' own choice unless set; on torch, compiled only where measured to pay
    steps = None
    if isinstance(prepared.train, tuple):
        steps = run.epochs * -(-len(prepared.train[0]) // run.batch_size)
    device = "cpu"
    if keras.backend.backend() == "torch":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    jit = jit_compile_for(config.compile, keras.backend.backend(), config.model, steps, device)
    if jit != "auto":
        net.jit_compile = jit
    if search_batch:  # --batch-size max: probes this model (its state is put back)
        with kzoo_devices.scope(devices):
            max_batch.choose_max_batch(plan, net, exact, config.verbose)

    if run_dir is None:
        return _run(config, plan, net, None, gradient_callbacks, callbacks, exact)
    lock = layout.claim(
        run_dir, "train", overwrite=config.overwrite, resume=resuming, fresh=restart
    )
    try:
        if restart:
            if config.verbose != 0:
                print(f"{run_dir} holds no checkpoint (the run was stopped before its first "
                      "one): starting it over from its config.json.", flush=True)
        layout.write_json(
            run_dir / layout.CONFIG_FILE,
            {**config.to_json(), "resume": False, "overwrite": False,
             "resolved": plan.resolved.to_json()},
        )
        return _run(config, plan, net, run_dir, gradient_callbacks, callbacks, exact)
    except Exception as err:
        message = out_of_memory(err)
        if message is None:
            raise
        failure = err
    finally:
        lock.release()
    # Out of memory: the run directory is cleared or marked failed (the lock is free).
    trained = resuming or layout.has_checkpoint(run_dir)
    _after_out_of_memory(run_dir, created and not trained, trained, message)
    raise MachineError(message) from failure


def _after_out_of_memory(run_dir, remove_dir, trained, message):
    """A run kzoo made in this call with nothing trained is removed (its files only,
    when the folder was there before); a run with checkpoints is marked failed in
    summary.json, so `kzoo train --resume` can continue it once it fits."""
    if trained:
        summary = run_dir / layout.SUMMARY_FILE
        before = layout.read_json_object(summary) if summary.is_file() else {}
        layout.write_json(summary, {**before, "status": "failed", "failed": message})
        return
    if remove_dir:
        shutil.rmtree(run_dir, ignore_errors=True)
        return
    for name in (*layout.KIND_FILES["train"], layout.MARKER_FILE):
        path = run_dir / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        elif path.exists():
            path.unlink()


def _run(config, plan, net, run_dir, gradient_callbacks, callbacks, exact=None):
    """Fit `net` with the resolved settings (`plan.config`) and write the results
    into `run_dir` (locked by the caller)."""
    with streamed_rows.routed(net):  # .npy rows reach Keras as batches, never whole
        return _run_routed(config, plan, net, run_dir, gradient_callbacks, callbacks, exact)


def _run_routed(config, plan, net, run_dir, gradient_callbacks, callbacks, exact=None):
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
    all_callbacks = [
        *kzoo_callbacks,
        *([PreciseBatchNorm(prepared.train[0])] if precise else []),
        *make_callbacks(plan),
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


def check_device_settings(run, plan):
    """Refuse, before anything is written, what a TensorFlow strategy of several
    replicas would get wrong: the gradient callbacks (kzoo's hook would run on
    each replica's gradient before the all-reduce, so norms, thresholds and
    diagnoses would not be the global ones; the recipe's own clipping is made
    global, `clip_global_gradient`), and `--lr auto` (the finder sweeps
    unpadded batches, which the strategy splits unevenly)."""
    if run.devices == 1 or run.backend != "tensorflow":
        return
    if run.lr == "auto":
        raise UsageError(
            f"--lr auto with devices={run.devices} on tensorflow: the LR finder's batches "
            "are not padded for the replicas. Find the rate on one device (kzoo lr-find) "
            "and pass --lr, or use --backend jax."
        )
    used = [flag for flag, on in (
        (f"--grad-log-every {run.grad_log_every}", run.grad_log_every),
        (f"--clip {run.clip}", run.clip != "none"),
        (f"--grad-health {run.grad_health}", run.grad_health != "off"),
    ) if on]
    if used:
        raise UsageError(
            f"{', '.join(used)} with devices={run.devices} on tensorflow: under "
            "MirroredStrategy each replica sees only its own gradient (before the "
            "all-reduce), so norms, clipping thresholds and diagnoses would not be the "
            "global ones. Train with --backend jax (its gradient callbacks see the global "
            "gradient), on one device, or without them."
        )
