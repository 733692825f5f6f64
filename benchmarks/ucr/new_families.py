"""The plain command for the families of issue 28 (`minirocket`, `lite`) on the shared
UCR/UEA sets: `kzoo train --model F --data ucr:D --seed S`, appended to
`new_families.jsonl` (one row per run, as `run.py --plain-cli` writes them).

Run with `KZOO_DATA=../shared/data/ucr python benchmarks/ucr/new_families.py
--families minirocket --datasets GunPoint,Coffee --seeds 0,1,2`; `--report` prints
the table with the published figures.
"""

import argparse
import importlib.util
import json
import os
import pathlib
import subprocess
import time

import numpy as np

HERE = pathlib.Path(__file__).parent
OUT = HERE / "new_families.jsonl"
_spec = importlib.util.spec_from_file_location("ucr_run", HERE / "run.py")
ucr_run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ucr_run)

# MiniRocket: angus924/minirocket results/results_ucr109_mean.csv (mean of 30 resamples;
# the UEA sets are not in it). LITE: MSD-IRIMAS/LITE results.csv (not read here: none
# of its figures is quoted).
PUBLISHED = {
    "minirocket": {"GunPoint": 99.2, "Coffee": 99.9, "ItalyPowerDemand": 96.0,
                   "Trace": 100.0, "PigCVP": 91.9},
}


def report(seeds=None):
    rows = [json.loads(line) for line in OUT.read_text().splitlines() if line.strip()]
    rows = [r for r in rows if seeds is None or r["seed"] in seeds]
    lines = ["| dataset | family | seeds | mean test acc (%) | std | mean train s | "
             "mean command s | load | published (%) | gap (pts) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        for family in dict.fromkeys(r["family"] for r in rows):
            runs = list({r["seed"]: r for r in rows
                         if r["dataset"] == dataset and r["family"] == family}.values())
            if not runs:
                continue
            acc = 100 * np.array([r["test_accuracy"] for r in runs])
            pub = PUBLISHED.get(family, {}).get(dataset)
            lines.append(
                f"| {dataset} | {family} | {','.join(str(r['seed']) for r in runs)} | "
                f"{acc.mean():.1f} | {acc.std():.1f} | "
                f"{np.mean([r['train_seconds'] for r in runs]):.0f} | {_command_s(runs)} | "
                f"{min(r['load_avg_1min'] for r in runs):.0f}-"
                f"{max(r['load_avg_1min'] for r in runs):.0f} | "
                f"{pub if pub is not None else '-'} | "
                f"{'' if pub is None else f'{acc.mean() - pub:+.1f}'} |")
    return "\n".join(lines)


def _command_s(runs):
    """The whole command's mean seconds (rows before 2026-12-05 did not record it)."""
    seconds = [r["command_seconds"] for r in runs if "command_seconds" in r]
    return f"{np.mean(seconds):.0f}" if len(seconds) == len(runs) else "-"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--families", default="minirocket")
    parser.add_argument("--datasets", default=",".join(ucr_run.DATASETS))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--backend", default=os.environ.get("KERAS_BACKEND", "jax"))
    parser.add_argument("--val-fraction", default=None,
                        help="ucr:'s val_fraction; PigCVP (2 examples per class) needs 0.5 "
                        "for a non-empty validation split (train+val are fitted together)")
    parser.add_argument("--report", action="store_true")
    args = parser.parse_args()
    if args.report:  # the seeds asked (a rerun of a seed replaces its row)
        print(report({int(s) for s in args.seeds.split(",")}))
        return
    for family in args.families.split(","):
        for dataset in args.datasets.split(","):
            for seed in (int(s) for s in args.seeds.split(",")):
                spec = dataset + (f",val_fraction={args.val_fraction}" if args.val_fraction else "")
                start = time.monotonic()
                row = ucr_run.run_plain_cli(family, spec, seed, args.backend)
                # The whole command (data, transform fit, ridge, training, test), where
                # train_seconds is the fit's.
                row["command_seconds"] = round(time.monotonic() - start, 1)
                row["dataset"] = dataset
                row["load_avg_1min"] = os.getloadavg()[0]
                row["commit"] = subprocess.run(
                    ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                    cwd=HERE).stdout.strip()
                print(json.dumps(row), flush=True)
                with open(OUT, "a") as f:
                    f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
