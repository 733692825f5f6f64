"""Keep TensorFlow's C++ start-up lines out of the `kzoo` command's output.

TensorFlow 2.21 writes "All log messages before absl::InitializeLog() ..." and
"oneDNN custom operations are on ..." straight to file descriptor 2 while it is
imported, before `TF_CPP_MIN_LOG_LEVEL` is read (measured: levels 2 and 3 do not
hide them). keras or keras_tuner import it whenever it is installed, on any
backend. So the CLI, and only the CLI, silences fd 2 for the duration of that one
import; Python exceptions still propagate and print once it is restored.
"""

import contextlib
import importlib.abc
import os
import sys


@contextlib.contextmanager
def _fd2_to_devnull():
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class _QuietTensorFlowFinder(importlib.abc.MetaPathFinder):
    """Wraps the loader of the top-level `tensorflow` package so that its module
    body (the C++ library load) runs with fd 2 silenced."""

    searching = False

    def find_spec(self, fullname, path, target=None):
        # importlib.util.find_spec (a backend check) also asks, without importing, so
        # the finder stays in place until tensorflow is imported.
        if fullname != "tensorflow" or self.searching:
            return None
        from importlib.util import find_spec

        self.searching = True
        try:
            spec = find_spec(fullname)
        finally:
            self.searching = False
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def quiet_exec_module(module):
            with _fd2_to_devnull():
                exec_module(module)

        spec.loader.exec_module = quiet_exec_module
        return spec


def quiet_tensorflow_import():
    """Install the finder unless tensorflow is already imported (idempotent)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # its later INFO/WARNING lines
    if "tensorflow" in sys.modules:
        return
    if not any(isinstance(f, _QuietTensorFlowFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlowFinder())
