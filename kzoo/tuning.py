"""`kzoo tune`: KerasTuner search over a zoo family, resumable and distributed.

`tune(model, data, out=...)` runs a KerasTuner search (random, bayesian or
hyperband) of `kzoo.zoo.hypermodel(model, ...)` and writes into `out`:

- `trials.csv`: one row per trial (id, status, score, epochs run, wall time,
  every hyperparameter, RSS at trial start, worker, error);
- `best.json` and `best_model.keras`;
- `plots/`: the score against each hyperparameter and the search over time;
- `kt/`: KerasTuner's own project (`oracle.json`, `trial_*/trial.json`).

Resuming: the tuner is built with `overwrite=False`, so KerasTuner reloads its
oracle from `kt/` and sends interrupted trials back to the queue; completed
trials are never rerun, and `trials.csv` is rewritten from the oracle's state
after every trial, so it is consistent after a SIGKILL.

Distribution uses KerasTuner's engine (a chief oracle served over gRPC,
configured by `KERASTUNER_TUNER_ID`, `KERASTUNER_ORACLE_IP`,
`KERASTUNER_ORACLE_PORT`). The chief is served by kzoo rather than by
`keras_tuner`'s `start_server`, because that one waits forever for a worker
that died mid-trial (keras-tuner#915): here workers send heartbeats, and a
worker that stops beating (or that the local launcher sees exit) is dropped
and its trial goes back to the queue.
"""

import contextlib
import csv
import dataclasses
import datetime
import gc
import json
import math
import os
import pathlib
import pickle
import shutil
import socket
import subprocess
import sys
import threading
import time
import warnings

from kzoo.backend import drop_tf_custom_gradients, tf_custom_gradients, tf_gradient_registry

TUNERS = ("random", "bayesian", "hyperband")
# Median stopping rule (`prune=True`): like Optuna's MedianPruner(n_startup_trials=3,
# n_warmup_steps=1), a trial is judged from its second epoch, against >= 3 trials.
PRUNE_MIN_TRIALS = 3
PRUNE_WARMUP_EPOCHS = 1
CONFIG_FILE = "tune_config.json"
PROJECT = "kt"
HEARTBEAT = "__kzoo_heartbeat__"
DEAD = "__kzoo_dead__"
_ENV_ID = "KERASTUNER_TUNER_ID"
_ENV_IP = "KERASTUNER_ORACLE_IP"
_ENV_PORT = "KERASTUNER_ORACLE_PORT"


class SearchFailedError(RuntimeError):
    """Every trial of a search failed; the message holds the first error."""


@dataclasses.dataclass
class TuneResult:
    """What `tune` returns (read back from `out`).

    Attributes:
        out: the search directory.
        best: contents of `best.json` (trial id, score, hyperparameters, ...).
        trials: the rows of `trials.csv`, as dicts.
    """

    out: pathlib.Path
    best: dict
    trials: list


def _role():
    if _ENV_IP not in os.environ:
        return "single"
    return "chief" if "chief" in os.environ.get(_ENV_ID, "") else "worker"


