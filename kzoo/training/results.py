"""The results of a run: its summary, the kept epoch and diagnosis, and the files
written at the end (model.keras atomically, summary.json, the plots).

A failure while writing them leaves a summary.json that says what failed and
raises RunFailedError (the checkpoints stay, so the run can be finished).
"""

import keras
import numpy as np

from kzoo import diagnose
from kzoo import rundir as layout
from kzoo.plots import report
from kzoo.runtime import processes
from kzoo.runtime.errors import RunDirError, RunFailedError
from kzoo.runtime.files import atomic_write_with
from kzoo.training.bn_settle import settle_guard
from kzoo.training.recipe import selection_summary


def save_model_atomically(net, path):
    """`net.save(path)` through a temporary `.keras` file in the same directory,
    fsynced and renamed: a kill or a full disk leaves the old file or none,
    never a broken one."""
    atomic_write_with(path, net.save, suffix=".keras")  # Keras wants the suffix


def write_results(net, summary, run_dir):
    """model.keras, summary.json and the plots; when one fails, a summary that says
    what failed (best effort: the disk may be full) and a RunFailedError. In a
    multi-process job process 0 writes them while the others wait."""
    processes.on_writer("writing the results", _write_results, net, summary, run_dir)


def _write_results(net, summary, run_dir):
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


def add_earlier_sessions(summary, path):
    """A resumed run's wall time adds the sessions a summary.json recorded before
    (a session killed before writing its summary is not counted)."""
    if not path.exists():
        return
    try:
        before = layout.read_json_object(path)
    except (OSError, RunDirError):
        return
    sessions = before.get("wall_time_sessions") or [before.get("wall_time_s") or 0.0]
    sessions = [*sessions, summary["wall_time_s"]]
    summary["wall_time_sessions"] = sessions
    summary["wall_time_s"] = round(sum(sessions), 3)


def select_and_diagnose(plan, net, history, run_dir):
    """summary.json's `selected_epoch`, `selection`, `diagnosis` and `diagnosis_facts`.

    The facts measure the training data in inference mode on the kept weights,
    and, with BatchNorm, the validation split (else the training data) with
    BatchNorm in inference and in training mode: what exposes a BatchNorm
    train/inference gap. `precise_bn` says whether the statistics were recomputed.
    """
    epoch, selection = selection_summary(plan, history, settle_guard(plan, net))
    data, facts = plan.data, {}
    if isinstance(data.train, tuple) and data.task in ("multiclass", "binary"):
        facts = diagnose.measure_facts(
            net, *data.train, history, batch_size=max(plan.config.batch_size, 256),
            selected_epoch=epoch, fit_batch_size=plan.config.batch_size,
            val=data.val if isinstance(data.val, tuple) else None,
        )
        if "bn_split" in facts:
            facts["precise_bn"] = bool(plan.resolved.values.get("precise_bn"))
    grads = None if run_dir is None else run_dir / layout.GRAD_NORMS_FILE
    processes.barrier("gradient log written")  # by process 0, read by every process
    grad_rows = layout.read_grad_norms(grads) if grads is not None and grads.is_file() else None
    findings = diagnose.diagnose(history, grad_rows, facts)
    return {"selected_epoch": epoch, "selection": selection, "diagnosis": findings,
            "diagnosis_facts": facts}


def summarize(config, data, net, history, wall):
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
        **({"init_seed": config.init_seed} if config.init_seed is not None else {}),
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

