"""`diagnose_run`: a run directory's files (read by `kzoo.rundir`) through the rules."""

import pathlib

from kzoo.diagnose.rules import diagnose
from kzoo.rundir import files
from kzoo.rundir.readers import read_grad_norms, read_history, read_summary
from kzoo.runtime.errors import RunDirError


def diagnose_run(run_dir, facts=None):
    """Diagnose a run directory (`history.csv`, `grad_norms.csv`, `summary.json`'s facts).

    Facts come from `summary.json["diagnosis_facts"]` when the runner stored
    them; `facts` given here take precedence.
    """
    run_dir = pathlib.Path(run_dir)
    history_path = run_dir / files.HISTORY_FILE
    members = run_dir / files.MEMBERS_DIR  # an ensemble: each member's findings
    if not history_path.is_file() and members.is_dir():
        return [{**f, "message": f"member {m.name}: {f['message']}"}
                for m in sorted(members.iterdir(), key=lambda p: p.name)
                if (m / files.HISTORY_FILE).is_file() for f in diagnose_run(m, facts)]
    if not history_path.is_file():
        raise RunDirError(
            f"{run_dir} holds no history.csv: pass a run directory written by `kzoo train`."
        )
    stored = {}
    if (run_dir / files.SUMMARY_FILE).is_file():
        stored = read_summary(run_dir).get("diagnosis_facts") or {}
    grads = run_dir / files.GRAD_NORMS_FILE
    return diagnose(
        read_history(history_path),
        read_grad_norms(grads) if grads.is_file() else None,
        {**stored, **(facts or {})},
    )