def _rss_mb():
    """Resident memory of this process in MiB (Linux), else NaN."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return float("nan")


# --------------------------------------------------------------------------- settings


def _check_settings(tuner, max_trials, epochs, workers, heartbeat_timeout, prune=False):
    if tuner not in TUNERS:
        raise ValueError(f"Unknown tuner {tuner!r}. Choose one of: {', '.join(TUNERS)}.")
    if not isinstance(prune, bool):
        raise ValueError(f"prune must be True or False, got {prune!r}.")
    if prune and tuner == "hyperband":
        raise ValueError(
            "prune=True is for the random and bayesian tuners: hyperband already stops "
            "poor trials early (successive halving). Drop --prune or pick another tuner."
        )
    for name, value, low in (("max_trials", max_trials, 1), ("epochs", epochs, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an int >= {low}, got {value!r}.")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise ValueError(f"workers must be an int >= 0 (0 = in this process), got {workers!r}.")
    if not heartbeat_timeout > 0:
        raise ValueError(f"heartbeat_timeout must be > 0 seconds, got {heartbeat_timeout!r}.")


def _identity(settings):
    """The settings that must match to resume a search (max_trials may grow)."""
    keep = ("model", "data", "tuner", "epochs", "objective", "fixed", "seed", "backend")
    identity = {k: settings[k] for k in keep}
    if settings.get("prune"):  # absent when off, so earlier searches still resume
        identity["prune"] = True
    return identity


def _prepare_out(out, identity, overwrite, role):
    """Create or reopen `out`; returns True when an earlier search is resumed."""
    out = pathlib.Path(out)
    config = out / CONFIG_FILE
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file; choose a directory.")
    if role == "worker":  # the chief owns the directory
        out.mkdir(parents=True, exist_ok=True)
        return config.exists()
    if config.exists() and not overwrite:
        saved = json.loads(config.read_text())
        if saved != identity:
            diff = sorted(k for k in {*identity, *saved} if saved.get(k) != identity.get(k))
            raise ValueError(
                f"--out {out} holds a search with different settings ({', '.join(diff)}: "
                f"{ {k: saved.get(k) for k in diff} }). Use the same settings to resume it, "
                "another --out, or --overwrite to replace it."
            )
        return True
    if out.is_dir() and any(out.iterdir()):
        if not config.exists():
            raise ValueError(
                f"--out {out} is a non-empty directory that holds no kzoo search; refusing "
                "to write into it. Choose a new or empty directory."
            )
        shutil.rmtree(out)  # overwrite=True on an earlier search
    out.mkdir(parents=True, exist_ok=True)
    config.write_text(json.dumps(identity, indent=2))
    return False


def _jsonable_fixed(fixed):
    # Tuples (ranges) and lists (choices) mean different things: keep them apart.
    return {
        k: {"range": list(v)} if isinstance(v, tuple) else v if _is_plain(v) else repr(v)
        for k, v in sorted(fixed.items())
    }


def _is_plain(value):
    return isinstance(value, (bool, int, float, str, list, type(None)))


# --------------------------------------------------------------------------- tuner


@contextlib.contextmanager
def _frozen_heap():
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


def _curve_name(epoch):
    return f"curve/{epoch}"


def _median_curve(trials, epochs, min_trials=PRUNE_MIN_TRIALS):
    """Per epoch, the median objective of finished, unpruned trials (None if too few).

    `trials` are KerasTuner trials whose metrics hold their per-epoch objective
    (`curve/<epoch>`) and a `pruned` flag, as `prune=True` searches record them.
    """
    import numpy as np

    done = [
        t
        for t in trials
        if t.status == "COMPLETED"
        and t.metrics.exists("pruned")
        and not t.metrics.get_last_value("pruned")
    ]
    medians = []
    for epoch in range(epochs):
        name = _curve_name(epoch)
        values = [t.metrics.get_last_value(name) for t in done if t.metrics.exists(name)]
        medians.append(float(np.median(values)) if len(values) >= min_trials else None)
    return medians


class _MedianStop:
    """Median stopping rule (Golovin et al., 2017, "Google Vizier", KDD).

    Stops a trial at the first epoch (from `warmup` on) where its best objective
    so far is worse than the median that finished, unpruned trials had at that
    epoch. Fed by `KzooTuner.on_epoch_end`, KerasTuner's per-epoch hook.
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
        out = {_curve_name(e): v for e, v in self.curve.items()}
        out["pruned"] = float(self.stopped_at is not None)
        return out


def _bayesian_oracle_class():
    import keras_tuner as kt
    import numpy as np
    import scipy.optimize

    class BayesianOracle(kt.oracles.BayesianOptimizationOracle):
        """KerasTuner's Gaussian-process oracle with a cheaper search of its acquisition.

        Same GP (Matern 5/2, normalised scores), same random start, same lower
        confidence bound `mu - beta * sigma` (scores negated when maximising). Only the
        search for the bound's minimum differs: KerasTuner runs L-BFGS-B from 50 random
        starts with finite-difference gradients, one GP prediction per evaluation, which
        cost ~1 s per trial here (benchmarks/tuning, 8-dimensional LSTM space). This
        scores `candidates` random points in one vectorised prediction and refines the
        best `refine` of them with L-BFGS-B.
        """

        candidates = 2000
        refine = 3

        def populate_space(self, trial_id):
            completed = [t for t in self.trials.values() if t.status == "COMPLETED"]
            initial = self.num_initial_points or max(3 * len(self.hyperparameters.space), 3)
            if len(completed) < initial:
                return super().populate_space(trial_id)  # KerasTuner's random start
            x, y = self._vectorize_trials()
            self.gpr.fit(np.nan_to_num(x, posinf=0, neginf=0), np.nan_to_num(y, posinf=0, neginf=0))
            bounds = self._get_hp_bounds()

            def bound(points):
                mu, sigma = self.gpr.predict(np.atleast_2d(points), return_std=True)
                return np.ravel(mu) - self.beta * np.ravel(sigma)

            points = self._random_state.uniform(
                bounds[:, 0], bounds[:, 1], size=(self.candidates, len(bounds))
            )
            scores = bound(points)
            order = np.argsort(scores)
            # The best random point stands unless a refinement beats it.
            best_x, best = points[order[0]], scores[order[0]]
            for start in points[order[: self.refine]]:
                result = scipy.optimize.minimize(
                    lambda p: float(bound(p)[0]), x0=start, bounds=bounds, method="L-BFGS-B"
                )
                if result.fun < best:
                    best_x, best = result.x, result.fun
            return {"status": kt.engine.trial.TrialStatus.RUNNING,
                    "values": self._vector_to_values(best_x)}

    return BayesianOracle


