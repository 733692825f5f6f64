"""The files of a run directory: their names, and the readers and writers of them.

    kzoo-run.json             the marker, written first: format, kind, run id, created,
                              and the files kzoo may write here (`--overwrite` deletes
                              only those)
    kzoo-run.lock             held while a process writes the directory (pid, host)
    config.json               every setting, so the run can be repeated
    history.csv               one row per epoch (Keras CSVLogger)
    summary.json              model, backend, params, epochs, final metrics, test scores,
                              time; `status: "failed"` and the error when the end failed
    model.keras               the final model (loads with safe_mode=True)
    plots/                    learning curves, LR and gradient plots (`kzoo.plots.report`)
    lr_find.json              the LR finder's sweep (`--lr auto`)
    lr_steps.csv              the rate applied at each step (LearningRateLogger)
    grad_norms.csv            gradient norms (GradientNormLogger, `--grad-log-every`)
    checkpoints/              full-state checkpoints (kzoo.callbacks.Checkpoint)

Every file goes through `kzoo.runtime.files` (temporary file, fsync, rename), and
in a multi-process job only process 0 writes (`kzoo.runtime.processes`).
The rules of the directory itself (marker, check_out, claim) are in run_dir.py,
which re-exports these names (`layout.X`).

Keras-free: `kzoo report`, `kzoo lr-find` and `kzoo tune` use it without the trainer.
"""

import json
import math
import pathlib

import numpy as np

from kzoo.reading import read_csv_dicts, read_json
from kzoo.runtime import files, processes
from kzoo.runtime.errors import RunDirError

MARKER_FILE = "kzoo-run.json"
CONFIG_FILE = "config.json"
HISTORY_FILE = "history.csv"
SUMMARY_FILE = "summary.json"
MODEL_FILE = "model.keras"
PLOTS_DIR = "plots"
LR_FIND_FILE = "lr_find.json"  # what LRFinder.save writes (kzoo.schedules.lr_finder.RESULT_FILE)
LR_STEPS_FILE = "lr_steps.csv"
GRAD_NORMS_FILE = "grad_norms.csv"  # what GradientNormLogger(run_dir=...) writes
CHECKPOINTS_DIR = "checkpoints"
# Files whose presence makes a directory a kzoo run for `kzoo report` (trials.csv: a search).
REPORTABLE_FILES = (HISTORY_FILE, SUMMARY_FILE, "trials.csv", GRAD_NORMS_FILE, LR_FIND_FILE)


def atomic_write_text(path, text):
    """`kzoo.runtime.files.atomic_write_text`; in a multi-process job only
    process 0 writes (`kzoo.runtime.processes`), the others skip the write."""
    if not processes.is_writer():
        return
    files.atomic_write_text(path, text)


def _json_default(obj):
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, pathlib.Path):
        return str(obj)
    return repr(obj)


def _clean(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    return v


def write_json(path, payload):
    """Write JSON atomically (temporary file, fsync, rename), NaN written as null."""
    atomic_write_text(path, json.dumps(_clean(payload), indent=2, default=_json_default) + "\n")


def read_json_object(path):
    """A JSON file that must hold an object, as a dict.

    Raises:
        RunDirError: the file is unreadable, not JSON, or not an object.
    """
    path = pathlib.Path(path)
    value = read_json(path, "kzoo wrote it as a JSON object and it is corrupt; restore it, "
                      "or start a new run in another directory", RunDirError)
    if not isinstance(value, dict):
        raise RunDirError(
            f"{path} holds a JSON {type(value).__name__}, not the object kzoo writes; it was "
            "changed by hand or is not kzoo's. Restore it, or start a new run."
        )
    return value


def write_history_csv(run_dir, history):
    """`history.csv` of the whole run (after a resume CSVLogger saw only its part)."""
    keys = sorted(history)
    n = max((len(v) for v in history.values()), default=0)
    lines = [",".join(["epoch", *keys])]
    for i in range(n):
        row = [str(i)] + [
            repr(float(history[k][i])) if i < len(history[k]) else "" for k in keys
        ]
        lines.append(",".join(row))
    atomic_write_text(pathlib.Path(run_dir) / HISTORY_FILE, "\n".join(lines) + "\n")


def add_to_lr_find(run_dir, **fields):
    """Add `fields` to the run's `lr_find.json` (e.g. the rate `--lr auto` chose)."""
    path = pathlib.Path(run_dir) / LR_FIND_FILE
    atomic_write_text(path, json.dumps({**json.loads(path.read_text()), **fields}))


def read_lr_find(run_dir):
    """The run's `lr_find.json` as a dict."""
    return json.loads((pathlib.Path(run_dir) / LR_FIND_FILE).read_text())


def has_checkpoint(run_dir):
    """Whether `checkpoints/` holds a checkpoint file to resume from."""
    return any((pathlib.Path(run_dir) / CHECKPOINTS_DIR).glob("step-*.ckpt"))


RUN_FILE_FIX = ("kzoo wrote it and it was changed since; restore it, or delete it (kzoo "
                "report draws what the other files allow)")


def read_csv(path):
    """Rows of a CSV as dicts of floats (non-numeric cells kept as strings).

    Raises:
        RunDirError: naming the file and line when it is not UTF-8 or not CSV.
    """
    rows = []
    for row in read_csv_dicts(path, RUN_FILE_FIX, RunDirError):
        parsed = {}
        for k, v in row.items():
            try:
                parsed[k] = float(v)
            except (TypeError, ValueError):
                parsed[k] = v
        rows.append(parsed)
    return rows
