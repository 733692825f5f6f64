"""One reader per file kind of a run directory, shared by plots, diagnose, report,
resume and tune. A file that is not UTF-8, not CSV or JSON, or not the shape kzoo
writes raises RunDirError naming it (and the line), with the fix.

    read_json_object   any JSON file kzoo writes as an object (summary.json, config.json,
                       best.json, tune_config.json)
    read_csv           any CSV kzoo writes, rows of floats (trials.csv, lr_steps.csv)
    read_history       history.csv, as per-epoch float lists
    read_grad_norms    grad_norms.csv, as rows of floats
    read_lr_steps      lr_steps.csv, as `(step, lr)` pairs
    read_lr_find       lr_find.json (old train runs' `chosen_lr` read as `recommended_lr`)
    read_summary, read_config, read_tune_config, read_best, read_trials: by run directory

Keras-free and numpy-free.
"""

import math
import pathlib

from kzoo.reading import read_csv_dicts, read_csv_rows, read_json
from kzoo.rundir import files
from kzoo.runtime.errors import RunDirError

RUN_FILE_FIX = ("kzoo wrote it and it was changed since; restore it, or delete it (kzoo "
                "report draws what the other files allow)")
_JSON_FIX = ("kzoo wrote it as a JSON object and it is corrupt; restore it, or start a new "
             "run in another directory")


def _float(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def read_json_object(path):
    """A JSON file that must hold an object, as a dict.

    Raises:
        RunDirError: the file is unreadable, not JSON, or not an object.
    """
    path = pathlib.Path(path)
    value = read_json(path, _JSON_FIX, RunDirError)
    if not isinstance(value, dict):
        raise RunDirError(
            f"{path} holds a JSON {type(value).__name__}, not the object kzoo writes; it was "
            "changed by hand or is not kzoo's. Restore it, or start a new run."
        )
    return value


def read_csv(path):
    """Rows of a CSV as dicts of floats (non-numeric cells kept as strings).

    Raises:
        RunDirError: naming the file and line when it is not UTF-8 or not CSV.
    """
    rows = []
    for row in read_csv_dicts(path, RUN_FILE_FIX, RunDirError):
        rows.append({k: v if (f := _float(v)) is None else f for k, v in row.items()})
    return rows


def read_history(path):
    """`history.csv` as a dict of per-epoch float lists, without the `epoch` column
    (a blank or non-numeric cell is nan)."""
    rows = read_csv_dicts(path, RUN_FILE_FIX, RunDirError)
    keys = [k for k in (rows[0] if rows else {}) if k != "epoch"]
    return {k: [math.nan if (f := _float(r[k])) is None else f for r in rows] for k in keys}


def read_grad_norms(path):
    """`grad_norms.csv` rows as dicts of floats, in the file's column order: the
    logger's fixed columns (step, global norm, clip threshold, clipped flag), then
    one per layer. An empty file gives `[]`.

    Raises:
        RunDirError: a cell is not a number, or a row's length is not the header's.
    """
    lines = read_csv_rows(path, RUN_FILE_FIX, RunDirError)
    if not lines:
        return []
    columns, rows = lines[0][1], []
    for line, row in lines[1:]:
        values = [_float(v) for v in row]
        if None in values:
            raise RunDirError(f"{path}, line {line}: a cell is not a number; {RUN_FILE_FIX}.")
        if len(row) != len(columns):
            raise RunDirError(f"{path}, line {line}: {len(row)} cells, the header has "
                              f"{len(columns)}; {RUN_FILE_FIX}.")
        rows.append(dict(zip(columns, values, strict=True)))
    return rows


def read_lr_steps(path):
    """`lr_steps.csv` (LearningRateLogger's `step,lr`) as `[(step, lr), ...]`."""
    pairs = []
    for i, r in enumerate(read_csv(path), 2):
        if not all(isinstance(r.get(k), float) for k in ("step", "lr")):
            raise RunDirError(f"{path}, line {i}: expected numbers in columns step and lr; "
                              f"{RUN_FILE_FIX}.")
        pairs.append((int(r["step"]), r["lr"]))
    return pairs


def read_lr_find(path):
    """`lr_find.json` as a dict holding `recommended_lr`. Train runs written before
    the one schema stored the rate `--lr auto` chose as `chosen_lr`; it is read as
    `recommended_lr`."""
    result = read_json_object(path)
    if "recommended_lr" not in result and "chosen_lr" in result:
        result["recommended_lr"] = result.pop("chosen_lr")
    return result


def read_summary(run_dir):
    """`summary.json` of a train run."""
    return read_json_object(pathlib.Path(run_dir) / files.SUMMARY_FILE)


def read_config(run_dir):
    """`config.json` of a train run (every setting)."""
    return read_json_object(pathlib.Path(run_dir) / files.CONFIG_FILE)


def read_tune_config(out):
    """`tune_config.json` of a search (its identity and the objective's direction)."""
    return read_json_object(pathlib.Path(out) / files.TUNE_CONFIG_FILE)


def read_best(out):
    """`best.json` of a search, or `{}` before the search ended."""
    path = pathlib.Path(out) / files.BEST_FILE
    return read_json_object(path) if path.exists() else {}


def read_trials(out):
    """`trials.csv` of a search: one dict per trial (numbers as floats)."""
    return read_csv(pathlib.Path(out) / files.TRIALS_FILE)


def read_optional_json(path):
    """A JSON object file kzoo keeps for itself (trial_workers.json, workers/devices.json),
    or `{}` when it is absent."""
    path = pathlib.Path(path)
    return read_json_object(path) if path.exists() else {}
