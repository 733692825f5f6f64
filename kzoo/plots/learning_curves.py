"""`plots/learning_curves.png`: loss and the first metric per epoch, from `history.csv`.

`history.csv` is written by Keras' `CSVLogger`: an `epoch` column, then one
column per log key (`loss`, `val_loss`, `accuracy`, ...).
"""

import pathlib

from kzoo.plots import _mpl
from kzoo.training import run_dir as layout

FILE_NAME = "learning_curves.png"


def plot_learning_curves(run_dir):
    """`plots/learning_curves.png`: loss and the first metric, train against val.

    Returns the path written, or None when the run has no `history.csv`.
    """
    run_dir = pathlib.Path(run_dir)
    history = run_dir / layout.HISTORY_FILE
    rows = layout.read_csv(history) if history.exists() else []
    if not rows:
        return None
    keys = [k for k in rows[0] if k != "epoch" and not k.startswith("val_")]
    panels = ["loss"] + [k for k in keys if k in ("accuracy", "mae")][:1]
    fig = _mpl.figure((5 * len(panels), 3.6))
    axes = fig.subplots(1, len(panels), squeeze=False)
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
    return _mpl.save(fig, run_dir / layout.PLOTS_DIR / FILE_NAME, dpi=110)
