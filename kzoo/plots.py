"""Plots of a run directory, written with matplotlib's Agg backend (no display)."""

import csv
import pathlib


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


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


def plot_learning_curves(run_dir):
    """`plots/learning_curves.png`: loss and the first metric, train against val.

    Returns the path written, or None when the run has no `history.csv`.
    """
    run_dir = pathlib.Path(run_dir)
    rows = read_csv(run_dir / "history.csv") if (run_dir / "history.csv").exists() else []
    if not rows:
        return None
    plt = _pyplot()
    keys = [k for k in rows[0] if k != "epoch" and not k.startswith("val_")]
    panels = ["loss"] + [k for k in keys if k in ("accuracy", "mae")][:1]
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6), squeeze=False)
    epochs = [int(r.get("epoch", i)) + 1 for i, r in enumerate(rows)]
    for ax, key in zip(axes[0], panels, strict=True):
        ax.plot(epochs, [r[key] for r in rows], label=f"train {key}")
        if f"val_{key}" in rows[0]:
            ax.plot(epochs, [r[f"val_{key}"] for r in rows], label=f"val {key}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        if key == "loss" and all(isinstance(r[key], float) and r[key] > 0 for r in rows):
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(run_dir.name)
    fig.tight_layout()
    out = run_dir / "plots" / "learning_curves.png"
    out.parent.mkdir(exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
