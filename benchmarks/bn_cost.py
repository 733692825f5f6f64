"""Cost of precise BN (`kzoo.callbacks.precise_bn`) against an epoch of training.

For each BatchNorm family at a recipe size (n training series of length L, the
recipe's batch min(n/10, 16)), times one epoch of `fit` (after a warm-up epoch)
and one `recompute_batch_norm` pass (after a warm-up pass), medians of `--repeats`.
Both wall time and this process's CPU time (all threads) are taken: on a loaded
machine the wall ratio swings with the neighbours' load, the CPU-time ratio much less.

    KERAS_BACKEND=jax python benchmarks/bn_cost.py --n 180 --length 150 --out bn_cost_jax.json
"""

import argparse
import json
import os
import time

import keras
import numpy as np

from kzoo import zoo
from kzoo.callbacks.precise_bn import recompute_batch_norm

FAMILIES = ("fcn", "resnet1d", "inception_time", "lstm_fcn", "lite")


def _median_time(fn, repeats):
    """(median wall s, median CPU s) of `fn` after a warm-up call."""
    fn()  # warm-up (compilation, first eager dispatch)
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return float(np.median(wall)), float(np.median(cpu))


def measure(family, n, length, repeats, batch):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, length, 1)).astype("float32")
    y = (np.arange(n) % 6).astype("int32")
    keras.utils.set_random_seed(0)
    model = zoo.create(family, (length, 1), 6)
    epoch, epoch_cpu = _median_time(
        lambda: model.fit(x, y, batch_size=batch, epochs=1, verbose=0), repeats)
    stats, stats_cpu = _median_time(lambda: recompute_batch_norm(model, x), repeats)
    keras.backend.clear_session()
    return {"family": family, "n": n, "length": length, "batch_size": batch,
            "steps_per_epoch": -(-n // batch), "epoch_s": round(epoch, 4),
            "precise_bn_s": round(stats, 4), "share_of_epoch": round(stats / epoch, 4),
            "epoch_cpu_s": round(epoch_cpu, 4), "precise_bn_cpu_s": round(stats_cpu, 4),
            "cpu_share_of_epoch": round(stats_cpu / epoch_cpu, 4)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=180)
    parser.add_argument("--length", type=int, default=150)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--families", nargs="+", default=list(FAMILIES))
    parser.add_argument("--out")
    args = parser.parse_args()
    batch = max(4, min(16, args.n // 10))
    rows = []
    for family in args.families:
        row = measure(family, args.n, args.length, args.repeats, batch)
        row.update(backend=keras.backend.backend(), load=os.getloadavg()[0])
        print(json.dumps(row), flush=True)
        rows.append(row)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
