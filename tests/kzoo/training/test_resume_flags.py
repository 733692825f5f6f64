"""`kzoo train --resume` with other flags: --epochs extends the run, anything that
would change it is refused with the list, never ignored; a run stopped before its
first checkpoint starts over (issue #13). torch only: the rules
are backend-free."""

import json
import shutil

import pytest
from _backends import one_backend

from kzoo import rundir as layout
from kzoo.cli import main
from kzoo.runtime.errors import EXIT_USAGE, UsageError
from kzoo.training import resume, train

pytestmark = one_backend("torch", "flag handling; one backend is enough")
TINY = dict(epochs=1, batch_size=64, hparams={"width": 8, "depth": 1}, verbose=0)


@pytest.fixture
def run(tmp_path):
    out = tmp_path / "run"
    train("mlp", "digits", out=str(out), **TINY)
    return out


def test_resume_refuses_flags_that_would_change_the_run(run, capsys):
    before = (run / layout.SUMMARY_FILE).read_text()
    code = main(["train", "--resume", str(run), "--lr", "0.01", "--batch-size", "32",
                 "--hp", "width=16"])
    assert code == EXIT_USAGE
    err = capsys.readouterr().err
    for word in ("lr=0.01", "batch_size=32", "hparams", "Drop them"):
        assert word in err, err
    assert (run / layout.SUMMARY_FILE).read_text() == before
    assert main(["train", "--resume", str(run), "--overwrite"]) == EXIT_USAGE
    assert main(["train", "--resume", str(run), "--out", str(run.parent / "x")]) == EXIT_USAGE
    with pytest.raises(UsageError, match="can only be extended"):
        resume(run, epochs=0, verbose=0)


def test_resume_with_the_run_s_own_values_is_accepted(run, capsys):
    assert main(["train", "--resume", str(run), "--batch-size", "64", "--quiet",
                 "--out", str(run)]) == 0


def test_epochs_extends_a_resumed_run_and_says_so(run, capsys):
    assert main(["train", "--resume", str(run), "--epochs", "2"]) == 0
    assert "Extending" in capsys.readouterr().out
    assert json.loads((run / layout.SUMMARY_FILE).read_text())["epochs_run"] == 2
    assert json.loads((run / layout.CONFIG_FILE).read_text())["epochs"] == 2


def test_resume_before_the_first_checkpoint_starts_over(run, capsys):
    shutil.rmtree(run / layout.CHECKPOINTS_DIR)
    (run / layout.SUMMARY_FILE).unlink()
    (run / layout.MODEL_FILE).unlink()
    assert main(["train", "--resume", str(run)]) == 0
    assert "starting it over" in capsys.readouterr().out
    assert json.loads((run / layout.SUMMARY_FILE).read_text())["epochs_run"] == 1
