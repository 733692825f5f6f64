"""Rematerialisation on jax and tensorflow: the same step, and its peak memory.

For every family that takes `remat=` (kzoo.zoo._remat_jax), one training step
`value_and_grad` of the loss through `model.stateless_call(training=True)` is
compiled with `jax.jit` twice, `remat=None` and `remat="full"`, from the same
weights. Reported per family:

- `temp_mb`: `compiled.memory_analysis().temp_size_in_bytes`, XLA's own figure
  for the step's temporary buffers (activations kept for the backward pass
  included; weights, inputs and outputs not), and `ratio` = full / None;
- `max_diff`: the largest absolute difference between the two settings over the
  inference outputs, the loss, every gradient and the updated non-trainable
  variables (BatchNormalization's moving statistics): remat must change memory,
  not results.

With `--tensorflow`: each setting in a fresh process; `max_diff` over the
predictions, the loss and the gradients from the same weights (a compiled
`tf.function`) and the moving statistics after a step; `rss_peak_mb` = the rise
of `ru_maxrss` over one compiled `train_on_batch` step (learning rate 0) after a
2-example warm-up (`MALLOC_MMAP_THRESHOLD_` low, so freed buffers leave the
process). `worst` names the array of the largest difference.

Usage (from the repository root; CPU, or a GPU jax if installed):

    KERAS_BACKEND=jax .venv/bin/python benchmarks/remat_memory_jax.py [--quick]
    .venv/bin/python benchmarks/remat_memory_jax.py --tensorflow [--quick]
"""

import argparse
import json
import os
import pathlib
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

HERE = pathlib.Path(__file__).resolve().parent
RESULTS = HERE / "remat_memory_jax.json"
# Deep stacks, where activations dominate memory (as benchmarks/remat_memory.py on torch).
CASES = {
    "fcn": {},
    "resnet1d": {"depth": 8, "filters": 64},
    "inception_time": {"depth": 12, "filters": 32},
    "lite": {},
    "tcn": {"depth": 6, "filters": 64},
    "transformer": {"depth": 4, "d_model": 64, "num_heads": 4},
    "lstm_fcn": {},
}
QUICK = {"resnet1d": {"depth": 1, "filters": 4}, "transformer": {"depth": 1, "d_model": 8,
                                                                  "num_heads": 2}}
BATCH, STEPS, CHANNELS, CLASSES = 16, 256, 3, 4


def measure(family, hparams, steps):
    import jax
    import keras
    import numpy as np

    import kzoo.zoo

    rng = np.random.default_rng(0)
    x = rng.normal(size=(BATCH, steps, CHANNELS)).astype("float32")
    y = rng.integers(0, CLASSES, BATCH)
    rows, weights = {}, None
    for remat in (None, "full"):
        keras.utils.set_random_seed(0)
        drop = "lstm_dropout" if family == "lstm_fcn" else "dropout"
        net = kzoo.zoo.create(family, (steps, CHANNELS), CLASSES, remat=remat,
                              **{**hparams, drop: 0.0})
        if weights is None:
            weights = net.get_weights()
        net.set_weights(weights)
        tv = [v.value for v in net.trainable_variables]
        ntv = [v.value for v in net.non_trainable_variables]

        def loss_fn(tv, ntv, x, y, net=net):
            out, new_ntv = net.stateless_call(tv, ntv, x, training=True)
            return keras.ops.mean(keras.losses.sparse_categorical_crossentropy(y, out)), new_ntv

        step = jax.jit(jax.value_and_grad(loss_fn, has_aux=True))
        start = time.perf_counter()
        compiled = step.lower(tv, ntv, x, y).compile()
        compile_s = time.perf_counter() - start
        (loss, new_ntv), grads = compiled(tv, ntv, x, y)
        out = net.stateless_call(tv, ntv, x, training=False)[0]
        rows[remat] = {
            "temp_mb": compiled.memory_analysis().temp_size_in_bytes / 2**20,
            "compile_s": round(compile_s, 1),
            "values": [np.asarray(out), np.asarray(loss), *map(np.asarray, grads),
                       *map(np.asarray, new_ntv)],
            "params": int(net.count_params()),
        }
    plain, full = rows[None], rows["full"]
    diff = max(float(np.max(np.abs(a - b))) for a, b in zip(plain["values"], full["values"],
                                                             strict=True))
    return {"family": family, "hparams": hparams, "batch": BATCH, "steps": steps,
            "params": plain["params"], "temp_mb_none": round(plain["temp_mb"], 2),
            "temp_mb_full": round(full["temp_mb"], 2),
            "ratio": round(full["temp_mb"] / plain["temp_mb"], 3) if plain["temp_mb"] else None,
            "max_diff": diff, "compile_s": [plain["compile_s"], full["compile_s"]],
            "backend": "jax " + jax.__version__, "device": jax.devices()[0].platform}


