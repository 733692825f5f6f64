"""Every recipe shipped in `kzoo.recipes`: keras-io form, one backend line, public
API only, and a fast run (KZOO_FAST=1) in a fresh process from a copied file."""

import ast
import os
import pathlib
import re
import subprocess
import sys

import pytest

from kzoo import recipes

NAMES = recipes.names()
# `import kzoo` before keras picks an installed backend (a hard-coded jax broke the
# recipes on a tensorflow-only install).
BACKEND_LINE = "import kzoo  # before keras: picks an installed backend"
# The shared UCR mirror beside the checkout (as in tests/conftest.py), wherever it is cloned.
UCR_DATA = pathlib.Path(
    os.environ.get("KZOO_DATA", pathlib.Path(__file__).resolve().parents[2].parent / "shared"
                   / "data" / "ucr")
)


def test_recipes_are_found():
    assert {"lr_finder", "resume_training", "sequence_classification"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_keras_io_header(name):
    header = ast.get_docstring(ast.parse(recipes.source(name)), clean=False)
    for field in ("Title:", "Author:", "Date created:", "Description:"):
        assert re.search(rf"^{field} \S", header, re.M), f"{name} header lacks {field}"
    assert recipes.summary(name)


@pytest.mark.parametrize("name", NAMES)
def test_sections_only_at_module_level(name):
    text = recipes.source(name)
    assert re.search(r'^"""\n?## ', text, re.M), f"{name} has no section cells"
    indented = re.search(r"^[ \t]+\"\"\"\n?[ \t]*## ", text, re.M)
    assert not indented, f"{name} has an indented section"


@pytest.mark.parametrize("name", NAMES)
def test_one_backend_line_before_keras(name):
    text = recipes.source(name)
    assert text.count(BACKEND_LINE) == 1
    first_keras = min(
        m.start() for m in re.finditer(r"^(import keras|from (keras|kzoo)\b)", text, re.M)
    )
    assert text.index(BACKEND_LINE) < first_keras


@pytest.mark.parametrize("name", NAMES)
def test_public_api_only(name):
    tree = ast.parse(recipes.source(name))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            modules = [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            modules = [a.name for a in node.names]
        elif isinstance(node, ast.Attribute) and re.match(r"_(?!_)", node.attr):
            pytest.fail(f"{name} uses a private attribute {node.attr}")
        else:
            continue
        for module in modules:
            assert not any(part.startswith("_") for part in module.split(".")), (name, module)


def _run_fast(name, tmp_path):
    path = recipes.copy(name, tmp_path)
    env = {**os.environ, "KZOO_FAST": "1", "KERAS_BACKEND": "torch", "OMP_NUM_THREADS": "1",
           "KZOO_DATA": str(UCR_DATA)}
    return subprocess.run([sys.executable, str(path)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)


SLOW = {"distributed_tuning", "gradient_problems", "tune_lr_batch_depth", "tune_on_a_cluster"}


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in NAMES]
)
def test_runs_in_fast_mode(name, tmp_path):
    if os.environ.get("KERAS_BACKEND", "jax") != "torch":
        # Once, on torch: a fast run is a few tiny steps, where jax's compile dominates
        # (tune_lr_batch_depth: 34.7 s on jax, 11.5 s on torch, same machine and load).
        # The recipes' default backend, jax, runs lr_finder in CI's wheel check.
        pytest.skip("recipes run once, on torch (cheapest for tiny runs), from its suite")
    if name == "ucr_classification" and not (UCR_DATA / "GunPoint").is_dir():
        pytest.skip(f"no UCR GunPoint under {UCR_DATA} (set KZOO_DATA)")
    done = _run_fast(name, tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert done.stdout.strip(), f"{name} printed nothing"
