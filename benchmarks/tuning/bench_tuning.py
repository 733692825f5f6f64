"""Best validation accuracy against wall time: kzoo tuners vs Optuna TPE + median pruning.

Same space (the family's `kzoo.zoo.hypermodel`: family hps, log learning rate,
batch size), same budget (MAX_TRIALS trials of at most EPOCHS epochs), same
data split, one process. Per seed and case the runners go back to back, in an
order rotated by the seed, so they share the machine's load.

Time is wall-clock from the start of a search: for kzoo each point is when a
trial's `run_trial` ended (oracle, checkpoints and bookkeeping of earlier
trials included); `wall_s` also includes the end of `tune` (best model export,
test evaluation, plots). For Optuna each point is when its objective returned.

Optuna is a dependency of this benchmark only:

    .venv/bin/pip install -e ".[optuna]"
    KERAS_BACKEND=jax .venv/bin/python benchmarks/tuning/bench_tuning.py

Environment: BENCH_TRIALS (8), BENCH_EPOCHS (5), BENCH_SEEDS ("0,1"),
BENCH_CASES ("digits+mlp,digits-seq+lstm"), BENCH_RUNNERS (all of RUNNERS),
BENCH_APPEND=1 (keep the runs already in results.json and skip the (case, runner, seed)
runs it holds, so the benchmark runs in parts and resumes after a kill), BENCH_RESULTS
(the results file; a smoke run can write elsewhere than the committed one).
`benchmarks/tuning/report.py` turns the file into RESULTS.md's table (95 % intervals,
time to a fixed target).
Writes `benchmarks/tuning/results.json` (after every run) and `best_vs_time.png`
beside it. Runners take turns within each seed and case, in an order rotated by
the seed, so no runner always meets the same machine load.
"""

import json
import os
import pathlib
import platform
import statistics
import sys
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import keras_tuner  # noqa: E402

from kzoo import datasets, zoo  # noqa: E402
from kzoo.tuning import tune  # noqa: E402
from kzoo.tuning.tuner import random_startup_trials  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
CASES = {
    "digits+mlp": ("digits", "mlp", {}),
    "digits-seq+lstm": ("digits-seq", "lstm", {"depth": (1, 2)}),
    # Cases with room to search (issue #18): UCR sets from KZOO_DATA (../shared/data/ucr).
    "JapaneseVowels+fcn": ("ucr:JapaneseVowels", "fcn", {}),
    "JapaneseVowels+lstm_fcn": ("ucr:JapaneseVowels", "lstm_fcn", {}),
}
RUNNERS = (
    "kzoo-random",
    "kzoo-bayesian",
    "kzoo-hyperband",
    "kzoo-random-prune",
    "kzoo-bayesian-prune",
    "kzoo-tpe",  # Optuna's TPESampler inside KerasTuner (needs kzoo[optuna])
    "kzoo-tpe-prune",
    "optuna-tpe-median",  # Optuna's defaults: 10 random start-up trials (the reference)
    # The same loop with kzoo's start-up rule (random_startup_trials: 2 of 8 trials),
    # the like-for-like reference for kzoo-tpe-prune.
    "optuna-tpe-median-startup",
)
MAX_TRIALS = int(os.environ.get("BENCH_TRIALS", 8))
EPOCHS = int(os.environ.get("BENCH_EPOCHS", 5))
SEEDS = [int(s) for s in os.environ.get("BENCH_SEEDS", "0,1").split(",")]
# Within this much of Optuna's best counts as "the same" in the tolerant verdict:
# one validation example of digits' 360 is 0.0028.
TOLERANCE = 0.003


def run_kzoo(data, model, fixed, runner, seed, out):
    tuner = runner.split("-")[1]
    t0 = time.time()
    result = tune(
        model,
        data,
        out=out,
        tuner=tuner,
        max_trials=MAX_TRIALS,
        epochs=EPOCHS,
        fixed=fixed,
        seed=seed,
        prune=runner.endswith("-prune"),
        verbose=0,
    )
    wall = time.time() - t0
    finished = []
    for path in pathlib.Path(out, "kt").glob("trial_*/trial.json"):
        state = json.loads(path.read_text())
        if state["status"] != "COMPLETED":
            continue
        obs = state["metrics"]["metrics"]["finished_at"]["observations"][-1]["value"]
        finished.append((obs[0] if isinstance(obs, list) else obs, state["score"]))
    finished.sort()
    completed = [r for r in result.trials if r["status"] == "COMPLETED"]
    return {
        "wall_s": wall,
        "trials": len(completed),
        "epochs_trained": int(sum(r["epochs_run"] for r in completed)),
        "pruned": int(sum(bool(r.get("pruned")) for r in completed)),
        "curve": _curve([t - t0 for t, _ in finished], [s for _, s in finished]),
    }


