"""The CLI's rule for bugs (issue 25): only kzoo's error types, OSError, MemoryError and
Ctrl-C are one line; any other exception -- a RuntimeError or ValueError from Keras
or a backend inside `fit` included -- is a bug: its traceback, exit 1, and a copy in
the run directory's error.txt named on the last line. One backend: the boundary is
the same on all three."""

import keras
import pytest
from _backends import one_backend

import kzoo.cli.listing
from kzoo.cli import main
from kzoo.cli.bug import HEADER, write_error_file
from kzoo.runtime.errors import EXIT_BUG

pytestmark = one_backend("torch", "argument and error handling; one backend is enough")


def _crash_in_fit(monkeypatch, exc):
    """Make Keras' `fit` raise `exc` at its first batch, as a kernel failing would."""

    def boom(self, *args, **kwargs):
        raise exc

    monkeypatch.setattr(keras.callbacks.CallbackList, "on_train_batch_end", boom)


def _train(out, *flags):
    return main(["train", "--model", "mlp", "--data", "digits", "--epochs", "1", "--quiet",
                 "--hp", "width=8", "--out", str(out), *flags])


@pytest.mark.parametrize("exc", [
    RuntimeError("view size is not compatible with input tensor's size and stride"),
    ValueError("a check inside Keras"),
])
def test_an_error_inside_fit_is_a_bug_with_its_traceback_kept(tmp_path, capsys, monkeypatch,
                                                               exc):
    run = tmp_path / "run"
    _crash_in_fit(monkeypatch, exc)
    assert _train(run) == EXIT_BUG
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and str(exc) in err
    last = err.strip().splitlines()[-1]
    assert "bug" in last and str(run / "error.txt") in last and "report" in last
    assert "usage" not in err.lower()
    text = (run / "error.txt").read_text()
    assert text.startswith(HEADER + "\n") and "command: kzoo train --model mlp" in text
    assert "Traceback (most recent call last)" in text and str(exc) in text
    assert "in fit_run" in text and "in boom" in text  # the frames say where

    # A resumed run that crashes again replaces kzoo's own error.txt, never a user's.
    (run / "error.txt").write_text("my notes\n")
    assert main(["train", "--resume", str(run), "--quiet"]) == EXIT_BUG
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert "error.txt" not in last and "traceback is above" in last
    assert (run / "error.txt").read_text() == "my notes\n"


def test_a_bug_without_a_run_directory_prints_its_traceback(capsys, monkeypatch):
    def cmd_list(args):
        raise KeyError("bug")

    monkeypatch.setattr(kzoo.cli.listing, "cmd_list", cmd_list)
    assert main(["list"]) == EXIT_BUG
    err = capsys.readouterr().err
    assert "Traceback" in err and "KeyError: 'bug'" in err
    assert "bug in kzoo" in err.strip().splitlines()[-1] and "error.txt" not in err


def test_error_file_replaces_only_kzoo_s_own(tmp_path):
    assert write_error_file(tmp_path, f"{HEADER}\none\n") == tmp_path / "error.txt"
    assert write_error_file(tmp_path, f"{HEADER}\ntwo\n") == tmp_path / "error.txt"
    assert (tmp_path / "error.txt").read_text() == f"{HEADER}\ntwo\n"
    (tmp_path / "error.txt").write_bytes(b"\xff\xfe binary of the user's")
    assert write_error_file(tmp_path, f"{HEADER}\nthree\n") is None
    assert (tmp_path / "error.txt").read_bytes() == b"\xff\xfe binary of the user's"
    assert [p.name for p in tmp_path.iterdir()] == ["error.txt"]  # no temporary left
