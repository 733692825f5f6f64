"""Plots of learning rates: the LR finder's sweep and the applied LR per step."""

import csv
import math
import pathlib


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_lr_find(result, path):
    """Loss against rate (log axis) with the suggested rates marked."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
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
    pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_lr_schedule(lr_csv, path):
    """The rate applied at each step, from a `step,lr` CSV (LearningRateLogger)."""
    with open(lr_csv, newline="") as f:
        rows = [(int(r["step"]), float(r["lr"])) for r in csv.DictReader(f)]
    if not rows:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.plot([s for s, _ in rows], [lr for _, lr in rows], color="C0")
    ax.set_xlabel("step")
    ax.set_ylabel("learning rate")
    ax.set_title("Applied learning rate")
    fig.tight_layout()
    pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_lr_run(run_dir):
    """`kzoo report` hook: plots/lr.png from lr_steps.csv, plots/lr_find.png from
    lr_find.json; returns the first path written (None if neither file exists)."""
    import json

    run_dir = pathlib.Path(run_dir)
    written = None
    if (run_dir / "lr_steps.csv").exists():
        written = plot_lr_schedule(run_dir / "lr_steps.csv", run_dir / "plots" / "lr.png")
    if (run_dir / "lr_find.json").exists():
        result = json.loads((run_dir / "lr_find.json").read_text())
        path = plot_lr_find(result, run_dir / "plots" / "lr_find.png")
        written = written or path
    return written
