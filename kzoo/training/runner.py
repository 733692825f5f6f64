"""`train()`: the route of `kzoo train` and `kzoo.train(...)` (`resume()`, in
resume_run.py, continues a run through it; results.py writes what it ends with).

validate -> prepare the data and resolve the settings (preflight.py) -> build the
model -> claim the run directory -> set the learning rate, build the callbacks, fit,
summarize and write the results (session.py). Everything that can fail on bad input
fails before training starts or anything is written; `kzoo.rundir` describes the
files of a run and the rules that keep a user's files safe (marker, lock, what
`overwrite` may delete).
"""

import functools
import shutil

import keras

from kzoo import rundir as layout
from kzoo import zoo
from kzoo.callbacks.global_clipping import clip_global_gradient
from kzoo.runtime import devices as kzoo_devices
from kzoo.runtime.errors import MachineError, UsageError, out_of_memory
from kzoo.training import batch_size as max_batch
from kzoo.training import ensemble
from kzoo.training.callback_stack import build_gradient_callbacks
from kzoo.training.compile_policy import jit_compile_for
from kzoo.training.config import TrainConfig, field_names, validate_config
from kzoo.training.preflight import check_device_settings, plan_checked, prepare_checked
from kzoo.training.recipe import make_optimizer
from kzoo.training.session import run_session


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
            and streams. `val_data=False` with `(x, y)` arrays: no validation
            split, every example trains (selection by training loss, as the tiny
            protocol does; for sets too small to carve one, e.g. one example a class).
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
    prepared = prepare_checked(config, data, devices, val_data=val_data, test_data=test_data,
                               num_classes=num_classes, task=task)
    plan, exact, search_batch = plan_checked(
        config, prepared, devices, run_dir, resumed=config.resume and not restart)
    run, prepared = plan.config, plan.data
    check_device_settings(run, plan)
    gradient_callbacks = build_gradient_callbacks(run, run_dir)

    # An ensemble's member seeds its weights apart from the split (TrainConfig.init_seed).
    keras.utils.set_random_seed(config.seed if config.init_seed is None else config.init_seed)
    # Built and compiled under the engine; `run_session` enters it again for the fit.
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
        return run_session(config, plan, net, None, gradient_callbacks, callbacks, exact)
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
        return run_session(config, plan, net, run_dir, gradient_callbacks, callbacks, exact)
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

