"""Resuming a run directory without training: what its config.json and
checkpoints say (`plan_resume`, `resume_point`), and a finished run read back
(`is_finished`, `finished_result`). `resume_run.resume` and an ensemble's members
(`ensemble`) use it; neither `runner` nor keras is imported here.
"""

import os
import pathlib

from kzoo import rundir as layout
from kzoo.callbacks.checkpoint_format import latest_checkpoint
from kzoo.runtime.errors import UsageError
from kzoo.training.config import RunResult, field_names


def plan_resume(run_dir, *, verbose="auto", epochs=None, **settings):
    """What resuming `run_dir` means (`resume`'s checks and settings, keras-free):
    the finished run's `RunResult` when there is nothing to train, else
    `(model, data, settings)` to pass to `runner.train`."""
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
    # "auto" (and "max") settings resume at the values they resolved to when the run started
    # (an extended epoch budget must not change the batch-size rule's outcome).
    for key in ("epochs", "batch_size"):
        recorded = (resolved.get(key) or {}).get("value")
        if saved.get(key) in ("auto", "max") and isinstance(recorded, int):
            saved[key] = resolved[key]["value"]
    extending = epochs is not None and epochs != saved.get("epochs")
    if not extending and is_finished(run_dir):
        return finished_result(run_dir, verbose)
    if extending:
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
    return model, data, saved


def resume_point(run_dir):
    """`(epoch, step)` where a resumed run continues: epochs finished, then steps
    into the next one; None without a valid checkpoint."""
    found = latest_checkpoint(pathlib.Path(run_dir) / layout.CHECKPOINTS_DIR)
    if found is None:
        return None
    record = found[2]
    spe = record.get("steps_per_epoch") or 0
    if not spe:
        return record.get("epoch", 0), record.get("step", 0)
    return divmod(int(record["global_step"]), int(spe))


def is_finished(run_dir):
    """Whether the run ended and wrote its results (summary.json says completed)."""
    run_dir = pathlib.Path(run_dir)
    path = run_dir / layout.SUMMARY_FILE
    if not (path.is_file() and (run_dir / layout.MODEL_FILE).is_file()):
        return False
    return layout.read_json_object(path).get("status") == "completed"


def finished_result(run_dir, verbose):
    """A finished run resumed: every file is left as it is (its model is the
    selected epoch's, which continuing from the last checkpoint would replace),
    and the `RunResult` is read back from them."""
    from kzoo.zoo import load_model_safely

    run_dir = pathlib.Path(run_dir)
    summary = layout.read_summary(run_dir)
    if verbose != 0:
        kept = summary.get("selected_epoch") or summary.get("best_epoch")
        print(f"{run_dir} is finished ({summary.get('epochs_run')} epochs"
              f"{f', kept epoch {kept}' if kept else ''}): nothing to resume, and its files are "
              "left as they are. Pass a larger --epochs to extend it.", flush=True)
    history_path = run_dir / layout.HISTORY_FILE
    history = layout.read_history(history_path) if history_path.is_file() else {}
    model = load_model_safely(run_dir / layout.MODEL_FILE)
    return RunResult(model, history, summary, run_dir)
