"""`train()` and `resume()`: the route of `kzoo train` and `kzoo.train(...)`.

validate -> prepare the data -> build the model -> set the learning rate ->
build the callbacks -> fit -> summarize -> write the run directory. Everything
that can fail on bad input fails before training starts or anything is
written; `kzoo.training.run_dir` describes the files of a run and the rules
that keep a user's files safe (marker, lock, what `overwrite` may delete).
"""

import json
import os
import pathlib
import tempfile
import time

import keras
import numpy as np

from kzoo import diagnose, zoo
from kzoo.callbacks._atomic import fsync_dir
from kzoo.errors import RunFailedError, UsageError
from kzoo.plots import report
from kzoo.training import run_dir as layout
from kzoo.training.callbacks import build_callbacks, build_gradient_callbacks
from kzoo.training.compile_policy import jit_compile_for
from kzoo.training.config import RunResult, TrainConfig, field_names, validate_config
from kzoo.training.fit import fit_run
from kzoo.training.inputs import prepare_data
from kzoo.training.learning_rate import setup_learning_rate
from kzoo.training.recipe import (
    check_resume,
    make_callbacks,
    make_optimizer,
    resolve_run,
    selection_summary,
)

NO_TEST_NOTE = (
    "{name} has no test split: kzoo reports validation metrics only (no test_* in "
    "summary.json). Add x_test/y_test to the .npz, or pass test= (a fraction or a pair) "
    "to kzoo.datasets.load / from_arrays, for a test score."
)


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
            (`kzoo.zoo._recipes`); config.json records each value and its source.

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
    # The output directory is checked now and again under its lock (`layout.claim`).
    run_dir, _ = layout.check_out(
        config.out, "train", overwrite=config.overwrite, resume=config.resume
    )
    restart = config.resume and not layout.has_checkpoint(run_dir)

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
    if prepared.test is None and config.verbose != 0:
        print(NO_TEST_NOTE.format(name=prepared.name), flush=True)
    if config.checkpoint_every_steps and not isinstance(prepared.train, tuple):
        raise ValueError(
            "checkpoint_every_steps needs array data (x, y): mid-epoch resume replays the "
            f"batch order, which a {type(data).__name__} stream owns. Pass arrays, or drop "
            "checkpoint_every_steps (streams train without checkpoints)."
        )
    # Recorded in config.hparams (config.json), so the run repeats without it.
    config.hparams, note = zoo.auto_masking(config.model, config.hparams, prepared.info)
    if note and config.verbose != 0:
        print(note, flush=True)
    # The recipe and the data rules fill every unset field; `config` stays as given
    # (config.json), `run` holds the concrete values.
    plan = resolve_run(config, prepared)
    run, prepared = plan.config, plan.data
    if config.resume and not restart:
        stored = layout.read_json_object(run_dir / layout.CONFIG_FILE).get("resolved") or {}
        # `resume` validated an extended epoch budget; every other value must match.
        check_resume(plan, stored, ignore=("epochs",))
    gradient_callbacks = build_gradient_callbacks(run, run_dir)

    keras.utils.set_random_seed(config.seed)
    with zoo.precision(config.precision):
        net = zoo.create(
            config.model,
            input_shape=prepared.input_shape,
            num_classes=prepared.num_classes,
            head=prepared.task,
            optimizer=make_optimizer(plan),
            **config.hparams,
        )
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

    if run_dir is None:
        return _run(config, plan, net, None, gradient_callbacks, callbacks)
    lock = layout.claim(
        run_dir, "train", overwrite=config.overwrite, resume=config.resume, fresh=restart
    )
    try:
        if restart:
            if config.verbose != 0:
                print(f"{run_dir} holds no checkpoint (the run was stopped before its first "
                      "one): starting it over from its config.json.", flush=True)
            config.resume = False
        layout.write_json(
            run_dir / layout.CONFIG_FILE,
            {**config.to_json(), "resume": False, "overwrite": False,
             "resolved": plan.resolved.to_json()},
        )
        return _run(config, plan, net, run_dir, gradient_callbacks, callbacks)
    finally:
        lock.release()


