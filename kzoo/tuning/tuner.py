"""`KzooTuner`: KerasTuner's tuner with kzoo's per-trial records, pruning and cleanup."""

import contextlib
import gc
import os
import time

import keras
import keras_tuner as kt

from kzoo.rundir.files import PROJECT
from kzoo.runtime.backend import drop_tf_custom_gradients, tf_custom_gradients, tf_gradient_registry
from kzoo.tuning import _keras_tuner_private as private
from kzoo.tuning.bayesian import BayesianOracle
from kzoo.tuning.oom import avoid_out_of_memory
from kzoo.tuning.pruning import MedianStop, median_curve
from kzoo.tuning.tpe import TPEOracle
from kzoo.tuning.trial_fit import (
    checkpoint_dir,
    epoch_logs,
    fit_trial,
    restored_history,
    trial_callbacks,
)
from kzoo.tuning.trial_fit_accumulate import accumulating
from kzoo.zoo._hypermodel import devices_scope


def rss_mb():
    """Resident memory of this process in MiB (Linux), else NaN."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return float("nan")


@contextlib.contextmanager
def frozen_heap():
    """Keep the objects alive before the search out of its garbage collections.

    KerasTuner collects twice before every build (`clear_session()` and
    `gc.collect()` in `Tuner._try_build`). With a backend and KerasTuner
    imported the heap holds ~250k long-lived objects; a full collection scans
    them in ~0.2 s, ~0.4 s per trial (benchmarks/tuning/profile_trial.py:
    digits + mlp, jax, 6 trials, 3.9 -> 1.2 s in total). Frozen, they are
    skipped; what the trials create is still collected.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


class KzooTunerMixin:
    """Per-trial seed, records (`epochs_run`, `best_epoch`, wall time, RSS), median
    pruning, live progress and cleanup, on top of a KerasTuner tuner class.

    Args:
        settings: the search's settings (`seed`, `max_trials`, `epochs`, `prune`).

    Attributes:
        recorder: a `Recorder` told when a trial ends here; None on a worker (the
            chief records).
        progress: a `Progress` shown while a trial runs, or None.
    """

    def __init__(self, *args, settings, devices=None, **kwargs):
        self.settings = settings
        self.devices = devices
        self.recorder = None
        self.progress = None
        self.stopper = None
        self.gradients_before = None
        if devices not in (None, 1):  # entered around build and load_model, after clear_session
            kwargs["distribution_strategy"] = DevicesStrategy(devices)
        super().__init__(*args, **kwargs)

    def trial_fit_kwargs(self, trial):
        """What `ZooHyperModel.fit` gets besides `search`'s arguments: the devices, and
        the trial's checkpoint directory and seed (not for hyperband, whose trials
        continue other trials' weights), and precise BatchNorm (`trial_callbacks`)."""
        kwargs = {"devices": self.devices, "trial_record": {}, "trial_fit": fit_trial,
                  "trial_callbacks": accumulating(trial_callbacks,
                                                  self.settings.get("accumulate", 1))}
        if not isinstance(self, kt.Hyperband):
            kwargs.update(
                trial_checkpoint=checkpoint_dir(self.get_trial_dir(trial.trial_id)),
                trial_seed=self.settings["seed"] + int(trial.trial_id),
            )
        return kwargs

    def run_trial(self, trial, *args, **kwargs):
        keras.utils.set_random_seed(self.settings["seed"] + int(trial.trial_id))
        self.stopper = None
        if self.settings.get("prune"):
            # Trials finished so far, from the oracle (the chief's, on a worker).
            reference = self.oracle.get_best_trials(self.settings["max_trials"])
            medians = median_curve(reference, self.settings["epochs"])
            self.stopper = MedianStop(self.oracle.objective, medians)
        on_tf = tf_gradient_registry() is not None
        self.gradients_before = tf_custom_gradients() if on_tf else None
        if self.progress is not None:
            self.progress.trial_started(trial.trial_id, trial.hyperparameters.values)
        rss = rss_mb()
        start = time.perf_counter()
        extra = self.trial_fit_kwargs(trial)
        if self.settings.get("tensorboard"):  # the trial's curves (kzoo.tuning.tensorboard)
            from kzoo.tuning.tensorboard import trial_logger

            logger = trial_logger(self.settings["tensorboard"], trial.trial_id)
            kwargs["callbacks"] = [*kwargs.get("callbacks", []), logger]
        if self.stopper is not None and "trial_checkpoint" in extra:
            # A resumed trial: its curve (which later trials' medians read) starts
            # with the epochs trained before the kill.
            for epoch, logs in epoch_logs(restored_history(extra["trial_checkpoint"])):
                self.stopper.update(epoch, logs)
        histories = super().run_trial(trial, *args, **kwargs, **extra)
        objective = self.oracle.objective
        metrics = {k: float(v) for k, v in private.metrics_dict(histories, objective).items()}
        metrics.update(
            epochs_run=float(len(histories[-1].history.get("loss", []))),
            best_epoch=float(private.best_step(histories, objective)),
            wall_time_s=time.perf_counter() - start,
            finished_at=time.time(),
            rss_mb=rss,
        )
        metrics.update({k: float(v) for k, v in extra["trial_record"].items()})
        if self.stopper is not None:
            metrics.update(self.stopper.metrics())
        return metrics

    def on_epoch_end(self, trial, model, epoch, logs=None):
        super().on_epoch_end(trial, model, epoch, logs=logs)
        if self.progress is not None:
            self.progress.epoch_ended(epoch, logs)
        if self.stopper is not None and self.stopper.update(epoch, logs):
            model.stop_training = True

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        # Drop the trial's graphs and weights before the next one (keras-tuner
        # #873, #1031). No gc here: KerasTuner's `_try_build` collects right
        # before the next build, and a full collection costs ~0.3 s.
        keras.backend.clear_session(free_memory=False)
        # Keras' TF optimizer left a custom gradient per traced step in TF's
        # registry, holding the trial's graphs (~4 MiB per trial); drop the
        # trial's own (see kzoo.runtime.backend.drop_tf_custom_gradients).
        if self.gradients_before is not None:
            drop_tf_custom_gradients(keep=self.gradients_before)
        if self.recorder is not None:
            self.recorder.trial_ended(trial.trial_id, "main")


