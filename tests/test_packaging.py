"""Every kzoo package ships in the wheel: pyproject lists packages by hand (the
top-level zoo/, callbacks/, datasets/ and recipes/ map into `kzoo.*`), so a new
subpackage missing from the list would install from a clone and vanish from the wheel."""

import pathlib

import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_every_package_directory_is_listed_in_pyproject():
    setup = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed, dirs = set(setup["packages"]), setup["package-dir"]
    found = set()
    for name, folder in dirs.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join((name, *rel)))
    assert found - listed == set(), "packages missing from pyproject's packages list"
    assert listed - found == set(), "pyproject lists packages that do not exist"
