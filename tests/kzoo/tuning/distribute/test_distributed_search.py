"""Searches in subprocesses: SIGKILL and resume, a chief with two workers."""

import json
import os
import signal
import subprocess

import pytest
from _backends import one_backend
from _tiny_search import completed, search_command, subprocess_env, wait_for

from kzoo.rundir import read_csv


def _only_on(backend):
    # Subprocess searches are slow; the engine is backend-neutral (KerasTuner's oracle
    # and kzoo's bookkeeping), so each runs on one backend to stay in the CI budget.
    return one_backend(backend, "subprocess search (CI time budget)")


@_only_on("torch")
@pytest.mark.slow
def test_sigkill_then_restart_continues_the_search(tmp_path):
    cmd, out = search_command(tmp_path, sleep=0.25, trials=4, workers=0), tmp_path / "out"
    env = subprocess_env(tmp_path)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    wait_for(lambda: len(completed(out / "trials.csv")) >= 1, 120, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = {r["trial_id"]: r for r in completed(out / "trials.csv")}

    rerun = subprocess.run(cmd, env=subprocess_env(tmp_path), capture_output=True, text=True,
                           timeout=180)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "Resuming the search" in rerun.stdout
    rows = read_csv(out / "trials.csv")
    assert [r["trial_id"] for r in rows] == [0, 1, 2, 3]
    assert {r["status"] for r in rows} == {"COMPLETED"}
    for trial_id, row in before.items():  # finished trials were not rerun
        assert rows[int(trial_id)] == row
    assert f"trial {int(max(before)) + 1} COMPLETED" in rerun.stdout
    assert json.loads((out / "best.json").read_text())["trials"]["completed"] == 4


# The chief-and-two-workers search with a killed worker (keras-tuner#915) is covered by
# test_search_at_scale.py, which also resumes the dead worker's trial from its checkpoint.