def fit_trial(hm, ds, values, seed, epochs, callbacks=()):
    """One trial without KerasTuner: fresh session, seed, build from `values`, fit."""
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    hp = keras_tuner.HyperParameters()
    hp.values = dict(values)
    net = hm.build(hp)
    return hm.fit(
        hp,
        net,
        ds.x_train,
        ds.y_train,
        validation_data=(ds.x_val, ds.y_val),
        epochs=epochs,
        verbose=0,
        callbacks=list(callbacks),
    )


def run_optuna(data, model, fixed, seed, startup=10):
    import optuna

    ds = datasets.load(data, seed=seed)
    hm = zoo.hypermodel(model, ds.input_shape, ds.num_classes, head=ds.task, **fixed)
    space = hm.search_space().space
    stamps, scores, epochs = [], [], []

    def suggest(trial, hp):
        kind = type(hp).__name__
        if kind == "Fixed":
            return hp.value
        if kind in ("Choice", "Boolean"):
            return trial.suggest_categorical(hp.name, list(getattr(hp, "values", [True, False])))
        if kind == "Int":
            return trial.suggest_int(hp.name, hp.min_value, hp.max_value, step=hp.step or 1)
        log = hp.sampling == "log"
        step = None if log else hp.step
        return trial.suggest_float(hp.name, hp.min_value, hp.max_value, log=log, step=step)

    class Prune(keras.callbacks.Callback):
        def __init__(self, trial):
            super().__init__()
            self.trial, self.pruned = trial, False

        def on_epoch_end(self, epoch, logs=None):
            self.trial.report(logs["val_accuracy"], epoch)
            if self.trial.should_prune():
                self.pruned, self.model.stop_training = True, True

    def objective(trial):
        values = {p.name: suggest(trial, p) for p in space}
        prune = Prune(trial)
        history = fit_trial(hm, ds, values, seed + trial.number, EPOCHS, [prune])
        best = max(history.history["val_accuracy"])
        stamps.append(time.perf_counter() - start)
        scores.append(best)
        epochs.append(len(history.history["val_accuracy"]))
        if prune.pruned:
            raise optuna.TrialPruned()
        return best

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1),
    )
    start = time.perf_counter()
    study.optimize(objective, n_trials=MAX_TRIALS)
    wall = time.perf_counter() - start
    return {
        "wall_s": wall,
        "trials": len(study.trials),
        "epochs_trained": sum(epochs),
        "pruned": sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials),
        "curve": _curve(stamps, scores),
    }


def _curve(stamps, scores):
    """(seconds since the search began, best so far) after each trial."""
    points, best = [], float("-inf")
    for t, s in zip(stamps, scores, strict=True):
        best = max(best, s)
        points.append((round(t, 2), round(best, 4)))
    return points


def _time_to(curve, target):
    return next((t for t, best in curve if best >= target - 1e-9), None)


def summarize(results):
    """Per case and runner: means over seeds, and the goal verdict against Optuna."""
    summary = {}
    for case in CASES:
        runs = [r for r in results["runs"] if r["case"] == case]
        seeds = sorted({r["seed"] for r in runs})
        optuna_runs = {r["seed"]: r for r in runs if r["runner"] == "optuna-tpe-median"}
        rows = {}
        for runner in RUNNERS:
            mine = {r["seed"]: r for r in runs if r["runner"] == runner}
            if not mine:
                continue
            row = {
                "seeds": sorted(mine),
                "best_val_accuracy": [mine[s]["best_val_accuracy"] for s in sorted(mine)],
                "wall_s": [mine[s]["wall_s"] for s in sorted(mine)],
                "epochs_trained": [mine[s]["epochs_trained"] for s in sorted(mine)],
                "pruned": [mine[s]["pruned"] for s in sorted(mine)],
            }
            row["mean_best"] = round(statistics.mean(row["best_val_accuracy"]), 4)
            row["mean_wall_s"] = round(statistics.mean(row["wall_s"]), 1)
            verdicts = []
            for s in sorted(mine):
                if s not in optuna_runs:
                    continue
                ref = optuna_runs[s]
                target = ref["best_val_accuracy"]
                ref_time = _time_to(ref["curve"], target)
                t_same = _time_to(mine[s]["curve"], target)
                t_tol = _time_to(mine[s]["curve"], target - TOLERANCE)
                ref_tol = _time_to(ref["curve"], target - TOLERANCE)
                verdicts.append(
                    {
                        "seed": s,
                        "optuna_best": target,
                        "optuna_time_to_best_s": ref_time,
                        "time_to_optuna_best_s": t_same,
                        "met": t_same is not None and t_same <= ref_time,
                        "time_within_tolerance_s": t_tol,
                        "optuna_time_within_tolerance_s": ref_tol,
                        "met_within_tolerance": t_tol is not None and t_tol <= ref_tol,
                    }
                )
            row["vs_optuna"] = verdicts
            rows[runner] = row
        if rows:
            summary[case] = {"seeds": seeds, "runners": rows}
    results["summary"] = summary
    return results


