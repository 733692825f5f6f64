"""`kzoo.train(devices=N)`: data-parallel runs equal one-device runs, and resume exactly.

Virtual devices must exist before the backend starts, so the multi-device runs
are subprocesses (`_devices_worker.py`); each runs on its own backend only.
"""

import importlib.util
import json
import os
import pathlib
import signal
import subprocess
import sys

import keras
import numpy as np
import pytest
from _backends import one_backend

from kzoo.runtime.errors import UsageError
from kzoo.training import train
from kzoo.training.resume_plan import resume_point

HERE = pathlib.Path(__file__).parent
WORKER = HERE / "_devices_worker.py"
STEPS = 14  # 2 epochs of ceil(202 / 32) = 7 steps
JAX_ONLY = one_backend(
    "jax", "jax's DataParallel on 4 virtual CPU devices (XLA_FLAGS), a subprocess: one backend "
    "is enough for CI (tensorflow's MirroredStrategy has its own test)")


def _sigkill_helpers(monkeypatch):
    """test_checkpoint_sigkill's `_run_until`, pointed at this worker."""
    path = HERE.parent.parent / "callbacks" / "test_checkpoint_sigkill.py"
    spec = importlib.util.spec_from_file_location("_checkpoint_sigkill_helpers", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "WORKER", WORKER)
    return module._run_until


def _worker(run_dir, out, mode, devices):
    env = dict(os.environ, KERAS_BACKEND=keras.backend.backend(), JAX_PLATFORMS="cpu",
               XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
    proc = subprocess.run(
        [sys.executable, str(WORKER), str(run_dir), str(out), mode, str(devices)],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert proc.returncode == 0 and "DONE" in proc.stdout, proc.stderr[-3000:]
    return proc.stdout.splitlines()


def _assert_same_scores(many_dir, one_dir):
    """summary.json's test scores (11 examples: a padded batch) match."""
    many, one = (json.loads((d / "summary.json").read_text()) for d in (many_dir, one_dir))
    for key in ("test_loss", "test_accuracy"):
        assert many[key] == pytest.approx(one[key], rel=1e-5), key


def _assert_same_run(z, a, b, atol, exact=False):
    names = sorted(k[len(a) + 1:] for k in z.files if k.startswith(f"{a}/"))
    assert any("kernel" in k for k in names)
    for name in names:
        if name == "device_count":
            continue
        x, y = z[f"{a}/{name}"], z[f"{b}/{name}"]
        if exact:
            assert np.array_equal(x, y), name
        else:
            np.testing.assert_allclose(x, y, rtol=0, atol=atol, err_msg=name)


@JAX_ONLY
@pytest.mark.slow
def test_jax_four_devices_equal_one_device_and_resume_bit_equal_after_sigkill(
    tmp_path, monkeypatch
):
    # One test for both (each subprocess and jit compile costs CI seconds).
    run_until = _sigkill_helpers(monkeypatch)
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=4")
    run_dir, out = tmp_path / "run", tmp_path / "out.npz"
    # Killed after step 11: its last checkpoint is step 9's (every 3 steps), mid-epoch 2.
    code, lines = run_until(run_dir, out, "step 11", ["train", "4"])
    assert code == -signal.SIGKILL, lines[-3:]
    epoch, step = resume_point(run_dir)
    assert (epoch, step) == (1, 2)  # after epoch 1's padded last batch
    code, lines = run_until(run_dir, out, None, ["resume", "4"])
    assert code == 0 and lines[-1] == "DONE", lines[-3:]
    # It resumed: the resumed session ran only the steps left.
    assert sum(line.startswith("step") for line in lines) == STEPS - 7 - step
    with np.load(out) as z:
        assert int(z["resumed/device_count"]) == int(z["many/device_count"]) == 4
        assert int(z["one/device_count"]) == 1
        # SIGKILL + resume on 4 devices: bit-equal to the uninterrupted 4-device run.
        _assert_same_run(z, "resumed", "many", atol=0, exact=True)
        # 4 devices vs 1, same global batch: the weights after 2 epochs, and every
        # epoch's loss, accuracy and validation metrics (202 and 17 examples: padded).
        _assert_same_run(z, "many", "one", atol=1e-5)
        assert set(z.files) >= {"many/history/val_accuracy", "many/history/accuracy"}
    # The gradient log (global and per-layer norms every 3 steps) too.
    many, one = (np.genfromtxt(tmp_path / name / "grad_norms.csv", delimiter=",", names=True)
                 for name in ("run-reference", "run-one"))
    assert many.dtype.names == one.dtype.names and len(many) == len(one) == 5  # 0, 3, .., 12
    for column in many.dtype.names:
        np.testing.assert_allclose(many[column], one[column], rtol=1e-5, err_msg=column)
    _assert_same_scores(tmp_path / "run-reference", tmp_path / "run-one")
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["devices"] == 4 and config["resolved"]["devices"]["value"] == 4
    assert config["batch_size"] == 32  # the global batch, as given


@one_backend("tensorflow", "tensorflow's MirroredStrategy on 2 logical CPUs, a subprocess")
@pytest.mark.slow
def test_tensorflow_two_replicas_equal_one_device_and_refuse_gradient_logs(tmp_path):
    lines = _worker(tmp_path / "run", tmp_path / "out.npz", "equal", 2)
    refused = next(line for line in lines if line.startswith("REFUSED"))
    assert "--grad-log-every 1" in refused and "--backend jax" in refused
    assert "WROTE False" in lines  # refused before anything was written
    hook = next(line for line in lines if line.startswith("HOOK REFUSED"))
    assert "GradientNormLogger under a tf.distribute strategy of 2 replicas" in hook
    # BatchNorm is synchronized under the strategy, and plain again in the trained model
    # (its model.keras loads on every backend).
    assert "SYNCHRONIZED [True]" in lines and "BATCHNORM 1 [False]" in lines
    # Keras' global_clipnorm clips each replica's gradient unless made global.
    _, made_global, per_replica = next(li for li in lines if li.startswith("CLIPPED")).split()
    assert float(made_global) < 1e-5 < 1e-3 < float(per_replica)
    with np.load(tmp_path / "out.npz") as z:
        assert int(z["many/device_count"]) == 2 and int(z["one/device_count"]) == 1
        _assert_same_run(z, "many", "one", atol=1e-5)
    _assert_same_scores(tmp_path / "run", tmp_path / "run-one")


def test_torch_refuses_several_devices_before_writing(tmp_path):
    if keras.backend.backend() != "torch":
        pytest.skip("the torch backend's refusal (the other backends' runs are above)")
    with pytest.raises(UsageError, match=r"Keras 3\.15 has no torch.*#23316.*3\.16"):
        train("mlp", "digits", devices=2, epochs=1, out=str(tmp_path / "run"), verbose=0)
    assert not (tmp_path / "run").exists()
