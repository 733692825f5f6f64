"""Cost of the gradient callbacks in a loop of short `fit` calls (issue #16).

A loop of `--fits` calls of `fit(epochs=1)` on an MLP 4x256 (batch 128, 100 steps
per fit), with GradientNormLogger(every=10) + GradientClipping("autoclip") against
the same loop without them. Plain Keras compiles its train step once; if the
gradient hook changes the optimizer's variables at each fit, every call retraces.

The two loops run interleaved (plain fit, instrumented fit, plain fit, ... on two
models), single-threaded, timing the CPU time of the process (user + system) and
wall time of each call. The first call of each loop (compilation) is left out, as
it is the same one-off cost for both; the ratio is the median of instrumented /
plain per-call ratios over `--repeats` loops, with its min-max.

Usage:
    KERAS_BACKEND=jax python benchmarks/fit_loop.py [--fits 6] [--repeats 3] [--out F.json]
"""

import argparse
import gc
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from step_time import clocks, single_thread, summary  # noqa: E402

single_thread()

import keras  # noqa: E402
import numpy as np  # noqa: E402


def _model(seed=0):
    keras.utils.set_random_seed(seed)
    layers = [keras.Input((64,))]
    layers += [keras.layers.Dense(256, activation="relu") for _ in range(4)]
    model = keras.Sequential([*layers, keras.layers.Dense(10)])
    model.compile(keras.optimizers.Adam(1e-3),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def _loops(fits, x, y):
    """One interleaved pair of loops; returns {"plain"|"hooked": [(wall, cpu) per fit]}."""
    from kzoo.callbacks import GradientClipping, GradientNormLogger

    runs = {
        "plain": (_model(), []),
        "hooked": (_model(), [GradientNormLogger(every=10), GradientClipping("autoclip")]),
    }
    times = {k: [] for k in runs}
    for i in range(fits):
        for name in list(runs) if i % 2 == 0 else list(runs)[::-1]:
            model, callbacks = runs[name]
            gc.collect()  # a collection's pause falls outside the timed calls, mostly
            start = clocks()
            model.fit(x, y, batch_size=128, epochs=1, verbose=0, shuffle=False,
                      callbacks=callbacks)
            times[name].append(tuple(b - a for a, b in zip(start, clocks(), strict=True)))
    return {k: v[1:] for k, v in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fits", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=None, help="also write the result as JSON")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    x = rng.normal(size=(128 * 100, 64)).astype("float32")
    y = rng.integers(0, 10, len(x)).astype("int32")
    load = os.getloadavg()[0]
    pairs = [_loops(args.fits, x, y) for _ in range(args.repeats)]
    backend = keras.backend.backend()
    result = {"backend": backend, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "load_at_start": load, "fits": args.fits, "repeats": args.repeats}
    for clock, i in (("cpu", 1), ("wall", 0)):
        plain = [t[i] for p in pairs for t in p["plain"]]
        hooked = [t[i] for p in pairs for t in p["hooked"]]
        result[f"plain_{clock}_s"] = summary(plain)
        result[f"hooked_{clock}_s"] = summary(hooked)
        result[f"ratio_{clock}"] = summary([h / p for h, p in zip(hooked, plain, strict=True)])
    result["load_at_end"] = os.getloadavg()[0]
    for clock in ("cpu", "wall"):
        r = result[f"ratio_{clock}"]
        print(
            f"{backend} {clock}: plain {result[f'plain_{clock}_s']['median']:.3f} s/fit, "
            f"gradient callbacks {result[f'hooked_{clock}_s']['median']:.3f} s/fit, ratio "
            f"{r['median']:.3f}x [{r['min']:.2f}-{r['max']:.2f}] over {r['n']} pairs "
            f"(load {load:.1f}-{result['load_at_end']:.1f})"
        )
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
