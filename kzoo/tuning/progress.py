"""What `kzoo tune` prints: a live line while a trial runs, a summary line when it ends.

"Best" follows the oracle's own `objective.direction` (KerasTuner's), never a
guess from the metric's name.
"""

import datetime
import sys
import time


def _fmt(value):
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _duration(seconds):
    return str(datetime.timedelta(seconds=round(seconds)))


class Progress:
    """Progress of one search, told by the tuner (live) and the recorder (summaries).

    Args:
        objective: the oracle's `keras_tuner.Objective` (name and direction).
        max_trials: the trial budget.
        epochs: epochs per trial.
        stream: where to print. Defaults to `sys.stdout`. The live line is drawn
            only on a terminal, where it is rewritten in place.
    """

    def __init__(self, objective, max_trials, epochs, stream=None):
        self.objective = objective
        self.max_trials = max_trials
        self.epochs = epochs
        self.stream = stream or sys.stdout
        self.start = time.monotonic()
        self.ended = 0  # trials ended since this process started (for the ETA)
        self.trial = None

    @property
    def live(self):
        return getattr(self.stream, "isatty", lambda: False)()

    def trial_started(self, trial_id, values):
        hps = " ".join(f"{k}={_fmt(v)}" for k, v in values.items() if not k.startswith("tuner/"))
        self.trial = f"trial {trial_id} [{hps}]"
        self._draw(f"{self.trial} starting")

    def epoch_ended(self, epoch, logs):
        name = self.objective.name
        value = (logs or {}).get(name)
        shown = f" {name}={value:.4f}" if isinstance(value, (int, float)) else ""
        self._draw(f"{self.trial} epoch {epoch + 1}/{self.epochs}{shown}")

    def _draw(self, text):
        if self.live and self.trial is not None:
            self.stream.write(f"\r\033[K{text}")
            self.stream.flush()

    def trial_ended(self, rows, trial_id):
        self.ended += 1
        if self.live:
            self.stream.write("\r\033[K")
        self.trial = None
        print(self.summary(rows, trial_id), file=self.stream, flush=True)

    def best(self, rows):
        scored = [r for r in rows if r["score"] is not None]
        if not scored:
            return None
        pick = max if self.objective.direction == "max" else min
        return pick(scored, key=lambda r: r["score"])

    def eta(self, done):
        """Seconds left, from this process's pace (parallel workers included); None
        before the first trial ends here."""
        if not self.ended:
            return None
        return (time.monotonic() - self.start) / self.ended * max(self.max_trials - done, 0)

    def summary(self, rows, trial_id):
        row = next(r for r in rows if r["trial_id"] == trial_id)
        done = sum(r["status"] in ("COMPLETED", "FAILED", "INVALID") for r in rows)
        head = f"[{done}/{self.max_trials}] trial {trial_id} {row['status']}"
        if row["status"] != "COMPLETED":
            line = f"{head}: {row['error']}"
        else:
            if row.get("pruned"):
                head += f" (pruned after epoch {row['epochs_run']})"
            line = (f"{head} {self.objective.name}={row['score']:.4f} in "
                    f"{row['wall_time_s']:.1f}s ({row['epochs_run']} epochs)")
        best = self.best(rows)
        if best is not None:
            line += f"; best {best['score']:.4f} (trial {best['trial_id']})"
        eta = self.eta(done)
        if eta is not None and done < self.max_trials:
            line += f"; ETA {_duration(eta)}"
        return line