def _make_tuner(settings, hypermodel, out):
    import keras
    import keras_tuner as kt
    from keras_tuner.src.engine import tuner_utils

    base = {
        "random": kt.RandomSearch,
        "bayesian": kt.Tuner,  # with kzoo's BayesianOracle, below
        "hyperband": kt.Hyperband,
    }[settings["tuner"]]
    seed = settings["seed"]

    class KzooTuner(base):
        _stopper = None
        _gradients_before = None

        def run_trial(self, trial, *args, **kwargs):
            keras.utils.set_random_seed(seed + int(trial.trial_id))
            self._stopper = None
            if settings.get("prune"):
                # Trials finished so far, from the oracle (the chief's, on a worker).
                reference = self.oracle.get_best_trials(settings["max_trials"])
                medians = _median_curve(reference, settings["epochs"])
                self._stopper = _MedianStop(self.oracle.objective, medians)
            on_tf = tf_gradient_registry() is not None
            self._gradients_before = tf_custom_gradients() if on_tf else None
            rss = _rss_mb()
            start = time.perf_counter()
            histories = super().run_trial(trial, *args, **kwargs)
            metrics = tuner_utils.convert_to_metrics_dict(histories, self.oracle.objective)
            metrics = {k: float(v) for k, v in metrics.items()}
            metrics.update(
                epochs_run=float(len(histories[-1].history.get("loss", []))),
                best_epoch=float(tuner_utils.get_best_step(histories, self.oracle.objective)),
                wall_time_s=time.perf_counter() - start,
                finished_at=time.time(),
                rss_mb=rss,
            )
            if self._stopper is not None:
                metrics.update(self._stopper.metrics())
            return metrics

        def on_epoch_end(self, trial, model, epoch, logs=None):
            super().on_epoch_end(trial, model, epoch, logs=logs)
            if self._stopper is not None and self._stopper.update(epoch, logs):
                model.stop_training = True

        def on_trial_end(self, trial):
            super().on_trial_end(trial)
            # Drop the trial's graphs and weights before the next one (keras-tuner
            # #873, #1031). No gc here: KerasTuner's `_try_build` collects right
            # before the next build, and a full collection costs ~0.3 s.
            keras.backend.clear_session(free_memory=False)
            # Keras' TF optimizer left a custom gradient per traced step in TF's
            # registry, holding the trial's graphs (~4 MiB per trial); drop the
            # trial's own (see kzoo.backend.drop_tf_custom_gradients).
            if self._gradients_before is not None:
                drop_tf_custom_gradients(keep=self._gradients_before)
            if _role() == "single":
                _Recorder(out, settings, self.oracle).trial_ended(trial.trial_id, "main")

    common = {
        "objective": settings["objective"],
        # KerasTuner's Oracle reads a seed of 0 as "none" (`seed or random.randint(...)`)
        # and samples differently on every run; shift it so that every kzoo seed,
        # 0 included, reproduces its search.
        "seed": seed + 1,
        "directory": str(out),
        "project_name": PROJECT,
        "overwrite": False,
        "max_retries_per_trial": 0,
        # Never stop early on failures: every trial is recorded, and the search
        # fails as a whole only if none succeeds.
        "max_consecutive_failed_trials": settings["max_trials"] + 1,
    }
    if settings["tuner"] == "hyperband":
        tuner = KzooTuner(hypermodel, max_epochs=settings["epochs"], factor=3, **common)
    elif settings["tuner"] == "bayesian":
        oracle_args = {k: common.pop(k) for k in (
            "objective", "seed", "max_retries_per_trial", "max_consecutive_failed_trials")}
        oracle = _bayesian_oracle_class()(
            max_trials=settings["max_trials"],
            num_initial_points=max(2, settings["max_trials"] // 3),
            **oracle_args,
        )
        tuner = KzooTuner(oracle=oracle, hypermodel=hypermodel, **common)
    else:
        tuner = KzooTuner(hypermodel, max_trials=settings["max_trials"], **common)
    # Hyperband has no trial budget of its own; the oracle honours this cap. On a
    # resumed search this also lets `max_trials` grow.
    oracle = getattr(tuner.oracle, "_oracle", tuner.oracle)
    oracle.max_trials = settings["max_trials"]
    return tuner


# --------------------------------------------------------------------------- records


class _Recorder:
    """Writes trials.csv and prints one progress line per finished trial."""

    def __init__(self, out, settings, oracle):
        self.out = pathlib.Path(out)
        self.settings = settings
        self.oracle = oracle

    def workers(self):
        path = self.out / "trial_workers.json"
        return json.loads(path.read_text()) if path.exists() else {}

    _lock = threading.Lock()  # the chief ends trials from several gRPC threads

    def trial_ended(self, trial_id, worker):
        with self._lock:
            self._trial_ended(trial_id, worker)

    def _trial_ended(self, trial_id, worker):
        workers = self.workers()
        workers[trial_id] = worker
        _atomic_write(self.out / "trial_workers.json", json.dumps(workers))
        rows = self.write_csv()
        if self.settings.get("verbose", 1):
            print(_progress_line(rows, trial_id, self.settings), flush=True)

    def rows(self):
        workers = self.workers()
        space = [hp.name for hp in self.oracle.get_space().space]
        rows = []
        trials = sorted(self.oracle.trials.values(), key=lambda t: int(t.trial_id))
        for t in trials:
            m = t.metrics

            def metric(name, m=m):
                return m.get_last_value(name) if m.exists(name) else None

            finished = metric("finished_at")
            row = {
                "trial_id": t.trial_id,
                "status": t.status,
                "score": t.score if t.status == "COMPLETED" else None,
                "epochs_run": _int_or_none(metric("epochs_run")),
                "wall_time_s": _round(metric("wall_time_s"), 3),
            }
            if m.exists("pruned"):  # prune=True searches only
                row["pruned"] = int(metric("pruned"))
            values = t.hyperparameters.values
            for name in space + sorted(set(values) - set(space)):
                row[name] = values.get(name)
            row.update(
                rss_mb=_round(metric("rss_mb"), 1),
                worker=workers.get(t.trial_id),
                finished_at=(
                    datetime.datetime.fromtimestamp(finished).isoformat(timespec="seconds")
                    if finished
                    else None
                ),
                error=_last_line(t.message) if t.status in ("FAILED", "INVALID") else None,
            )
            rows.append(row)
        return rows

    def write_csv(self):
        rows = self.rows()
        fields = []
        for row in rows:
            fields += [k for k in row if k not in fields]
        tmp = self.out / "trials.csv.tmp"
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fields or ["trial_id"])
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, self.out / "trials.csv")
        return rows


