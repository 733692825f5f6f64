"""`kzoo --version` prints the installed package's version."""

import importlib.metadata

import pytest

from kzoo.cli import main


def test_version_flag_prints_the_package_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out == f"kzoo {importlib.metadata.version('kzoo')}\n"
