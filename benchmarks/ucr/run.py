"""UCR/UEA benchmark: every sequence family on the six shared datasets.

Two modes, both reading each family's training recipe (`kzoo.zoo._defaults`:
optimizer, rate, batch-size rule, epoch budget <= 1/10 of the published one,
schedule, clipping, the tiny-training-set protocol); nothing is copied here.

- default: `kzoo.train` with the published widths (`HPARAMS`);
- `--plain-cli`: the command a new user types, `kzoo train --model F --data
  ucr:D --seed S` and nothing else (the zoo's default widths), one process per run.

Each finished run is appended to a JSON-lines file (`results.jsonl`, or
`plain_cli.jsonl` with `--plain-cli`), and runs already there are skipped, so an
interrupted benchmark resumes where it stopped; `--report` turns the file into
the markdown table for `benchmarks/RESULTS.md`.

Usage (from the repository root):

    KZOO_DATA=../shared/data/ucr KERAS_BACKEND=jax .venv/bin/python benchmarks/ucr/run.py \
        --plain-cli --families fcn,inception_time --seeds 0,1,2
    .venv/bin/python benchmarks/ucr/run.py --plain-cli --report
"""

import argparse
import json
import os
import pathlib
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
RESULTS = HERE / "results.jsonl"
PLAIN_RESULTS = HERE / "plain_cli.jsonl"
DATASETS = ("GunPoint", "ItalyPowerDemand", "BasicMotions", "JapaneseVowels", "Coffee", "Trace",
            "ragged:Trace")
FAMILIES = ("fcn", "resnet1d", "inception_time", "lstm_fcn", "tcn", "transformer")

# The published architectures (Fawaz et al. 2019/2020, Karim et al. 2018); the
# zoo's defaults are smaller to stay cheap on CPU.
HPARAMS = {
    "fcn": {"filters": 128},
    "resnet1d": {"filters": 64},
    "inception_time": {"depth": 6},
    "lstm_fcn": {"filters": 128},
    "tcn": {"depth": 4, "filters": 64},
    "transformer": {"d_model": 64, "depth": 2},
}
# Published test accuracy (%), ../shared/data/ucr/README.md.
PUBLISHED = {
    "GunPoint": {"FCN": 100, "ResNet": 99.1, "InceptionTime": 100, "LSTM-FCN": 100},
    "ItalyPowerDemand": {"FCN": 96.1, "ResNet": 96.3, "InceptionTime": 96.5, "LSTM-FCN": 96.2},
    "BasicMotions": {"FCN": 100, "ResNet": 100, "InceptionTime": 100},
    "JapaneseVowels": {"FCN": 99.3, "ResNet": 99.2, "InceptionTime": 99.2},
    "Coffee": {"FCN": 100, "ResNet": 100, "InceptionTime": 100, "LSTM-FCN": 100},
    "Trace": {"FCN": 100, "ResNet": 100, "InceptionTime": 100, "LSTM-FCN": 100},
}


def _record(family, dataset, seed, summary, resolved, seconds, mode, hparams):
    return {"family": family, "dataset": dataset, "seed": seed, "mode": mode,
            "test_accuracy": summary["test_accuracy"], "epochs_run": summary["epochs_run"],
            "max_epochs": resolved["epochs"]["value"],
            "batch_size": resolved["batch_size"]["value"],
            "protocol": resolved["protocol"]["value"],
            "selected_epoch": summary.get("selected_epoch"),
            "diagnosis": [f["kind"] for f in summary.get("diagnosis", [])],
            "train_seconds": round(seconds, 1), "backend": summary["backend"],
            "hparams": hparams, "machine": f"{platform.machine()} {os.cpu_count()} cpus",
            "load_avg_1m": round(os.getloadavg()[0], 1), "date": time.strftime("%Y-%m-%d")}


def run_one(family, dataset, seed, epochs="auto"):
    """`kzoo.train` with the published widths and the family's recipe."""
    import kzoo

    ds = kzoo.datasets.load(_spec(dataset), seed=seed)
    hparams = dict(HPARAMS[family])
    if not ds.info["equal_length"] and family == "lstm_fcn":
        hparams["dimension_shuffle"] = False
    with tempfile.TemporaryDirectory() as out:
        result = kzoo.train(family, ds, seed=seed, hparams=hparams, epochs=epochs, out=out,
                            verbose=0)
        resolved = json.loads((pathlib.Path(out) / "config.json").read_text())["resolved"]
    return _record(family, dataset, seed, result.summary, resolved,
                   result.summary["wall_time_s"], "api", hparams)