class DevicesStrategy:
    """`devices` as KerasTuner's `distribution_strategy`: duck-typed on `scope()`.

    KerasTuner enters it around `build` (after its `clear_session`, which resets
    a global distribution) and `load_model`, but not around `fit`: there
    `ZooHyperModel.fit(devices=...)` enters the same setting.
    """

    extended = None  # KerasTuner looks for tf.distribute's multi-worker mode here

    def __init__(self, devices):
        self.devices = devices

    def scope(self):
        return devices_scope(self.devices)


class KzooTuner(KzooTunerMixin, kt.Tuner):
    """The random and bayesian searches: a `keras_tuner.Tuner` given their oracle."""


class KzooHyperband(KzooTunerMixin, kt.Hyperband):
    """The hyperband search (its tuner carries weights between brackets)."""


def random_startup_trials(tuner, max_trials):
    """How many random trials a model-based search (`bayesian`, `tpe`) starts with.

    A third of the budget, at least 2; for TPE at most Optuna's own default of 10.
    The libraries' defaults assume large budgets: KerasTuner's Bayesian oracle starts
    with 3 random points per hyperparameter (24 in an 8-dimensional space) and
    Optuna's TPESampler with 10, so a search of kzoo's default 10 trials (or the
    8-trial benchmark) would never leave random sampling (benchmarks/RESULTS.md,
    issue #18). None for the other tuners.
    """
    if tuner not in ("bayesian", "tpe"):
        return None
    startup = max(2, max_trials // 3)
    return min(startup, 10) if tuner == "tpe" else startup


def make_tuner(settings, hypermodel, out, devices=None):
    """The tuner of a search, reloading KerasTuner's project in `out/kt` if there is one.

    `devices`: each trial trains on this many devices (None or 1: as `fit` does).
    """
    seed = settings["seed"]
    oracle_args = {
        "objective": settings["objective"],
        # KerasTuner's Oracle reads a seed of 0 as "none" (`seed or random.randint(...)`)
        # and samples differently on every run; shift it so that every kzoo seed,
        # 0 included, reproduces its search.
        "seed": seed + 1,
        "max_retries_per_trial": 0,
        # Never stop early on failures: every trial is recorded, and the search
        # fails as a whole only if none succeeds.
        "max_consecutive_failed_trials": settings["max_trials"] + 1,
    }
    common = {
        "settings": settings,
        "hypermodel": hypermodel,
        "directory": str(out),
        "project_name": PROJECT,
        "overwrite": False,
        "devices": devices,
    }
    if settings["tuner"] == "hyperband":
        tuner = KzooHyperband(max_epochs=settings["epochs"], factor=3, **oracle_args, **common)
    else:
        oracle_class = {
            "random": kt.oracles.RandomSearchOracle,
            "bayesian": BayesianOracle,
            # Its sampler's seed is kzoo's seed + 1, like the other oracles'.
            "tpe": TPEOracle,
        }
        startup = random_startup_trials(settings["tuner"], settings["max_trials"])
        extra = {
            "bayesian": {"num_initial_points": startup},
            "tpe": {"n_startup_trials": startup},
        }.get(settings["tuner"], {})
        oracle = oracle_class[settings["tuner"]](
            max_trials=settings["max_trials"], **oracle_args, **extra
        )
        tuner = KzooTuner(oracle=oracle, **common)
    # Hyperband has no trial budget of its own; the oracle honours this cap. On a
    # resumed search this also lets `max_trials` grow.
    oracle = private.inner_oracle(tuner.oracle)
    oracle.max_trials = settings["max_trials"]
    # Out-of-memory trials: no batch as large for the same model (kzoo.tuning.oom).
    avoid_out_of_memory(oracle, resample=settings["tuner"] == "random")
    return tuner
