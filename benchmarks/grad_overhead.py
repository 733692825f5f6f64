"""Step-time cost of kzoo's gradient instrumentation against plain `model.fit`.

Settings measured, each as a ratio to plain fit of an identical model on the
same data, within one process (timings are noisy; ratios from one run only):

- `log10+autoclip`: GradientNormLogger(every=10) + GradientClipping("autoclip")
  (the issue's target: <= 1.10x on CPU, <= 1.03x on an H100);
- `log1+autoclip`: the same with every=1;
- depth scaling: an MLP of 4, 16 and 64 hidden layers, `log10+autoclip`.

Shapes are the MLP and LSTM of ../shared/gpu/FIGURES.md scaled down for a CPU.
Paired epochs: the instrumented model trains for `--epochs` epochs, and after each
of its epochs an identical, already compiled plain model trains one epoch (timed
the same way, by an async-safe epoch timer), so each pair of epochs runs within a
second or two of each other and a burst of interference on the shared machine hits
both. An epoch's time runs from the start of its 6th batch to its end (the epoch-end
work of the callbacks included; the epoch's start, where tensorflow builds a new
data iterator in a varying 40-150 ms, left out). The ratio is the median over pairs
(the first, compiling, epoch dropped) of instrumented / plain epoch time;
`ratio_iqr` is its interquartile range.

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
SKIP = 5  # batches at the start of each epoch left out of its time
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

        def __init__(self):
            super().__init__()
            self.times = []

        def on_train_batch_begin(self, batch, logs=None):
            # From the start of batch SKIP: the epoch's start (TF builds a new
            # iterator each epoch: 40-150 ms here, varying) is not a step cost.
            if batch == SKIP:
                self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.times.append(time.perf_counter() - self.t0)

    class PairedPlainEpoch(EpochTimer):
        """After each timed epoch of the instrumented model, one timed epoch of plain fit."""

        def __init__(self, plain, x, y, batch):
            super().__init__()
            self.plain, self.data, self.batch = plain, (x, y), batch
            self.plain_timer = EpochTimer()

        def on_epoch_end(self, epoch, logs=None):
            super().on_epoch_end(epoch, logs)
            self.plain.fit(*self.data, batch_size=self.batch, epochs=1, verbose=0,
                           callbacks=[self.plain_timer])

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
        plain = build(kind, shape, hidden)
        plain.fit(x, y, batch_size=batch, epochs=1, verbose=0)  # compile it once
        results[name] = {}
        plain_all = []
        for setting in SETTINGS[name][1:]:
            ratios, ms, plain_ms = [], [], []
            for _ in range(args.repeats):
                model = build(kind, shape, hidden)
                paired = PairedPlainEpoch(plain, x, y, batch)
                model.fit(x, y, batch_size=batch, epochs=args.epochs, verbose=0,
                          callbacks=[*callbacks_for(setting), paired])
                # Epoch 0 compiles the instrumented step: dropped.
                for t, t_plain in zip(paired.times[1:], paired.plain_timer.times[1:], strict=True):
                    ratios.append(t / t_plain)
                    ms.append(1000 * t / (args.steps - SKIP))
                    plain_ms.append(1000 * t_plain / (args.steps - SKIP))
            plain_all += plain_ms
            results[name][setting] = {
                "ms_per_step": round(float(np.median(ms)), 4),
                "plain_ms_per_step": round(float(np.median(plain_ms)), 4),
                "ratio": round(float(np.median(ratios)), 4),
                "ratio_iqr": [round(float(q), 4) for q in np.percentile(ratios, [25, 75])],
                "pairs": len(ratios),
            }
        results[name]["plain"] = {"ms_per_step": round(float(np.median(plain_all)), 4),
                                  "ratio": 1.0}
        print(keras.backend.backend(), name, {s: r["ratio"] for s, r in results[name].items()},
              flush=True)
    json.dump(results, sys.stdout if args.out == "-" else open(args.out, "w"), indent=1)


def markdown(path):
    with open(path) as f:
        report = json.load(f)
    print(f"{report['machine']}; keras {report['keras']}; {report['date']}; "
          f"{report['settings']}\n")
    print("| backend | shape | setting | ms/step (paired plain) | ratio to plain fit (IQR) |")
    print("|---|---|---|---|---|")
    for backend, shapes in report["results"].items():
        for shape, settings in shapes.items():
            for setting, r in settings.items():
                if setting != "plain":
                    lo, hi = r["ratio_iqr"]
                    print(f"| {backend} | {shape} | {setting} | {r['ms_per_step']:.3g} "
                          f"({r['plain_ms_per_step']:.3g}) | {r['ratio']:.2f} "
                          f"({lo:.2f}-{hi:.2f}) |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["tensorflow", "jax", "torch"])
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES))
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=7, help="first one (compile) dropped")
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
