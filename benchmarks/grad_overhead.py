"""Step-time cost of kzoo's gradient instrumentation against plain `model.fit`.

Settings measured, each as a ratio to plain fit of an identical model on the
same data, within one process (timings are noisy; ratios from one run only):

- `log10+autoclip`: GradientNormLogger(every=10) + GradientClipping("autoclip")
  (the issue's target: <= 1.10x on CPU, <= 1.03x on an H100);
- `log1+autoclip`: the same with every=1;
- depth scaling: an MLP of 4, 16 and 64 hidden layers, `log10+autoclip`.

Shapes are the MLP and LSTM of ../shared/gpu/FIGURES.md scaled down for a CPU.
Steady-state time per step: one `fit` per setting and repeat (settings
interleaved) with an epoch-end timer (an async-safe hook); every epoch after the
first (compilation) is a sample, and the ratio is the median sample over the
median plain sample (`ratio_of_best`: best over best, for comparison).

Usage:
    python benchmarks/grad_overhead.py                   # all backends, writes JSON
    python benchmarks/grad_overhead.py --backends jax --repeats 5
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SHAPES = {
    # name: (kind, input shape, hidden, batch)
    "mlp": ("mlp", (784,), [256] * 4, 128),
    "lstm": ("lstm", (32, 16), [64], 64),
    "mlp_depth4": ("mlp", (64,), [128] * 4, 128),
    "mlp_depth16": ("mlp", (64,), [128] * 16, 128),
    "mlp_depth64": ("mlp", (64,), [128] * 64, 128),
}
SETTINGS = {
    "mlp": ["plain", "log10+autoclip", "log1+autoclip"],
    "lstm": ["plain", "log10+autoclip", "log1+autoclip"],
    "mlp_depth4": ["plain", "log10+autoclip"],
    "mlp_depth16": ["plain", "log10+autoclip"],
    "mlp_depth64": ["plain", "log10+autoclip"],
}


def worker(args):
    import keras
    import numpy as np

    from kzoo.callbacks import GradientClipping, GradientNormLogger

    class EpochTimer(keras.callbacks.Callback):
        async_safe = True

        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.times.append(time.perf_counter() - self.t0)

    def build(kind, shape, hidden):
        keras.utils.set_random_seed(0)
        inputs = keras.Input(shape)
        x = inputs
        if kind == "lstm":
            x = keras.layers.LSTM(hidden[0])(x)
        else:
            for units in hidden:
                x = keras.layers.Dense(units, activation="relu")(x)
        model = keras.Model(inputs, keras.layers.Dense(10)(x))
        model.compile(
            optimizer="adam",
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        return model

    def callbacks_for(setting):
        if setting == "plain":
            return []
        every = int(setting.split("+")[0][3:])
        return [GradientClipping("autoclip", percentile=10), GradientNormLogger(every=every)]

    results = {}
    rng = np.random.default_rng(0)
    for name in args.shapes:
        kind, shape, hidden, batch = SHAPES[name]
        n = batch * args.steps
        x = rng.normal(size=(n, *shape)).astype("float32")
        y = rng.integers(0, 10, size=n).astype("int32")
        per_setting = {s: [] for s in SETTINGS[name]}
        for _ in range(args.repeats):
            for setting in SETTINGS[name]:
                model = build(kind, shape, hidden)
                timer = EpochTimer()
                timer.times = []
                model.fit(x, y, batch_size=batch, epochs=args.epochs, verbose=0,
                          callbacks=[*callbacks_for(setting), timer])
                # Every epoch after the first (compilation) is one sample.
                per_setting[setting].extend(1000 * t / args.steps for t in timer.times[1:])
        # Median over all samples: interference on a shared machine comes in bursts that
        # the median ignores; the best epoch (min) is kept for comparison.
        plain = per_setting["plain"]
        results[name] = {
            s: {
                "ms_per_step": round(float(np.median(v)), 4),
                "ratio": round(float(np.median(v) / np.median(plain)), 4),
                "ratio_of_best": round(float(np.min(v) / np.min(plain)), 4),
                "samples_ms": [round(t, 4) for t in v],
            }
            for s, v in per_setting.items()
        }
        print(keras.backend.backend(), name, {s: r["ratio"] for s, r in results[name].items()},
              flush=True)
    json.dump(results, sys.stdout if args.out == "-" else open(args.out, "w"), indent=1)


def markdown(path):
    with open(path) as f:
        report = json.load(f)
    print(f"{report['machine']}; keras {report['keras']}; {report['date']}; "
          f"{report['settings']}\n")
    print("| backend | shape | setting | ms/step | ratio to plain fit |")
    print("|---|---|---|---|---|")
    for backend, shapes in report["results"].items():
        for shape, settings in shapes.items():
            for setting, r in settings.items():
                if setting != "plain":
                    print(f"| {backend} | {shape} | {setting} | {r['ms_per_step']:.3g} "
                          f"(plain {settings['plain']['ms_per_step']:.3g}) | {r['ratio']:.2f} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["tensorflow", "jax", "torch"])
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=4, help="first one (compile) dropped")
    parser.add_argument("--steps", type=int, default=200, help="steps per epoch")
    parser.add_argument("--out", default=os.path.join(HERE, "grad_overhead.json"))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--markdown", action="store_true", help="print --out as a table")
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    if args.markdown:
        return markdown(args.out)
    report = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"{platform.system()}, CPU only",
        "python": platform.python_version(),
        "settings": {"repeats": args.repeats, "epochs": args.epochs, "steps": args.steps},
        "results": {},
    }
    for backend in args.backends:
        tmp = f"{args.out}.{backend}.tmp"
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
        cmd = [sys.executable, __file__, "--worker", "--out", tmp,
               "--repeats", str(args.repeats), "--epochs", str(args.epochs),
               "--steps", str(args.steps), "--shapes", *args.shapes]
        subprocess.run(cmd, env=env, check=True)
        with open(tmp) as f:
            report["results"][backend] = json.load(f)
        os.remove(tmp)
    import keras

    report["keras"] = keras.__version__
    with open(args.out, "w") as f:
        json.dump(report, f, indent=1)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
