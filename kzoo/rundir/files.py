"""The files of a run directory: their names (the layout), and the one writer of them.

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

A combined run (`kzoo combine`) holds `combine.json` (the runs it averages, by path),
`summary.json`, `model.keras` and `plots/`.

A search directory (`kzoo tune`) holds `tune_config.json`, `kt/` (KerasTuner's
project), `trials.csv`, `best.json`, `best_model.keras`, `trial_workers.json` and
`workers/` (the hand-off and logs of a distributed search); an lr-find directory
`lr_find.json` and `plots/`.

Every file goes through `kzoo.runtime.files` (temporary file, fsync, rename), and
in a multi-process job only process 0 writes (`kzoo.runtime.processes`). Each file's
reader is in readers.py.

Keras-free: `kzoo report`, `kzoo lr-find` and `kzoo tune` use it without the trainer.
"""

import csv
import io
import json
import math
import pathlib

import numpy as np

from kzoo.runtime import files, processes

MARKER_FILE = "kzoo-run.json"
CONFIG_FILE = "config.json"
HISTORY_FILE = "history.csv"
SUMMARY_FILE = "summary.json"
MODEL_FILE = "model.keras"
PLOTS_DIR = "plots"
TENSORBOARD_DIR = "tb"  # kzoo train/tune --tensorboard (kzoo.callbacks.TensorBoardLogger)
HTML_REPORT_FILE = "report.html"  # kzoo report --html
MEMBERS_DIR = "members"  # --ensemble N: one run per member (kzoo.training.ensemble)
COMBINE_FILE = "combine.json"  # kzoo combine: the runs it averages (kzoo.training.combination)
AUTO_FINAL_DIR = "final"  # kzoo tune --model auto: the chosen configuration trained
LR_FIND_FILE = "lr_find.json"  # what LRFinder.save writes (kzoo.schedules.lr_finder.RESULT_FILE)
LR_STEPS_FILE = "lr_steps.csv"
GRAD_NORMS_FILE = "grad_norms.csv"  # what GradientNormLogger(run_dir=...) writes
CHECKPOINTS_DIR = "checkpoints"
# A search directory's files (kzoo.tuning).
TUNE_CONFIG_FILE = "tune_config.json"
PROJECT = "kt"  # KerasTuner's project folder inside OUT
TRIALS_FILE = "trials.csv"
BEST_FILE = "best.json"
BEST_MODEL_FILE = "best_model.keras"
TRIAL_WORKERS_FILE = "trial_workers.json"
WORKERS_DIR = "workers"  # the chief/worker hand-off and the workers' logs
WORKER_DEVICES_FILE = "devices.json"  # in workers/: each local worker's devices
WORKER_PIDS_FILE = "pids.json"  # in workers/: the launched workers' process ids
WORKER_SETTINGS_FILE = "settings.json"  # in workers/: tune's arguments, for the processes
WORKER_DATA_FILE = "data.npz"  # in workers/: the arrays of a search given in memory
TRIAL_CHECKPOINT = "ckpt"  # a trial's resume checkpoints, in KerasTuner's trial directory
# Files whose presence makes a directory a kzoo run for `kzoo report` (trials.csv: a search).
REPORTABLE_FILES = (HISTORY_FILE, SUMMARY_FILE, TRIALS_FILE, GRAD_NORMS_FILE, LR_FIND_FILE)


def trial_checkpoint_dir(out, trial_id):
    """`OUT/kt/trial_<id>/ckpt`: where trial `trial_id` checkpoints (`trial_fit`)."""
    return pathlib.Path(out) / PROJECT / f"trial_{trial_id}" / TRIAL_CHECKPOINT


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


def write_lr_find(path, result, lr, rule):
    """`lr_find.json`: the finder's sweep (`LRFinder.find`'s result) with the rate it
    recommends and the rule that chose it, the one schema of `kzoo lr-find`,
    `--lr auto` and `LRFinder.save` (`recommended_lr`, `recommended_rule`)."""
    write_json(path, {**result, "recommended_lr": float(lr), "recommended_rule": rule})


def write_trials_csv(out, rows):
    """`trials.csv`: one row per trial (dicts; the header is every key, in order seen)."""
    fields = []
    for row in rows:
        fields += [k for k in row if k not in fields]
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=fields or ["trial_id"])
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(pathlib.Path(out) / TRIALS_FILE, text.getvalue())


def has_checkpoint(run_dir):
    """Whether `checkpoints/` holds a checkpoint file to resume from."""
    return any((pathlib.Path(run_dir) / CHECKPOINTS_DIR).glob("step-*.ckpt"))
