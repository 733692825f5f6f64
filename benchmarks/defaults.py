"""The plain defaults on digits: test accuracy and training time with only model and data.

Issue #17: `kzoo train --model M --data D` with nothing else must reach >= 0.97
test accuracy for gru, lstm and simple_rnn on digits-seq and mlp on digits, on
every backend, in under a minute of training on 2 CPU cores. Each seed draws
its own split and initialisation; the table gives every seed, the median and the
training time (`wall_time_s` of the summary: the fit, without imports, data
loading or the final evaluation).

    KERAS_BACKEND=torch python benchmarks/defaults.py [--seeds 0 1 2] [--cases gru mlp]

Results go to benchmarks/defaults_<backend>.json (appended per case and seed, so
a run can be resumed) and a Markdown table on stdout. Run alone on the machine:
the times are the claim.
"""

import argparse
import json
import os
import pathlib
import platform
import statistics
import tempfile
import time

import keras

from kzoo.training import train

HERE = pathlib.Path(__file__).parent
CASES = {
    "gru": "digits-seq",
    "lstm": "digits-seq",
    "simple_rnn": "digits-seq",
    "mlp": "digits",
}
TARGET = 0.97
BUDGET_S = 60.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    args = parser.parse_args()
    backend = keras.backend.backend()
    path = HERE / f"defaults_{backend}.json"
    results = json.loads(path.read_text()) if path.exists() else {"runs": []}
    results.update(
        backend=backend,
        keras=keras.__version__,
        machine=f"{platform.machine()}, {os.cpu_count()} CPUs, CPU only",
    )
    done = {(r["model"], r["seed"]) for r in results["runs"]}
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.cases:
            for seed in args.seeds:
                if (model, seed) in done:
                    continue
                load = os.getloadavg()[0]
                result = train(model, CASES[model], seed=seed, out=f"{tmp}/{model}{seed}",
                               verbose=0)
                s = result.summary
                results["runs"].append({
                    "model": model, "data": CASES[model], "seed": seed,
                    "test_accuracy": round(s["test_accuracy"], 4),
                    "train_s": round(s["wall_time_s"], 1), "epochs_run": s["epochs_run"],
                    "best_epoch": s.get("best_epoch"), "load_before": round(load, 2),
                    "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                })
                print(f"{backend} {model} seed {seed}: {s['test_accuracy']:.4f} in "
                      f"{s['wall_time_s']:.1f} s ({s['epochs_run']} epochs, load {load:.1f})",
                      flush=True)
                path.write_text(json.dumps(results, indent=2))
    print(table(results))


def table(results):
    lines = [
        f"{results['backend']}: | model | data | test accuracy per seed | median | "
        f"training s per seed | max s |",
        "|---|---|---|---|---|---|",
    ]
    for model, data in CASES.items():
        runs = sorted((r for r in results["runs"] if r["model"] == model), key=lambda r: r["seed"])
        if not runs:
            continue
        accs = [r["test_accuracy"] for r in runs]
        times = [r["train_s"] for r in runs]
        median = statistics.median(accs)
        lines.append(
            f"| {model} | {data} | {' / '.join(f'{a:.3f}' for a in accs)} | "
            f"{median:.3f}{'' if median >= TARGET else ' (< 0.97)'} | "
            f"{' / '.join(f'{t:.0f}' for t in times)} | {max(times):.0f}"
            f"{'' if max(times) < BUDGET_S else ' (> 60)'} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
