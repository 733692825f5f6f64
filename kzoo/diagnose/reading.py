"""A run directory's files read back for `kzoo.diagnose` (history.csv,
grad_norms.csv, and the facts stored in summary.json)."""

import csv
import json
import math
import pathlib

from kzoo.diagnose.rules import diagnose
from kzoo.errors import RunDirError


def _float(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def read_history(path):
    """`history.csv` as a dict of per-epoch float lists (NaN kept as nan)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    keys = [k for k in (rows[0] if rows else {}) if k != "epoch"]
    return {k: [_float(r[k]) if _float(r[k]) is not None else math.nan for r in rows]
            for k in keys}


def read_grad_norms(path):
    """`grad_norms.csv` rows as dicts of floats."""
    with open(path, newline="") as f:
        return [{k: _float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def diagnose_run(run_dir, facts=None):
    """Diagnose a run directory (`history.csv`, `grad_norms.csv`, `summary.json`'s facts).

    Facts come from `summary.json["diagnosis_facts"]` when the runner stored
    them; `facts` given here take precedence.
    """
    run_dir = pathlib.Path(run_dir)
    history_path = run_dir / "history.csv"
    if not history_path.is_file():
        raise RunDirError(
            f"{run_dir} holds no history.csv: pass a run directory written by `kzoo train`."
        )
    stored = {}
    summary = run_dir / "summary.json"
    if summary.is_file():
        stored = json.loads(summary.read_text()).get("diagnosis_facts") or {}
    grads = run_dir / "grad_norms.csv"
    return diagnose(
        read_history(history_path),
        read_grad_norms(grads) if grads.is_file() else None,
        {**stored, **(facts or {})},
    )
