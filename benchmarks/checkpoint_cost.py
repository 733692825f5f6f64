"""Cost of full-state checkpoints: none vs every epoch vs every 10 steps, sync vs async.

Trains the `mlp` family on `digits` with `kzoo.fit.fit_resumable`, for a small
and a large model, and reports wall time per run relative to no checkpointing
(measured in the same process, modes interleaved over repeats, median kept).

Run: `KERAS_BACKEND=jax python benchmarks/checkpoint_cost.py [--markdown]`
"""

import argparse
import platform
import statistics
import tempfile
import time

import keras

from kzoo import datasets, zoo
from kzoo.callbacks import Checkpoint
from kzoo.fit import fit_resumable

EPOCHS = 5
BATCH_SIZE = 64
REPEATS = 3
MODELS = {"small (width 64)": dict(width=64, depth=2), "large (width 1024 x 4)": dict(width=1024,
                                                                                       depth=4)}
MODES = {
    "none": dict(every_n_epochs=None),
    "every epoch": dict(every_n_epochs=1),
    "every epoch, async": dict(every_n_epochs=1, async_write=True),
    "every 10 steps": dict(every_n_epochs=1, every_n_steps=10),
    "every 10 steps, async": dict(every_n_epochs=1, every_n_steps=10, async_write=True),
}


def one_run(data, hparams, mode):
    keras.utils.set_random_seed(0)
    model = zoo.create("mlp", data.input_shape, data.num_classes, dropout=0.1, **hparams)
    with tempfile.TemporaryDirectory() as d:
        ckpt = Checkpoint(d, **mode)
        start = time.perf_counter()
        fit_resumable(model, data.x_train, data.y_train, epochs=EPOCHS, batch_size=BATCH_SIZE,
                      checkpoint=ckpt, validation_data=(data.x_val, data.y_val))
        ckpt.wait()
        wall = time.perf_counter() - start
    size = sum(v.numpy().nbytes if hasattr(v, "numpy") else 0 for v in model.variables)
    return wall, model.count_params(), size


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    data = datasets.load("digits", seed=0)
    rows = []
    for label, hparams in MODELS.items():
        one_run(data, hparams, MODES["none"])  # warm-up: compile, caches
        times = {m: [] for m in MODES}
        for _ in range(REPEATS):
            for name, mode in MODES.items():
                wall, params, _ = one_run(data, hparams, mode)
                times[name].append(wall)
        base = statistics.median(times["none"])
        for name in MODES:
            t = statistics.median(times[name])
            rows.append((label, params, name, t, t / base))
    header = (f"backend {keras.backend.backend()}, {platform.processor() or platform.machine()}, "
              f"{EPOCHS} epochs x 17 steps, median of {REPEATS}")
    if args.markdown:
        print(header + "\n")
        print("| model | params | checkpoints | wall (s) | vs none |")
        print("|---|---|---|---|---|")
        for label, params, name, t, r in rows:
            print(f"| {label} | {params:,} | {name} | {t:.2f} | {r:.2f}x |")
    else:
        print(header)
        for label, params, name, t, r in rows:
            print(f"{label:24s} {params:>10,} {name:24s} {t:7.2f}s {r:5.2f}x")


if __name__ == "__main__":
    main()
