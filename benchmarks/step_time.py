"""Steady-state training step time: kzoo models against plain Keras and hand-written PyTorch.

For each backend (one subprocess each, since Keras fixes its backend at import)
this times `model.fit` on numpy arrays for every zoo family, and for the MLP,
recurrent and FCN shapes also an identical plain-Keras model and a hand-written
PyTorch loop on the same shapes, all in the same run (the FCN reference anchors
the conv families: Conv1d -> BatchNorm -> ReLU blocks 64-128-64, kernels 8-5-3).
It prints ratios and writes JSON.

Robust to a loaded machine: each worker runs single-threaded and records the CPU
time of its process (user + system) beside wall time; the variants alternate in
rounds (ABC, CBA, ...), each round gives a ratio, and the report is the median
ratio with its min-max over rounds. A single-threaded process's CPU time moves
far less with other load than wall time (RESULTS.md measures both). On GPU, read
the wall times: each timed epoch ends with a device synchronisation (torch.cuda /
jax's block_until_ready on the model's variables), so it counts the device's work.

`--grad` adds, for the MLP and the recurrent families, the same kzoo model with
the gradient callbacks, `GradientNormLogger(every=10)` + `GradientClipping("autoclip")`
and `every=1`, to the same interleaved rounds; `grad_log10_vs_kzoo` and
`grad_log1_vs_kzoo` are their per-round ratios to the plain kzoo model (the issue-25
targets on a GPU: <= 1.03x and <= 1.05x). benchmarks/gpu/check.sh runs it so.

Usage:
    python benchmarks/step_time.py [--backends jax torch tensorflow] [--steps 30]
                                   [--families mlp lstm ...] [--rounds 7]
                                   [--seq-batch 64] [--out benchmarks/step_time.json]
    python benchmarks/step_time.py --device gpu   # the FIGURES.md shapes
    python benchmarks/step_time.py --grad ...     # also the gradient callbacks
"""

import argparse
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

# One thread per library, set before any of them is imported (a worker imports
# this module first): CPU time of a single-threaded process barely depends on
# what else runs on the machine, wall time does (benchmarks/RESULTS.md).
SINGLE_THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "TF_NUM_INTRAOP_THREADS": "1",
    "TF_NUM_INTEROP_THREADS": "1",
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
    "TORCHINDUCTOR_COMPILE_THREADS": "1",
    "TF_CPP_MIN_LOG_LEVEL": "3",
}


def single_thread():
    """Pin this process to one compute thread (env vars plus the libraries' own calls)."""
    for k, v in SINGLE_THREAD_ENV.items():
        os.environ.setdefault(k, v)
    try:
        import torch

        torch.set_num_threads(1)
        torch.set_num_interop_threads(1)
    except (ImportError, RuntimeError):  # interop threads already started: keep them
        pass
    if os.environ.get("KERAS_BACKEND") == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)


def clocks():
    """(wall s, CPU s): CPU time of this process and its reaped children (user + system),
    so compilers run in subprocesses (torch inductor's g++) count too."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime
    return time.perf_counter(), cpu


def summary(values):
    """Median with its min-max range, as a dict."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "n": len(values)}

