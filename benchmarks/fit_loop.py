"""Cost of the gradient callbacks in a loop of short `fit` calls (issue #16).

A loop of `--fits` calls of `fit(epochs=1)` on an MLP 4x256 (batch 128, 100 steps
per fit), with GradientNormLogger(every=10) + GradientClipping("autoclip") against
the same loop without them. Plain Keras compiles its train step once; if the
gradient hook changes the optimizer's variables at each fit, every call retraces.
The first call of each loop (compilation) is left out; the ratio is the median of
instrumented / plain per-call times, calls paired in order.

Usage:
    KERAS_BACKEND=jax python benchmarks/fit_loop.py [--fits 6]
"""

import argparse
import os
import statistics
import time

import keras
import numpy as np


def _model(seed=0):
    keras.utils.set_random_seed(seed)
    layers = [keras.Input((64,))]
    layers += [keras.layers.Dense(256, activation="relu") for _ in range(4)]
    model = keras.Sequential([*layers, keras.layers.Dense(10)])
    model.compile(keras.optimizers.Adam(1e-3),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def _loop(fits, callbacks_fn, x, y):
    model = _model()
    callbacks = callbacks_fn()
    times = []
    for _ in range(fits):
        start = time.perf_counter()
        model.fit(x, y, batch_size=128, epochs=1, verbose=0, shuffle=False, callbacks=callbacks)
        times.append(time.perf_counter() - start)
    return times[1:]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fits", type=int, default=6)
    args = parser.parse_args()
    from kzoo.callbacks import GradientClipping, GradientNormLogger

    rng = np.random.default_rng(0)
    x = rng.normal(size=(128 * 100, 64)).astype("float32")
    y = rng.integers(0, 10, len(x)).astype("int32")
    plain = _loop(args.fits, list, x, y)
    hooked = _loop(
        args.fits, lambda: [GradientNormLogger(every=10), GradientClipping("autoclip")], x, y
    )
    ratios = [h / p for h, p in zip(hooked, plain, strict=True)]
    print(
        f"{os.environ.get('KERAS_BACKEND', keras.backend.backend())}: plain "
        f"{statistics.median(plain):.3f} s/fit, gradient callbacks "
        f"{statistics.median(hooked):.3f} s/fit, ratio {statistics.median(ratios):.2f}x "
        f"(pairs {min(ratios):.2f}-{max(ratios):.2f}x)"
    )


if __name__ == "__main__":
    main()
