"""`train()` and `resume()`: the route of `kzoo train` and `kzoo.train(...)`.

validate -> prepare the data -> build the model -> set the learning rate ->
build the callbacks -> fit -> summarize -> write the run directory. Everything
that can fail on bad input fails before training starts or anything is
written; `kzoo.training.run_dir` describes the files of a run.
"""

import time

import keras
import numpy as np

from kzoo import diagnose, zoo
from kzoo.plots import report
from kzoo.training import run_dir as layout
from kzoo.training.callbacks import build_callbacks, build_gradient_callbacks
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
        data: a dataset spec, a `kzoo.datasets.Dataset`, an `.npz` path, a
            `(x, y)` tuple, or a `tf.data.Dataset` / `keras.utils.PyDataset` /
            torch `DataLoader` yielding `(x, y)` batches. Defaults to `"digits-seq"`.
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
        raise ValueError(
            f"Unknown setting(s) {', '.join(sorted(unknown))}. Valid: "
            f"{', '.join(field_names())}."
        )
    config = TrainConfig(
        model=model, data=data if isinstance(data, str) else type(data).__name__, **settings
    )
    config.backend = keras.backend.backend()
    validate_config(config)

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
    if config.resume:
        check_resume(plan, layout.load_run_config(config.out).get("resolved"))
    run_dir = layout.prepare(config.out, config.overwrite or config.resume)
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

    if run_dir is not None and not config.resume:
        layout.clear(run_dir)
        layout.write_json(
            run_dir / layout.CONFIG_FILE, {**config.to_json(), "resolved": plan.resolved.to_json()}
        )
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
        net.save(run_dir / layout.MODEL_FILE)
        layout.write_json(run_dir / layout.SUMMARY_FILE, summary)
        report(run_dir)
    return RunResult(net, history, summary, run_dir)


def resume(run_dir, *, verbose="auto"):
    """Continue the run in `run_dir` from its latest checkpoint, with the
    settings of its `config.json` (`kzoo train --resume DIR`).

    Args:
        run_dir: a run directory written with checkpoints on.
        verbose: Keras verbosity. Defaults to `"auto"`.

    Returns:
        The `RunResult` of the whole run.
    """
    settings = layout.load_run_config(run_dir)
    settings.pop("backend", None)
    settings.pop("resolved", None)  # resolved again, and checked against it
    model, data = settings.pop("model"), settings.pop("data")
    settings.update(out=str(run_dir), resume=True, overwrite=False, verbose=verbose)
    return train(model, data, **settings)


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
    if data.test is not None:
        if isinstance(data.test, tuple):
            scores = net.evaluate(
                *data.test, batch_size=max(config.batch_size, 256), verbose=0, return_dict=True
            )
        else:
            scores = net.evaluate(data.test, verbose=0, return_dict=True)
        summary["test_loss"] = float(scores["loss"])
        summary["test_accuracy"] = float(scores["accuracy"]) if "accuracy" in scores else None
        if "mae" in scores:
            summary["test_mae"] = float(scores["mae"])
    summary["keras_version"] = keras.__version__
    return summary

