"""Seed robustness of the BatchNorm families, with and without precise BN (issue 31).

Each (family, data set, seed, precise_bn) runs `kzoo.train` with the plain
command's defaults (the recipe) and appends a JSON line (test accuracy, kept
epoch, epochs run, wall time, load); `--summary` prints min and mean over
seeds. Data sets: `ucr:NAME` (KZOO_DATA pointing at the shared UCR mirror) or
`stress`: six classes of noisy sines of 1..6 periods (240 train, 60 val, 120
test series of 64 steps) trained at batch 40 (6 steps per epoch) for 8 epochs
at lr 1e-2, so BatchNorm's moving averages cannot settle before validation.

    KERAS_BACKEND=torch python benchmarks/bn_seeds.py --families fcn --data stress \\
        --seeds 0 1 2 3 4 --out benchmarks/bn_seeds.jsonl
    python benchmarks/bn_seeds.py --summary benchmarks/bn_seeds.jsonl
"""

import argparse
import json
import os
import time
from collections import defaultdict

import numpy as np

FAMILIES = ("fcn", "resnet1d", "inception_time", "lstm_fcn")
STRESS = dict(epochs=8, batch_size=40, lr=1e-2)


def stress_data(seed, n, length=64, classes=6):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    t = np.linspace(0, 1, length)
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    x = np.sin(2 * np.pi * (y[:, None] + 1) * t + phase) + rng.normal(0, 0.3, (n, length))
    return x[..., None].astype("float32"), y.astype("int32")


def run_one(family, data, seed, precise, ensemble=None):
    from kzoo.training import train

    start = time.perf_counter()
    if data == "stress":
        result = train(family, stress_data(seed, 300), test_data=stress_data(seed + 1000, 120),
                       seed=seed, precise_bn=precise, verbose=0, **STRESS)
    else:
        result = train(family, data, seed=seed, precise_bn=precise, ensemble=ensemble,
                       verbose=0)
    s = result.summary
    return {"family": family, "data": data, "seed": seed, "precise_bn": precise,
            "members": ((s.get("resolved") or {}).get("ensemble") or {}).get("value", 1),
            **result_row(result, start)}


def result_row(result, start):
    """The fields every row of this benchmark and bn_guard.py records about one run."""
    s = result.summary
    return {"backend": s["backend"], "test_accuracy": s.get("test_accuracy"),
            "kept_epoch": s["selected_epoch"], "epochs_run": s["epochs_run"],
            "diagnosis": [f["kind"] for f in s["diagnosis"]],
            "wall_s": round(time.perf_counter() - start, 1), "load": os.getloadavg()[0]}


def summary(path):
    groups = defaultdict(list)
    for line in open(path):
        row = json.loads(line)
        groups[(row["family"], row["data"], row["backend"], row["precise_bn"])].append(row)
    print("family | data | backend | precise_bn | seeds | mean test acc | min | max - min | "
          "diagnoses")
    for key, rows in sorted(groups.items()):
        acc = [r["test_accuracy"] for r in rows]
        kinds = sorted({k for r in rows for k in r["diagnosis"]})
        print(" | ".join(map(str, key)), f"| {len(rows)} | {np.mean(acc):.3f} | "
              f"{min(acc):.3f} | {max(acc) - min(acc):.3f} | {', '.join(kinds) or '-'}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="+", default=list(FAMILIES))
    parser.add_argument("--data", nargs="+", default=["stress"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--precise", nargs="+", default=["on", "off"], choices=["on", "off"])
    parser.add_argument("--out", default="benchmarks/bn_seeds.jsonl")
    parser.add_argument("--summary", metavar="JSONL")
    parser.add_argument("--ensemble", type=int, default=None,
                        help="members (default: the recipe's rule, as the plain command; "
                             "1 = the spread of one network)")
    args = parser.parse_args()
    if args.summary:
        summary(args.summary)
        return
    for data in args.data:
        for family in args.families:
            for seed in args.seeds:
                for precise in args.precise:
                    row = run_one(family, data, seed, precise == "on", args.ensemble)
                    print(json.dumps(row), flush=True)
                    with open(args.out, "a") as f:
                        f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