def _run(config, plan, net, run_dir, gradient_callbacks, callbacks):
    """Fit `net` with the resolved settings (`plan.config`) and write the results
    into `run_dir` (locked by the caller)."""
    run, prepared = plan.config, plan.data
    # LR callbacks first: the `lr` they put in the epoch logs reaches CSVLogger.
    lr_callbacks = setup_learning_rate(run, net, prepared, run_dir)
    all_callbacks = [
        *lr_callbacks,
        *build_callbacks(run, run_dir, prepared, gradient_callbacks),
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
    history = fit_run(net, fit_kwargs, run, run_dir)
    wall = time.perf_counter() - start

    summary = _summarize(run, prepared, net, history, wall)
    summary.update(_select_and_diagnose(plan, net, history, run_dir))
    if config.verbose != 0:
        print(diagnose.render(summary["diagnosis"]), flush=True)
    if run_dir is not None:
        if config.resume:
            _add_earlier_sessions(summary, run_dir / layout.SUMMARY_FILE)
        _write_results(net, summary, run_dir)
    return RunResult(net, history, summary, run_dir)


def save_model_atomically(net, path):
    """`net.save(path)` through a temporary `.keras` file in the same directory,
    fsynced and renamed: a kill or a full disk leaves the old file or none,
    never a broken one."""
    path = os.fspath(path)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".keras", dir=os.path.dirname(path))
    os.close(fd)
    try:
        net.save(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync_dir(os.path.dirname(path))
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _write_results(net, summary, run_dir):
    """model.keras, summary.json and the plots; when one fails, a summary that says
    what failed (best effort: the disk may be full) and a RunFailedError."""
    stage = "saving model.keras"
    try:
        save_model_atomically(net, run_dir / layout.MODEL_FILE)
        stage = "writing summary.json"
        layout.write_json(run_dir / layout.SUMMARY_FILE, {**summary, "status": "completed"})
        stage = "drawing the plots"
        report(run_dir)
    except (OSError, MemoryError, TypeError, ValueError) as err:
        failure = f"{stage}: {type(err).__name__}: {err}"
        try:
            layout.write_json(
                run_dir / layout.SUMMARY_FILE, {**summary, "status": "failed", "failed": failure}
            )
        except (OSError, TypeError, ValueError):
            pass
        kept = ("its checkpoints are kept; once fixed, finish it with "
                f"`kzoo train --resume {run_dir}`" if layout.has_checkpoint(run_dir)
                else "it has no checkpoint to resume")
        raise RunFailedError(
            f"Training finished but {failure}. {run_dir}/summary.json records the failure and "
            f"{kept} (free disk space or fix the cause first)."
        ) from err


def resume(run_dir, *, verbose="auto", epochs=None, **settings):
    """Continue the run in `run_dir` from its latest checkpoint, with the
    settings of its `config.json` (`kzoo train --resume DIR`).

    A run stopped before its first checkpoint starts over from its config.json.

    Args:
        run_dir: a run directory written by `train` with checkpoints on.
        verbose: Keras verbosity. Defaults to `"auto"`.
        epochs: a larger total number of epochs extends the run (recorded in
            its config.json); a smaller one is refused.
        **settings: other `TrainConfig` fields; each must equal the run's own
            value (a resumed run cannot change), else UsageError lists them.

    Returns:
        The `RunResult` of the whole run.
    """
    saved = layout.load_run_config(run_dir, fields=(*field_names(), "resolved"))
    saved.pop("backend", None)
    resolved = saved.pop("resolved", None) or {}  # resolved again, and checked against it
    unknown = sorted(set(settings) - set(field_names()))
    if unknown:
        raise UsageError(f"Unknown setting(s) {', '.join(unknown)}. Valid: "
                         f"{', '.join(field_names())}.")
    if settings.get("overwrite"):
        raise UsageError("--overwrite replaces a run and --resume continues it; pass one.")
    out = settings.pop("out", None)
    if out is not None and os.path.realpath(out) != os.path.realpath(run_dir):
        raise UsageError(f"--resume {run_dir} writes into {run_dir}; drop --out {out}.")
    conflicts = {k: v for k, v in settings.items()
                 if k not in ("resume", "verbose", "backend", "overwrite") and saved.get(k) != v}
    if conflicts:
        listed = ", ".join(f"{k}={v!r} (the run has {saved.get(k)!r})"
                           for k, v in sorted(conflicts.items()))
        raise UsageError(
            f"A resumed run keeps its own settings; these differ from {run_dir}/config.json: "
            f"{listed}. Drop them to resume, or start a new run with another --out."
        )
    # "auto" settings resume at the values they resolved to when the run started
    # (an extended epoch budget must not change the batch-size rule's outcome).
    for key in ("epochs", "batch_size"):
        if saved.get(key) == "auto" and isinstance((resolved.get(key) or {}).get("value"), int):
            saved[key] = resolved[key]["value"]
    if epochs is not None and epochs != saved.get("epochs"):
        budget = saved.get("epochs")
        if (isinstance(epochs, bool) or not isinstance(epochs, int)
                or not isinstance(budget, int) or epochs < budget):
            raise UsageError(
                f"epochs={epochs!r}: a resumed run can only be extended, and {run_dir} was set "
                f"to {budget} epochs. Pass a larger --epochs, or none."
            )
        if verbose != 0:
            print(f"Extending {run_dir} from {budget} to {epochs} epochs.", flush=True)
        saved["epochs"] = epochs
    model, data = saved.pop("model"), saved.pop("data")
    saved.update(out=str(run_dir), resume=True, overwrite=False, verbose=verbose)
    where = resume_point(run_dir)
    if where is not None and verbose != 0:
        print(f"Resumed {run_dir} from epoch {where[0]}, step {where[1]} "
              f"({where[0]} epoch(s) and {where[1]} step(s) of the next were done).", flush=True)
    return train(model, data, **saved)


def resume_point(run_dir):
    """`(epoch, step)` where a resumed run continues: epochs finished, then steps
    into the next one; None without a valid checkpoint."""
    from kzoo.callbacks.checkpoint_format import latest_checkpoint

    found = latest_checkpoint(pathlib.Path(run_dir) / layout.CHECKPOINTS_DIR)
    if found is None:
        return None
    record = found[2]
    spe = record.get("steps_per_epoch") or 0
    if not spe:
        return record.get("epoch", 0), record.get("step", 0)
    return divmod(int(record["global_step"]), int(spe))


def _add_earlier_sessions(summary, path):
    """A resumed run's wall time adds the sessions a summary.json recorded before
    (a session killed before writing its summary is not counted)."""
    if not path.exists():
        return
    try:
        before = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    sessions = before.get("wall_time_sessions") or [before.get("wall_time_s") or 0.0]
    sessions = [*sessions, summary["wall_time_s"]]
    summary["wall_time_sessions"] = sessions
    summary["wall_time_s"] = round(sum(sessions), 3)


def _select_and_diagnose(plan, net, history, run_dir):
    """summary.json's `selected_epoch`, `selection`, `diagnosis` and `diagnosis_facts`.

    The facts measure the training data in inference mode on the kept weights,
    which is what exposes a BatchNorm train/inference gap.
    """
    epoch, selection = selection_summary(plan, history)
    data, facts = plan.data, {}
    if isinstance(data.train, tuple) and data.task in ("multiclass", "binary"):
        facts = diagnose.measure_facts(
            net, *data.train, history, batch_size=max(plan.config.batch_size, 256),
            selected_epoch=epoch, fit_batch_size=plan.config.batch_size,
        )
    grads = None if run_dir is None else run_dir / layout.GRAD_NORMS_FILE
    grad_rows = diagnose.read_grad_norms(grads) if grads is not None and grads.is_file() else None
    findings = diagnose.diagnose(history, grad_rows, facts)
    return {"selected_epoch": epoch, "selection": selection, "diagnosis": findings,
            "diagnosis_facts": facts}


def _summarize(config, data, net, history, wall):
    def last(key):
        values = history.get(key)
        return float(values[-1]) if values else None

    summary = {
        "model": config.model,
        "data": data.name,
        "task": data.task,
        "backend": config.backend,
        "params": int(net.count_params()),
        "epochs_run": len(history.get("loss", [])),
        "wall_time_s": round(wall, 3),
        "seed": config.seed,
    }
    for key in history:
        summary[f"final_{key}"] = last(key)
    if data.val is not None and "val_loss" in history:
        best = int(np.argmin(history["val_loss"]))
        summary["best_epoch"] = best + 1
        summary["best_val_loss"] = float(history["val_loss"][best])
    summary["has_test"] = data.test is not None
    if data.test is not None:
        if isinstance(data.test, tuple):
            scores = net.evaluate(
                *data.test, batch_size=max(config.batch_size, 256), verbose=0, return_dict=True
            )
        else:
            scores = net.evaluate(data.test, verbose=0, return_dict=True)
        summary["test_loss"] = float(scores["loss"])
        if data.task == "regression":
            # The regression head's loss is the mean squared error.
            summary["test_mse"] = float(scores["loss"])
            if "mae" in scores:
                summary["test_mae"] = float(scores["mae"])
        elif "accuracy" in scores:
            summary["test_accuracy"] = float(scores["accuracy"])
    summary["keras_version"] = keras.__version__
    return summary