def main():
    results_path = pathlib.Path(os.environ.get("BENCH_RESULTS", HERE / "results.json"))
    cases = os.environ.get("BENCH_CASES", ",".join(CASES)).split(",")
    runners = os.environ.get("BENCH_RUNNERS", ",".join(RUNNERS)).split(",")
    results = {
        "machine": f"{platform.node()} {platform.machine()}, {os.cpu_count()} CPUs (shared), "
        f"CPU only, python {sys.version.split()[0]}",
        "backend": keras.backend.backend(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "max_trials": MAX_TRIALS,
        "epochs": EPOCHS,
        "tolerance": TOLERANCE,
        "runs": [],
    }
    if os.environ.get("BENCH_APPEND") and results_path.exists():
        # Add seeds to an earlier run with the same budget (e.g. one seed per session).
        earlier = json.loads(results_path.read_text())
        same = ("backend", "max_trials", "epochs")
        if all(earlier.get(k) == results[k] for k in same):
            results["runs"] = earlier["runs"]
            results["date"] = f"{earlier['date']} .. {results['date']}"
    done = {(r["case"], r["runner"], r["seed"]) for r in results["runs"]}
    with tempfile.TemporaryDirectory() as tmp:
        # Warm-up outside the timings: imports, dataset caches, matplotlib.
        tune("mlp", "digits", out=f"{tmp}/warm", max_trials=1, epochs=1, verbose=0)
        for seed in SEEDS:
            for case in cases:
                data, model, fixed = CASES[case]
                k = seed % len(runners)
                for runner in runners[k:] + runners[:k]:
                    if (case, runner, seed) in done:
                        continue
                    load = os.getloadavg()[0]
                    if runner.startswith("kzoo-"):
                        out = pathlib.Path(tmp) / f"{case}-{runner}-{seed}"
                        run = run_kzoo(data, model, fixed, runner, seed, out)
                    else:
                        startup = (random_startup_trials("tpe", MAX_TRIALS)
                                   if runner.endswith("-startup") else 10)
                        run = run_optuna(data, model, fixed, seed, startup)
                    run.update(
                        case=case,
                        runner=runner,
                        seed=seed,
                        load_before=round(load, 2),
                        load_after=round(os.getloadavg()[0], 2),
                        best_val_accuracy=run["curve"][-1][1],
                        wall_s=round(run["wall_s"], 1),
                    )
                    results["runs"].append(run)
                    print(
                        f"seed {seed} {case} {runner}: best {run['best_val_accuracy']} "
                        f"in {run['wall_s']:.0f}s ({run['epochs_trained']} epochs, "
                        f"{run['pruned']} pruned, load {load:.1f})",
                        flush=True,
                    )
                    results_path.write_text(json.dumps(summarize(results), indent=2))
                    plot(results, results_path.parent / "best_vs_time.png")


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases = [c for c in CASES if any(r["case"] == c for r in results["runs"])]
    fig, axes = plt.subplots(1, len(cases), figsize=(6 * len(cases), 4), squeeze=False)
    styles = ["-", "--", ":", "-."]
    for ax, case in zip(axes[0], cases, strict=True):
        for i, runner in enumerate(RUNNERS):
            for run in (r for r in results["runs"] if r["case"] == case and r["runner"] == runner):
                t, best = zip(*run["curve"], strict=True)
                ax.step(
                    t,
                    best,
                    where="post",
                    color=f"C{i}",
                    linestyle=styles[run["seed"] % len(styles)],
                    label=runner if run["seed"] == min(results_seeds(results)) else None,
                )
        ax.set_title(f"{case} (line style = seed)")
        ax.set_xlabel("wall time since search start (s)")
        ax.set_ylabel("best val accuracy")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def results_seeds(results):
    return {r["seed"] for r in results["runs"]}


if __name__ == "__main__":
    main()
