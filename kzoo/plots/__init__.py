"""kzoo.plots: every plot of a run directory, drawn to files (no display).

    _mpl.py              the one matplotlib setup (Agg figures, no pyplot state)
    learning_curves.py   loss and metric per epoch, from history.csv
    grad_norms.py        global and per-layer gradient norms, from grad_norms.csv
    learning_rate.py     the LR finder's sweep and the applied rate per step
    search.py            a search's objective against each hyperparameter, and over time
    html_report.py       `kzoo report DIR --html`: one self-contained page (svg.py's charts)

Each plot reads its file through `kzoo.rundir`'s reader of it (the one that resume,
diagnose and tune use too). The library (`kzoo.callbacks`) never
plots; `report(run_dir)` redraws everything a run holds (`kzoo report DIR`).
"""

import pathlib

from kzoo import rundir as layout
from kzoo.plots.grad_norms import plot_grad_norms
from kzoo.plots.learning_curves import plot_learning_curves
from kzoo.plots.learning_rate import plot_lr_find, plot_lr_run, plot_lr_schedule
from kzoo.plots.search import plot_search
from kzoo.runtime.errors import RunDirError

# Every plot that takes a run directory; each skips what the run does not hold.
RUN_PLOTS = (plot_learning_curves, plot_grad_norms, plot_lr_run)

__all__ = [
    "describe",
    "plot_grad_norms",
    "plot_learning_curves",
    "plot_lr_find",
    "plot_lr_run",
    "plot_lr_schedule",
    "plot_search",
    "report",
]


def report(run_dir):
    """Regenerate every plot of `run_dir` and return the paths written."""
    run_dir = pathlib.Path(run_dir)
    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir} is not a directory. Pass a run directory written by kzoo.")
    known = layout.REPORTABLE_FILES
    if not any((run_dir / name).exists() for name in known):
        raise RunDirError(f"{run_dir} holds no kzoo run: none of {', '.join(known)} is there.")
    paths = [p for plot in RUN_PLOTS if (p := plot(run_dir)) is not None]
    # An ensemble's members are runs of their own (kzoo.training.ensemble).
    members = run_dir / "members"
    for member in sorted(members.iterdir() if members.is_dir() else (), key=lambda p: p.name):
        if member.is_dir() and any((member / name).exists() for name in known):
            paths += report(member)
    return paths


def describe(run_dir):
    """A text summary of a run directory (from summary.json): one line of
    results, the epoch the run kept, and the diagnosis of the run."""
    if not (pathlib.Path(run_dir) / layout.SUMMARY_FILE).exists():
        return ""
    s = layout.read_summary(run_dir)
    parts = [f"{k}={s[k]}" for k in ("model", "data", "backend", "epochs_run") if k in s]
    for k in ("test_accuracy", "test_loss", "wall_time_s"):
        if s.get(k) is not None:
            parts.append(f"{k}={s[k]:.4g}")
    if s.get("selected_epoch") is not None:
        how = (s.get("selection") or {}).get("how")
        parts.append(f"kept epoch {s['selected_epoch']}" + (f" ({how})" if how else ""))
    members = [m for m in s.get("members") or () if isinstance(m, dict)]
    if members:  # an ensemble: its members' own scores beside its own
        scores = [f"{m['test_accuracy']:.4g}" for m in members
                  if m.get("test_accuracy") is not None]
        parts.append(f"ensemble of {len(members)}"
                     + (f" (members' test_accuracy {' / '.join(scores)})" if scores else ""))
    text = ", ".join(parts)
    if "diagnosis" in s:
        # Deferred: kzoo.diagnose is keras-free but plots need not load it otherwise.
        from kzoo.diagnose import render

        text += "\n" + render(s["diagnosis"])
    return text