# Shapes. "gpu" follows ../shared/gpu/FIGURES.md; "cpu" is scaled down for 2 cores.
SHAPES = {
    "cpu": {
        "mlp": {"batch": 256, "features": 784, "width": 512, "depth": 4, "classes": 10},
        "seq": {"batch": 64, "T": 64, "F": 16, "units": 64, "classes": 10},
    },
    "gpu": {
        "mlp": {"batch": 1024, "features": 784, "width": 2048, "depth": 4, "classes": 10},
        "seq": {"batch": 256, "T": 128, "F": 32, "units": 256, "classes": 10},
    },
}
RNN_CELLS = {"simple_rnn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}
FCN_BLOCKS = ((64, 8), (128, 5), (64, 3))  # kzoo's fcn defaults: (filters, kernel)
REFERENCED = ("mlp", "fcn", *RNN_CELLS)
GRAD_FAMILIES = ("mlp", "lstm", "gru")  # --grad: the FIGURES.md families


def synchronise(model):
    """Wait for the device's queued work on `model` (a no-op on the CPU backends'
    eager paths): the end of a timed epoch must include it."""
    import keras

    backend = keras.backend.backend()
    if backend == "torch":
        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()
    elif backend == "jax":
        import jax

        jax.block_until_ready([v.value for v in model.variables])


class _Timer:
    """Times `model.fit` epochs with epoch-level hooks only (a per-batch hook would
    make Keras synchronise every step); `callbacks` are the model's own (e.g. the
    gradient callbacks)."""

    def __init__(self, model, x, y, batch, callbacks=()):
        import keras

        self.model, self.x, self.y, self.batch = model, x, y, batch
        marks = self.marks = []

        class EpochTimer(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                synchronise(self.model)
                marks.append(clocks())

            def on_epoch_end(self, epoch, logs=None):
                synchronise(self.model)
                marks[-1] = tuple(b - a for a, b in zip(marks[-1], clocks(), strict=True))

        self.callbacks = [*callbacks, EpochTimer()]

    def __call__(self):
        """(wall, CPU) ms per step of one epoch (the train function is compiled once)."""
        gc.collect()  # a collection's pause falls outside the timed epoch, mostly
        self.model.fit(
            self.x,
            self.y,
            batch_size=self.batch,
            epochs=1,
            shuffle=False,
            verbose=0,
            callbacks=self.callbacks,
        )
        steps = len(self.x) / self.batch
        return tuple(t * 1000 / steps for t in self.marks[-1])


def interleaved(timers, rounds):
    """(wall, CPU) ms per step of each timer in each of `rounds`, after a warm-up round.

    The variants alternate within each round, in reversed order every other
    round (ABC CBA ...), so that load and drift hit them alike; ratios are taken
    within a round, then summarised over rounds.
    """
    for t in timers.values():
        t()
    times = {k: [] for k in timers}
    names = list(timers)
    for r in range(rounds):
        for k in names if r % 2 == 0 else names[::-1]:
            times[k].append(timers[k]())
    return times


def entry_for(times):
    """Per-family JSON entry: medians and per-round ratios (CPU time and wall time)."""
    entry = {}
    for clock, i in (("cpu", 1), ("wall", 0)):
        for k, ts in times.items():
            entry[f"{k}_{clock}_ms"] = statistics.median(t[i] for t in ts)
        kz = [t[i] for t in times["kzoo"]]
        if "keras" in times:  # kzoo time / plain Keras time: 1.0 is no overhead
            ratios = [a / b[i] for a, b in zip(kz, times["keras"], strict=True)]
            entry[f"kzoo_vs_keras_{clock}"] = summary(ratios)
        if "torch_loop" in times:  # throughput relative to torch.nn: torch time / kzoo time
            ratios = [b[i] / a for a, b in zip(kz, times["torch_loop"], strict=True)]
            entry[f"throughput_vs_torch_{clock}"] = summary(ratios)
        for k in times:  # the gradient callbacks: their time / the plain kzoo model's
            if k.startswith("grad_"):
                ratios = [a[i] / b for a, b in zip(times[k], kz, strict=True)]
                entry[f"{k}_vs_kzoo_{clock}"] = summary(ratios)
        if "keras" in times and "torch_loop" in times:
            ratios = [b[i] / a[i] for a, b in zip(times["keras"], times["torch_loop"], strict=True)]
            entry[f"keras_throughput_vs_torch_{clock}"] = summary(ratios)
    return entry


def _plain_keras(family, shape):
    import keras

    if family == "mlp":
        layers = [keras.Input((shape["features"],))]
        for _ in range(shape["depth"]):
            layers += [
                keras.layers.Dense(
                    shape["width"], activation="relu", kernel_initializer="he_normal"
                ),
                keras.layers.Dropout(0.1),
            ]
        layers.append(keras.layers.Dense(shape["classes"], activation="softmax"))
    elif family == "fcn":
        layers = [keras.Input((shape["T"], shape["F"]))]
        for filters, kernel in FCN_BLOCKS:
            layers += [
                keras.layers.Conv1D(filters, kernel, padding="same", use_bias=False),
                keras.layers.BatchNormalization(),
                keras.layers.Activation("relu"),
            ]
        layers += [
            keras.layers.GlobalAveragePooling1D(),
            keras.layers.Dense(shape["classes"], activation="softmax"),
        ]
    else:
        cell = getattr(keras.layers, RNN_CELLS[family])
        layers = [
            keras.Input((shape["T"], shape["F"])),
            cell(shape["units"]),
            keras.layers.Dense(shape["classes"], activation="softmax"),
        ]
    model = keras.Sequential(layers)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _kzoo(family, shape):
    from kzoo import zoo

    if family == "mlp":
        return zoo.create(
            "mlp",
            (shape["features"],),
            shape["classes"],
            depth=shape["depth"],
            width=shape["width"],
            dropout=0.1,
            input_noise=0.0,  # the same network as the plain-Keras and torch.nn MLPs
        )
    # The recurrent references have no dropout: neither has kzoo's model here (its
    # family default of 0.2 adds an input mask and a head Dropout layer).
    hp = {"units": shape["units"], "dropout": 0.0} if family in RNN_CELLS else {}
    return zoo.create(family, (shape["T"], shape["F"]), shape["classes"], **hp)


def _shapes(args):
    """SHAPES for the device, with the sequence batch replaced by --seq-batch if given."""
    shapes = {k: dict(v) for k, v in SHAPES[args.device].items()}
    if args.seq_batch:
        shapes["seq"]["batch"] = args.seq_batch
    return shapes


def worker(args):
    """Runs in a subprocess with KERAS_BACKEND set: times kzoo and plain Keras models."""
    single_thread()
    import keras
    import numpy as np

    from kzoo import zoo

    shapes = _shapes(args)
    rng = np.random.default_rng(0)
    results = {}
    for family in args.families or zoo.list():
        kind = zoo.get_spec(family).kind
        s = shapes["mlp" if kind == "tabular" else "seq"]
        n = s["batch"] * args.steps
        x = rng.normal(size=(n, s["features"]) if kind == "tabular" else (n, s["T"], s["F"]))
        x = x.astype("float32")
        y = rng.integers(0, s["classes"], n).astype("int32")
        keras.utils.set_random_seed(0)
        timers = {"kzoo": _Timer(_kzoo(family, s), x, y, s["batch"])}
        if args.grad and family in GRAD_FAMILIES:
            from kzoo.callbacks import GradientClipping, GradientNormLogger

            for every in (10, 1):
                callbacks = [GradientNormLogger(every=every), GradientClipping("autoclip")]
                timers[f"grad_log{every}"] = _Timer(_kzoo(family, s), x, y, s["batch"], callbacks)
        if family in REFERENCED:
            timers["keras"] = _Timer(_plain_keras(family, s), x, y, s["batch"])
            if not args.no_torch:
                timers["torch_loop"] = torch_loop(family, s, args.steps, args.device_name)
        entry = entry_for(interleaved(timers, args.rounds))
        keras.backend.clear_session()
        results[family] = entry
        print(
            f"  {keras.backend.backend():10s} {family:15s} "
            + " ".join(
                f"{k}={v['median']:.2f}[{v['min']:.2f},{v['max']:.2f}]"
                if isinstance(v, dict) else f"{k}={v:.2f}"
                for k, v in entry.items()
            ),
            file=sys.stderr,
            flush=True,
        )
    json.dump(results, sys.stdout)


def torch_loop(family, shape, steps, device):
    """A hand-written PyTorch training loop on the same shapes (batches copied from
    host memory, as `fit` on numpy arrays does); returns a function timing one epoch."""
    import torch

    torch.manual_seed(0)
    if family == "mlp":
        layers, d = [], shape["features"]
        for _ in range(shape["depth"]):
            layers += [torch.nn.Linear(d, shape["width"]), torch.nn.ReLU(), torch.nn.Dropout(0.1)]
            d = shape["width"]
        net = torch.nn.Sequential(*layers, torch.nn.Linear(d, shape["classes"]))
        x = torch.randn(shape["batch"] * steps, shape["features"])
    elif family == "fcn":
        layers, d = [], shape["F"]
        for filters, kernel in FCN_BLOCKS:
            layers += [
                torch.nn.Conv1d(d, filters, kernel, padding="same", bias=False),
                torch.nn.BatchNorm1d(filters),
                torch.nn.ReLU(),
            ]
            d = filters

        class FCN(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.blocks = torch.nn.Sequential(*layers)
                self.head = torch.nn.Linear(d, shape["classes"])

            def forward(self, x):  # x: (batch, T, F), channels last as in Keras
                return self.head(self.blocks(x.transpose(1, 2)).mean(dim=2))

        net = FCN()
        x = torch.randn(shape["batch"] * steps, shape["T"], shape["F"])
    else:
        cell = {"simple_rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[family]

        class Net(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.rnn = cell(shape["F"], shape["units"], batch_first=True)
                self.head = torch.nn.Linear(shape["units"], shape["classes"])

            def forward(self, x):
                out, _ = self.rnn(x)
                return self.head(out[:, -1])

        net = Net()
        x = torch.randn(shape["batch"] * steps, shape["T"], shape["F"])
    net = net.to(device)
    y = torch.randint(0, shape["classes"], (len(x),))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    b = shape["batch"]

    def epoch():
        for i in range(steps):
            xb, yb = x[i * b : (i + 1) * b].to(device), y[i * b : (i + 1) * b].to(device)
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(net(xb), yb)
            loss.backward()
            opt.step()
        if device != "cpu":
            torch.cuda.synchronize()

    def timed_epoch():
        gc.collect()
        start = clocks()
        epoch()
        return tuple((b - a) * 1000 / steps for a, b in zip(start, clocks(), strict=True))

    return timed_epoch


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["jax", "torch", "tensorflow"])
    parser.add_argument("--families", nargs="+", default=None)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument(
        "--seq-batch", type=int, default=None, help="batch of the sequence shapes (default 64)"
    )
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch loop")
    parser.add_argument("--grad", action="store_true", help="also the gradient callbacks")
    parser.add_argument("--out", default="benchmarks/step_time.json")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.device_name = "cuda" if args.device == "gpu" else "cpu"
    if args.worker:
        return worker(args)

    report = {
        "machine": f"{platform.node()} {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load_at_start": os.getloadavg()[0],
        "method": "per round (variants alternated ABC CBA ...): CPU ms per step of the "
        "single-threaded worker (user+system) and wall ms; ratios per round, then "
        "median [min, max] over rounds",
        "device": args.device,
        "steps": args.steps,
        "shapes": _shapes(args),
        "backends": {},
    }
    for backend in args.backends:
        cmd = [
            sys.executable,
            __file__,
            "--worker",
            "--device",
            args.device,
            "--steps",
            str(args.steps),
            "--rounds",
            str(args.rounds),
        ]
        if args.no_torch:
            cmd.append("--no-torch")
        if args.grad:
            cmd.append("--grad")
        if args.seq_batch:
            cmd += ["--seq-batch", str(args.seq_batch)]
        if args.families:
            cmd += ["--families", *args.families]
        env = {**os.environ, **SINGLE_THREAD_ENV, "KERAS_BACKEND": backend}
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        sys.stderr.write(proc.stderr[-3000:] if proc.returncode else "")
        if proc.returncode:
            report["backends"][backend] = {"error": proc.stderr.strip().splitlines()[-1]}
            continue
        report["backends"][backend] = json.loads(proc.stdout.strip().splitlines()[-1])

    print(f"\n{'wall' if args.device == 'gpu' else 'CPU'} ms per step; kzoo/Keras time, "
          "torch.nn-relative throughput, gradient callbacks/kzoo: median [min-max] over rounds")
    for backend, res in report["backends"].items():
        for family, e in res.items():
            if family == "error":
                continue
            clock = "wall" if args.device == "gpu" else "cpu"
            row = f"{backend:10s} {family:15s} {e[f'kzoo_{clock}_ms']:8.2f} ms"
            keys = ("kzoo_vs_keras", "throughput_vs_torch", "grad_log10_vs_kzoo",
                    "grad_log1_vs_kzoo")
            for key in keys:
                if f"{key}_{clock}" in e:
                    v = e[f"{key}_{clock}"]
                    row += f"  {key} {v['median']:.2f}x [{v['min']:.2f}-{v['max']:.2f}]"
            print(row)
    report["load_at_end"] = os.getloadavg()[0]
    with open(args.out, "w") as f:
        json.dump(report, f, indent=2)
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
