"""A run directory's files read back for `kzoo.diagnose` (history.csv,
grad_norms.csv, and the facts stored in summary.json)."""

import math
import pathlib

from kzoo.diagnose.rules import diagnose
from kzoo.errors import RunDirError
from kzoo.reading import read_csv_dicts, read_json


def _float(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


FIX = ("kzoo wrote it and it was changed since; restore it, or diagnose another run")


def read_history(path):
    """`history.csv` as a dict of per-epoch float lists (NaN kept as nan); a file
    that is not UTF-8 CSV raises RunDirError naming it and the line."""
    rows = read_csv_dicts(path, FIX, RunDirError)
    keys = [k for k in (rows[0] if rows else {}) if k != "epoch"]
    return {k: [_float(r[k]) if _float(r[k]) is not None else math.nan for r in rows]
            for k in keys}


def read_grad_norms(path):
    """`grad_norms.csv` rows as dicts of floats."""
    return [{k: _float(v) for k, v in row.items()} for row in
            read_csv_dicts(path, FIX, RunDirError)]


def diagnose_run(run_dir, facts=None):
    """Diagnose a run directory (`history.csv`, `grad_norms.csv`, `summary.json`'s facts).

    Facts come from `summary.json["diagnosis_facts"]` when the runner stored
    them; `facts` given here take precedence.
    """
    run_dir = pathlib.Path(run_dir)
    history_path = run_dir / "history.csv"
    members = run_dir / "members"  # an ensemble: each member's findings (kzoo.training.ensemble)
    if not history_path.is_file() and members.is_dir():
        return [{**f, "message": f"member {m.name}: {f['message']}"}
                for m in sorted(members.iterdir(), key=lambda p: p.name)
                if (m / "history.csv").is_file() for f in diagnose_run(m, facts)]
    if not history_path.is_file():
        raise RunDirError(
            f"{run_dir} holds no history.csv: pass a run directory written by `kzoo train`."
        )
    stored = {}
    summary = run_dir / "summary.json"
    if summary.is_file():
        record = read_json(summary, FIX, RunDirError)
        stored = (record.get("diagnosis_facts") if isinstance(record, dict) else None) or {}
    grads = run_dir / "grad_norms.csv"
    return diagnose(
        read_history(history_path),
        read_grad_norms(grads) if grads.is_file() else None,
        {**stored, **(facts or {})},
    )
