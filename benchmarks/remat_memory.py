"""Rematerialisation's memory saving: peak memory of one training step, torch CPU.

`keras.RematScope` (the zoo's `remat=` hyperparameter) is measured here on the torch
backend (jax and tensorflow: remat_memory_jax.py, through kzoo.zoo._remat). This
script measures, for a deep `resnet1d` and a deep `inception_time`, the peak
memory of one `train_on_batch` step with `remat=None` and with each remat
mode, each setting in a fresh subprocess so no allocator state carries over.

Two measures (the model, its optimizer slots and a first step on a 2-example
batch are built before either):

- `tensor_peak_mb`: peak of the bytes held by live CPU tensors during a second
  full step, from `torch.profiler`'s memory timeline (allocations and frees of
  every tensor); exact, but profiler internals, so it may be missing on other
  torch versions.
- `rss_peak_mb`: `ru_maxrss` after the first full step minus the resident size
  before it (no profiler running), with `MALLOC_MMAP_THRESHOLD_` set low so
  freed tensors go back to the system (glibc otherwise keeps them in its
  heap); coarse, and it needs nothing special.

GPU: not measured (no GPU was available to this benchmark); on GPU use
`torch.cuda.max_memory_allocated` around the same step.

Usage (from the repository root):

    .venv/bin/python benchmarks/remat_memory.py            # prints a JSON line per setting
    .venv/bin/python benchmarks/remat_memory.py --quick    # small shapes, a smoke test
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent
RESULTS = HERE / "remat_memory.json"
# Deep stacks, where activations dominate memory: 12 inception modules, 8 ResNet blocks.
CASES = {
    "inception_time": {"depth": 12, "filters": 32},
    "resnet1d": {"depth": 8, "filters": 64},
    # The other families that take remat, at remat_memory_jax.py's settings.
    "fcn": {},
    "lite": {},
    "tcn": {"depth": 6, "filters": 64},
    "transformer": {"depth": 4, "d_model": 64, "num_heads": 4},
    "lstm_fcn": {},
}
MODES = (None, "full", "activations")
BATCH, STEPS, CHANNELS, CLASSES = 16, 256, 3, 4


def _rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _maxrss_mb():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _tensor_peak_mb(prof):
    """Peak bytes of live CPU tensors over the profiled window, or None."""
    try:
        from torch.profiler._memory_profiler import MemoryProfileTimeline

        timeline = MemoryProfileTimeline(prof._memory_profile())
        _, sizes = timeline._coalesce_timeline("cpu")
    except Exception:  # profiler internals: absent or changed in this torch version
        return None
    return max(sum(s) for s in sizes) / 2**20 if sizes else None


def measure(family, remat, batch, steps):
    """One setting, in this (fresh) process: returns the measured dict."""
    os.environ["KERAS_BACKEND"] = "torch"
    import keras
    import numpy as np
    import torch

    import kzoo.zoo

    torch.set_num_threads(1)  # stable timings on a shared CPU; memory does not depend on it
    hparams = dict(CASES[family], remat=remat)
    keras.utils.set_random_seed(0)  # same weights in every setting: the first loss must match
    model = kzoo.zoo.create(family, (steps, CHANNELS), CLASSES, **hparams)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch, steps, CHANNELS)).astype("float32")
    y = rng.integers(0, CLASSES, size=batch).astype("int32")
    model.train_on_batch(x[:2], y[:2])  # builds optimizer slots, small activations
    before = _rss_mb()
    maxrss_before = _maxrss_mb()
    loss = model.train_on_batch(x, y)  # measured by RSS; the profiler would inflate it
    after = _maxrss_mb()
    with torch.profiler.profile(
        activities=[torch.profiler.ProfilerActivity.CPU],
        profile_memory=True,
        record_shapes=True,
        with_stack=True,
    ) as prof:
        model.train_on_batch(x, y)
    return {
        "family": family,
        "remat": remat,
        "hparams": CASES[family],
        "batch": batch,
        "steps": steps,
        "params": int(model.count_params()),
        "tensor_peak_mb": _round(_tensor_peak_mb(prof)),
        "rss_peak_mb": round(after - before, 1) if after > maxrss_before else None,
        "loss": float(np.asarray(loss).ravel()[0]),
        "torch": torch.__version__,
    }


def _round(v):
    return None if v is None else round(v, 1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small shapes (smoke test)")
    parser.add_argument("--one", nargs=4, metavar=("FAMILY", "REMAT", "BATCH", "STEPS"),
                        help=argparse.SUPPRESS)  # a single setting, run in a subprocess
    parser.add_argument("--families", nargs="+", default=list(CASES))
    parser.add_argument("--modes", nargs="+", default=[str(m).lower() for m in MODES])
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()
    if args.one:
        family, remat, batch, steps = args.one
        print(json.dumps(measure(family, None if remat == "none" else remat,
                                 int(batch), int(steps))))
        return
    batch, steps = (4, 64) if args.quick else (BATCH, STEPS)
    env = {**os.environ, "KERAS_BACKEND": "torch", "MALLOC_MMAP_THRESHOLD_": "65536"}
    rows = []
    for family in args.families:
        for remat in [None if m == "none" else m for m in args.modes]:
            cmd = [sys.executable, __file__, "--one", family, str(remat).lower(),
                   str(batch), str(steps)]
            out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
            row = json.loads(out.stdout.strip().splitlines()[-1])
            print(json.dumps(row), flush=True)
            rows.append(row)
    if not args.quick:
        pathlib.Path(args.out).write_text(json.dumps(rows, indent=2) + "\n")
    print(report(rows))


def report(rows):
    out = ["| family | remat | tensor peak (MiB) | ratio | RSS peak (MiB) | ratio |",
           "|---|---|---|---|---|---|"]
    for row in rows:
        base = next(r for r in rows if r["family"] == row["family"] and r["remat"] is None)

        def ratio(key, row=row, base=base):
            return f"{row[key] / base[key]:.2f}" if row[key] and base[key] else "n/a"

        out.append(f"| {row['family']} | {row['remat']} | {row['tensor_peak_mb']} | "
                   f"{ratio('tensor_peak_mb')} | {row['rss_peak_mb']} | {ratio('rss_peak_mb')} |")
    return "\n".join(out)


if __name__ == "__main__":
    main()