def _spec(dataset):
    """`ucr:D` for an archive name; other specs (`ragged:Trace`, issue 32's
    development set) as given."""
    return dataset if ":" in dataset else f"ucr:{dataset}"


def run_plain_cli(family, dataset, seed, backend, extra=()):
    """The plain command: `kzoo train --model F --data ucr:D --seed S`, nothing else."""
    kzoo_bin = pathlib.Path(sys.executable).parent / "kzoo"
    with tempfile.TemporaryDirectory() as out:
        cmd = [str(kzoo_bin), "train", "--model", family, "--data", _spec(dataset),
               "--seed", str(seed), "--backend", backend, "--out", out, "--overwrite",
               "--quiet", *extra]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
        summary = json.loads((pathlib.Path(out) / "summary.json").read_text())
        resolved = json.loads((pathlib.Path(out) / "config.json").read_text())["resolved"]
    row = _record(family, dataset, seed, summary, resolved, summary["wall_time_s"],
                  "plain-cli", {})
    row["extra_flags"] = list(extra)
    row["series"] = {k: resolved[k] for k in ("series_norm", "lengths") if k in resolved}
    return row


def _rows(path):
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def report(path=RESULTS):
    rows = _rows(path)
    out = ["| dataset | family | seeds | mean test acc (%) | std | mean epochs | mean train s | "
           "best published (%) | gap (pts) |", "|---|---|---|---|---|---|---|---|---|"]
    for dataset in DATASETS:
        best = max(PUBLISHED[dataset.split(":")[-1]].values())
        for family in FAMILIES:
            runs = [r for r in rows if r["dataset"] == dataset and r["family"] == family]
            runs = list({r["seed"]: r for r in runs}.values())  # a rerun replaces its seed
            if not runs:
                continue
            acc = 100 * np.array([r["test_accuracy"] for r in runs])
            out.append(
                f"| {dataset} | {family} | {','.join(str(r['seed']) for r in runs)} | "
                f"{acc.mean():.1f} | {acc.std():.1f} | "
                f"{np.mean([r['epochs_run'] for r in runs]):.0f}/{runs[0]['max_epochs']} | "
                f"{np.mean([r['train_seconds'] for r in runs]):.0f} | {best} | "
                f"{acc.mean() - best:+.1f} |"
            )
    return "\n".join(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--plain-cli", action="store_true",
                        help="run `kzoo train --model F --data ucr:D --seed S` and nothing else")
    parser.add_argument("--backend", default=os.environ.get("KERAS_BACKEND", "jax"))
    parser.add_argument("--epochs", default="auto",
                        help="'auto' (the recipe's budget) or an int, e.g. on a busy CPU "
                        "(API mode only: the plain CLI takes the recipe's)")
    parser.add_argument("--report", action="store_true", help="print the markdown table")
    parser.add_argument("--results", default=None,
                        help="JSON-lines file to append to / report (default: by mode)")
    parser.add_argument("--extra", default="",
                        help="plain CLI only: flags appended to the command, e.g. "
                        "'--hp series_norm=false' (recorded in each row)")
    args = parser.parse_args()
    path = PLAIN_RESULTS if args.plain_cli else RESULTS
    path = pathlib.Path(args.results) if args.results else path
    if args.report:
        print(report(path))
        return
    done = {(r["family"], r["dataset"], r["seed"]) for r in _rows(path)}
    epochs = args.epochs if args.epochs == "auto" else int(args.epochs)
    for family in args.families.split(","):
        for dataset in args.datasets.split(","):
            for seed in (int(s) for s in args.seeds.split(",")):
                if (family, dataset, seed) in done:
                    continue
                if args.plain_cli:
                    result = run_plain_cli(family, dataset, seed, args.backend,
                                           args.extra.split())
                else:
                    result = run_one(family, dataset, seed, epochs)
                print(json.dumps(result), flush=True)
                with open(path, "a") as f:
                    f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
