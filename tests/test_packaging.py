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


def _extras():
    from packaging.requirements import Requirement

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    return {name: {Requirement(r).name: Requirement(r) for r in reqs}
            for name, reqs in extras.items()}


def test_gpu_extras_pin_the_versions_of_the_cpu_extras():
    extras = _extras()
    jax, cuda = extras["jax"], extras["jax-cuda"]
    assert jax["jax"].extras == {"cpu"} and cuda["jax"].extras == {"cuda12"}
    assert str(cuda["jax"].specifier) == str(jax["jax"].specifier)
    # jax accepts two jaxlib releases; both extras pin the one of jax's own version.
    (pin,) = jax["jax"].specifier
    assert str(jax["jaxlib"].specifier) == str(cuda["jaxlib"].specifier) == f"=={pin.version}"
    tf, gpu = extras["tensorflow"], extras["tensorflow-gpu"]
    assert gpu["tensorflow"].extras == {"and-cuda"}
    assert str(gpu["tensorflow"].specifier) == str(tf["tensorflow-cpu"].specifier)
    assert str(gpu["tensorboard"].specifier) == str(tf["tensorboard"].specifier)
    assert "tensorflow-cpu" not in gpu  # it would shadow the CUDA build's module


def test_installed_jax_cuda12_extra_brings_the_pinned_jaxlib_and_plugin():
    """What `jax[cuda12]` itself requires, read from the installed jax's metadata."""
    import importlib.metadata

    import pytest
    from packaging.requirements import Requirement
    from packaging.version import Version

    (pin,) = _extras()["jax"]["jax"].specifier
    try:
        installed = importlib.metadata.version("jax")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("jax is not installed")
    if installed != pin.version:
        pytest.skip(f"installed jax {installed} is not the pinned {pin.version}")
    cuda = {}
    for text in importlib.metadata.requires("jax"):
        req = Requirement(text)
        if req.marker is not None and req.marker.evaluate({"extra": "cuda12"}):
            cuda[req.name] = req
    v = Version(pin.version)
    before = f"{v.major}.{v.minor}.{v.micro - 1}" if v.micro else f"{v.major}.{v.minor - 1}.99"
    after = f"{v.major}.{v.minor}.{v.micro + 1}"
    for name in ("jaxlib", "jax-cuda12-plugin"):  # exactly jax's version, as [jax] pins it
        spec = cuda[name].specifier
        assert list(spec.filter([before, pin.version, after])) == [pin.version], name
