"""A search's settings: their checks, which run before anything is written."""

import importlib.util

from kzoo.runtime.devices import check_devices_value
from kzoo.runtime.errors import UsageError

TUNERS = ("random", "bayesian", "hyperband", "tpe")


def check_settings(tuner, max_trials, epochs, workers, heartbeat_timeout, prune=False):
    if tuner not in TUNERS:
        raise UsageError(f"Unknown tuner {tuner!r}. Choose one of: {', '.join(TUNERS)}.")
    if tuner == "tpe" and importlib.util.find_spec("optuna") is None:
        raise UsageError(
            "tuner='tpe' needs Optuna, which is not installed: pip install 'kzoo[optuna]' "
            "(or pick another --tuner)."
        )
    if not isinstance(prune, bool):
        raise UsageError(f"prune must be True or False, got {prune!r}.")
    if prune and tuner == "hyperband":
        raise UsageError(
            "prune=True is for the random, bayesian and tpe tuners: hyperband already stops "
            "poor trials early (successive halving). Drop --prune or pick another tuner."
        )
    for name, value, low in (("max_trials", max_trials, 1), ("epochs", epochs, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise UsageError(f"{name} must be an int >= {low}, got {value!r}.")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise UsageError(f"workers must be an int >= 0 (0 = in this process), got {workers!r}.")
    if not heartbeat_timeout > 0:
        raise UsageError(f"heartbeat_timeout must be > 0 seconds, got {heartbeat_timeout!r}.")


def check_objective(objective, metric_names, direction):
    """Refuse an objective the model will not log, or whose direction KerasTuner
    cannot tell (`metric_names`: what `fit` logs for the training split)."""
    names = sorted(metric_names, key=lambda m: (m != "loss", m))
    known = [*names, *(f"val_{m}" for m in names)]
    if objective not in known:
        raise UsageError(
            f"Unknown objective {objective!r}: this model logs {', '.join(known)}. "
            "Pick one of them for --objective."
        )
    if direction is None:
        raise UsageError(
            f"KerasTuner cannot tell whether {objective!r} should go up or down; "
            "pick another --objective."
        )


def jsonable_fixed(fixed):
    """`fixed` as tune_config.json records it; tuples (ranges) and lists (choices) kept apart."""
    return {
        k: {"range": list(v)} if isinstance(v, tuple) else v if _is_plain(v) else repr(v)
        for k, v in sorted(fixed.items())
    }


def _is_plain(value):
    return isinstance(value, (bool, int, float, str, list, type(None)))


def check_scale(devices, workers, gpus_per_worker, cluster, rank, tuner="random"):
    """The devices of each trial, and how the search spreads over processes and hosts."""
    check_devices_value(devices)
    if gpus_per_worker is not None and (
        isinstance(gpus_per_worker, bool) or not isinstance(gpus_per_worker, int)
        or gpus_per_worker < 1
    ):
        raise UsageError(f"gpus_per_worker must be an int >= 1, got {gpus_per_worker!r}.")
    if cluster is not None and workers:
        raise UsageError(
            "--cluster runs one process of a search on several hosts (each SLURM task or "
            "hostfile line is one); it starts no local workers. Drop --workers."
        )
    if rank is not None and cluster is None:
        raise UsageError("--rank is a process's line in a hostfile: give --cluster HOSTFILE.")
    spread = workers or cluster is not None
    if gpus_per_worker is not None and not spread:
        raise UsageError(
            "gpus_per_worker is for a search with workers (--workers N or --cluster); a "
            "search in this process trains on --devices N."
        )
    if spread and devices != 1:
        raise UsageError(
            "with workers, each trial trains on its worker's block of GPUs: set "
            f"--gpus-per-worker {devices} instead of --devices {devices}."
        )
    if tuner == "hyperband" and (devices != 1 or (gpus_per_worker or 1) > 1):
        raise UsageError(
            "hyperband trials continue other trials' weights with a plain fit, which "
            "cannot pad its batches for several devices; pick --tuner random, bayesian or "
            "tpe, or train each trial on one device."
        )