def _rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def one_tf_step(family, hparams, steps, remat, out):
    """tensorflow, in a fresh process: the gradient of the loss from the initial
    weights (a `tf.function`), then one compiled `train_on_batch` at learning rate 0
    after a warm-up on 2 examples (its peak memory; only the moving statistics
    move). Writes the predictions, loss, gradients and weights after to `out`
    (.npz) and returns the rise of the peak RSS over the step."""
    import resource

    import keras
    import numpy as np
    import tensorflow as tf

    import kzoo.zoo

    rng = np.random.default_rng(0)
    x = rng.normal(size=(BATCH, steps, CHANNELS)).astype("float32")
    y = rng.integers(0, CLASSES, BATCH)
    keras.utils.set_random_seed(0)
    drop = "lstm_dropout" if family == "lstm_fcn" else "dropout"
    net = kzoo.zoo.create(family, (steps, CHANNELS), CLASSES, remat=remat,
                          **{**hparams, drop: 0.0}, optimizer="sgd", learning_rate=0.0)
    predicted = net.predict(x, verbose=0)

    @tf.function
    def gradient(x, y):
        with tf.GradientTape() as tape:
            out = net(x, training=True)
            loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, out))
        return loss, tape.gradient(loss, net.trainable_variables)

    weights = net.get_weights()
    loss, grads = gradient(x, y)
    net.set_weights(weights)  # the gradient's pass moved the moving statistics
    net.train_on_batch(x[:2], y[:2])  # builds and compiles (a 2-example step)
    before = _rss_mb()
    net.train_on_batch(x, y)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before
    np.savez(out, predicted=predicted, loss=np.asarray(loss),
             **{f"g{i}": np.asarray(g) for i, g in enumerate(grads)},
             **{f"w{i}": w for i, w in enumerate(net.get_weights())})
    return peak


def measure_tf(family, hparams, steps, tmp):
    import subprocess

    import numpy as np

    rows = {}
    for remat in (None, "full"):
        out = pathlib.Path(tmp) / f"{family}-{remat}.npz"
        code = (f"import sys; sys.path.insert(0, {str(HERE)!r}); import remat_memory_jax as b; "
                f"print(b.one_tf_step({family!r}, {hparams!r}, {steps}, {remat!r}, {str(out)!r}))")
        env = {**os.environ, "KERAS_BACKEND": "tensorflow", "MALLOC_MMAP_THRESHOLD_": "65536",
               "TF_CPP_MIN_LOG_LEVEL": "3"}
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                              text=True, check=True)
        rows[remat] = (float(done.stdout.split()[-1]), dict(np.load(out)))
    (peak_none, a), (peak_full, b) = rows[None], rows["full"]
    worst = max(a, key=lambda k: float(np.max(np.abs(a[k] - b[k]))))
    return {"family": family, "hparams": hparams, "batch": BATCH, "steps": steps,
            "rss_peak_mb_none": round(peak_none, 1), "rss_peak_mb_full": round(peak_full, 1),
            "ratio": round(peak_full / peak_none, 3) if peak_none > 0 else None,
            "max_diff": float(np.max(np.abs(a[worst] - b[worst]))), "worst": worst,
            "backend": "tensorflow"}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two tiny models, 32 steps")
    parser.add_argument("--families", help="comma-separated subset")
    parser.add_argument("--tensorflow", action="store_true",
                        help="tensorflow instead: a fresh process per setting, RSS peak")
    args = parser.parse_args(argv)
    cases = QUICK if args.quick else CASES
    if args.families:
        cases = {f: cases[f] for f in args.families.split(",")}
    rows = []
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        for family, hparams in cases.items():
            steps = 32 if args.quick else STEPS
            row = (measure_tf(family, hparams, steps, tmp) if args.tensorflow
                   else measure(family, hparams, steps))
            print(json.dumps(row), flush=True)
            rows.append(row)
    if not args.quick:
        path = RESULTS.with_name("remat_memory_tf.json") if args.tensorflow else RESULTS
        path.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
