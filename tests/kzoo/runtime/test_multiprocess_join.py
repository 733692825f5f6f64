"""Joining a multi-process job (`kzoo.runtime.processes.join`, `kzoo train --coordinator ...`):
bad settings and the backends that cannot join are refused before anything starts. The
real two-process run is in test_multiprocess.py (jax)."""

import keras
import pytest

from kzoo.cli import main
from kzoo.runtime import processes
from kzoo.runtime.errors import EXIT_USAGE, UsageError

ENV = (processes.ENV_COORDINATOR, processes.ENV_NUM_PROCESSES, processes.ENV_PROCESS_ID)


@pytest.fixture(autouse=True)
def _no_job_env(monkeypatch):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


def test_nothing_set_or_one_process_joins_nothing():
    assert processes.join() is False
    assert processes.join("127.0.0.1:1234", 1, 0) is False
    assert not processes.joined()
    assert processes.process_index() == 0 and processes.is_writer()
    processes.barrier("nothing to wait for")  # returns at once
    processes.agree(3, "a value", "no fix needed")


@pytest.mark.parametrize(
    "args, words",
    [
        (("127.0.0.1:1234", 2, None), ["--process-id is missing"]),
        ((None, 2, 0), ["--coordinator is missing"]),
        (("127.0.0.1:1234", 2, 2), ["--process-id must be 0 to 1"]),
        (("127.0.0.1:1234", 0, 0), ["--num-processes >= 1"]),
        (("127.0.0.1", 2, 0), ["is not HOST:PORT"]),
    ],
)
def test_bad_settings_are_named(args, words):
    with pytest.raises(UsageError) as err:
        processes.join(*args, backend="jax")
    for word in words:
        assert word in str(err.value)


@pytest.mark.parametrize(
    "backend, words",
    [("tensorflow", ["jax only", "MultiWorkerMirroredStrategy", "TF_CONFIG"]),
     ("torch", ["Keras 3.15 has no torch distribution", "#23316"])],
)
def test_other_backends_are_refused(backend, words):
    with pytest.raises(UsageError) as err:
        processes.join("127.0.0.1:1234", 2, 0, backend=backend)
    for word in [*words, "--backend jax"]:
        assert word in str(err.value)


def test_settings_default_to_keras_variables(monkeypatch):
    monkeypatch.setenv(processes.ENV_COORDINATOR, "127.0.0.1:1234")
    monkeypatch.setenv(processes.ENV_NUM_PROCESSES, "2")
    monkeypatch.setenv(processes.ENV_PROCESS_ID, "7")
    with pytest.raises(UsageError, match="--process-id must be 0 to 1"):
        processes.join(backend="jax")
    monkeypatch.setenv(processes.ENV_NUM_PROCESSES, "two")
    with pytest.raises(UsageError, match="KERAS_DISTRIBUTION_NUM_PROCESSES='two'"):
        processes.join(backend="jax")


def test_on_writer_runs_the_write_on_the_writer_only(monkeypatch):
    calls = []
    assert processes.on_writer("a write", lambda v: calls.append(v) or v, 5) == 5
    monkeypatch.setattr(processes, "is_writer", lambda: False)
    assert processes.on_writer("a write", calls.append, 6) is None
    assert calls == [5]


def test_cli_refuses_an_incomplete_job_before_writing(tmp_path, capsys):
    code = main(["train", "--model", "mlp", "--data", "digits", "--epochs", "1", "--quiet",
                 "--out", str(tmp_path / "run"), "--backend", keras.backend.backend(),
                 "--coordinator", "127.0.0.1:1234", "--num-processes", "2"])
    err = capsys.readouterr().err
    assert code == EXIT_USAGE and "--process-id is missing" in err
    assert not (tmp_path / "run").exists()
