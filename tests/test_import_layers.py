"""The layers of kzoo: the library (`zoo/`, `datasets/`, `callbacks/`) never
imports the application (`kzoo/`), and importing it loads no application module."""

import ast
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
LIBRARY = ("zoo", "datasets", "callbacks")
# kzoo.runtime.backend (which backend, and is it installed) is no application module: it is
# keras-free and `kzoo/__init__.py` itself imports it, so every `import kzoo.zoo`
# runs it anyway. The library may use it.
# kzoo.runtime.errors, kzoo.runtime.devices (which devices, the data-parallel engine) and
# kzoo.runtime.processes (which process writes, barriers) are the same kind: process-level
# facts the library needs (a callback writes on process 0 only), importing nothing
# of the application (test below).
FOUNDATION = (
    "kzoo.runtime.backend", "kzoo.runtime.errors", "kzoo.runtime.devices",
    "kzoo.runtime.processes", "kzoo.runtime.files", "kzoo.runtime.checks", "kzoo.reading",
)


def _kzoo_imports(path):
    """`(line, module)` of every absolute `kzoo...` import in a file, deferred ones too."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            names = names[:1] if node.module != "kzoo" else names[1:]
        else:
            continue
        yield from ((node.lineno, n) for n in names if n == "kzoo" or n.startswith("kzoo."))


@pytest.mark.parametrize("package", LIBRARY)
def test_library_imports_only_its_own_subpackage(package):
    files = sorted((ROOT / package).rglob("*.py"))
    assert files
    own = f"kzoo.{package}"
    bad = [
        f"{path.relative_to(ROOT)}:{line}: {name}"
        for path in files
        for line, name in _kzoo_imports(path)
        if name != own and not name.startswith(own + ".") and name not in FOUNDATION
        and name != "kzoo.runtime"
    ]
    assert not bad, "library modules import outside their subpackage:\n" + "\n".join(bad)


def test_foundation_modules_import_no_application_module():
    bad = [
        f"{name}:{line}: {imported}"
        for name in FOUNDATION
        for line, imported in _kzoo_imports(ROOT / (name.replace(".", "/") + ".py"))
        if imported not in FOUNDATION
        and not any(imported == f"kzoo.{p}" or imported.startswith(f"kzoo.{p}.") for p in LIBRARY)
    ]
    assert not bad, "foundation modules import the application:\n" + "\n".join(bad)


def test_the_checker_sees_upward_imports(tmp_path):
    path = tmp_path / "m.py"
    path.write_text(
        "import kzoo.training\nfrom kzoo import plots\nfrom kzoo.callbacks import x\n"
        "def f():\n    from kzoo.resume import fit_resumable\n"
    )
    assert [n for _, n in _kzoo_imports(path)] == [
        "kzoo.training", "kzoo.plots", "kzoo.callbacks", "kzoo.resume",
    ]


def test_importing_the_callbacks_loads_no_application_module():
    code = (
        "import sys, kzoo.callbacks; "
        "print(sorted(m for m in sys.modules if m.split('.')[:2] in "
        "(['kzoo', 'training'], ['kzoo', 'tuning'], ['kzoo', 'plots'], ['kzoo', 'cli'])))"
    )
    env = dict(os.environ)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "[]"
