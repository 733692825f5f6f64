"""`kzoo train --tensorboard` and `kzoo tune --tensorboard` on torch without
TensorFlow: .ci/tensorboard_check.py (the wheel smoke runs it on a clean jax install)
with tensorflow made unimportable in it and in every kzoo process it starts. Each
command is SIGKILLed mid-run and resumed; TensorBoard's own reader must read back
the tags, steps and values of history.csv, grad_norms.csv, trials.csv and the
HParams sessions (the check's own asserts)."""

import os
import pathlib
import subprocess
import sys

from _backends import one_backend

CHECK = pathlib.Path(__file__).parents[3] / ".ci" / "tensorboard_check.py"

# The jax proof is the wheel smoke's clean venv (CI); installing torch there is too
# slow, so torch's is here: this venv's python, seeing what a kzoo[torch,tensorboard]
# install holds (tensorflow and jax hidden).
pytestmark = one_backend(
    "torch", "torch's proof (jax's is CI's wheel smoke, in a venv without TensorFlow)")

# As if tensorflow and jax were not installed: the path finder does not see them
# (importing them raises ModuleNotFoundError, importlib.util.find_spec returns None,
# their distributions are not listed), and a process that has either in sys.modules
# at exit fails.
HIDE = '''
import atexit, os, sys
from importlib.machinery import PathFinder


def _hidden(name):  # modules and distributions (tensorflow-cpu, jaxlib, ...)
    top = (name or "").lower().replace("-", "_").partition(".")[0]
    return top.startswith("tensorflow") or top in ("jax", "jaxlib")


class _PathFinderHiding:
    def find_spec(self, name, path=None, target=None):
        return None if _hidden(name) else PathFinder.find_spec(name, path, target)

    def find_distributions(self, *args, **kwargs):
        return (d for d in PathFinder.find_distributions(*args, **kwargs)
                if not _hidden(d.metadata["Name"]))

    def __getattr__(self, name):
        return getattr(PathFinder, name)


sys.meta_path[:] = [_PathFinderHiding() if f is PathFinder else f for f in sys.meta_path]


@atexit.register
def _check():
    if {"tensorflow", "jax"} & set(sys.modules):
        sys.stderr.write("tensorflow or jax was imported\\n")
        sys.stderr.flush()
        os._exit(97)
'''


def test_train_and_tune_tensorboard_without_tensorflow_after_kills(tmp_path):
    site = tmp_path / "torch_install"
    site.mkdir()
    (site / "sitecustomize.py").write_text(HIDE)
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "KERAS_BACKEND": "torch", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(site),
                                                       os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, str(CHECK), str(work)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "PASS tensorboard: tensorflow is not importable here" in out
    assert out.count("PASS tensorboard train:") == 2 and out.count("PASS tensorboard tune:") == 2
    assert (work / "search" / "tb" / "trial_1" / "validation").is_dir()
