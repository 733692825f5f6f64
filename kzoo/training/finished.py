"""A finished run: whether a run directory holds one (`is_finished`), and its
`RunResult` read back without touching a file (`finished_result`). Used by
`resume_run` and by an ensemble's members (`ensemble`), which must not import
`runner`."""

import pathlib

from kzoo import rundir as layout
from kzoo.training.config import RunResult


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
