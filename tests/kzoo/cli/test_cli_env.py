"""`kzoo env`: versions, installed backends, the devices each backend sees, and the
recurrent kernel the default lstm/gru models run. Only the current backend is probed
(`--backend`): one subprocess, shared by the tests of this module."""

import contextlib
import importlib.metadata
import io
import json
import platform

import keras
import pytest

from kzoo.cli import main
from kzoo.cli.env import format_environment
from kzoo.cli.environment import install_notes, probe

BACKEND = keras.backend.backend()


def _run_env(*argv):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["env", *argv])
    return code, out.getvalue()


@pytest.fixture(scope="module")
def info():
    code, out = _run_env("--json", "--backend", BACKEND)
    assert code == 0
    return json.loads(out)


def _has_gpu(result):
    return any(d["type"] == "gpu" for d in result["devices"])


def test_env_names_the_versions_and_installed_backends(info):
    packages = info["packages"]
    assert packages["keras"] == keras.__version__
    assert packages["keras-tuner"] == importlib.metadata.version("keras-tuner")
    assert packages["numpy"] == importlib.metadata.version("numpy")
    assert packages["kzoo"] == importlib.metadata.version("kzoo")
    assert info["python"] == platform.python_version()
    assert BACKEND in info["installed_backends"]
    assert list(info["probes"]) == [BACKEND]  # --backend probes that one only


def test_probe_sees_the_devices_and_build_this_process_sees(info):
    result = info["probes"][BACKEND]
    assert result["status"] == "ok" and result["backend"] == BACKEND
    if BACKEND == "jax":
        import jax
        import jaxlib

        assert result["build"]["jaxlib"] == jaxlib.__version__
        assert len(result["devices"]) == len(jax.devices())
    elif BACKEND == "tensorflow":
        import tensorflow as tf

        assert result["build"]["tensorflow"] == tf.__version__
        assert len(result["devices"]) == len(tf.config.list_physical_devices())
    else:
        import torch

        assert result["build"]["torch"] == torch.__version__
        assert len(result["devices"]) == 1 + torch.cuda.device_count()
        assert result["devices"][0] == {"name": "cpu", "type": "cpu"}
    assert result["devices"], "a backend always sees at least one device"


def test_fused_recurrent_verdict_of_the_default_models(info):
    result = info["probes"][BACKEND]
    lstm, gru = result["recurrent"]["lstm"], result["recurrent"]["gru"]
    if BACKEND == "torch":
        import torch

        # zoo/_torch_rnn.py fuses the default layers on CPU and CUDA alike.
        for verdict in (lstm, gru):
            assert verdict["fused"] is True and verdict["reason"] is None
            assert "torch._VF" in verdict["path"]
            assert verdict["cudnn"] is torch.cuda.is_available()
    elif not _has_gpu(result):
        assert lstm == {"fused": False, "cudnn": False, "path": "Keras' per-step loop",
                        "reason": f"no GPU visible to {BACKEND}"}
        assert gru["fused"] is False and gru["cudnn"] is False
    else:  # a GPU machine: the defaults are cuDNN-compatible
        assert lstm["cudnn"] is True
        assert gru["cudnn"] is (BACKEND == "tensorflow")
    if BACKEND == "jax":  # with or without a GPU: jax has no cuDNN GRU
        assert gru["reason"] == "jax.experimental.rnn has no cuDNN GRU"


def test_text_form_names_versions_devices_and_verdicts(info):
    text = format_environment(info)
    result = info["probes"][BACKEND]
    assert f"python {info['python']}" in text
    assert f"keras {keras.__version__}" in text
    assert f"backends installed: {', '.join(info['installed_backends'])}" in text
    assert f"{BACKEND}: probed in" in text
    assert result["devices"][0]["name"] in text
    fused = "fused" if result["recurrent"]["lstm"]["fused"] else "not fused"
    assert f"default lstm: {fused}: {result['recurrent']['lstm']['path']}" in text


def test_a_probe_that_times_out_is_reported_and_the_command_succeeds():
    code, out = _run_env("--json", "--backend", BACKEND, "--timeout", "0.01")
    assert code == 0
    result = json.loads(out)["probes"][BACKEND]
    assert result["status"] == "timeout" and "--timeout" in result["error"]
    text = format_environment(json.loads(out))
    assert f"{BACKEND}: timeout: no answer within 0.01 s" in text


def test_a_probe_that_fails_is_reported_with_its_error():
    result = probe(["no_such_backend"])["no_such_backend"]
    assert result["status"] == "failed"
    assert "no_such_backend" in result["error"]  # Keras' own message names the value


def test_install_notes_name_conflicting_packages():
    assert install_notes({"tensorflow": "2.21.0", "jax": "0.10.2", "jaxlib": "0.10.2"}) == []
    (tf_note,) = install_notes({"tensorflow": "2.21.0", "tensorflow-cpu": "2.21.0"})
    assert "pip uninstall" in tf_note
    (jax_note,) = install_notes({"jaxlib": "0.10.1", "jax-cuda12-plugin": "0.10.2"})
    assert "kzoo[jax-cuda]" in jax_note
