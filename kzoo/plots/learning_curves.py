"""`plots/learning_curves.png`: loss and the first metric per epoch, from `history.csv`.

`history.csv` is written by Keras' `CSVLogger`: an `epoch` column, then one
column per log key (`loss`, `val_loss`, `accuracy`, ...). The title names the
model and data (from `summary.json` or `config.json`), the best epoch (lowest
`val_loss`, the one early stopping restores) is marked, epochs are whole
numbers and tick labels are plain numbers.
"""

import math
import pathlib

from matplotlib import ticker

from kzoo import rundir as layout
from kzoo.plots import _mpl
from kzoo.runtime.errors import RunDirError

FILE_NAME = "learning_curves.png"
# The loss goes on a log axis only when it spans more than this factor.
LOG_SCALE_SPAN = 10.0


def plot_learning_curves(run_dir):
    """`plots/learning_curves.png`: loss and the first metric, train against val.

    Returns the path written, or None when the run has no `history.csv`.
    """
    run_dir = pathlib.Path(run_dir)
    history = run_dir / layout.HISTORY_FILE
    columns = layout.read_history(history) if history.exists() else {}
    if not any(columns.values()):
        return None
    keys = [k for k in columns if not k.startswith("val_")]
    panels = ["loss"] + [k for k in keys if k in ("accuracy", "mae")][:1]
    fig = _mpl.figure((5 * len(panels), 3.8))
    axes = fig.subplots(1, len(panels), squeeze=False)
    epochs = list(range(1, len(columns["loss"]) + 1))
    best = best_epoch(run_dir, columns, epochs)
    for ax, key in zip(axes[0], panels, strict=True):
        ax.plot(epochs, columns[key], label=f"train {key}")
        if f"val_{key}" in columns:
            ax.plot(epochs, columns[f"val_{key}"], label=f"val {key}")
        if best is not None:
            ax.axvline(best, color="0.4", ls="--", lw=1, label=f"best epoch ({best})")
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
        values = [v for v in columns[key] if math.isfinite(v)]
        if key == "loss" and values and min(values) > 0 and (
            max(values) / min(values) > LOG_SCALE_SPAN
        ):
            ax.set_yscale("log")
            ax.yaxis.set_minor_formatter(ticker.NullFormatter())
        ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title(run_dir))
    fig.tight_layout()
    return _mpl.save(fig, run_dir / layout.PLOTS_DIR / FILE_NAME, dpi=110)


def _read_json(path):
    """A summary or config for the title and the best epoch; a plot does without one
    that is missing or unreadable."""
    try:
        return layout.read_json_object(path)
    except (OSError, RunDirError):
        return {}


def title(run_dir):
    """`"<model> on <data>"` from the run's summary or config, else the folder name."""
    for name in (layout.SUMMARY_FILE, layout.CONFIG_FILE):
        info = _read_json(run_dir / name)
        if info.get("model") and info.get("data"):
            return f"{info['model']} on {info['data']}"
    return run_dir.name


def best_epoch(run_dir, history, epochs):
    """The best epoch (summary.json's `best_epoch`, else the lowest `val_loss`), or None."""
    best = _read_json(run_dir / layout.SUMMARY_FILE).get("best_epoch")
    if isinstance(best, int):
        return best
    val = zip(history.get("val_loss", []), epochs, strict=False)
    val = [(v, e) for v, e in val if math.isfinite(v)]
    return min(val)[1] if val else None
