"""Search plots: the objective against each tuned hyperparameter, and over time.

The axis is named after the objective, and "best so far" follows the direction
stored in `tune_config.json` (KerasTuner's, for that objective).
"""

import datetime
import pathlib

from kzoo import rundir as layout
from kzoo.plots import _mpl

_NOT_HPS = {"trial_id", "status", "score", "epochs_run", "wall_time_s", "pruned", "rss_mb",
            "worker", "finished_at", "error"}


def plot_search(out):
    """`plots/score_vs_<hp>.png` for every tuned hp, and `plots/search_over_time.png`."""
    out = pathlib.Path(out)
    rows = [r for r in layout.read_trials(out) if r["status"] == "COMPLETED"]
    (out / "plots").mkdir(exist_ok=True)
    if not rows:
        return []
    config = layout.read_tune_config(out)
    objective, direction = config["objective"], config.get("direction", "max")
    written = []
    for name in [k for k in rows[0] if k not in _NOT_HPS and not k.startswith("tuner/")]:
        values = [r[name] for r in rows]
        if len({str(v) for v in values}) < 2:
            continue
        fig = _mpl.figure((5, 3.5))
        ax = fig.subplots()
        if all(isinstance(v, float) for v in values):
            ax.scatter(values, [r["score"] for r in rows])
            if name == "learning_rate":
                ax.set_xscale("log")
        else:
            labels = sorted({str(v) for v in values})
            ax.scatter([labels.index(str(v)) for v in values], [r["score"] for r in rows])
            ax.set_xticks(range(len(labels)), labels)
        ax.set_xlabel(name)
        ax.set_ylabel(objective)
        ax.set_title(f"{objective} vs {name}")
        written.append(_save(fig, out / "plots" / f"score_vs_{name.replace('/', '_')}.png"))

    def stamp(r):
        return datetime.datetime.fromisoformat(r["finished_at"]).timestamp()

    rows = sorted((r for r in rows if isinstance(r.get("finished_at"), str)), key=stamp)
    if rows:
        t0 = min(stamp(r) - r["wall_time_s"] for r in rows)
        t = [stamp(r) - t0 for r in rows]
        scores = [r["score"] for r in rows]
        best = best_so_far(scores, direction)
        fig = _mpl.figure((6, 3.5))
        ax = fig.subplots()
        ax.scatter(t, scores, s=12, alpha=0.6, label="trial")
        ax.step(t, best, where="post", color="C1", label=f"best so far ({direction})")
        ax.set_xlabel("wall time since search start (s)")
        ax.set_ylabel(objective)
        ax.set_title(f"search over time: {objective}")
        ax.legend()
        written.append(_save(fig, out / "plots" / "search_over_time.png"))
    return written


def best_so_far(scores, direction):
    """The running best of `scores`, "best" meaning highest when `direction` is "max"."""
    pick = max if direction == "max" else min
    return [pick(scores[: i + 1]) for i in range(len(scores))]


def _save(fig, path):
    fig.tight_layout()
    return _mpl.save(fig, path, dpi=90)
