"""`tune(tuner="tpe")`: Optuna's TPE sampler as a KerasTuner oracle.

KerasTuner keeps what it is good at (trials on disk, resume, the chief/worker
protocol, kzoo's records and median pruning); Optuna proposes the values. Each
KerasTuner trial is one Optuna trial, asked in `populate_space` and told in
`end_trial`, both under KerasTuner's oracle lock. The study lives in the search
directory (`kt/optuna.journal`, Optuna's append-only journal file, no server), so
a restarted search continues it.

Pruning is kzoo's median rule (`kzoo.tuning.pruning`), as for the other tuners:
it already runs in every worker's per-epoch hook, while KerasTuner has no way for
the chief to stop a worker's trial (Optuna's pruner would decide in the chief). A
pruned trial is told as complete with the score it reached, as `trials.csv`
records it.
"""

import logging
import math
import os
from decimal import Decimal

import keras_tuner as kt
from keras_tuner.engine import hyperparameters as hp_types

from kzoo.runtime.errors import UsageError
from kzoo.tuning import _keras_tuner_private as private

log = logging.getLogger(__name__)

JOURNAL = "optuna.journal"
STUDY = "kzoo"
KT_TRIAL_ID = "kt_trial_id"  # the user attribute linking an Optuna trial to its KerasTuner trial
INSTALL = "pip install 'kzoo[optuna]'"


def require_optuna():
    try:
        import optuna
    except ImportError as err:
        raise UsageError(
            f"tuner='tpe' needs Optuna, which is not installed: {INSTALL} "
            "(or pick another --tuner)."
        ) from err
    return optuna


# ------------------------------------------------------------------ the space, both ways


def _aligned_high(low, high, step):
    """The largest value KerasTuner samples, `low + n * step`, with its `n` (KerasTuner's
    float floor division: `Float(0, 0.5, step=0.1)` never takes 0.5), written in
    decimal so that Optuna accepts it as a whole number of steps."""
    n = int((high - low) // step)
    return float(Decimal(str(low)) + n * Decimal(str(step)))


def to_distribution(hp):
    """The Optuna distribution that samples exactly the values KerasTuner's `hp` can take.

    Raises:
        ValueError: for a construct Optuna has no distribution for (reverse-log
            sampling, log sampling with a step), naming the fix.
    """
    d = require_optuna().distributions
    if isinstance(hp, hp_types.Fixed):
        return d.CategoricalDistribution([hp.value])
    if isinstance(hp, hp_types.Boolean):
        return d.CategoricalDistribution([False, True])
    if isinstance(hp, hp_types.Choice):
        return d.CategoricalDistribution(list(hp.values))
    if isinstance(hp, (hp_types.Int, hp_types.Float)):
        kind = "Int" if isinstance(hp, hp_types.Int) else "Float"
        if hp.sampling == "reverse_log":
            raise UsageError(
                f"hp.{kind}({hp.name!r}, sampling='reverse_log'): Optuna has no reverse-log "
                "distribution, so tuner='tpe' cannot search it. Use sampling='log' or "
                "'linear', or another --tuner."
            )
        log_scale = hp.sampling == "log"
        if log_scale and hp.step is not None:
            raise UsageError(
                f"hp.{kind}({hp.name!r}, sampling='log', step={hp.step}): Optuna cannot "
                "combine log sampling with a step, so tuner='tpe' cannot search it. Drop "
                "the step, or list the values with hp.Choice."
            )
        if kind == "Int":
            step = 1 if log_scale else (hp.step or 1)
            high = hp.min_value + (hp.max_value - hp.min_value) // step * step
            return d.IntDistribution(hp.min_value, high, log=log_scale, step=step)
        if hp.step is None:
            return d.FloatDistribution(hp.min_value, hp.max_value, log=log_scale)
        high = _aligned_high(hp.min_value, hp.max_value, hp.step)
        return d.FloatDistribution(hp.min_value, high, step=hp.step)
    raise UsageError(f"tuner='tpe' cannot search {type(hp).__name__} {hp.name!r}.")


def to_hyperparameter(name, distribution):
    """The KerasTuner hyperparameter that samples exactly `distribution`'s values.

    The inverse of `to_distribution` on the values: a one-value choice comes back as
    `Fixed`, `[False, True]` as `Boolean`; a `Choice`'s `ordered` flag (a hint to
    KerasTuner's GP) has no Optuna counterpart and takes KerasTuner's default.
    """
    d = require_optuna().distributions
    if isinstance(distribution, d.CategoricalDistribution):
        choices = list(distribution.choices)
        if len(choices) == 1:
            return hp_types.Fixed(name, choices[0])
        if choices == [False, True]:
            return hp_types.Boolean(name)
        return hp_types.Choice(name, choices)
    sampling = "log" if distribution.log else "linear"
    if isinstance(distribution, d.IntDistribution):
        step = None if distribution.log else distribution.step
        return hp_types.Int(name, distribution.low, distribution.high, step=step,
                            sampling=sampling)
    if isinstance(distribution, d.FloatDistribution):
        return hp_types.Float(name, distribution.low, distribution.high,
                              step=distribution.step, sampling=sampling)
    raise UsageError(f"No KerasTuner hyperparameter for {distribution!r}.")


def check_space(hyperparameters):
    """Raise the clear error of the first hyperparameter Optuna cannot search."""
    for hp in hyperparameters.space:
        to_distribution(hp)


def suggest(trial, name, distribution):
    """`distribution`'s value for `name` in an Optuna trial, through the public API."""
    d = require_optuna().distributions
    if isinstance(distribution, d.CategoricalDistribution):
        return trial.suggest_categorical(name, distribution.choices)
    if isinstance(distribution, d.IntDistribution):
        return trial.suggest_int(name, distribution.low, distribution.high,
                                 step=distribution.step, log=distribution.log)
    return trial.suggest_float(name, distribution.low, distribution.high,
                               step=distribution.step, log=distribution.log)


def suggest_active(trial, space):
    """Values for the active hyperparameters of `space` (a list, parents before their
    children), asked of an Optuna trial in order: a conditional hyperparameter is
    asked only when its parent took one of its `parent_values`."""
    distributions = [(hp, to_distribution(hp)) for hp in space]
    hps = kt.HyperParameters()
    for hp, distribution in distributions:
        hps.merge([hp])
        if hps.is_active(hp):
            hps.values[hp.name] = suggest(trial, hp.name, distribution)
    return hps.values


# ------------------------------------------------------------------ the study on disk


def drop_torn_tail(path):
    """Cut a last journal line that a SIGKILL left half-written.

    Optuna's journal reader skips a final line without its newline, but the next
    append would be glued to it and the line after it unreadable. kzoo's oracle is
    the journal's only writer, so the cut is safe when it opens the study.
    """
    if not os.path.exists(path):
        return
    with open(path, "rb+") as f:
        data = f.read()
        if data and not data.endswith(b"\n"):
            f.truncate(data.rfind(b"\n") + 1)
            log.warning("dropped a half-written last record from %s", path)


def open_study(path, direction, seed, n_startup_trials=10):
    """The journal-backed study at `path`, created or continued."""
    optuna = require_optuna()
    from optuna.storages import journal

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    drop_torn_tail(path)
    # A lock left by a killed process is broken after 5 s (Optuna's default is 30).
    lock = journal.JournalFileOpenLock(path, grace_period=5)
    storage = optuna.storages.JournalStorage(journal.JournalFileBackend(path, lock_obj=lock))
    return optuna.create_study(
        storage=storage,
        study_name=STUDY,
        sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=n_startup_trials),
        direction="maximize" if direction == "max" else "minimize",
        load_if_exists=True,
    )


