"""The tuning benchmark's table: mean best with a 95 % interval, and time to a target.

Reads the results file of `bench_tuning.py` and prints, per case and runner:

- the mean over seeds of the best validation accuracy, with a 95 % Student-t
  interval (mean +- t(0.975, n-1) * sd / sqrt(n));
- the time to reach a fixed target, the median over seeds of Optuna's best on
  that case (the issue's "Optuna's median best"): how many seeds reached it,
  the median time (a seed that never reached it counts as infinitely slow),
  and the ratio of that median to Optuna's own, with a 95 % bootstrap interval
  over seeds (2000 resamples of the seeds, the same resample for both runners).

Usage:

    .venv/bin/python benchmarks/tuning/report.py [benchmarks/tuning/results.json]
        [--seeds 3 4 5 6 7]

`--seeds` keeps only those seeds, e.g. the ones run alone on the machine when
others ran under load: times are comparable only between runs at the same load.
"""

import argparse
import json
import math
import pathlib
import statistics

import numpy as np
from scipy import stats

HERE = pathlib.Path(__file__).resolve().parent
REFERENCE = "optuna-tpe-median"


def time_to(curve, target):
    """Seconds until the best-so-far reached `target` (inf if it never did)."""
    return next((t for t, best in curve if best >= target - 1e-9), math.inf)


def mean_ci(values):
    """Mean and the half-width of its 95 % Student-t interval."""
    n = len(values)
    mean = statistics.mean(values)
    if n < 2:
        return mean, math.nan
    return mean, stats.t.ppf(0.975, n - 1) * statistics.stdev(values) / math.sqrt(n)


def ratio_ci(mine, ref, resamples=2000, seed=0):
    """Median time ratio (mine / ref) and a 95 % bootstrap interval over seeds."""
    mine, ref = np.asarray(mine, float), np.asarray(ref, float)

    def ratio(idx):
        a, b = np.median(mine[idx]), np.median(ref[idx])
        if math.isinf(b):  # Optuna never reached it in this resample
            return 1.0 if math.isinf(a) else 0.0
        return a / b

    rng = np.random.default_rng(seed)
    n = len(mine)
    boots = sorted(ratio(rng.integers(0, n, n)) for _ in range(resamples))
    return ratio(np.arange(n)), boots[int(0.025 * resamples)], boots[int(0.975 * resamples) - 1]


def case_rows(runs, case):
    """Rows of the table for one case: only seeds that every runner finished."""
    mine = [r for r in runs if r["case"] == case]
    runners = sorted({r["runner"] for r in mine})
    seeds = sorted(
        set.intersection(*({r["seed"] for r in mine if r["runner"] == n} for n in runners))
    )
    if not seeds or REFERENCE not in runners:
        return [], seeds, None
    by = {(r["runner"], r["seed"]): r for r in mine}
    target = statistics.median(by[(REFERENCE, s)]["best_val_accuracy"] for s in seeds)
    ref_times = [time_to(by[(REFERENCE, s)]["curve"], target) for s in seeds]
    rows = []
    for runner in runners:
        best = [by[(runner, s)]["best_val_accuracy"] for s in seeds]
        times = [time_to(by[(runner, s)]["curve"], target) for s in seeds]
        mean, half = mean_ci(best)
        ratio, low, high = ratio_ci(times, ref_times)
        rows.append({
            "runner": runner,
            "mean_best": mean,
            "ci95": half,
            "reached": sum(not math.isinf(t) for t in times),
            "median_time_s": statistics.median(times),
            "ratio": ratio,
            "ratio_low": low,
            "ratio_high": high,
            "mean_wall_s": statistics.mean(by[(runner, s)]["wall_s"] for s in seeds),
        })
    return rows, seeds, target


def _fmt(x, spec):
    return "never" if math.isinf(x) else format(x, spec)


def report(path, seeds=None):
    results = json.loads(pathlib.Path(path).read_text())
    runs = [r for r in results["runs"] if seeds is None or r["seed"] in seeds]
    lines = [
        f"{results['backend']}, {results['max_trials']} trials x {results['epochs']} epochs, "
        f"{results['machine']}, {results['date']}",
        "",
        "| case | runner | seeds | mean best (95 % CI) | target reached | median time to "
        "target (s) | time / Optuna's (95 % CI) | mean wall (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for case in dict.fromkeys(r["case"] for r in runs):
        rows, seeds, target = case_rows(runs, case)
        for row in rows:
            lines.append(
                f"| {case} (target {target:.4f}) | {row['runner']} | {len(seeds)} | "
                f"{row['mean_best']:.4f} +- {row['ci95']:.4f} | {row['reached']}/{len(seeds)} | "
                f"{_fmt(row['median_time_s'], '.0f')} | {_fmt(row['ratio'], '.2f')} "
                f"({_fmt(row['ratio_low'], '.2f')}-{_fmt(row['ratio_high'], '.2f')}) | "
                f"{row['mean_wall_s']:.0f} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="?", default=HERE / "results.json")
    parser.add_argument("--seeds", type=int, nargs="+", help="only these seeds")
    args = parser.parse_args()
    print(report(args.results, args.seeds))
