"""`kzoo report DIR`: re-plot a run directory from the files it holds."""

import json
import pathlib

from kzoo import plots


def _plotters():
    """Every plot function that takes a run directory; each skips what is absent."""
    found = [plots.plot_learning_curves]
    from kzoo.gradplots import plot_grad_norms

    found.append(plot_grad_norms)
    from kzoo.lrplots import plot_lr_run

    found.append(plot_lr_run)
    return found


def report(run_dir):
    """Regenerate every plot of `run_dir` and return the paths written."""
    run_dir = pathlib.Path(run_dir)
    if not run_dir.is_dir():
        raise ValueError(f"{run_dir} is not a directory. Pass a run directory written by kzoo.")
    known = ("history.csv", "summary.json", "trials.csv", "grad_norms.csv", "lr_find.json")
    if not any((run_dir / name).exists() for name in known):
        raise ValueError(f"{run_dir} holds no kzoo run: none of {', '.join(known)} is there.")
    written = [p for plot in _plotters() if (p := plot(run_dir)) is not None]
    return written


def describe(run_dir):
    """A one-paragraph text summary of a run directory (from summary.json)."""
    path = pathlib.Path(run_dir) / "summary.json"
    if not path.exists():
        return ""
    s = json.loads(path.read_text())
    parts = [f"{k}={s[k]}" for k in ("model", "data", "backend", "epochs_run") if k in s]
    for k in ("test_accuracy", "test_loss", "wall_time_s"):
        if s.get(k) is not None:
            parts.append(f"{k}={s[k]:.4g}")
    return ", ".join(parts)
