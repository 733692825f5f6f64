"""MiniRocket transform throughput: kzoo's Keras layer against aeon's numba MiniRocket.

Same data (a UCR set's training and test series), same size (~10,000 features),
timed after a warm-up call (jax compiles, numba JIT-compiles):

- fit: kzoo `MiniRocketFeatures.adapt` (biases + standardisation, which transforms
  the training set once) / aeon `MiniRocket.fit` (biases only);
- transform: the test series, examples per second.

Two environments: `python benchmarks/minirocket_throughput.py kzoo NAME` in kzoo's
(it also writes the series to /tmp for the other), then
`python benchmarks/minirocket_throughput.py aeon NAME` in a throwaway venv with
`pip install aeon` (never kzoo's). Rows are appended to minirocket_throughput.json.
"""

import json
import os
import pathlib
import sys
import time

import numpy as np

HERE = pathlib.Path(__file__).parent
OUT = HERE / "minirocket_throughput.json"


def _best(fn, repeats=3):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def run_kzoo(name):
    import keras

    from kzoo.datasets import load
    from kzoo.zoo.minirocket import MiniRocketFeatures
    from kzoo.zoo.minirocket_kernels import compiled as _compiled

    ds = load(f"ucr:{name}")
    x_train = np.concatenate([ds.x_train, ds.x_val])
    np.save(f"/tmp/mr_{name}_train.npy", x_train)
    np.save(f"/tmp/mr_{name}_test.npy", ds.x_test)
    layer = MiniRocketFeatures(seed=0)
    layer.adapt(x_train)  # warm-up (compiles)
    fit = _best(lambda: layer.adapt(x_train))
    transform = _compiled(layer.call)
    batches = [ds.x_test[i:i + 64] for i in range(0, len(ds.x_test), 64)]

    def apply():
        for b in batches:
            keras.ops.convert_to_numpy(transform(b))

    apply()
    seconds = _best(apply)
    return {"impl": f"kzoo ({keras.backend.backend()}, batch 64)", "features": layer.total,
            "fit_s": fit, "transform_s": seconds, "n_test": len(ds.x_test)}


def run_aeon(name):
    import aeon
    from aeon.transformations.collection.convolution_based import MiniRocket

    x_train = np.load(f"/tmp/mr_{name}_train.npy").transpose(0, 2, 1).astype("float32")
    x_test = np.load(f"/tmp/mr_{name}_test.npy").transpose(0, 2, 1).astype("float32")
    mr = MiniRocket(n_kernels=10_000, random_state=0)
    mr.fit(x_train)
    mr.transform(x_test[:2])  # numba JIT warm-up
    fit = _best(lambda: MiniRocket(n_kernels=10_000, random_state=0).fit(x_train))
    seconds = _best(lambda: mr.transform(x_test))
    return {"impl": f"aeon {aeon.__version__} (numba)", "features": None, "fit_s": fit,
            "transform_s": seconds, "n_test": len(x_test)}


def main():
    impl, name = sys.argv[1], sys.argv[2]
    row = {"kzoo": run_kzoo, "aeon": run_aeon}[impl](name)
    row.update(dataset=name, examples_per_s=row["n_test"] / row["transform_s"],
               load_avg_1min=os.getloadavg()[0], cpus=os.cpu_count())
    print(json.dumps(row))
    rows = json.loads(OUT.read_text()) if OUT.exists() else []
    OUT.write_text(json.dumps([*rows, row], indent=1) + "\n")


if __name__ == "__main__":
    main()
