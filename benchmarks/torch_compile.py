"""Does `jit_compile=True` (torch.compile) pay on the torch backend? Compile time and
step time per family, against eager, on this machine's device.

For each family: a kzoo model at step_time.py's CPU shapes is trained eagerly
and with `jit_compile=True`. The first epoch of each includes its one-off cost
(tracing + inductor codegen for compiled); later epochs give the steady step
time. The break-even is the number of steps after which the compiled run has
caught up: `(first_compiled - first_eager) / (eager_step - compiled_step)`,
"never" when compiled steps are not faster. `kzoo train --compile auto`
(kzoo/training/compile_policy.py) turns compilation on only where a run is
longer than that.

Times are CPU seconds of this single-threaded process plus its reaped children
(inductor compiles C++ with g++ subprocesses; TORCHINDUCTOR_COMPILE_THREADS=1
keeps its other work in-process), so a loaded machine changes them little; wall
times are recorded alongside. Each run compiles cold: inductor's cache points to
a fresh temporary folder, as on a user's first run.

Usage:
    KERAS_BACKEND=torch python benchmarks/torch_compile.py [--families mlp fcn gru ...]
        [--steps 20] [--epochs 3] [--out benchmarks/torch_compile.json]
"""

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from step_time import SHAPES, _kzoo, clocks, single_thread  # noqa: E402


def _epoch_times(model, x, y, batch, epochs):
    import keras

    marks = []  # (wall s, CPU s) per epoch

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            marks.append(clocks())

        def on_epoch_end(self, epoch, logs=None):
            marks[-1] = tuple(b - a for a, b in zip(marks[-1], clocks(), strict=True))

    model.fit(x, y, batch_size=batch, epochs=epochs, shuffle=False, verbose=0,
              callbacks=[Timer()])
    return marks


def measure(family, steps, epochs, device):
    import keras
    import numpy as np

    from kzoo import zoo

    kind = zoo.get_spec(family).kind
    s = SHAPES[device]["mlp" if kind == "tabular" else "seq"]
    n = s["batch"] * steps
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, s["features"]) if kind == "tabular" else (n, s["T"], s["F"]))
    x, y = x.astype("float32"), rng.integers(0, s["classes"], n).astype("int32")
    row = {}
    for mode, jit in (("eager", False), ("compiled", True)):
        keras.utils.set_random_seed(0)
        model = _kzoo(family, s)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", jit_compile=jit)
        times = _epoch_times(model, x, y, s["batch"], epochs)
        row[f"{mode}_first_epoch_s"] = times[0][1]
        row[f"{mode}_step_ms"] = statistics.median(t[1] for t in times[1:]) * 1000 / steps
        row[f"{mode}_first_epoch_wall_s"] = times[0][0]
        row[f"{mode}_step_wall_ms"] = statistics.median(t[0] for t in times[1:]) * 1000 / steps
        keras.backend.clear_session()
    overhead = row["compiled_first_epoch_s"] - row["eager_first_epoch_s"]
    gain_ms = row["eager_step_ms"] - row["compiled_step_ms"]
    row["compile_overhead_s"] = overhead
    row["speedup"] = row["eager_step_ms"] / row["compiled_step_ms"]
    # steps for the saving to repay the one-off cost; None: never (not faster)
    row["break_even_steps"] = overhead * 1000 / gain_ms if gain_ms > 0 else None
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="+", default=None)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--out", default="benchmarks/torch_compile.json")
    parser.add_argument("--update", action="store_true",
                        help="keep the other families already in --out (a rerun of some)")
    args = parser.parse_args()
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="kzoo_inductor_")
    single_thread()
    import keras
    import torch

    from kzoo import zoo

    if keras.backend.backend() != "torch":
        sys.exit("run with KERAS_BACKEND=torch: jit_compile=True means torch.compile there")
    device = "gpu" if torch.cuda.is_available() else "cpu"
    report = {
        "machine": f"{platform.node()} {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f} at start",
        "method": "CPU time (user+system, process + reaped children), 1 thread, cold "
        "inductor cache; step = median of epochs 2.., *_wall_* = wall clock",
        "date": time.strftime("%Y-%m-%d"),
        "device": device,
        "torch": torch.__version__,
        "steps_per_epoch": args.steps,
        "families": {},
    }
    if args.update and os.path.exists(args.out):
        with open(args.out) as f:
            previous = json.load(f)
        report["families"] = previous["families"]
        report["earlier_runs"] = previous.get("earlier_runs", []) + [
            {k: v for k, v in previous.items() if k not in ("families", "earlier_runs")}
        ]
    for family in args.families or zoo.list():
        try:
            row = measure(family, args.steps, args.epochs, device)
        except Exception as e:  # a family torch.compile cannot take is a result too
            row = {"error": f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"}
        report["families"][family] = row
        row["load_at_end"] = os.getloadavg()[0]
        print(family, json.dumps(row), flush=True)
        with open(args.out, "w") as f:
            json.dump(report, f, indent=2)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
