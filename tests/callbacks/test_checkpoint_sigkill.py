"""Exact resume after real SIGKILLs, in subprocesses (one keras import each).

A run is killed at a random step, then killed again while writing a
checkpoint, then resumed to the end; its final weights must equal those of an
uninterrupted run with the same seed (computed by the last subprocess).
"""

import os
import pathlib
import signal
import subprocess
import sys

import keras
import numpy as np
import pytest

WORKER = pathlib.Path(__file__).with_name("_resume_worker.py")
TOTAL_STEPS = 20  # the worker's 4 epochs x 5 steps


def _run_until(run_dir, out, kill_on, extra=()):
    """Start the worker; SIGKILL it when a stdout line equals `kill_on`."""
    env = dict(os.environ, KERAS_BACKEND=keras.backend.backend())
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), str(run_dir), str(out), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    lines = []
    for line in proc.stdout:
        lines.append(line.strip())
        if kill_on is not None and line.strip() == kill_on:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=120)
    proc.stdout.close()
    return proc.returncode, lines


@pytest.mark.slow
def test_sigkill_at_random_steps_and_mid_write_resumes_exactly(tmp_path):
    rng = np.random.default_rng(abs(hash(keras.backend.backend())) % 1000)
    first = int(rng.integers(2, 9))
    second = int(rng.integers(first + 2, 16))
    run_dir, out = tmp_path / "run", tmp_path / "final.npz"

    code, lines = _run_until(run_dir, out, f"step {first}")
    assert code == -signal.SIGKILL, lines[-3:]
    # Killed inside a checkpoint write: the half-written temp file must not count.
    code, lines = _run_until(run_dir, out, f"writing {second}", ["pause_in_write"])
    assert code == -signal.SIGKILL
    assert int(lines[0].split()[1]) >= first > 1  # it resumed, not restarted
    code, lines = _run_until(run_dir, out, None)
    assert code == 0 and lines[-1] == "DONE", lines[-3:]
    assert int(lines[0].split()[1]) >= second  # resumed from the last whole checkpoint
    assert not list(run_dir.glob(".tmp-*"))

    with np.load(out) as z:
        n = len([k for k in z.files if k.startswith("r")])
        assert n == 4
        assert list(z["epochs"]) == [4, 4]  # the history spans the whole run
        # Each epoch's logged loss too, the two interrupted epochs' included.
        np.testing.assert_allclose(z["losses"][0], z["losses"][1], rtol=1e-6)
        for i in range(n):
            resumed, reference = z[f"r{i}"], z[f"u{i}"]
            np.testing.assert_allclose(resumed, reference, rtol=0, atol=1e-6)
            # CPU kernels here are deterministic: the weights are bit-equal.
            assert np.array_equal(resumed, reference), f"weight {i} differs in the last bits"
