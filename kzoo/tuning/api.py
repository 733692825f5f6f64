"""`tune`: a KerasTuner search over a zoo family, resumable and distributed."""

import dataclasses
import os
import pathlib
import sys

import keras
import keras_tuner as kt

from kzoo import datasets, zoo
from kzoo.callbacks._accumulate import check_accumulate
from kzoo.rundir.files import TENSORBOARD_DIR
from kzoo.rundir.search import identity, prepare_search_dir
from kzoo.runtime import devices as kzoo_devices
from kzoo.runtime.backend import current_backend
from kzoo.runtime.errors import UsageError
from kzoo.training import series_rule
from kzoo.tuning import _keras_tuner_private as private
from kzoo.tuning.best import write_best
from kzoo.tuning.config import TuneConfig, signature
from kzoo.tuning.distribute import chief, handoff, launcher, roles, worker
from kzoo.tuning.distribute.cluster import cluster_env
from kzoo.tuning.progress import Progress
from kzoo.tuning.records import Recorder, SearchFailedError, read_result
from kzoo.tuning.settings import check_objective, check_scale, check_settings, jsonable_fixed
from kzoo.tuning.tpe import check_space
from kzoo.tuning.tuner import frozen_heap, make_tuner


def load_data(data, seed=0):
    """A `Dataset` from a spec or a data file (`.npz`, `.csv`: `kzoo.datasets.load`), or a
    Dataset as it is."""
    if isinstance(data, (str, pathlib.Path)):
        return datasets.load(str(data), seed=seed)  # checked by load
    return data.check() if isinstance(data, datasets.Dataset) else data


def metric_names(hypermodel, dataset, hp=None):
    """What a trial's `fit` logs for the training split (`loss`, `accuracy`, ...): the
    names from a model built with the space's defaults (declared into `hp`), evaluated
    on two examples."""
    model = hypermodel.build(kt.HyperParameters() if hp is None else hp)
    logs = model.evaluate(dataset.x_val[:2], dataset.y_val[:2], verbose=0, return_dict=True)
    keras.backend.clear_session(free_memory=False)
    return list(logs)


def tune(model, data, **settings):
    """Search the learning rate, batch size and architecture of a zoo family.

    The settings are `TuneConfig`'s fields (`kzoo.tuning.config`), where their
    defaults are spelled once; the signature below is read from it.

    Args:
        model: a name from `kzoo.zoo.list()`.
        data: a dataset spec (`"digits-seq"`), a path to an `.npz` (as for
            `kzoo train`) or a `kzoo.datasets.Dataset`.
        out: directory for the search; an existing search there with the same
            settings is resumed.
        tuner: `"random"`, `"bayesian"`, `"hyperband"` or `"tpe"` (Optuna's TPE
            sampler, `pip install 'kzoo[optuna]'`; `kzoo.tuning.tpe`). Defaults to
            `"random"`.
        max_trials: trial budget (also caps hyperband). Defaults to `10`.
        epochs: epochs per trial (hyperband's `max_epochs`). Defaults to `10`.
        objective: a metric the model logs, to optimise in KerasTuner's direction
            for it (`val_mae` down, `val_accuracy` up). Defaults to
            `"val_accuracy"`, or `"val_loss"` for regression.
        fixed: overrides of the space, as for `kzoo.zoo.hypermodel`
            (`{"depth": 2, "units": [32, 64], "learning_rate": (1e-3, 1e-2)}`).
        seed: seeds the oracle and each trial's weights. Defaults to `0`.
        early_stopping: patience on the objective; `0` disables. Defaults to `0`.
        prune: stop a trial early when, from its second epoch on, its best
            objective so far is worse than the median of the finished, unpruned
            trials at the same epoch (median stopping rule), once 3 trials have
            reached that epoch. Pruned trials count as completed, with the
            score they reached (`pruned` column of `trials.csv`). Not for
            `hyperband`. Defaults to `False`.
        callbacks: extra Keras callbacks for every trial (deep-copied per trial).
            With `workers > 0` they are rebuilt in each worker from their class
            (in an importable module) and their `__init__` arguments, kept as
            same-named attributes with JSON values.
        workers: `0` runs trials in this process; `N` starts a chief and `N`
            worker processes on this host (one GPU each when there are several).
            Defaults to `0`.
        devices: each trial trains on this many devices of this process
            (`kzoo.runtime.devices`; an int or `"all"`), for a search without workers.
            Defaults to `1`.
        gpus_per_worker: with `workers` or `cluster`: each worker gets its own
            block of this many GPUs (`CUDA_VISIBLE_DEVICES`) and its trials train
            on all of them. Defaults to None (one GPU per worker when there are
            several). Without GPUs, `KZOO_VIRTUAL_DEVICES=1` gives jax workers
            virtual CPU devices instead (for testing).
        cluster: run this process as one of a search on several hosts:
            `"slurm"` (from SLURM's variables) or a hostfile path (with `rank`);
            rank 0 is the chief (`kzoo.tuning.distribute.cluster`). `out` must be
            on a filesystem every host shares. The role's variables
            (`KERASTUNER_*`, `CUDA_VISIBLE_DEVICES`) are set in this process's
            environment, before the backend starts. Defaults to None.
        rank: this process's line in the hostfile (`cluster=<hostfile>`).
        chief_port: the chief's port on a cluster. Defaults to one derived from
            `SLURM_JOB_ID`, else 47610.
        heartbeat_timeout: seconds of silence after which the chief drops a
            worker and requeues its trial. Defaults to `60`.
        overwrite: replace an earlier search in `out`. Defaults to `False`.
        accumulate: each trial's optimizer steps every `accumulate` batches, on their
            mean gradient (`kzoo train --accumulate`): a trial's `batch_size` is the
            micro-batch, its optimizer step sees `batch_size * accumulate` examples.
            Defaults to `1`.
        verbose: `0` silent; `1` a line per finished trial (best so far, ETA),
            and on a terminal a live line for the running trial. Defaults to `1`.
        tensorboard: write TensorBoard event files into `out/tb`, without
            TensorFlow: each trial's curves and the HParams dashboard's data
            (`kzoo.tuning.tensorboard`; needs `kzoo[tensorboard]`). Defaults to `False`.

    Returns:
        A `TuneResult` (on a worker process: `None`).

    Example:

    >>> result = kzoo.tuning.tune("lstm", "digits-seq", out="runs/tune", max_trials=20)
    >>> result.best["hyperparameters"]
    """
    return search(TuneConfig(**_SIGNATURE.bind(model, data, **settings).arguments))


