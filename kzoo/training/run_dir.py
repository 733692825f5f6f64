"""The run directory: the one module that knows its layout.

    config.json               every setting, so the run can be repeated (the run marker)
    history.csv               one row per epoch (Keras CSVLogger)
    summary.json              model, backend, params, epochs, final metrics, test scores, time
    model.keras               the final model (loads with safe_mode=True)
    plots/                    learning curves, LR and gradient plots (`kzoo.plots.report`)
    lr_find.json              the LR finder's sweep (`--lr auto`)
    lr_steps.csv              the rate applied at each step (LearningRateLogger)
    grad_norms.csv            gradient norms (GradientNormLogger, `--grad-log-every`)
    checkpoints/              full-state checkpoints (kzoo.callbacks.Checkpoint)

Every module that reads or writes these files imports the names from here.
Creating, clearing and writing a run directory happens here too, so the rules
that keep a user's files safe have one home.

Keras-free: `kzoo report` and `kzoo tune` may use it without the trainer.
"""

import csv
import json
import math
import pathlib
import shutil

import numpy as np

CONFIG_FILE = "config.json"
RUN_MARKER = CONFIG_FILE  # a directory holding it was written by kzoo train
HISTORY_FILE = "history.csv"
SUMMARY_FILE = "summary.json"
MODEL_FILE = "model.keras"
PLOTS_DIR = "plots"
LR_FIND_FILE = "lr_find.json"  # what LRFinder.save writes (kzoo.callbacks.lr_finder.RESULT_FILE)
LR_STEPS_FILE = "lr_steps.csv"
GRAD_NORMS_FILE = "grad_norms.csv"  # what GradientNormLogger(run_dir=...) writes
CHECKPOINTS_DIR = "checkpoints"
# Files whose presence makes a directory a kzoo run for `kzoo report` (trials.csv: a search).
REPORTABLE_FILES = (HISTORY_FILE, SUMMARY_FILE, "trials.csv", GRAD_NORMS_FILE, LR_FIND_FILE)


def prepare(out, overwrite):
    """Validate `out` without touching it; returns the path (or None)."""
    if out is None:
        return None
    out = pathlib.Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} exists and is a file; choose a directory.")
    if out.is_dir() and any(out.iterdir()):
        if not (out / RUN_MARKER).exists():
            raise ValueError(
                f"--out {out} is a non-empty directory that is not a kzoo run; "
                "refusing to write into it. Choose a new or empty directory."
            )
        if not overwrite:
            raise ValueError(
                f"--out {out} already holds a run. Choose another directory, or pass "
                "--overwrite (overwrite=True) to replace it."
            )
    return out


def clear(out):
    """Replace a previous kzoo run in `out` (only one: it holds the marker) by an
    empty run directory with its `plots/` folder."""
    if out.is_dir() and (out / RUN_MARKER).exists():
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / PLOTS_DIR).mkdir(exist_ok=True)


def _json_default(obj):
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, pathlib.Path):
        return str(obj)
    return repr(obj)


def write_json(path, payload):
    """Write JSON atomically (temporary file + rename), NaN written as null."""
    path = pathlib.Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")

    def clean(v):
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v

    tmp.write_text(json.dumps(clean(payload), indent=2, default=_json_default) + "\n")
    tmp.replace(path)


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
    (pathlib.Path(run_dir) / HISTORY_FILE).write_text("\n".join(lines) + "\n")


def add_to_lr_find(run_dir, **fields):
    """Add `fields` to the run's `lr_find.json` (e.g. the rate `--lr auto` chose)."""
    path = pathlib.Path(run_dir) / LR_FIND_FILE
    path.write_text(json.dumps({**json.loads(path.read_text()), **fields}))


def read_lr_find(run_dir):
    """The run's `lr_find.json` as a dict."""
    return json.loads((pathlib.Path(run_dir) / LR_FIND_FILE).read_text())


def load_run_config(run_dir):
    """Settings of a run directory's config.json, for `kzoo train --resume`."""
    path = pathlib.Path(run_dir) / CONFIG_FILE
    if not path.exists():
        raise ValueError(f"{run_dir} holds no kzoo run (no config.json) to resume.")
    return json.loads(path.read_text())


def has_checkpoint(run_dir):
    """Whether `checkpoints/` holds a checkpoint file to resume from."""
    return any((pathlib.Path(run_dir) / CHECKPOINTS_DIR).glob("step-*.ckpt"))


def read_csv(path):
    """Rows of a CSV as dicts of floats (non-numeric cells kept as strings)."""
    rows = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            parsed = {}
            for k, v in row.items():
                try:
                    parsed[k] = float(v)
                except (TypeError, ValueError):
                    parsed[k] = v
            rows.append(parsed)
    return rows
