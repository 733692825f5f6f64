"""Test configuration.

The suite runs once per backend, each in its own process (`make test` loops
over tensorflow, jax and torch), because Keras fixes its backend at import.
"""

import os
import pathlib

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import _sharding  # noqa: E402
import keras  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
UCR_DIR = ROOT.parent / "shared" / "data" / "ucr"


# Tests that touch device placement or kernels, marked `device` so that a GPU run selects
# them (`pytest -m device`, benchmarks/gpu/check.sh); paths relative to tests/.
DEVICE_TESTS = (
    "zoo/",
    "callbacks/test_gradient_",
    "callbacks/test_optimizer_hook.py",
    "kzoo/test_devices.py",
    "kzoo/training/test_train_devices.py",
)


def pytest_collection_modifyitems(config, items):
    # KZOO_SHARD=k/n: this process runs one shard of the backend's files (tests/_sharding.py).
    items[:], deselected = _sharding.select(items, keras.backend.backend())
    if deselected:
        config.hook.pytest_deselected(items=deselected)
    here = pathlib.Path(__file__).parent
    for item in items:
        try:
            path = pathlib.Path(item.fspath).relative_to(here).as_posix()
        except ValueError:
            continue
        if path.startswith(DEVICE_TESTS):
            item.add_marker(pytest.mark.device)


# KZOO_DURATIONS_OUT=file.json: seconds per test file, for tests/durations.json.
_RECORDER = _sharding.Recorder(os.environ["KZOO_DURATIONS_OUT"]) \
    if os.environ.get("KZOO_DURATIONS_OUT") else None


def pytest_runtest_logreport(report):
    if _RECORDER:
        _RECORDER.add(report)


def pytest_sessionfinish(session):
    if _RECORDER:
        _RECORDER.write()


def pytest_report_header(config):
    return f"keras {keras.__version__}, backend {keras.backend.backend()}"


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    keras.utils.set_random_seed(0)
    yield
    keras.backend.clear_session()


@pytest.fixture
def backend():
    return keras.backend.backend()


@pytest.fixture
def ucr_dir():
    """The shared UCR/UEA mirror; skips the test when it is absent."""
    if not (UCR_DIR / "GunPoint").is_dir():
        pytest.skip(f"shared UCR data not found at {UCR_DIR}")
    return UCR_DIR


@pytest.fixture
def tiny_tabular():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 12)).astype("float32")
    y = (x[:, 0] > 0).astype("int32") + 2 * (x[:, 1] > 0).astype("int32")
    return x, y


@pytest.fixture
def tiny_sequence():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(48, 10, 3)).astype("float32")
    y = (x[:, :, 0].mean(axis=1) > 0).astype("int32") + 2 * (x[:, -1, 1] > 0).astype("int32")
    return x, y


def _binary(n, features):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, features)).astype("float32")
    return x, (x[:, 0] > 0).astype("int32")


@pytest.fixture
def tiny_binary():
    """`tiny_binary(n, features)`: x drawn N(0, 1) (seed 0), y = x[:, 0] > 0 (two
    classes); a test picks the size it needs (a partial last batch, a kept split)."""
    return _binary
