"""What this machine offers kzoo: versions, installed backends, the devices each
backend sees, and which recurrent kernel the default `lstm`/`gru` models run.

Keras fixes its backend when it is imported, and importing all three backends
into one process is slow and fragile, so each backend is probed in its own
subprocess (`KERAS_BACKEND` set, a time limit); a probe that fails or times out
is reported as such. The parent process imports no backend.

The recurrent verdict is read from the layers of the models `kzoo.zoo.create`
builds with default settings:

- tensorflow, jax: Keras runs LSTM/GRU on cuDNN when the layer's `use_cudnn` is
  `"auto"` or `True`, `recurrent_dropout == 0`, there is no mask, and Keras'
  `cudnn_ok` holds (tanh/sigmoid activations, `use_bias`, `unroll=False`, GRU
  `reset_after=True`, and a GPU the backend sees). On jax only LSTM has a cuDNN
  kernel (`jax.experimental.rnn`); GRU runs Keras' own `lax.scan`.
- torch: kzoo's own fused path (`zoo/_torch_rnn.py`) replaces Keras' Python
  loop with one `torch._VF` call on CPU and CUDA when `fallback_reason` finds
  nothing; on CUDA that kernel is cuDNN's.
"""

import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import time

from kzoo.runtime.backend import BACKENDS, PREFERENCE, installed_backends

# Distributions reported when installed; the others are left out.
PACKAGES = (
    "kzoo", "keras", "keras-tuner", "numpy", "tensorflow", "tensorflow-cpu", "tensorboard",
    "jax", "jaxlib", "jax-cuda12-plugin", "jax-cuda12-pjrt", "torch", "optuna",
    "nvidia-cudnn-cu12",
)
RECURRENT = ("lstm", "gru")
# The marker before the probe's JSON line: libraries may print to stdout too.
_MARK = "KZOO_ENV_PROBE "


def package_versions():
    """`{distribution: version}` for the installed ones among `PACKAGES`."""
    found = {}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return found


def install_notes(packages):
    """Problems visible from the versions alone, each a sentence naming the fix."""
    notes = []
    if "tensorflow" in packages and "tensorflow-cpu" in packages:
        notes.append("tensorflow and tensorflow-cpu are both installed and share the "
                     "`tensorflow` module: pip uninstall the one you do not want, then "
                     "reinstall the other.")
    plugin = packages.get("jax-cuda12-plugin")
    if plugin and packages.get("jaxlib") not in (None, plugin):
        notes.append(f"jax-cuda12-plugin {plugin} does not match jaxlib {packages['jaxlib']}: "
                     'pip install "kzoo[jax-cuda]" installs matching versions.')
    return notes


def _recurrent_verdict(layer):
    """`{"fused", "cudnn", "path", "reason"}` for a Keras LSTM/GRU layer built here."""
    import keras

    backend = keras.backend.backend()
    cell = layer.cell
    kind = "gru" if isinstance(layer, keras.layers.GRU) else "lstm"
    if backend == "torch":
        import torch

        from kzoo.zoo import _torch_rnn

        reason = _torch_rnn.fallback_reason(layer)
        if reason is None and layer.inner_loop.__func__ is not _torch_rnn._inner_loop:
            reason = "the layer was not passed through kzoo's fuse"
        cuda = (torch.cuda.is_available() and torch.backends.cudnn.is_available()
                and torch.backends.cudnn.enabled)
        fused = reason is None
        where = "CUDA (cuDNN)" if cuda else "CPU"
        return {"fused": fused, "cudnn": fused and cuda,
                "path": (f"kzoo fused torch._VF.{kind} on {where}" if fused
                         else "Keras' per-step loop"),
                "reason": reason}
    from keras.src.backend import cudnn_ok  # what Keras itself checks (pinned keras 3.15)

    args = (cell.activation, cell.recurrent_activation, layer.unroll, cell.use_bias)
    reason = None
    if layer.use_cudnn not in ("auto", True):
        reason = f"use_cudnn={layer.use_cudnn!r}"
    elif cell.recurrent_dropout:
        reason = "recurrent_dropout > 0"
    elif backend == "jax" and kind == "gru":
        reason = "jax.experimental.rnn has no cuDNN GRU"
    elif kind == "gru" and not cell.reset_after:
        reason = "reset_after=False"
    elif not cudnn_ok(*args):
        gpu = _gpu_visible(backend)
        reason = ("activations, use_bias or unroll are not cuDNN's" if gpu
                  else f"no GPU visible to {backend}")
    if reason is None:
        path = "cuDNN"
    elif backend == "jax" and kind == "gru" and not cell.recurrent_dropout:
        path = "Keras' jax GRU scan"
    else:
        path = "Keras' per-step loop"
    return {"fused": reason is None, "cudnn": reason is None, "path": path, "reason": reason}


def _gpu_visible(backend):
    if backend == "jax":
        import jax

        return jax.default_backend() == "gpu"
    import tensorflow as tf

    return bool(tf.config.list_logical_devices("GPU"))


