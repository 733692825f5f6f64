"""The layers of kzoo, from the bottom up, and which may import which:

    foundation   kzoo/runtime/ (and kzoo/reading.py)  -> nothing of kzoo
    library      zoo/, datasets/, callbacks/          -> the foundation
                 kzoo/fit/                            -> the foundation, callbacks/
                 kzoo/schedules/                      -> the foundation, callbacks/, kzoo/fit/
    application  the rest of kzoo/, recipes/          -> anything

and no module imports another that imports it back (directly or around a circle).
Deferred imports (inside functions) count: they are imports all the same.
"""

import ast
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
# Installed names of the top-level folders (pyproject's package-dir).
FOLDERS = {"kzoo.zoo": "zoo", "kzoo.datasets": "datasets", "kzoo.callbacks": "callbacks",
           "kzoo.recipes": "recipes"}
# kzoo.reading (file readers whose errors name the path and line) is foundation too:
# datasets/ reads its files with it. It moves with the run-directory work (h27b).
FOUNDATION = ("kzoo.runtime", "kzoo.reading")
# Each library package and the library packages it may import (besides the
# foundation and itself): an order, so the library has no circle between packages.
LIBRARY = {
    "kzoo.zoo": (),
    "kzoo.datasets": (),
    "kzoo.callbacks": (),
    "kzoo.fit": ("kzoo.callbacks",),
    "kzoo.schedules": ("kzoo.callbacks", "kzoo.fit"),
}
# No module circle and no two packages importing each other is tolerated (the last
# ones, cli <-> cli_train <-> cli_tune, plots <-> training, plots <-> tuning and
# cli <-> environment, ended with the kzoo/cli/ and kzoo/rundir/ packages).
KNOWN_CIRCLES = []
KNOWN_PACKAGE_PAIRS = []


def _within(name, package):
    return name == package or name.startswith(package + ".")


def _modules():
    """`{module name: path}` of every module of kzoo, the library folders included."""
    found = {}
    for path in sorted((ROOT / "kzoo").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        found[".".join(p for p in parts if p != "__init__")] = path
    for package, folder in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            found[".".join([package, *(p for p in parts if p != "__init__")])] = path
    return found


def _kzoo_imports(path):
    """`(line, module)` of every absolute `kzoo...` import in a file, deferred ones too;
    `from P import n` gives `P.n` (a module or a name in P, see `_resolve`)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        yield from ((node.lineno, n) for n in names if n == "kzoo" or n.startswith("kzoo."))


def _resolve(name, modules):
    """The module `name` means: itself, or the longest module prefix (`P.n` for a name n)."""
    while name not in modules and "." in name:
        name = name.rpartition(".")[0]
    return name if name in modules else None


MODULES = _modules()
GRAPH = {
    module: {r for _, n in _kzoo_imports(path) if (r := _resolve(n, MODULES)) not in (None, module)}
    for module, path in MODULES.items()
}


def _layer(module):
    if any(_within(module, f) for f in FOUNDATION):
        return "foundation"
    return next((p for p in LIBRARY if _within(module, p)), "application")


def _may_import(importer, imported):
    layer, target = _layer(importer), _layer(imported)
    if layer == "application" or target == "foundation":
        return True
    if layer == "foundation":
        return False
    # `import kzoo.fit.x` runs kzoo/__init__.py too: keras-free, it imports the foundation.
    return imported == "kzoo" or target == layer or target in LIBRARY[layer]


def _violations(graph):
    return sorted(f"{a} -> {b}" for a, targets in graph.items() for b in targets
                  if not _may_import(a, b))


def _circles(graph):
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_every_layer_imports_only_what_it_may():
    assert {"kzoo.runtime.errors", "kzoo.fit", "kzoo.schedules", "kzoo.zoo"} <= set(MODULES)
    bad = _violations(GRAPH)
    assert not bad, "imports against the layers (module -> module):\n" + "\n".join(bad)


def test_no_module_imports_itself_around_a_circle():
    circles = _circles(GRAPH)
    unknown = [sorted(c) for c in circles if c not in KNOWN_CIRCLES]
    assert not unknown, f"import circles between modules: {unknown}"


def _package(module):
    """The package a module belongs to: `kzoo.X` for `kzoo.X.Y...`; the CLI files
    (`kzoo/cli*.py`) count as one package, `kzoo.cli`."""
    parts = module.split(".")
    if len(parts) > 1 and parts[1].startswith("cli"):
        return "kzoo.cli"
    return ".".join(parts[:2])


def _package_pairs(graph):
    edges = {(_package(a), _package(b)) for a, targets in graph.items() for b in targets}
    return [{a, b} for a, b in sorted(edges) if a < b and (b, a) in edges]


def test_no_two_packages_import_each_other():
    pairs = [sorted(p) for p in _package_pairs(GRAPH) if p not in KNOWN_PACKAGE_PAIRS]
    assert not pairs, f"packages that import each other: {pairs}"


def test_the_checks_see_what_they_forbid(tmp_path):
    path = tmp_path / "m.py"
    path.write_text(
        "import kzoo.training\nfrom kzoo import plots\nfrom kzoo.callbacks import x\n"
        "def f():\n    from kzoo.resume import fit_resumable\n"
    )
    assert [n for _, n in _kzoo_imports(path)] == [
        "kzoo.training", "kzoo.plots", "kzoo.callbacks.x", "kzoo.resume.fit_resumable",
    ]
    graph = {
        "kzoo.runtime.errors": {"kzoo.callbacks.checkpoint"},   # foundation -> library
        "kzoo.callbacks.checkpoint": {"kzoo.fit.batches"},       # library, against the order
        "kzoo.zoo.mlp": {"kzoo.training.runner"},                # library -> application
        "kzoo.fit.batches": {"kzoo.callbacks.checkpoint", "kzoo.runtime.errors"},  # allowed
        "kzoo.training.runner": {"kzoo.zoo.mlp"},                # allowed
    }
    assert _violations(graph) == [
        "kzoo.callbacks.checkpoint -> kzoo.fit.batches",
        "kzoo.runtime.errors -> kzoo.callbacks.checkpoint",
        "kzoo.zoo.mlp -> kzoo.training.runner",
    ]
    assert sorted(map(sorted, _package_pairs(graph))) == [
        ["kzoo.callbacks", "kzoo.fit"], ["kzoo.training", "kzoo.zoo"],
    ]
    assert sorted(map(sorted, _circles(graph))) == [
        ["kzoo.callbacks.checkpoint", "kzoo.fit.batches", "kzoo.runtime.errors"],
        ["kzoo.training.runner", "kzoo.zoo.mlp"],
    ]


def test_importing_the_library_loads_no_application_module():
    code = (
        "import sys, kzoo.callbacks, kzoo.fit, kzoo.schedules, kzoo.zoo, kzoo.datasets; "
        "print(sorted(m for m in sys.modules if m.split('.')[:2] in "
        "(['kzoo', 'training'], ['kzoo', 'tuning'], ['kzoo', 'plots'], ['kzoo', 'cli'], "
        "['kzoo', 'diagnose'])))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=dict(os.environ), timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _within(m, "kzoo.runtime")))
def test_the_foundation_imports_no_keras_at_import(module):
    # `import kzoo` loads the foundation, and must leave the backend unchosen for --backend.
    tree = ast.parse(MODULES[module].read_text())
    top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    names = [a.name for n in top if isinstance(n, ast.Import) for a in n.names]
    names += [n.module for n in top if isinstance(n, ast.ImportFrom) and n.module]
    assert not [n for n in names if n.split(".")[0] in ("keras", "jax", "tensorflow", "torch")]
