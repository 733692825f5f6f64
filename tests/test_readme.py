"""The README's commands and snippets, as written.

Every `kzoo ...` line of a ```bash block must parse with kzoo's own parser
(after shell quoting, so an unquoted `[..]` that zsh would expand fails here);
the commands in RUN are run for real with tiny epochs, and the "Bring your own
data" Python block runs as written, in a scratch directory.
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


def test_bring_your_own_data_snippet_runs(tmp_path):
    if os.environ.get("KERAS_BACKEND", "jax") != "jax":
        pytest.skip("README snippets run once, on jax")
    snippet = next(b for b in blocks("python") if "from_arrays" in b)
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    done = subprocess.run([sys.executable, "-c", snippet], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "False"
    assert (tmp_path / "waves.npz").exists()
    follow = next(c for c in kzoo_commands() if "waves.npz" in c)
    monkeypatch_cwd = os.getcwd()
    try:
        os.chdir(tmp_path)
        assert main(shlex.split(follow)[1:] + ["--quiet"]) == 0
    finally:
        os.chdir(monkeypatch_cwd)
    assert (tmp_path / "runs" / "waves" / "summary.json").exists()


def test_run_directory_description_lists_every_file():
    """The README's run-directory table names every file `kzoo.training.run_dir` declares."""
    from kzoo.plots.learning_curves import FILE_NAME as CURVES_PNG
    from kzoo.plots.learning_rate import LR_FIND_PNG, LR_SCHEDULE_PNG
    from kzoo.training import run_dir

    names = [v for k, v in vars(run_dir).items()
             if k.endswith(("_FILE", "_DIR")) and isinstance(v, str)]
    text = README.read_text()
    for name in [*names, CURVES_PNG, LR_FIND_PNG, LR_SCHEDULE_PNG]:
        assert f"`{name}" in text, f"README's run directory omits {name}"
