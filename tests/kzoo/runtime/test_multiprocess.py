"""Several processes on jax, one writer (`kzoo.runtime.processes`).

Two processes on 127.0.0.1 with 2 virtual CPU devices each (4 global devices)
train the same tiny MLP as one process with 4 virtual devices; jax's gloo CPU
collectives carry the all-reduce. Each runs in a subprocess (one keras import
each), all three at once.
"""

import json
import os
import pathlib
import socket
import subprocess
import sys

import numpy as np
import pytest
from _backends import one_backend

WORKER = pathlib.Path(__file__).with_name("_multiprocess_worker.py")
# Under 200 examples kzoo trains on train + val (the tiny-data protocol): 110 = 6 x 16 + 14,
# not a multiple of 4, so the last batch of each epoch is padded with 2 examples of weight 0.
N_TRAIN, N_VAL, N_FIT = 90, 20, 110

pytestmark = one_backend(
    "jax", "several processes join through keras.distribution.initialize, which kzoo supports "
    "on jax only (tf/torch refuse, tested in test_multiprocess_join.py)")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_data(path):
    rng = np.random.default_rng(0)

    def split(n):
        x = rng.normal(size=(n, 6)).astype("float32")
        return x, (x[:, 0] + x[:, 1] > 0).astype("int32") + (x[:, 2] > 0.5).astype("int32")

    (xt, yt), (xv, yv), (xs, ys) = split(N_TRAIN), split(N_VAL), split(20)
    np.savez(path, x_train=xt, y_train=yt, x_val=xv, y_val=yv, x_test=xs, y_test=ys)


def _start(args, devices):
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu",
               XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
    return subprocess.Popen([sys.executable, str(WORKER), *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _finish(proc, name):
    try:
        out, _ = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        pytest.fail(f"{name} hung (killed after 300 s):\n{out[-3000:]}")
    assert proc.returncode == 0, f"{name} failed:\n{out[-3000:]}"


def test_two_processes_see_each_example_once_write_once_and_match_one_process(tmp_path):
    data = tmp_path / "data.npz"
    _write_data(data)
    port = _free_port()
    run, single = tmp_path / "run", tmp_path / "run-single"
    procs = {
        "process 0": _start([data, run, tmp_path / "p0", f"127.0.0.1:{port}", 2, 0], 2),
        "process 1": _start([data, run, tmp_path / "p1", f"127.0.0.1:{port}", 2, 1], 2),
        "one process": _start([data, single, tmp_path / "single"], 4),
    }
    for name, proc in procs.items():
        _finish(proc, name)
    results = [json.loads((tmp_path / f"{p}.json").read_text()) for p in ("p0", "p1", "single")]
    assert [r["process_index"] for r in results] == [0, 1, 0]

    # (a) every example exactly once per epoch across the two processes; pads weigh 0
    for epoch in (0, 1):
        fed = [(i, w) for r in results[:2] for n, e, i, w in r["seen"] if (n, e) == (N_FIT, epoch)]
        real = sorted(i for i, w in fed if w > 0)
        assert real == list(range(N_FIT))
        assert len(fed) - len(real) == 2
        mine = [[i for n, e, i, w in r["seen"] if (n, e, w > 0) == (N_FIT, epoch, True)]
                for r in results[:2]]
        assert not set(mine[0]) & set(mine[1])
        assert mine[0] and mine[1]

    # (b) process 0 wrote the run, process 1 wrote nothing into it
    assert results[1]["writes"] == []
    assert ["os.rename", "config.json"] in results[0]["writes"]  # the audit sees kzoo's writes
    written = {p.name for p in run.iterdir()}
    assert written == {p.name for p in single.iterdir()}
    assert {"kzoo-run.json", "config.json", "history.csv", "summary.json", "model.keras",
            "grad_norms.csv", "checkpoints", "plots"} <= written
    assert len((run / "history.csv").read_text().splitlines()) == 3  # header + 2 epochs
    manifest = json.loads((run / "checkpoints" / "manifest.json").read_text())
    assert [e["epoch_end"] for e in manifest["checkpoints"]] == [0, 1]

    # a write that fails on process 0 stops process 1 too, and a disagreement stops both
    assert [e.split(":")[0] for e in results[0]["errors"]] == ["OSError", "UsageError"]
    assert "Process 0 failed a simulated write" in results[1]["errors"][0]
    assert all("disagree on the index: [0, 1]" in r["errors"][1] for r in results[:2])
    assert results[2]["errors"] == ["OSError: simulated"]  # one process: no one to tell

    # (c) the same training as one process on 4 devices
    weights = [np.load(tmp_path / f"{p}.npz") for p in ("p0", "p1", "single")]
    for key in weights[2].files:
        np.testing.assert_allclose(weights[0][key], weights[2][key], atol=1e-5)
        np.testing.assert_array_equal(weights[0][key], weights[1][key])
    for key, values in results[2]["history"].items():
        np.testing.assert_allclose(results[0]["history"][key], values, rtol=1e-5, atol=1e-6)
    summaries = [json.loads((d / "summary.json").read_text()) for d in (run, single)]
    assert summaries[0]["test_accuracy"] == pytest.approx(summaries[1]["test_accuracy"])
