"""Out of memory from any backend is a machine error (exit 4) with the advice to
shrink the run; the run folder kzoo made is removed when nothing was trained, or
marked failed (issue 26). Injected errors; one backend: the mapping is backend-free."""

import json

import keras
import pytest
from _backends import one_backend

from kzoo import rundir as layout
from kzoo.cli import main
from kzoo.runtime.errors import EXIT_ENVIRONMENT, MachineError, out_of_memory
from kzoo.training import train

pytestmark = one_backend("torch", "error mapping; one backend is enough")
TINY = dict(epochs=2, batch_size=256, hparams={"width": 8, "depth": 1}, verbose=0)
JAX_OOM = "RESOURCE_EXHAUSTED: Out of memory allocating 5123396833664 bytes."


class OutOfMemoryError(RuntimeError):
    """Named like torch.cuda.OutOfMemoryError (a RuntimeError)."""


class _Exhaust(keras.callbacks.Callback):
    def __init__(self, epoch, error):
        super().__init__()
        self.epoch, self.error = epoch, error

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise self.error


@pytest.mark.parametrize("error", [RuntimeError(JAX_OOM), OutOfMemoryError("CUDA out of "
                                   "memory. Tried to allocate 4.00 GiB"), MemoryError()],
                         ids=["jax-tf", "torch-cuda", "host"])
def test_out_of_memory_messages_name_the_machine_and_the_fix(error):
    message = out_of_memory(error)
    assert message.startswith("out of memory") and "--batch-size" in message
    assert "\n" not in message
    assert out_of_memory(RuntimeError("shapes do not match")) is None
    assert out_of_memory(ValueError("bad value")) is None


def test_out_of_memory_before_anything_trained_removes_the_new_run(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(MachineError, match="out of memory.*--batch-size"):
        train("mlp", "digits", out=str(out), callbacks=[_Exhaust(0, RuntimeError(JAX_OOM))],
              **TINY)
    assert not out.exists()
    empty = tmp_path / "empty"  # the user's folder: kept, emptied of kzoo's files only
    empty.mkdir()
    with pytest.raises(MachineError):
        train("mlp", "digits", out=str(empty), callbacks=[_Exhaust(0, MemoryError())], **TINY)
    assert empty.is_dir() and list(empty.iterdir()) == []


def test_out_of_memory_after_a_checkpoint_marks_the_run_failed(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(MachineError) as err:
        train("mlp", "digits", out=str(out), checkpoint_every_epochs=1,
              callbacks=[_Exhaust(1, OutOfMemoryError("CUDA out of memory."))], **TINY)
    assert err.value.exit_code == EXIT_ENVIRONMENT
    summary = json.loads((out / layout.SUMMARY_FILE).read_text())
    assert summary["status"] == "failed" and "out of memory" in summary["failed"]
    assert layout.has_checkpoint(out)


def test_the_cli_exits_4_with_one_line(tmp_path, monkeypatch, capsys):
    from kzoo.training import runner

    def exhausted(*args, **kwargs):
        raise RuntimeError(JAX_OOM)

    monkeypatch.setattr(runner, "run_session", exhausted)
    out = tmp_path / "run"
    code = main(["train", "--model", "mlp", "--data", "digits", "--epochs", "1",
                 "--out", str(out), "--hp", "width=8"])
    assert code == EXIT_ENVIRONMENT
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "smaller --batch-size" in err
    assert not out.exists()