class TPEOracle(kt.Oracle):
    """A KerasTuner oracle whose proposals come from Optuna's `TPESampler`.

    One process from start to end proposes what Optuna's own ask-and-tell loop
    would (same seed, same space, same scores). A resumed search continues the
    same study (every finished trial is in the model), but the sampler's random
    state starts again from its seed, so later proposals differ from an
    uninterrupted run's.

    Args:
        objective: as for any KerasTuner oracle (one objective).
        max_trials: the trial budget.
        seed: seeds the sampler (`TPESampler(seed=...)`): the same seed and
            space give Optuna's own proposals. Defaults to a random seed.
        n_startup_trials: random trials before TPE models the results.
            Defaults to Optuna's `10`.
        **kwargs: the other arguments of `keras_tuner.Oracle`.
    """

    def __init__(self, objective=None, max_trials=10, seed=None, n_startup_trials=10, **kwargs):
        super().__init__(objective=objective, max_trials=max_trials, seed=seed, **kwargs)
        self.n_startup_trials = n_startup_trials
        self._study = None

    @property
    def study(self):
        """The Optuna study, opened in the project directory on first use."""
        if self._study is None:
            self._study = open_study(
                os.path.join(private.project_dir(self), JOURNAL),
                self.objective.direction, self.seed, self.n_startup_trials,
            )
        return self._study

    def populate_space(self, trial_id):
        check_space(self.hyperparameters)  # raise before asking Optuna
        trial = self.study.ask()
        trial.set_user_attr(KT_TRIAL_ID, trial_id)
        return {"status": private.RUNNING,
                "values": suggest_active(trial, self.hyperparameters.space)}

    @kt.synchronized
    def end_trial(self, trial):
        super().end_trial(trial)
        trial = self.trials[trial.trial_id]
        if trial.trial_id not in private.retry_queue(self):
            self._tell([trial])

    def reload(self):
        super().reload()
        # A kill between KerasTuner's save and the tell left finished trials untold;
        # a kill between the ask and KerasTuner's save left an Optuna trial with no
        # KerasTuner trial, which will never run.
        self._tell([t for t in self.trials.values() if t.status in ("COMPLETED", "FAILED")],
                   orphans=True)

    def _tell(self, trials, orphans=False):
        """Tell Optuna how `trials` ended, each exactly once. Never raises: this runs
        under KerasTuner's oracle lock, which a raise would leave held."""
        try:
            optuna = require_optuna()
            state = optuna.trial.TrialState
            by_id = {}
            for frozen in self.study.get_trials(deepcopy=False):
                by_id.setdefault(frozen.user_attrs.get(KT_TRIAL_ID), []).append(frozen)
            for trial in trials:
                for frozen in by_id.pop(trial.trial_id, []):
                    if frozen.state != state.RUNNING:
                        continue
                    score = trial.score
                    if trial.status == "COMPLETED" and score is not None and math.isfinite(score):
                        self.study.tell(frozen.number, score, skip_if_finished=True)
                    else:
                        self.study.tell(frozen.number, state=state.FAIL, skip_if_finished=True)
            if orphans:
                known = set(self.trials)
                for kt_id, frozens in by_id.items():
                    for frozen in frozens:
                        if frozen.state == state.RUNNING and kt_id not in known:
                            self.study.tell(frozen.number, state=state.FAIL,
                                            skip_if_finished=True)
        except Exception as err:  # noqa: BLE001  see the docstring
            log.warning("could not tell Optuna how trials %s ended: %r",
                        [t.trial_id for t in trials], err)
