"""The end of a search: `best.json`, `best_model.keras` and the plots."""

import json
import sys
import warnings

from kzoo import rundir as layout
from kzoo.plots.search import plot_search
from kzoo.tuning.records import Recorder, SearchFailedError, last_line


def all_failed_message(oracle, rows, out):
    """One line naming the first error of a search whose every trial failed."""
    first = min((t for t in oracle.trials.values() if t.message),
                key=lambda t: int(t.trial_id), default=None)
    detail = f"first error (trial {first.trial_id}): {last_line(first.message)}" if first \
        else "no trial finished"
    return f"all {len(rows)} trials failed; {detail}. Every trial's error: {out}/trials.csv"


def save_best_model(model, path):
    """Save `model` so that it reloads without warnings.

    KerasTuner's trial checkpoint holds weights only, so the reloaded best model
    has an unbuilt optimizer (2 variables); saved as is, loading the file warns
    that the compiled optimizer has more. The optimizer is built first: the file
    carries fresh optimizer slots (zeros), ready to fine-tune from.
    """
    model.optimizer.build(model.trainable_variables)
    model.save(path)


def load_on_one_device(tuner, trial):
    """`tuner.load_model(trial)` outside the trials' devices setting: the best model is
    saved and evaluated on one device (a test split of any size; under TensorFlow's
    MirroredStrategy the optimizer would otherwise be built outside its scope)."""
    strategy, tuner.distribution_strategy = tuner.distribution_strategy, None
    try:
        return tuner.load_model(trial)
    finally:
        tuner.distribution_strategy = strategy


def write_best(tuner, oracle, settings, data, out):
    """Write best.json, best_model.keras and the plots; raise if every trial failed."""
    rows = Recorder(out, oracle).write_csv()
    completed = [r for r in rows if r["status"] == "COMPLETED"]
    failed = [r for r in rows if r["status"] == "FAILED"]
    if not completed:
        raise SearchFailedError(all_failed_message(oracle, rows, out))
    best_trial = oracle.get_best_trials(1)[0]
    best = next(r for r in rows if r["trial_id"] == best_trial.trial_id)
    payload = {
        "trial_id": best_trial.trial_id,
        "objective": settings["objective"],
        "direction": oracle.objective.direction,
        "score": best_trial.score,
        "hyperparameters": best_trial.hyperparameters.values,
        "epochs_run": best["epochs_run"],
        "model": settings["model"],
        "data": settings["data"],
        "tuner": settings["tuner"],
        "backend": settings["backend"],
        "trials": {"total": len(rows), "completed": len(completed), "failed": len(failed)},
    }
    if settings.get("series"):  # the series preparation rule's choices and reasons
        payload["series"] = settings["series"]
    if settings.get("prune"):
        payload["trials"]["pruned"] = sum(bool(r.get("pruned")) for r in completed)
    try:
        with warnings.catch_warnings():
            # The checkpoint holds optimizer slots a fresh model lacks; weights load.
            warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
            model = load_on_one_device(tuner, best_trial)
        save_best_model(model, out / layout.BEST_MODEL_FILE)
        payload["model_path"] = "best_model.keras"
        if getattr(data, "x_test", None) is not None:  # a data file may have no test split
            test = model.evaluate(data.x_test, data.y_test, verbose=0, return_dict=True)
            payload["test"] = {k: float(v) for k, v in test.items()}
    except (OSError, ValueError, FileNotFoundError) as err:
        # Multi-host searches without a shared --out keep checkpoints on the workers.
        payload["model_path"] = None
        print(f"kzoo tune: best model not saved ({err})", file=sys.stderr)
    layout.atomic_write_text(out / layout.BEST_FILE, json.dumps(payload, indent=2, default=str))
    plot_search(out)
    return payload
