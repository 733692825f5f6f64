"""Plots of `grad_norms.csv`, written by `kzoo.callbacks.GradientNormLogger`.

The file's columns are the logger's `FIXED_COLUMNS` (step, global norm, clip
threshold, clipped flag) followed by one column per layer; this module reads
them through the logger's own constant.
"""

import pathlib

import numpy as np

from kzoo.callbacks.gradient_norm_logger import FIXED_COLUMNS
from kzoo.plots import _mpl
from kzoo.reading import read_csv_rows
from kzoo.runtime.errors import RunDirError
from kzoo.training import run_dir as layout

GLOBAL_PNG = "grad_norms.png"
LAYERS_PNG = "grad_norms_layers.png"


def read_grad_norms(path):
    """`(columns, array)` of a grad_norms.csv; array is `(rows, columns)` float."""
    lines = read_csv_rows(path, layout.RUN_FILE_FIX, RunDirError)
    if not lines:
        raise RunDirError(f"{path} is empty; {layout.RUN_FILE_FIX}.")
    columns, rows = lines[0][1], []
    for line, row in lines[1:]:
        try:
            rows.append([float(v) for v in row])
        except ValueError:
            raise RunDirError(f"{path}, line {line}: a cell is not a number; "
                              f"{layout.RUN_FILE_FIX}.") from None
        if len(row) != len(columns):
            raise RunDirError(f"{path}, line {line}: {len(row)} cells, the header has "
                              f"{len(columns)}; {layout.RUN_FILE_FIX}.")
    return columns, np.array(rows, dtype="float64").reshape(-1, len(columns))


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
    columns, table = read_grad_norms(path)
    if not len(table):
        return None
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
