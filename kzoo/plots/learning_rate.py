"""Plots of learning rates: the LR finder's sweep and the rate applied per step.

The sweep is the result dict of `kzoo.schedules.LRFinder.find` (`lr_find.json`);
the applied rates are `LearningRateLogger`'s `step,lr` CSV (`lr_steps.csv`).
"""

import math
import pathlib

from kzoo import rundir as layout
from kzoo.plots import _mpl

LR_FIND_PNG = "lr_find.png"
LR_SCHEDULE_PNG = "lr.png"


def plot_lr_find(result, path):
    """Loss against rate (log axis) with the suggested rates marked; returns `path`."""
    fig = _mpl.figure((6, 4))
    ax = fig.subplots()
    lrs = result["lrs"]
    ax.plot(lrs, result["losses"], color="0.75", lw=1, label="batch loss")
    ax.plot(lrs, result["smoothed"], color="C0", lw=2, label="smoothed")
    for (name, lr), color in zip(result["suggestions"].items(), ("C1", "C2", "C3"), strict=False):
        if lr is not None:
            ax.axvline(lr, color=color, ls="--", lw=1, label=f"{name}: {lr:.2g}")
    finite = [v for v in result["smoothed"] if v is not None and math.isfinite(v)]
    if finite:
        low, high = min(finite), finite[0]
        ax.set_ylim(low - 0.1 * abs(high - low) - 1e-8, max(high, low) * 1.5 + 1e-8)
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("loss")
    ax.set_title("LR range test")
    ax.legend(fontsize=8)
    fig.tight_layout()
    _mpl.save(fig, path, dpi=100)
    return path


def plot_lr_schedule(lr_csv, path):
    """The rate applied at each step, from a `step,lr` CSV (LearningRateLogger)."""
    rows = layout.read_lr_steps(lr_csv)
    if not rows:
        return None
    fig = _mpl.figure((6, 3))
    ax = fig.subplots()
    ax.plot([s for s, _ in rows], [lr for _, lr in rows], color="C0")
    ax.set_xlabel("step")
    ax.set_ylabel("learning rate")
    ax.set_title("Applied learning rate")
    fig.tight_layout()
    _mpl.save(fig, path, dpi=100)
    return path


def plot_lr_run(run_dir):
    """`kzoo report` hook: plots/lr.png from lr_steps.csv (unless the rate never
    changed), plots/lr_find.png from lr_find.json; returns the first path written
    (None if neither is drawn)."""
    run_dir = pathlib.Path(run_dir)
    plots = run_dir / layout.PLOTS_DIR
    written = None
    steps = run_dir / layout.LR_STEPS_FILE
    if steps.exists() and not _constant(steps):
        written = plot_lr_schedule(steps, plots / LR_SCHEDULE_PNG)
    if (run_dir / layout.LR_FIND_FILE).exists():
        result = layout.read_lr_find(run_dir / layout.LR_FIND_FILE)
        path = plot_lr_find(result, plots / LR_FIND_PNG)
        written = written or path
    return written


def _constant(lr_csv):
    """Whether every applied rate is the same (a flat line is not worth a plot)."""
    rates = {lr for _, lr in layout.read_lr_steps(lr_csv)}
    return len(rates) <= 1 or max(rates) - min(rates) <= 1e-9 * max(abs(r) for r in rates)

