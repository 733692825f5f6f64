"""Best validation accuracy against wall time: kzoo tuners vs Optuna TPE + median pruning.

Same space (the family's `kzoo.zoo.hypermodel`: family hps, log learning rate,
batch size), same budget (MAX_TRIALS trials of at most EPOCHS epochs), same
data split, one process, run one after another so they share the machine's load.

Optuna is a dependency of this benchmark only:

    .venv/bin/pip install optuna
    KERAS_BACKEND=jax .venv/bin/python benchmarks/tuning/bench_tuning.py

Writes `benchmarks/tuning/results.json` and `benchmarks/tuning/best_vs_time.png`.
"""

import json
import os
import pathlib
import platform
import sys
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import keras_tuner  # noqa: E402

from kzoo import datasets, zoo  # noqa: E402
from kzoo.tuning import tune  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
CASES = [("digits", "mlp", {}), ("digits-seq", "lstm", {"depth": (1, 2)})]
MAX_TRIALS = int(os.environ.get("BENCH_TRIALS", 10))
EPOCHS = int(os.environ.get("BENCH_EPOCHS", 6))
SEED = 0


def run_kzoo(data, model, fixed, tuner, out):
    start = time.perf_counter()
    result = tune(
        model,
        data,
        out=out,
        tuner=tuner,
        max_trials=MAX_TRIALS,
        epochs=EPOCHS,
        fixed=fixed,
        seed=SEED,
        verbose=0,
    )
    wall = time.perf_counter() - start
    rows = sorted(
        (r for r in result.trials if r["status"] == "COMPLETED"),
        key=lambda r: r["finished_at"],
    )
    return wall, _curve([r["wall_time_s"] for r in rows], [r["score"] for r in rows]), len(rows)


def run_optuna(data, model, fixed):
    import optuna

    ds = datasets.load(data, seed=SEED)
    hm = zoo.hypermodel(model, ds.input_shape, ds.num_classes, head=ds.task, **fixed)
    space = hm.search_space().space
    durations, scores = [], []

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
        begin = time.perf_counter()
        keras.backend.clear_session()
        keras.utils.set_random_seed(SEED + trial.number)
        hp = keras_tuner.HyperParameters()
        hp.values = {p.name: suggest(trial, p) for p in space}
        net = hm.build(hp)
        prune = Prune(trial)
        history = hm.fit(
            hp,
            net,
            ds.x_train,
            ds.y_train,
            validation_data=(ds.x_val, ds.y_val),
            epochs=EPOCHS,
            verbose=0,
            callbacks=[prune],
        )
        best = max(history.history["val_accuracy"])
        durations.append(time.perf_counter() - begin)
        scores.append(best)
        if prune.pruned:
            raise optuna.TrialPruned()
        return best

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=SEED),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1),
    )
    start = time.perf_counter()
    study.optimize(objective, n_trials=MAX_TRIALS)
    wall = time.perf_counter() - start
    return wall, _curve(durations, scores), len(study.trials)


def _curve(durations, scores):
    """(elapsed seconds, best so far) after each trial, trials run back to back."""
    points, t, best = [], 0.0, float("-inf")
    for d, s in zip(durations, scores, strict=True):
        t += d
        best = max(best, s)
        points.append((round(t, 2), round(best, 4)))
    return points


def main():
    results = {
        "machine": f"{platform.node()} {platform.machine()}, {os.cpu_count()} CPUs (shared), "
        f"CPU only, python {sys.version.split()[0]}",
        "backend": keras.backend.backend(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "max_trials": MAX_TRIALS,
        "epochs": EPOCHS,
        "cases": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        for data, model, fixed in CASES:
            case = {}
            for tuner in ("random", "bayesian", "hyperband"):
                out = pathlib.Path(tmp) / f"{model}-{tuner}"
                wall, curve, n = run_kzoo(data, model, fixed, tuner, out)
                case[f"kzoo-{tuner}"] = {"wall_s": wall, "trials": n, "curve": curve}
                print(
                    f"{data}/{model} kzoo-{tuner}: best {curve[-1][1]} in {wall:.0f}s", flush=True
                )
            wall, curve, n = run_optuna(data, model, fixed)
            case["optuna-tpe-median"] = {"wall_s": wall, "trials": n, "curve": curve}
            print(f"{data}/{model} optuna: best {curve[-1][1]} in {wall:.0f}s", flush=True)
            for entry in case.values():
                entry["best_val_accuracy"] = entry["curve"][-1][1]
                entry["trials_per_hour"] = round(3600 * entry["trials"] / entry["wall_s"], 1)
                entry["wall_s"] = round(entry["wall_s"], 1)
            results["cases"][f"{data}+{model}"] = case
            (HERE / "results.json").write_text(json.dumps(results, indent=2))
            plot(results)


def plot(results):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases = results["cases"]
    fig, axes = plt.subplots(1, len(cases), figsize=(5 * len(cases), 3.6))
    axes = axes if len(cases) > 1 else [axes]
    for ax, (name, case) in zip(list(axes), cases.items(), strict=True):
        for label, entry in case.items():
            t, best = zip(*entry["curve"], strict=True)
            ax.step(t, best, where="post", label=label)
        ax.set_title(name)
        ax.set_xlabel("wall time (s)")
        ax.set_ylabel("best val accuracy")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(HERE / "best_vs_time.png", dpi=90)


if __name__ == "__main__":
    main()
