"""Where a `kzoo tune` trial's wall time goes, against a bare build-and-fit loop.

Runs a kzoo search (`TUNER`, `TRIALS` trials of `EPOCHS` epochs), timing each
phase (oracle, model build, gc, fit, checkpoint saves, trial/oracle JSON,
trials.csv, clear_session, the final best-model export and plots), then
replays the *same* hyperparameter values in a bare loop (clear_session, seed,
build, fit: what the Optuna objective in `bench_tuning.py` does) and prints the
per-trial difference. Both loops run in one process, back to back (then the
bare loop again, to see the drift in load).

    KERAS_BACKEND=jax .venv/bin/python benchmarks/tuning/profile_trial.py [random|bayesian]
"""

import collections
import contextlib
import functools
import gc
import json
import os
import pathlib
import sys
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
from bench_tuning import fit_trial  # noqa: E402  (this folder: the Optuna objective's trial)
from keras_tuner.src.engine import oracle as oracle_module  # noqa: E402
from keras_tuner.src.engine import tuner as tuner_module  # noqa: E402
from keras_tuner.src.engine import tuner_utils  # noqa: E402

from kzoo import datasets, tuning, zoo  # noqa: E402
from kzoo.tuning import api, best, records  # noqa: E402
from kzoo.zoo import _hypermodel  # noqa: E402

DATA, MODEL = os.environ.get("PROFILE_CASE", "digits:mlp").split(":")
FIXED = {"depth": (1, 2)} if MODEL == "lstm" else {}
TUNER = sys.argv[1] if len(sys.argv) > 1 else "random"
TRIALS = int(os.environ.get("PROFILE_TRIALS", 6))
EPOCHS = int(os.environ.get("PROFILE_EPOCHS", 5))

totals = collections.defaultdict(float)
counts = collections.Counter()


def timed(owner, name, label=None):
    original = getattr(owner, name)
    label = label or name

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            totals[label] += time.perf_counter() - start
            counts[label] += 1

    setattr(owner, name, wrapper)
    return original


@contextlib.contextmanager
def phase(label):
    start = time.perf_counter()
    yield
    totals[label] += time.perf_counter() - start
    counts[label] += 1


class _TimedGC:
    def collect(self, *args):
        with phase("gc.collect (KerasTuner _try_build)"):
            return gc.collect(*args)


def instrument():
    timed(oracle_module.Oracle, "create_trial", "oracle.create_trial (incl. populate_space)")
    timed(oracle_module.Oracle, "end_trial", "oracle.end_trial (score, trial+oracle JSON)")
    timed(oracle_module.Oracle, "update_trial", "oracle.update_trial (trial JSON)")
    timed(keras.backend, "clear_session", "keras clear_session (all calls)")
    tuner_module.gc = _TimedGC()
    timed(_hypermodel.ZooHyperModel, "build", "hypermodel.build (create + compile)")
    timed(_hypermodel.ZooHyperModel, "fit", "hypermodel.fit (incl. callbacks)")
    timed(tuner_utils.SaveBestEpoch, "_save_model", "SaveBestEpoch weight saves (in fit)")
    timed(tuner_module.utils, "save_json", "utils.save_json (trial, oracle, build config; nested)")
    timed(records.Recorder, "trial_ended", "recorder: trials.csv + progress")
    timed(best, "plot_search", "final: plots")
    timed(api, "write_best", "final: write_best (load best, save, test eval, plots)")


def bare_loop(ds, hm, values_list):
    """The Optuna objective's work for the same hyperparameter values."""
    times = []
    for i, values in enumerate(values_list):
        start = time.perf_counter()
        fit_trial(hm, ds, values, i, EPOCHS)
        times.append(time.perf_counter() - start)
    return times


def main():
    ds = datasets.load(DATA, seed=0)
    hm = zoo.hypermodel(MODEL, ds.input_shape, ds.num_classes, head=ds.task, **FIXED)
    originals = {}
    with tempfile.TemporaryDirectory() as tmp:
        # Warm-up: imports, first jit of shared helpers, matplotlib.
        tuning.tune(MODEL, ds, out=f"{tmp}/warm", max_trials=1, epochs=1, fixed=FIXED, verbose=0)
        originals["fit"] = _hypermodel.ZooHyperModel.fit
        instrument()
        totals.clear()
        counts.clear()
        start = time.perf_counter()
        result = tuning.tune(
            MODEL,
            ds,
            out=f"{tmp}/search",
            tuner=TUNER,
            max_trials=TRIALS,
            epochs=EPOCHS,
            fixed=FIXED,
            verbose=0,
        )
        kzoo_wall = time.perf_counter() - start
        kzoo_phases = dict(totals)
        kzoo_counts = dict(counts)
        values = [
            json.loads(p.read_text())["hyperparameters"]["values"]
            for p in sorted(pathlib.Path(tmp, "search", "kt").glob("trial_*/trial.json"))
        ]
        epochs_run = [r["epochs_run"] for r in result.trials]
    n = len(values)
    print(f"kzoo tune total wall: {kzoo_wall:.1f} s ({kzoo_wall / n:.2f} s/trial)")
    print("kzoo phases (total s, calls):")
    for label, t in sorted(kzoo_phases.items(), key=lambda kv: -kv[1]):
        print(f"  {t:8.2f}  {kzoo_counts[label]:4d}  {label}", flush=True)
    totals.clear()
    bare1 = bare_loop(ds, hm, values)
    bare_fit1 = totals.get("hypermodel.fit (incl. callbacks)", 0.0)
    totals.clear()
    bare2 = bare_loop(ds, hm, values)

    print(
        f"case {DATA}+{MODEL}, tuner {TUNER}, {n} trials x {EPOCHS} epochs "
        f"(epochs run {epochs_run}), backend {keras.backend.backend()}"
    )
    print(
        f"bare loop, same hps : {sum(bare1):.1f} s then {sum(bare2):.1f} s "
        f"({sum(bare1) / n:.2f}, {sum(bare2) / n:.2f} s/trial); bare fit {bare_fit1:.1f} s"
    )


if __name__ == "__main__":
    main()