def _devices_and_build(backend):
    """`(devices, build)`: what the backend sees, and its build (CUDA or not)."""
    if backend == "jax":
        import jax
        import jaxlib

        devices = [{"name": str(d), "type": d.platform, "kind": d.device_kind}
                   for d in jax.devices()]
        build = {"jax": jax.__version__, "jaxlib": jaxlib.__version__,
                 "default_backend": jax.default_backend()}
        return devices, build
    if backend == "tensorflow":
        import tensorflow as tf

        devices = [{"name": d.name, "type": d.device_type.lower()}
                   for d in tf.config.list_physical_devices()]
        info = tf.sysconfig.get_build_info()
        build = {"tensorflow": tf.__version__, "cuda_build": tf.test.is_built_with_cuda(),
                 "cuda": info.get("cuda_version"), "cudnn": info.get("cudnn_version")}
        return devices, build
    import torch

    devices = [{"name": "cpu", "type": "cpu"}]
    for i in range(torch.cuda.device_count()):
        devices.append({"name": f"cuda:{i}", "type": "gpu",
                        "kind": torch.cuda.get_device_name(i)})
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    build = {"torch": torch.__version__, "cuda": torch.version.cuda, "cudnn": cudnn,
             "cuda_available": torch.cuda.is_available()}
    return devices, build


def probe_here():
    """The probe of the backend this process runs: devices, build, recurrent paths.

    Builds the default `lstm` and `gru` models (`kzoo.zoo.create`) and reads the
    verdict from their recurrent layers.

    Returns:
        A JSON-serializable dict.
    """
    import keras

    from kzoo import zoo

    backend = keras.backend.backend()
    devices, build = _devices_and_build(backend)
    recurrent = {}
    for name in RECURRENT:
        model = zoo.create(name, (16, 3), 2, compile=False)
        layer = next(lay for lay in model.layers
                     if isinstance(lay, (keras.layers.LSTM, keras.layers.GRU)))
        recurrent[name] = _recurrent_verdict(layer)
    return {"backend": backend, "devices": devices, "build": build, "recurrent": recurrent}


def _probe_main():
    """Entry point of the probe subprocess: one marked JSON line on stdout."""
    from kzoo.cli.quiet import quiet_tensorflow_import

    quiet_tensorflow_import()
    print(_MARK + json.dumps(probe_here()), flush=True)


def _probe_env(backend):
    env = dict(os.environ, KERAS_BACKEND=backend)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # A probe needs no GPU memory beyond what it uses: jax and TF would reserve most of it.
    env.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    env.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
    return env


def probe(backends, timeout=180.0):
    """Probe each backend in its own subprocess, all at once.

    Args:
        backends: backend names to probe.
        timeout: seconds each probe may take. Defaults to `180.0`.

    Returns:
        `{backend: result}`; a result has `"status"`: `"ok"` (with the fields of
        `probe_here` and `"seconds"`), `"failed"` or `"timeout"` (with `"error"`).
    """
    code = "from kzoo.cli.environment import _probe_main; _probe_main()"
    running = {}
    for b in backends:
        proc = subprocess.Popen([sys.executable, "-c", code], env=_probe_env(b),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        running[b] = (proc, time.monotonic())
    results = {}
    for b, (proc, start) in running.items():
        left = max(0.0, timeout - (time.monotonic() - start))
        try:
            out, err = proc.communicate(timeout=left)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            results[b] = {"status": "timeout",
                          "error": f"no answer within {timeout:g} s (raise --timeout)"}
            continue
        seconds = round(time.monotonic() - start, 1)
        lines = [ln for ln in out.splitlines() if ln.startswith(_MARK)]
        if proc.returncode == 0 and lines:
            results[b] = {"status": "ok", "seconds": seconds,
                          **json.loads(lines[-1][len(_MARK):])}
        else:
            tail = (err.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
            results[b] = {"status": "failed", "seconds": seconds, "error": tail}
    return results


def environment(backends=None, timeout=180.0):
    """Everything `kzoo env` reports, as one JSON-serializable dict.

    Args:
        backends: the backends to probe. Defaults to every installed one.
        timeout: seconds each backend's probe may take. Defaults to `180.0`.

    Returns:
        A dict with `python`, `platform`, `packages`, `installed_backends`,
        `keras_backend` (kzoo's default backend: `KERAS_BACKEND`, which `import kzoo`
        sets to the first installed backend when it is unset), `probes` and `notes`.

    Example:

    >>> info = environment(["jax"])
    >>> info["probes"]["jax"]["devices"][0]["type"]
    'cpu'
    """
    installed = list(installed_backends())
    if backends is None:
        backends = installed
    missing = [b for b in backends if b not in installed]
    probed = probe([b for b in backends if b in installed], timeout) if backends else {}
    for b in missing:
        probed[b] = {"status": "not installed", "error": f'pip install "kzoo[{b}]"'}
    packages = package_versions()
    return {
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.machine()}",
        "packages": packages,
        "installed_backends": installed,
        "keras_backend": os.environ.get("KERAS_BACKEND"),
        "probes": {b: probed[b] for b in sorted(probed, key=_order)},
        "notes": install_notes(packages),
    }


def _order(backend):
    return PREFERENCE.index(backend) if backend in PREFERENCE else len(BACKENDS)
