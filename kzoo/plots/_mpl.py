"""The one matplotlib setup of kzoo's plots: figures drawn to files with Agg.

Figures are `matplotlib.figure.Figure` objects, not pyplot ones, so plotting
never selects or switches the process's matplotlib backend (a notebook keeps
its own) and leaves no open figure behind; `savefig` renders with Agg.
"""

import pathlib

from matplotlib.figure import Figure


def figure(figsize):
    """A new figure of `figsize` inches, not registered with pyplot."""
    return Figure(figsize=figsize)


def save(fig, path, dpi):
    """Write `fig` to `path` (its folder created); returns `path`."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    return path