_SIGNATURE = signature()
tune.__signature__ = _SIGNATURE


def search(c):
    """`tune` with its settings in a `TuneConfig` `c`."""
    check_settings(c.tuner, c.max_trials, c.epochs, c.workers, c.heartbeat_timeout, c.prune)
    if c.tensorboard:  # before anything is written
        from kzoo.callbacks._event_writer import require

        require("kzoo tune --tensorboard")
    check_scale(c.devices, c.workers, c.gpus_per_worker, c.cluster, c.rank, c.tuner)
    check_accumulate(c.accumulate)
    blocks, devices, data, verbose = None, c.devices, c.data, c.verbose
    if c.cluster is not None:  # this process's role and GPU block, from SLURM or a hostfile
        os.environ.update(cluster_env(c.cluster, c.rank, c.chief_port, c.gpus_per_worker))
        devices = c.gpus_per_worker or 1
    elif c.workers:
        blocks = launcher.plan_devices(c.workers, c.gpus_per_worker, current_backend())
    role = roles.role()
    if role != "chief" and devices != 1:  # the chief trains nothing
        devices = kzoo_devices.resolve(devices)
    if c.workers and role != "single":
        raise UsageError(
            "workers > 0 starts a local chief and workers; it cannot be combined with "
            f"{roles.ENV_IP} set (this process is already a {role})."
        )
    fixed = dict(c.fixed or {})
    dataset = load_data(data, c.seed)
    spec_name = data if isinstance(data, str) else getattr(dataset, "name", "custom")
    model = c.model
    zoo.get_spec(model)
    zoo.check_model_fits_data(model, dataset)
    # Padded data: masking joins `fixed`, so tune_config.json and every trial record it.
    fixed, series = series_rule.choose(model, fixed, dataset)  # scale, lengths
    info = dict(getattr(dataset, "info", None) or {})
    if series_rule.resampled(fixed):
        info["equal_length"] = True
    fixed, note = zoo.auto_masking(model, fixed, info)
    task_note = info.get("task_note")  # an inferred regression
    for line in (series_rule.notes(series), note, task_note):
        if line and verbose and role != "worker":
            print(line, flush=True)
    objective = c.objective
    if objective is None:
        objective = "val_loss" if dataset.task == "regression" else "val_accuracy"
    # Everything below is checked before anything is written.
    # The recipe centres the space: its lr, and its batch-size rule for this many examples.
    x_train = getattr(dataset, "x_train", None)
    hypermodel = zoo.hypermodel(
        model, dataset.input_shape, dataset.num_classes, head=dataset.task,
        n_train=None if x_train is None else len(x_train), **fixed
    )
    direction = private.objective_direction(objective)
    space = kt.HyperParameters()
    check_objective(objective, metric_names(hypermodel, dataset, space), direction)
    if c.tuner == "tpe":
        check_space(space)
    # The search as this process runs it: objective and fixed resolved, devices counted.
    c = dataclasses.replace(c, model=model, objective=objective, fixed=fixed, devices=devices,
                            out=str(c.out))
    settings = {  # tune_config.json (the identity) and best.json read these
        "model": model, "data": spec_name, "tuner": c.tuner, "epochs": c.epochs,
        "objective": objective, "fixed": jsonable_fixed(fixed), "seed": c.seed,
        "backend": current_backend(), "max_trials": c.max_trials, "prune": c.prune,
        "verbose": verbose, "series": series,
        **({"accumulate": c.accumulate} if c.accumulate > 1 else {}),
        # OUT/tb: each trial's curves and the HParams data (kzoo.tuning.tensorboard)
        "tensorboard": str(pathlib.Path(c.out) / TENSORBOARD_DIR) if c.tensorboard else None,
    }
    out, encoded = pathlib.Path(c.out), None
    if c.workers:  # what the workers will read: checked now, written by the launcher
        encoded = handoff.encode(dataclasses.replace(c, devices=c.gpus_per_worker or 1))
    resumed, lock = prepare_search_dir(
        out, identity(settings), direction, overwrite=c.overwrite, role=role
    )
    try:
        return _search(c, settings, hypermodel, dataset, resumed=resumed, role=role,
                       encoded=encoded, blocks=blocks)
    finally:
        if lock is not None:
            lock.release()


