"""kzoo.runtime.backend: which backend `import kzoo` picks, and the error for a missing one.

A missing backend is simulated, never uninstalled: in-process with a fake
`importlib.util.find_spec`, in a subprocess with a `sys.meta_path` finder that
refuses the blocked packages.
"""

import importlib.util
import os
import subprocess
import sys
import textwrap

import pytest

from kzoo.runtime import backend
from kzoo.runtime.errors import UsageError

_BLOCKER = """
import sys
class _Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
sys.meta_path.insert(0, _Block())
"""


def _run(code, *, blocked=(), env_backend=None):
    """Run `code` in a fresh interpreter with `blocked` packages unimportable."""
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    if env_backend:
        env["KERAS_BACKEND"] = env_backend
    script = _BLOCKER.format(blocked=set(blocked)) + textwrap.dedent(code)
    return subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )


@pytest.fixture
def fake_installed(monkeypatch):
    """Make only the given backends look installed to `find_spec`, keras not yet imported."""
    real = importlib.util.find_spec

    def install(*names):
        def find_spec(name, *args, **kwargs):
            if name in backend.BACKENDS:
                return real("os") if name in names else None
            return real(name, *args, **kwargs)

        monkeypatch.setattr(importlib.util, "find_spec", find_spec)
        monkeypatch.delenv("KERAS_BACKEND", raising=False)
        monkeypatch.delitem(sys.modules, "keras", raising=False)
        monkeypatch.setattr(backend, "_unannounced", None)

    return install


@pytest.mark.parametrize(
    "installed, expected",
    [
        (("jax", "torch", "tensorflow"), "jax"),
        (("torch", "tensorflow"), "torch"),
        (("tensorflow",), "tensorflow"),
        (("tensorflow", "jax"), "jax"),
    ],
)
def test_select_backend_takes_the_first_installed_in_order(
    fake_installed, installed, expected, capsys
):
    fake_installed(*installed)
    assert backend.select_backend() == expected
    assert os.environ["KERAS_BACKEND"] == expected
    assert capsys.readouterr().err == ""  # said when kzoo first imports keras
    backend.check_backend()
    backend.check_backend()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"using {expected}" in err


def test_an_explicit_choice_after_selection_is_not_misreported(fake_installed, capsys):
    fake_installed("jax", "torch")
    assert backend.select_backend() == "jax"
    backend.set_backend("torch")  # what the CLI's --backend does
    backend.check_backend()
    assert os.environ["KERAS_BACKEND"] == "torch" and capsys.readouterr().err == ""


def test_select_backend_sets_nothing_when_no_backend_is_installed(fake_installed):
    fake_installed()
    assert backend.select_backend() is None
    assert "KERAS_BACKEND" not in os.environ
    with pytest.raises(backend.BackendNotInstalledError, match=r'pip install "kzoo\[jax\]"'):
        backend.check_backend()


def test_select_backend_keeps_a_set_backend(fake_installed, monkeypatch, capsys):
    fake_installed("jax", "torch")
    monkeypatch.setenv("KERAS_BACKEND", "torch")
    assert backend.select_backend() is None
    assert os.environ["KERAS_BACKEND"] == "torch" and capsys.readouterr().err == ""


def test_set_backend_refuses_a_missing_backend_naming_its_extra(fake_installed):
    fake_installed("jax")
    with pytest.raises(backend.BackendNotInstalledError) as info:
        backend.set_backend("tensorflow")
    assert str(info.value) == (
        'The tensorflow backend is not installed: pip install "kzoo[tensorflow]" '
        "or choose an installed backend (jax)."
    )
    assert "KERAS_BACKEND" not in os.environ
    # The CLI reports kzoo's errors in one line; library users can catch ImportError
    # (or RuntimeError, as before).
    assert isinstance(info.value, ImportError) and isinstance(info.value, UsageError)
    assert isinstance(info.value, RuntimeError)


def test_import_kzoo_picks_an_installed_backend_without_importing_it():
    result = _run(
        """
        import os, sys
        import kzoo
        print(os.environ["KERAS_BACKEND"], sorted({"keras", "jax", "torch"} & set(sys.modules)))
        kzoo.runtime.backend.check_backend()  # what kzoo runs just before it first imports keras
        """,
        blocked={"jax"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["torch", "[]"]
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("kzoo:")]
    assert lines == [
        "kzoo: KERAS_BACKEND is unset; using torch (first installed of jax, torch, "
        "tensorflow). Set KERAS_BACKEND to choose."
    ]


def test_import_kzoo_respects_an_already_imported_keras():
    result = _run(
        """
        import os
        os.environ["KERAS_BACKEND"] = "torch"
        import keras
        del os.environ["KERAS_BACKEND"]
        import kzoo
        from kzoo.runtime.backend import current_backend
        print(os.environ.get("KERAS_BACKEND"), current_backend())
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["None", "torch"]
    assert "kzoo:" not in result.stderr


def test_library_use_with_a_missing_backend_names_the_extra():
    result = _run("import kzoo.zoo", blocked={"torch"}, env_backend="torch")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        'kzoo.runtime.backend.BackendNotInstalledError: The torch backend is not installed: '
        'pip install "kzoo[torch]" or choose an installed backend (jax, tensorflow).'
    )


@pytest.mark.parametrize(
    "args, env_backend",
    [(["train", "--backend", "tensorflow", "--epochs", "1"], None), (["list"], "tensorflow")],
)
def test_cli_with_a_missing_backend_prints_one_line(args, env_backend):
    result = _run(
        f"""
        from kzoo.cli import main
        sys.exit(main({args!r}))
        """,
        blocked={"tensorflow"},
        env_backend=env_backend,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1:] == [
        f"kzoo {args[0]}: error: The tensorflow backend is not installed: "
        'pip install "kzoo[tensorflow]" or choose an installed backend (jax, torch).'
    ]
    assert "Traceback" not in result.stderr and "keras" not in result.stdout
