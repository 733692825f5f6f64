"""RSS across tuning trials: `kzoo tune` against a bare build/fit/clear_session loop.

Prints the resident memory (MiB) at the start of each of `TRIALS` tiny trials,
for (a) `kzoo.tuning.tune` and (b) the same models built and fitted in a plain
loop with `keras.backend.clear_session()` between them, then (c) the loop again
calling glibc's `malloc_trim(0)` after each clear, which tells memory Python
and the backend freed (but the allocator kept) from memory still referenced.

    KERAS_BACKEND=tensorflow .venv/bin/python benchmarks/tuning/memory_probe.py [tune|loop|trim]
"""

import ctypes
import gc
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import keras_tuner  # noqa: E402
import numpy as np  # noqa: E402

from kzoo import tuning, zoo  # noqa: E402
from kzoo.datasets import Dataset  # noqa: E402
from kzoo.tuning.tuner import rss_mb  # noqa: E402

TRIALS = int(os.environ.get("PROBE_TRIALS", 20))
FIXED = {"depth": 1, "width": 8, "batch_size": 64, "norm": "none"}


def data(n=64):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 6)).astype("float32")
    y = (x[:, 0] > 0).astype("int32")
    a, b = int(n * 2 / 3), int(n * 5 / 6)
    return Dataset("tiny", x[:a], y[:a], x[a:b], y[a:b], x[b:], y[b:], "multiclass", 2, "tabular")


def summary(label, rss):
    rss = [round(r, 1) for r in rss]
    per = (rss[-1] - rss[4]) / (len(rss) - 5)
    print(f"{label}: trial 5 -> {len(rss)}: {rss[4]} -> {rss[-1]} MiB ({per:+.2f} MiB/trial)")
    print(f"  {rss}")


def loop(trim):
    ds = data()
    hm = zoo.hypermodel("mlp", ds.input_shape, ds.num_classes, **FIXED)
    libc = ctypes.CDLL("libc.so.6") if trim else None
    rss = []
    for i in range(TRIALS):
        keras.backend.clear_session()
        gc.collect()
        if libc is not None:
            libc.malloc_trim(0)
        rss.append(rss_mb())
        keras.utils.set_random_seed(i)
        hp = keras_tuner.HyperParameters()
        model = hm.build(hp)
        hm.fit(
            hp,
            model,
            ds.x_train,
            ds.y_train,
            validation_data=(ds.x_val, ds.y_val),
            epochs=1,
            verbose=0,
        )
        del model
    return rss


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "tune"
    if mode == "tune":
        with tempfile.TemporaryDirectory() as tmp:
            result = tuning.tune(
                "mlp", data(), out=tmp, max_trials=TRIALS, epochs=1, verbose=0, fixed=FIXED
            )
        summary(f"{keras.backend.backend()} kzoo tune", [r["rss_mb"] for r in result.trials])
    else:
        summary(f"{keras.backend.backend()} bare loop ({mode})", loop(trim=mode == "trim"))


if __name__ == "__main__":
    main()