def _search(c, settings, hypermodel, dataset, *, resumed, role, encoded, blocks):
    """The search itself, in a directory `tune` has prepared and locked."""
    out, verbose, devices = pathlib.Path(c.out), c.verbose, c.devices
    if c.workers:
        if verbose:
            print(f"Starting a chief and {c.workers} workers on 127.0.0.1 for {out}",
                  flush=True)
        return launcher.launch(encoded, c.workers, out, blocks)

    kt_tuner = make_tuner(settings, hypermodel, out, devices=None if role == "chief" else devices)
    oracle = private.inner_oracle(kt_tuner.oracle)
    oracle.verbose = 0  # kzoo prints its own lines instead of KerasTuner's tables
    queue = private.retry_queue(oracle)
    done = sum(t.status in ("COMPLETED", "FAILED") for t in oracle.trials.values())
    if resumed and role != "worker" and verbose and (done or queue):
        print(f"Resuming the search in {out}: {done} trials done, "
              f"{len(queue)} interrupted to rerun.", flush=True)
    if verbose and role != "worker":
        print(hypermodel.space_summary(), flush=True)
    progress = Progress(oracle.objective, c.max_trials, c.epochs) if verbose else None
    recorder = Recorder(out, oracle, progress)
    recorder.tensorboard = settings.get("tensorboard")
    if role == "chief":
        chief.serve(kt_tuner, recorder, c.heartbeat_timeout)
    else:
        kt_tuner.progress = progress
        if role == "worker":
            worker.start_heartbeat(min(5.0, c.heartbeat_timeout / 4))
        else:
            kt_tuner.recorder = recorder
        cbs = list(c.callbacks or [])
        if c.early_stopping:
            cbs.append(keras.callbacks.EarlyStopping(monitor=c.objective,
                                                     patience=c.early_stopping))
        with frozen_heap(), private.quiet_trial_errors():
            kt_tuner.search(
                dataset.x_train, dataset.y_train,
                validation_data=(dataset.x_val, dataset.y_val),
                epochs=c.epochs, callbacks=cbs, verbose=0,
            )
        if role == "worker":
            return None
    write_best(kt_tuner, oracle, settings, dataset, out)
    return read_result(out)


def run_role(settings_path):
    """Entry point of a chief or worker process started by `distribute.launcher`."""
    try:
        search(TuneConfig(**handoff.read(settings_path), workers=0, overwrite=False))
    except (SearchFailedError, ValueError) as err:
        sys.exit(f"kzoo tune: error: {err}")
