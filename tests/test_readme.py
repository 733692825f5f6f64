"""The README's commands and snippets, as written.

Every `kzoo ...` line of a ```bash block must parse with kzoo's own parser
(after shell quoting, so an unquoted `[..]` that zsh would expand fails here);
the commands in RUN are run for real with one epoch, and the Python blocks run
as written, in order, in a scratch directory (one epoch per fit).
"""

import os
import pathlib
import re
import shlex
import subprocess
import sys

import pytest

from kzoo.cli import build_parser, main

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def blocks(lang):
    return re.findall(rf"^```{lang}\n(.*?)^```", README.read_text(), re.M | re.S)


def kzoo_commands():
    commands = []
    for block in blocks("bash"):
        text = block.replace("\\\n", " ")
        for line in text.splitlines():
            line = line.split(" #")[0].strip()
            if line.startswith("kzoo "):
                commands.append(line)
            elif " kzoo " in line and "=" in line.split(" kzoo ")[0]:  # VAR=... kzoo ...
                commands.append("kzoo " + line.split(" kzoo ", 1)[1])
    return commands


def test_readme_has_commands():
    assert len(kzoo_commands()) >= 10


@pytest.mark.parametrize("command", kzoo_commands())
def test_every_command_parses(command):
    argv = shlex.split(command)[1:]
    assert not any(re.search(r"[\[\]*?]", a) and "=" in a and a.startswith("--") for a in argv)
    try:
        build_parser().parse_args(argv)
    except SystemExit as exit_:  # --version and --help exit 0 after printing
        assert exit_.code == 0, command


# The README commands run here, with the epochs they need cut to one.
RUN = (
    "kzoo list",
    "kzoo describe lstm",
    "kzoo recipes",
    "kzoo train --model mlp --data digits --hp depth=3 --hp 'width=[256,128,64]' --hp norm=batch",
)


@pytest.mark.parametrize("command", RUN)
def test_listed_commands_run(command, tmp_path, monkeypatch):
    assert command in kzoo_commands(), "RUN must stay a subset of the README's commands"
    monkeypatch.chdir(tmp_path)
    argv = shlex.split(command)[1:]
    if argv[0] == "train":
        argv += ["--epochs", "1", "--quiet"]
    assert main(argv) == 0


# Runs before the README's Python blocks: every fit and kzoo.train gets one epoch.
ONE_EPOCH = """
import keras
import kzoo.training.runner as runner

_fit, _train = keras.Model.fit, runner.train
keras.Model.fit = lambda self, *a, **k: _fit(self, *a, **{**k, "epochs": 1, "verbose": 0})
runner.train = lambda *a, **k: _train(*a, **{**k, "epochs": 1})
"""


def test_python_blocks_run_in_order(tmp_path):
    """The README's Python blocks, one after the other in one process (later blocks
    use the model and data of earlier ones), with one epoch per fit."""
    if os.environ.get("KERAS_BACKEND", "jax") != "torch":
        # The snippets' subprocess runs on jax, started from one backend's suite
        # (torch's; CI's shards are balanced by time, tests/durations.json).
        pytest.skip("README snippets run once, on jax, from the torch suite")
    python = blocks("python")
    assert len(python) >= 3
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    done = subprocess.run([sys.executable, "-c", ONE_EPOCH + "\n".join(python)], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "False"  # the own-data block's last line
    assert (tmp_path / "runs" / "gru" / "summary.json").exists()
    assert (tmp_path / "runs" / "x" / "grad_norms.csv").exists()
    follow = next(c for c in kzoo_commands() if "waves.npz" in c)
    cwd = os.getcwd()
    try:
        os.chdir(tmp_path)
        assert main(shlex.split(follow)[1:] + ["--quiet"]) == 0
    finally:
        os.chdir(cwd)
    assert (tmp_path / "runs" / "waves" / "summary.json").exists()


def test_run_directory_description_lists_every_file():
    """The README's run-directory table names every file of a train run (`kzoo.rundir`)."""
    from kzoo import rundir
    from kzoo.plots.learning_curves import FILE_NAME as CURVES_PNG
    from kzoo.plots.learning_rate import LR_FIND_PNG, LR_SCHEDULE_PNG

    names = [*rundir.KIND_FILES["train"], rundir.MARKER_FILE, rundir.LOCK_FILE]
    text = README.read_text()
    for name in [*names, CURVES_PNG, LR_FIND_PNG, LR_SCHEDULE_PNG]:
        assert f"`{name}" in text, f"README's run directory omits {name}"
