"""kzoo.rundir: the directories `kzoo train`, `tune` and `lr-find` write, in one place.

    files.py     the layout (every file name) and the one writer (atomic, fsynced,
                 process 0 only): write_json, write_history_csv, write_lr_find, ...
    readers.py   one reader per file kind, shared by plots, diagnose, report, resume, tune
    marker.py    what makes a directory a kzoo run (the marker), check_out and claim
    existing.py  the checks before a run is read: kzoo report's, --resume's
    lock.py      the lock: one process writes a run at a time
    search.py    a search directory: tune_config.json, its identity and its guard

`from kzoo import rundir as layout` reaches every name (`layout.SUMMARY_FILE`,
`layout.read_summary`, `layout.claim`). It imports nothing of training, tuning, plots
or diagnose, which all import it; it loads no keras (the CLI uses it before a backend
loads).
"""

from kzoo.rundir.existing import check_report_dir, load_run_config
from kzoo.rundir.files import (
    BEST_FILE,
    BEST_MODEL_FILE,
    CHECKPOINTS_DIR,
    COMBINE_FILE,
    CONFIG_FILE,
    GRAD_NORMS_FILE,
    HISTORY_FILE,
    LR_FIND_FILE,
    LR_STEPS_FILE,
    MARKER_FILE,
    MODEL_FILE,
    PLOTS_DIR,
    PROJECT,
    REPORTABLE_FILES,
    SUMMARY_FILE,
    TRIAL_CHECKPOINT,
    TRIAL_WORKERS_FILE,
    TRIALS_FILE,
    TUNE_CONFIG_FILE,
    WORKER_DATA_FILE,
    WORKER_DEVICES_FILE,
    WORKER_PIDS_FILE,
    WORKER_SETTINGS_FILE,
    WORKERS_DIR,
    atomic_write_text,
    has_checkpoint,
    trial_checkpoint_dir,
    write_history_csv,
    write_json,
    write_lr_find,
    write_trials_csv,
)
from kzoo.rundir.lock import LOCK_FILE, NoLock, RunLock
from kzoo.rundir.marker import (
    KIND_FILES,
    MARKER_FORMAT,
    check_out,
    claim,
    read_marker,
    run_kind,
)
from kzoo.rundir.readers import (
    RUN_FILE_FIX,
    read_best,
    read_config,
    read_csv,
    read_grad_norms,
    read_history,
    read_json_object,
    read_lr_find,
    read_lr_steps,
    read_optional_json,
    read_summary,
    read_trials,
    read_tune_config,
)

__all__ = [
    "BEST_FILE", "BEST_MODEL_FILE", "CHECKPOINTS_DIR", "COMBINE_FILE", "CONFIG_FILE",
    "GRAD_NORMS_FILE",
    "HISTORY_FILE", "KIND_FILES", "LOCK_FILE", "LR_FIND_FILE", "LR_STEPS_FILE", "MARKER_FILE",
    "MARKER_FORMAT", "MODEL_FILE", "PLOTS_DIR", "PROJECT", "REPORTABLE_FILES", "RUN_FILE_FIX",
    "SUMMARY_FILE", "TRIALS_FILE", "TRIAL_CHECKPOINT", "TRIAL_WORKERS_FILE", "TUNE_CONFIG_FILE",
    "WORKERS_DIR", "WORKER_DEVICES_FILE", "WORKER_PIDS_FILE",
    "WORKER_DATA_FILE", "WORKER_SETTINGS_FILE", "NoLock", "RunLock",
    "atomic_write_text", "check_out", "check_report_dir", "claim", "has_checkpoint",
    "load_run_config", "read_best", "read_config", "read_csv", "read_grad_norms",
    "read_history", "read_json_object", "read_lr_find", "read_lr_steps", "read_marker",
    "read_optional_json", "read_summary", "read_trials", "read_tune_config", "run_kind",
    "trial_checkpoint_dir", "write_history_csv", "write_json", "write_lr_find",
    "write_trials_csv",
]
