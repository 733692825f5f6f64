"""Median stopping rule for `tune(prune=True)` (Golovin et al., 2017, "Google Vizier", KDD)."""

import numpy as np

# Like Optuna's MedianPruner(n_startup_trials=3, n_warmup_steps=1): a trial is
# judged from its second epoch, against >= 3 trials.
PRUNE_MIN_TRIALS = 3
PRUNE_WARMUP_EPOCHS = 1


def curve_name(epoch):
    """The trial metric that holds a pruned search's objective at `epoch`."""
    return f"curve/{epoch}"


def median_curve(trials, epochs, min_trials=PRUNE_MIN_TRIALS):
    """Per epoch, the median objective of finished, unpruned trials (None if too few).

    `trials` are KerasTuner trials whose metrics hold their per-epoch objective
    (`curve/<epoch>`) and a `pruned` flag, as `prune=True` searches record them.
    """
    done = [
        t
        for t in trials
        if t.status == "COMPLETED"
        and t.metrics.exists("pruned")
        and not t.metrics.get_last_value("pruned")
    ]
    medians = []
    for epoch in range(epochs):
        name = curve_name(epoch)
        values = [t.metrics.get_last_value(name) for t in done if t.metrics.exists(name)]
        medians.append(float(np.median(values)) if len(values) >= min_trials else None)
    return medians


class MedianStop:
    """Stops a trial at the first epoch (from `warmup` on) where its best objective so
    far is worse than the median that finished, unpruned trials had at that epoch.

    Fed by `KzooTuner.on_epoch_end`, KerasTuner's per-epoch hook.

    Args:
        objective: the oracle's `keras_tuner.Objective` (its direction decides "worse").
        medians: `median_curve(...)` of the trials finished so far.
        warmup: epochs (0-based) before the first judgement. Defaults to `1`.
    """

    def __init__(self, objective, medians, warmup=PRUNE_WARMUP_EPOCHS):
        self.objective = objective
        self.medians = medians
        self.warmup = warmup
        self.curve = {}
        self.stopped_at = None

    def update(self, epoch, logs):
        """Record this epoch; True when the trial should stop."""
        if not logs or not self.objective.has_value(logs):
            return False
        self.curve[epoch] = float(self.objective.get_value(logs))
        pick = max if self.objective.direction == "max" else min
        best = pick(self.curve.values())
        median = self.medians[epoch] if epoch < len(self.medians) else None
        if epoch >= self.warmup and median is not None and self.objective.better_than(median, best):
            self.stopped_at = epoch
            return True
        return False

    def metrics(self):
        out = {curve_name(e): v for e, v in self.curve.items()}
        out["pruned"] = float(self.stopped_at is not None)
        return out
