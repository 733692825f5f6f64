"""Plots of `grad_norms.csv`, written by `kzoo.callbacks.GradientNormLogger`.

The file's columns are the logger's `FIXED_COLUMNS` (step, global norm, clip
threshold, clipped flag) followed by one column per layer; `kzoo.rundir` reads
the file, this module picks the columns through the logger's own constant.
"""

import pathlib

import numpy as np

from kzoo import rundir as layout
from kzoo.callbacks.gradient_norm_logger import FIXED_COLUMNS
from kzoo.plots import _mpl

GLOBAL_PNG = "grad_norms.png"
LAYERS_PNG = "grad_norms_layers.png"


def plot_grad_norms(run_dir):
    """Write `plots/grad_norms.png` and `plots/grad_norms_layers.png` from `grad_norms.csv`.

    - `grad_norms.png`: the global gradient norm (before clipping) over
      optimizer steps, log scale, with the clipping threshold overlaid when
      clipping was active and the clipped steps marked.
    - `grad_norms_layers.png`: a layer x step heatmap of log10 per-layer norms
      (vanishing layers show as a dark band, spikes as bright columns).

    Args:
        run_dir: a run directory holding `grad_norms.csv`.

    Returns:
        The path of `grad_norms.png`, or None when there is no (or an empty)
        `grad_norms.csv`.
    """
    run_dir = pathlib.Path(run_dir)
    path = run_dir / layout.GRAD_NORMS_FILE
    if not path.exists():
        return None
    rows = layout.read_grad_norms(path)
    if not rows:
        return None
    columns = list(rows[0])
    table = np.array([list(r.values()) for r in rows], dtype="float64")
    out_dir = run_dir / layout.PLOTS_DIR
    step, norm, threshold, clipped = (table[:, columns.index(c)] for c in FIXED_COLUMNS)
    tiny = np.finfo("float64").tiny

    fig = _mpl.figure((8, 4))
    ax = fig.subplots()
    finite = np.isfinite(norm)
    ax.plot(step[finite], np.maximum(norm[finite], tiny), lw=1, label="global norm (pre-clip)")
    if np.any(threshold > 0):
        ax.plot(step, threshold, color="tab:red", lw=1.2, ls="--", label="clip threshold")
        hit = clipped > 0
        ax.scatter(step[hit], norm[hit], s=6, color="tab:red", label="clipped step", zorder=3)
    if not finite.all():
        ymax = np.nanmax(norm[finite]) if finite.any() else 1.0
        ax.scatter(step[~finite], np.full((~finite).sum(), ymax), marker="x", color="k",
                   label="non-finite")
    ax.set_yscale("log")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("gradient norm")
    ax.set_title("Global gradient norm")
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    main_path = _mpl.save(fig, out_dir / GLOBAL_PNG, dpi=110)

    layers = columns[len(FIXED_COLUMNS) :]
    if layers:
        values = table[:, len(FIXED_COLUMNS) :].T
        with np.errstate(divide="ignore", invalid="ignore"):
            logs = np.log10(np.where(np.isfinite(values) & (values > 0), values, np.nan))
        fig = _mpl.figure((8, 1.2 + 0.35 * len(layers)))
        ax = fig.subplots()
        image = ax.imshow(
            logs,
            aspect="auto",
            interpolation="nearest",
            cmap="viridis",
            extent=(step[0], step[-1] if len(step) > 1 else step[0] + 1, len(layers) - 0.5, -0.5),
        )
        ax.set_yticks(range(len(layers)))
        ax.set_yticklabels(layers, fontsize=8)
        ax.set_xlabel("optimizer step")
        ax.set_title("Per-layer gradient norm (log10)")
        fig.colorbar(image, ax=ax, label="log10 norm")
        fig.tight_layout()
        _mpl.save(fig, out_dir / LAYERS_PNG, dpi=110)
    return main_path
