"""A folder of `.npy` files, streamed from disk (`kzoo.datasets.npy_folder`): the same
splits, statistics and trained weights as the arrays in memory, a bounded peak RSS
on data larger than the bound, and one-line errors naming the file."""

import json
import os
import sys

import keras
import numpy as np
import pytest
from _backends import one_backend

import kzoo
from kzoo import datasets
from kzoo.datasets.npy_rows import NpyRows
from kzoo.fit.batches import ShuffledBatches
from kzoo.runtime.errors import DataError

ONE_BACKEND = one_backend("tensorflow", "numpy only")
SETTINGS = dict(epochs=2, batch_size=64, hparams={"width": 16, "depth": 1}, verbose=0)


def _data(n=600, shape=(6,), seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(3.0, 2.0, size=(n, *shape))  # float64 on disk: cast as from_arrays does
    y = (x.reshape(n, -1)[:, 0] > 3).astype("int64") + (x.reshape(n, -1)[:, 1] > 3)
    return x, y


def _save(folder, x, y, cuts=()):
    """x.npy/y.npy, or shards x_000.npy... split at `cuts`."""
    folder.mkdir(parents=True, exist_ok=True)
    if not cuts:
        np.save(folder / "x.npy", x)
        np.save(folder / "y.npy", y)
        return folder
    for i, (a, b) in enumerate(zip((0, *cuts), (*cuts, len(x)), strict=True)):
        np.save(folder / f"x_{i:03d}.npy", x[a:b])
        np.save(folder / f"y_{i:03d}.npy", y[a:b])
    return folder


@ONE_BACKEND
def test_a_folder_loads_as_the_arrays_do(tmp_path):
    x, y = _data()
    folder = _save(tmp_path / "shards", x, y, cuts=(250, 500))
    streamed = datasets.load(f"{folder}:test=0.2", seed=3)
    ref = datasets.from_arrays(x, y, val=0.2, test=0.2, seed=3)
    assert isinstance(streamed.x_train, NpyRows) and streamed.summary().endswith("360/120/120")
    for part in ("train", "val", "test"):
        np.testing.assert_array_equal(np.asarray(getattr(streamed, f"x_{part}")),
                                      getattr(ref, f"x_{part}"))
        np.testing.assert_array_equal(getattr(streamed, f"y_{part}"), getattr(ref, f"y_{part}"))
    assert streamed.info["standardize"] == ref.info["standardize"]
    # Multi-process slicing: each process's slice of every padded global batch, together,
    # is the in-memory batch.
    for i in range(3):
        parts = [ShuffledBatches(streamed.x_train, streamed.y_train, 50, 7, pad_to=4,
                                 process_index=p, process_count=2)[i] for p in range(2)]
        whole = ShuffledBatches(ref.x_train, ref.y_train, 50, 7, pad_to=4)[i]
        for k in range(3):
            np.testing.assert_array_equal(np.concatenate([p[k] for p in parts]), whole[k])
    # 2-D rows as one-channel sequences, and val/ given beside the data.
    seq_x, seq_y = _data(200, (12,), seed=1)
    seq = _save(tmp_path / "seq", seq_x, seq_y)
    _save(seq / "val", *_data(40, (12,), seed=2))
    ds = datasets.load(str(seq), kind="sequence")
    assert ds.input_shape == (12, 1) and len(ds.x_val) == 40 and ds.info["val"] == "given"
    ref = datasets.from_arrays(seq_x, seq_y, val=_data(40, (12,), seed=2), kind="sequence")
    np.testing.assert_array_equal(np.asarray(ds.x_val), ref.x_val)


def test_streamed_data_trains_to_the_in_memory_weights(tmp_path):
    # 640 examples: whole batches everywhere, and uncompiled steps (the same on both
    # routes), so no backend spends its time compiling
    x, y = _data(640)
    folder = _save(tmp_path / "data", x, y, cuts=(300,))
    npz = tmp_path / "data.npz"
    np.savez(npz, x_train=x, y_train=y)
    settings = dict(SETTINGS, compile="auto" if keras.backend.backend() == "jax" else "off")
    streamed = kzoo.train("mlp", f"{folder}:test=0.2", out=str(tmp_path / "s"), **settings)
    memory = kzoo.train("mlp", f"{npz}:test=0.2", out=str(tmp_path / "m"), **settings)
    for a, b in zip(streamed.model.get_weights(), memory.model.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)
    for key in ("final_loss", "final_val_loss", "test_loss", "test_accuracy"):
        assert streamed.summary[key] == pytest.approx(memory.summary[key], abs=1e-5), key
    assert len(streamed.history["loss"]) == len(memory.history["loss"]) == 2


class _Interrupt(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if int(keras.ops.convert_to_numpy(self.model.optimizer.iterations)) == 11:
            raise KeyboardInterrupt


@ONE_BACKEND
def test_a_streamed_run_resumes_exactly(tmp_path):
    folder = _save(tmp_path / "data", *_data(500), cuts=(200,))
    common = dict(SETTINGS, checkpoint_every_steps=4)
    ref = kzoo.train("mlp", str(folder), out=str(tmp_path / "ref"), **common)
    with pytest.raises(KeyboardInterrupt):
        kzoo.train("mlp", str(folder), out=str(tmp_path / "run"), callbacks=[_Interrupt()],
                   **common)
    resumed = kzoo.train("mlp", str(folder), out=str(tmp_path / "run"), resume=True, **common)
    for a, b in zip(ref.model.get_weights(), resumed.model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["data"] == str(folder)


def _bad(tmp_path, case):
    x, y = _data(100)
    folder = _save(tmp_path / case, x, y, cuts=(60,))
    if case == "no_y":
        os.remove(folder / "y_001.npy")
    elif case == "lengths":
        np.save(folder / "y_001.npy", y[60:90])
    elif case == "shapes":
        np.save(folder / "x_001.npy", x[60:, :4])
    elif case == "dtypes":
        np.save(folder / "x_001.npy", x[60:].astype("float32"))
    elif case == "nan":
        bad = x[60:].copy()
        bad[7, 2] = np.nan
        np.save(folder / "x_001.npy", bad)
    elif case == "negative":
        np.save(folder / "y_001.npy", y[60:] - 1)
    elif case == "layouts":
        np.save(folder / "x.npy", x)
    elif case == "truncated":
        with open(folder / "x_001.npy", "r+b") as f:
            f.truncate(200)
    elif case == "empty":
        for p in folder.iterdir():
            p.unlink()
    return folder


CASES = {
    "no_y": r"x_001\.npy has no y_001\.npy beside it",
    "lengths": r"x has 40 examples but y_001\.npy has 30 labels",
    "shapes": r"x_001\.npy holds examples shaped \(4,\).*same example shape and dtype",
    "dtypes": r"x_001\.npy holds examples shaped \(6,\) of float32.*re-save it to match",
    "nan": r"x_001\.npy: row 7 holds NaN or inf features.*impute",
    "negative": r"y holds negative class labels",
    "layouts": r"both x\.npy/y\.npy and numbered shards",
    "truncated": r"x_001\.npy is truncated.*re-save",
    "empty": r"holds no x\.npy/y\.npy pair",
}


@ONE_BACKEND
def test_a_bad_folder_is_one_line_naming_the_file(tmp_path):
    for case, message in CASES.items():
        folder = _bad(tmp_path, case)
        before = sorted((p.name, p.stat().st_size) for p in folder.iterdir())
        with pytest.raises(DataError, match=message) as err:
            datasets.load(str(folder))
        assert "\n" not in str(err.value), case
        assert sorted((p.name, p.stat().st_size) for p in folder.iterdir()) == before, case


# The peak RSS check: training on 300 MB of features may grow the process's peak RSS by at
# most 100 MB over its RSS before (an in-memory load alone holds them twice: read, then
# standardised). In this process, after a warm-up run (imports, compilation): a 300 MB
# array, were it built, is its own mapping and shows in the peak.
DATA_MB, BOUND_MB = 300, 100


def _rss_mb(key):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(key)) / 1024


def _write_large(folder, rows, features):
    """x.npy of `rows` float32 rows written block by block (never whole in memory)."""
    folder.mkdir()
    block = np.random.default_rng(0).normal(size=(1000, features)).astype("float32")
    with open(folder / "x.npy", "wb") as f:
        header = {"descr": "<f4", "fortran_order": False, "shape": (rows, features)}
        np.lib.format.write_array_header_1_0(f, header)
        for start in range(0, rows, len(block)):
            f.write((block[: rows - start] + np.float32(start % 7)).tobytes())
    np.save(folder / "y.npy", (np.arange(rows) % 2).astype("int32"))


@pytest.mark.skipif(keras.backend.backend() != "torch" or not sys.platform.startswith("linux"),
                    reason="one backend (the lightest); the VmHWM reset is Linux's")
def test_peak_rss_stays_bounded_on_data_larger_than_the_bound(tmp_path):
    features = 4096
    _write_large(tmp_path / "big", DATA_MB * 2**20 // (4 * features), features)
    _write_large(tmp_path / "tiny", 300, features)
    settings = dict(epochs=1, batch_size=256, verbose=0, hparams={"width": 32, "depth": 1})
    kzoo.train("mlp", str(tmp_path / "tiny"), **settings)  # the warm-up
    base = _rss_mb("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # VmHWM restarts from the RSS now
    result = kzoo.train("mlp", str(tmp_path / "big"), **settings)
    growth = _rss_mb("VmHWM") - base
    assert len(result.history["loss"]) == 1 and result.summary["final_val_loss"] > 0
    assert growth < BOUND_MB, f"peak RSS grew by {growth:.0f} MB on {DATA_MB} MB of data"