def _progress_line(rows, trial_id, settings):
    row = next(r for r in rows if r["trial_id"] == trial_id)
    done = sum(r["status"] in ("COMPLETED", "FAILED") for r in rows)
    scored = [r for r in rows if r["score"] is not None]
    head = f"[{done}/{settings['max_trials']}] trial {trial_id} {row['status']}"
    if row["status"] != "COMPLETED":
        return f"{head}: {row['error']}"
    if row.get("pruned"):
        head += f" (pruned after epoch {row['epochs_run']})"
    best = max(scored, key=lambda r: r["score"] * _sign(settings["objective"]))
    return (
        f"{head} {settings['objective']}={row['score']:.4f} in {row['wall_time_s']:.1f}s "
        f"({row['epochs_run']} epochs); best {best['score']:.4f} (trial {best['trial_id']})"
    )


def _sign(objective):
    return -1.0 if objective.endswith("loss") or objective.endswith("error") else 1.0


def _int_or_none(v):
    return None if v is None else int(v)


def _round(v, digits):
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else round(v, digits)


def _last_line(message):
    lines = [ln.strip() for ln in (message or "").strip().splitlines() if ln.strip()]
    return lines[-1] if lines else "unknown error"


def _atomic_write(path, text):
    tmp = pathlib.Path(f"{path}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _finish(tuner, oracle, settings, data, out):
    """Write best.json, best_model.keras and the plots; raise if every trial failed."""
    recorder = _Recorder(out, settings, oracle)
    rows = recorder.write_csv()
    completed = [r for r in rows if r["status"] == "COMPLETED"]
    failed = [r for r in rows if r["status"] == "FAILED"]
    if not completed:
        first = min(
            (t for t in oracle.trials.values() if t.message),
            key=lambda t: int(t.trial_id),
            default=None,
        )
        detail = first.message.strip() if first else "no trial finished"
        raise SearchFailedError(
            f"All {len(rows)} trials failed; see {out}/trials.csv. First error "
            f"(trial {first.trial_id if first else '?'}):\n{detail}"
        )
    best_trial = oracle.get_best_trials(1)[0]
    best = next(r for r in rows if r["trial_id"] == best_trial.trial_id)
    payload = {
        "trial_id": best_trial.trial_id,
        "objective": settings["objective"],
        "score": best_trial.score,
        "hyperparameters": best_trial.hyperparameters.values,
        "epochs_run": best["epochs_run"],
        "model": settings["model"],
        "data": settings["data"],
        "tuner": settings["tuner"],
        "backend": settings["backend"],
        "trials": {"total": len(rows), "completed": len(completed), "failed": len(failed)},
    }
    if settings.get("prune"):
        payload["trials"]["pruned"] = sum(bool(r.get("pruned")) for r in completed)
    try:
        with warnings.catch_warnings():
            # The checkpoint holds optimizer slots a fresh model lacks; weights load.
            warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
            model = tuner.load_model(best_trial)
        model.save(out / "best_model.keras")
        payload["model_path"] = "best_model.keras"
        test = model.evaluate(data.x_test, data.y_test, verbose=0, return_dict=True)
        payload["test"] = {k: float(v) for k, v in test.items()}
    except (OSError, ValueError, FileNotFoundError) as err:
        # Multi-host searches without a shared --out keep checkpoints on the workers.
        payload["model_path"] = None
        print(f"kzoo tune: best model not saved ({err})", file=sys.stderr)
    _atomic_write(out / "best.json", json.dumps(payload, indent=2, default=str))
    plot_search(out)
    return payload


def plot_search(out):
    """`plots/score_vs_<hp>.png` for every tuned hp, and `plots/search_over_time.png`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from kzoo.plots import read_csv

    out = pathlib.Path(out)
    rows = [r for r in read_csv(out / "trials.csv") if r["status"] == "COMPLETED"]
    (out / "plots").mkdir(exist_ok=True)
    if not rows:
        return []
    skip = {
        "trial_id",
        "status",
        "score",
        "epochs_run",
        "wall_time_s",
        "pruned",
        "rss_mb",
        "worker",
        "finished_at",
        "error",
    }
    written = []
    for name in [k for k in rows[0] if k not in skip and not k.startswith("tuner/")]:
        values = [r[name] for r in rows]
        if len({str(v) for v in values}) < 2:
            continue
        fig, ax = plt.subplots(figsize=(5, 3.5))
        if all(isinstance(v, float) for v in values):
            ax.scatter(values, [r["score"] for r in rows])
            if name == "learning_rate":
                ax.set_xscale("log")
        else:
            labels = sorted({str(v) for v in values})
            ax.scatter([labels.index(str(v)) for v in values], [r["score"] for r in rows])
            ax.set_xticks(range(len(labels)), labels)
        ax.set_xlabel(name)
        ax.set_ylabel("score")
        ax.set_title(f"score vs {name}")
        fig.tight_layout()
        path = out / "plots" / f"score_vs_{name.replace('/', '_')}.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        written.append(path)

    def stamp(r):
        return datetime.datetime.fromisoformat(r["finished_at"]).timestamp()

    rows = [r for r in rows if isinstance(r.get("finished_at"), str)]
    if rows:
        rows.sort(key=stamp)
        t0 = min(stamp(r) - r["wall_time_s"] for r in rows)
        t = [stamp(r) - t0 for r in rows]
        scores = [r["score"] for r in rows]
        maximize = _sign(json.loads((out / CONFIG_FILE).read_text())["objective"]) > 0
        best = [(max if maximize else min)(scores[: i + 1]) for i in range(len(scores))]
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.scatter(t, scores, s=12, alpha=0.6, label="trial")
        ax.step(t, best, where="post", color="C1", label="best so far")
        ax.set_xlabel("wall time since search start (s)")
        ax.set_ylabel("score")
        ax.set_title("search over time")
        ax.legend()
        fig.tight_layout()
        path = out / "plots" / "search_over_time.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        written.append(path)
    return written


# --------------------------------------------------------------------------- distribution


@dataclasses.dataclass
class _Liveness:
    """Chief-side bookkeeping of worker heartbeats."""

    timeout: float
    last_seen: dict = dataclasses.field(default_factory=dict)

    def beat(self, tuner_id, now=None):
        self.last_seen[tuner_id] = time.monotonic() if now is None else now

    def expired(self, now=None):
        now = time.monotonic() if now is None else now
        gone = [t for t, seen in self.last_seen.items() if now - seen > self.timeout]
        for t in gone:
            del self.last_seen[t]
        return gone


def _synchronized(func):
    from keras_tuner.src.engine.oracle import synchronized

    return synchronized(func)


@_synchronized
def drop_worker(oracle, tuner_id):
    """Forget a dead worker; its running trial goes back to the queue.

    Returns the id of the requeued trial, or None. This is what
    `Oracle.reload` does with trials a killed chief left running.
    """
    trial = oracle.ongoing_trials.pop(tuner_id, None)
    oracle.tuner_ids.discard(tuner_id)
    if trial is None:
        return None
    oracle._retry_queue.append(trial.trial_id)
    oracle.save()
    return trial.trial_id


@_synchronized
def _claim_end(oracle, trial_id):
    """The worker that may end `trial_id`, or None for a late result to ignore."""
    for tuner_id, trial in oracle.ongoing_trials.items():
        if trial.trial_id == trial_id:
            return tuner_id
    if trial_id in oracle._retry_queue:  # dropped by mistake: take the result
        oracle._retry_queue.remove(trial_id)
        return "late"
    return None


@_synchronized
def _search_done(oracle):
    return not oracle.ongoing_trials and not oracle.tuner_ids and not oracle._retry_queue


def _serve(tuner, recorder, heartbeat_timeout):
    """Serve the chief oracle until every trial is done and every worker left."""
    from concurrent import futures

    import grpc
    from keras_tuner.src import protos
    from keras_tuner.src.distribute import oracle_chief
    from keras_tuner.src.engine import trial as trial_module

    oracle = tuner.oracle
    liveness = _Liveness(heartbeat_timeout)

    class Servicer(oracle_chief.OracleServicer):
        def GetTrial(self, request, context):
            kind, _, tuner_id = request.trial_id.partition(":")
            if kind == HEARTBEAT:
                liveness.beat(tuner_id)
                return protos.get_service().GetTrialResponse()
            if kind == DEAD:
                liveness.last_seen.pop(tuner_id, None)
                requeued = drop_worker(oracle, tuner_id)
                if requeued is not None:
                    print(f"worker {tuner_id} died; trial {requeued} requeued", flush=True)
                return protos.get_service().GetTrialResponse()
            return super().GetTrial(request, context)

        def EndTrial(self, request, context):
            trial = trial_module.Trial.from_proto(request.trial)
            worker = _claim_end(oracle, trial.trial_id)
            if worker is None:
                print(f"late result for trial {trial.trial_id} ignored", flush=True)
                return protos.get_service().EndTrialResponse()
            response = super().EndTrial(request, context)
            recorder.trial_ended(trial.trial_id, worker)
            return response

    tuner.save()
    servicer = Servicer(oracle)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    server.add_insecure_port(f"{os.environ[_ENV_IP]}:{os.environ[_ENV_PORT]}")
    server.start()
    try:
        while not (servicer.stop_triggered and _search_done(oracle)):
            time.sleep(0.2)
            for tuner_id in liveness.expired():
                requeued = drop_worker(oracle, tuner_id)
                print(
                    f"worker {tuner_id} silent for {heartbeat_timeout}s; dropped"
                    + (f", trial {requeued} requeued" if requeued else ""),
                    flush=True,
                )
    finally:
        server.stop(grace=1)


def _start_heartbeat(interval):
    """Worker side: tell the chief we are alive, from a daemon thread."""
    import grpc
    from keras_tuner.src import protos

    channel = grpc.insecure_channel(f"{os.environ[_ENV_IP]}:{os.environ[_ENV_PORT]}")
    stub = protos.get_service_grpc().OracleStub(channel)
    request = protos.get_service().GetTrialRequest(trial_id=f"{HEARTBEAT}:{os.environ[_ENV_ID]}")

    def beat():
        while True:
            try:
                stub.GetTrial(request, timeout=5)
            except grpc.RpcError:
                pass  # the chief may not be up yet, or has finished
            time.sleep(interval)

    threading.Thread(target=beat, daemon=True, name="kzoo-heartbeat").start()


def _notify_dead(port, tuner_id):
    import grpc
    from keras_tuner.src import protos

    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = protos.get_service_grpc().OracleStub(channel)
        try:
            stub.GetTrial(
                protos.get_service().GetTrialRequest(trial_id=f"{DEAD}:{tuner_id}"), timeout=10
            )
        except grpc.RpcError:
            pass  # the chief has finished or died; the launcher handles both


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _gpu_ids():
    """GPUs on this host: $CUDA_VISIBLE_DEVICES if set, else `nvidia-smi -L`."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [g for g in visible.split(",") if g.strip() and g.strip() != "-1"]
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        text = subprocess.run(
            ["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(text.splitlines()) if line.startswith("GPU ")]


def _launch(kwargs, workers, out):
    """Run a chief and `workers` worker processes on this host; wait for the chief."""
    out = pathlib.Path(out)
    logs = out / "workers"
    logs.mkdir(exist_ok=True)
    with open(logs / "settings.pkl", "wb") as f:
        pickle.dump({**kwargs, "workers": 0, "overwrite": False}, f)
    port = _free_port()
    cmd = [
        sys.executable,
        "-c",
        "import pickle, sys; from kzoo.tuning import _role_main; _role_main(sys.argv[1])",
        str(logs / "settings.pkl"),
    ]
    base = {**os.environ, _ENV_IP: "127.0.0.1", _ENV_PORT: str(port)}
    gpus = _gpu_ids()

    def spawn(i):
        env = {**base, _ENV_ID: f"tuner{i}"}
        if len(gpus) > 1:  # one GPU per worker
            env["CUDA_VISIBLE_DEVICES"] = gpus[i % len(gpus)]
        if gpus:  # JAX would otherwise reserve 75% of a shared GPU per process
            env.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
        log = open(logs / f"tuner{i}.log", "a")
        return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)

    # The chief trains nothing, so it keeps off the GPUs.
    chief = subprocess.Popen(cmd, env={**base, _ENV_ID: "chief", "CUDA_VISIBLE_DEVICES": ""})
    procs = {i: spawn(i) for i in range(workers)}
    (logs / "pids.json").write_text(
        json.dumps({"chief": chief.pid, **{f"tuner{i}": p.pid for i, p in procs.items()}})
    )
    restarts = workers  # a worker that keeps crashing must not loop forever
    lost = False
    try:
        while chief.poll() is None:
            time.sleep(0.2)
            for i, p in list(procs.items()):
                rc = p.poll()
                if rc is None or rc == 0:
                    continue
                _notify_dead(port, f"tuner{i}")
                del procs[i]
                lost = restarts == 0
                if restarts > 0:
                    restarts -= 1
                    procs[i] = spawn(i)
                    print(f"worker tuner{i} exited ({rc}); restarted", flush=True)
                    pids = json.loads((logs / "pids.json").read_text())
                    pids[f"tuner{i}"] = procs[i].pid
                    (logs / "pids.json").write_text(json.dumps(pids))
            if lost and not any(p.poll() is None for p in procs.values()):
                raise RuntimeError(
                    f"every worker exited before the search finished; see {logs}/*.log"
                )
    finally:
        for p in [*procs.values(), chief]:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
    if chief.returncode != 0:
        raise SearchFailedError(
            f"the chief exited with status {chief.returncode}; see the messages above "
            f"and {out}/trials.csv"
        )
    return _read_result(out)


def _role_main(settings_path):
    """Entry point of a chief or worker process started by the launcher."""
    try:
        with open(settings_path, "rb") as f:
            kwargs = pickle.load(f)
    except AttributeError as err:
        sys.exit(
            f"kzoo tune: error: cannot load the search settings in a worker ({err}). "
            "Callbacks given to a distributed search are pickled: define their classes "
            "in an importable module, not in the script run as __main__."
        )
    try:
        tune(**kwargs)
    except SearchFailedError as err:
        print(f"kzoo tune: error: {err}", file=sys.stderr)
        sys.exit(1)


def _read_result(out):
    from kzoo.plots import read_csv

    out = pathlib.Path(out)
    best = json.loads((out / "best.json").read_text()) if (out / "best.json").exists() else {}
    return TuneResult(out, best, read_csv(out / "trials.csv"))


# --------------------------------------------------------------------------- API


def tune(
    model,
    data,
    *,
    out,
    tuner="random",
    max_trials=10,
    epochs=10,
    objective=None,
    fixed=None,
    seed=0,
    early_stopping=0,
    prune=False,
    callbacks=None,
    workers=0,
    heartbeat_timeout=60.0,
    overwrite=False,
    verbose=1,
):
    """Search the learning rate, batch size and architecture of a zoo family.

    Args:
        model: a name from `kzoo.zoo.list()`.
        data: a dataset spec (`"digits-seq"`) or a `kzoo.datasets.Dataset`.
        out: directory for the search; an existing search there with the same
            settings is resumed.
        tuner: `"random"`, `"bayesian"` or `"hyperband"`. Defaults to `"random"`.
        max_trials: trial budget (also caps hyperband). Defaults to `10`.
        epochs: epochs per trial (hyperband's `max_epochs`). Defaults to `10`.
        objective: metric to optimise. Defaults to `"val_accuracy"`, or
            `"val_loss"` for regression.
        fixed: overrides of the space, as for `kzoo.zoo.hypermodel`
            (`{"depth": 2, "units": [32, 64], "learning_rate": (1e-3, 1e-2)}`).
        seed: seeds the oracle and each trial's weights. Defaults to `0`.
        early_stopping: patience on the objective; `0` disables. Defaults to `0`.
        prune: stop a trial early when, from its second epoch on, its best
            objective so far is worse than the median of the finished, unpruned
            trials at the same epoch (median stopping rule), once 3 trials have
            reached that epoch. Pruned trials count as completed, with the
            score they reached (`pruned` column of `trials.csv`). `random` and
            `bayesian` only. Defaults to `False`.
        callbacks: extra Keras callbacks for every trial (deep-copied per trial).
        workers: `0` runs trials in this process; `N` starts a chief and `N`
            worker processes on this host (one GPU each when there are several).
            Defaults to `0`.
        heartbeat_timeout: seconds of silence after which the chief drops a
            worker and requeues its trial. Defaults to `60`.
        overwrite: replace an earlier search in `out`. Defaults to `False`.
        verbose: `0` silent, `1` one line per trial. Defaults to `1`.

    Returns:
        A `TuneResult` (on a worker process: `None`).

    Example:

    >>> result = kzoo.tuning.tune("lstm", "digits-seq", out="runs/tune", max_trials=20)
    >>> result.best["hyperparameters"]
    """
    from kzoo.backend import current_backend

    _check_settings(tuner, max_trials, epochs, workers, heartbeat_timeout, prune)
    role = _role()
    if workers and role != "single":
        raise ValueError(
            "workers > 0 starts a local chief and workers; it cannot be combined with "
            f"{_ENV_IP} set (this process is already a {role})."
        )
    from kzoo import datasets, zoo
    from kzoo.zoo import auto_masking, check_model_fits_data

    fixed = dict(fixed or {})
    spec_name = data if isinstance(data, str) else getattr(data, "name", "custom")
    dataset = datasets.load(data, seed=seed) if isinstance(data, str) else data
    zoo.get_spec(model)
    check_model_fits_data(model, dataset)
    # Padded data: masking joins `fixed`, so tune_config.json and every trial record it.
    fixed, note = auto_masking(model, fixed, getattr(dataset, "info", None))
    if note and verbose and role != "worker":
        print(note, flush=True)
    if objective is None:
        objective = "val_loss" if dataset.task == "regression" else "val_accuracy"
    # Built now so a bad override raises before anything is written.
    hypermodel = zoo.hypermodel(
        model, dataset.input_shape, dataset.num_classes, head=dataset.task, **fixed
    )
    settings = {
        "model": model,
        "data": spec_name,
        "tuner": tuner,
        "epochs": epochs,
        "objective": objective,
        "fixed": _jsonable_fixed(fixed),
        "seed": seed,
        "backend": current_backend(),
        "max_trials": max_trials,
        "prune": prune,
        "verbose": verbose,
    }
    out = pathlib.Path(out)
    resumed = _prepare_out(out, _identity(settings), overwrite, role)

    if workers:
        kwargs = dict(
            model=model,
            data=data,
            out=str(out),
            tuner=tuner,
            max_trials=max_trials,
            epochs=epochs,
            objective=objective,
            fixed=fixed,
            seed=seed,
            early_stopping=early_stopping,
            prune=prune,
            callbacks=callbacks,
            heartbeat_timeout=heartbeat_timeout,
            verbose=verbose,
        )
        if verbose:
            print(f"Starting a chief and {workers} workers on 127.0.0.1 for {out}", flush=True)
        return _launch(kwargs, workers, out)

    import keras

    kt_tuner = _make_tuner(settings, hypermodel, out)
    oracle = getattr(kt_tuner.oracle, "_oracle", kt_tuner.oracle)
    oracle.verbose = 0  # kzoo prints one line per trial instead of KerasTuner's tables
    done = sum(t.status in ("COMPLETED", "FAILED") for t in oracle.trials.values())
    if resumed and role != "worker" and verbose and (done or oracle._retry_queue):
        print(
            f"Resuming the search in {out}: {done} trials done, "
            f"{len(oracle._retry_queue)} interrupted to rerun.",
            flush=True,
        )
    if verbose and role != "worker":
        print(hypermodel.space_summary(), flush=True)

    recorder = _Recorder(out, settings, oracle)
    if role == "chief":
        _serve(kt_tuner, recorder, heartbeat_timeout)
    else:
        if role == "worker":
            _start_heartbeat(min(5.0, heartbeat_timeout / 4))
        cbs = list(callbacks or [])
        if early_stopping:
            cbs.append(keras.callbacks.EarlyStopping(monitor=objective, patience=early_stopping))
        with _frozen_heap():
            kt_tuner.search(
                dataset.x_train,
                dataset.y_train,
                validation_data=(dataset.x_val, dataset.y_val),
                epochs=epochs,
                callbacks=cbs,
                verbose=0,
            )
        if role == "worker":
            return None
    _finish(kt_tuner, oracle, settings, dataset, out)
    return _read_result(out)
