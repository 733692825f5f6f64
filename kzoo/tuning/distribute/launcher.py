"""`tune(workers=N)`: a chief and N worker processes on this host.

Each process runs `kzoo.tuning.api.run_role` on the settings in
`OUT/workers/settings.json` (see `handoff`); the chief trains nothing and keeps
off the GPUs. Each worker gets one GPU when there are several, or, with
`gpus_per_worker=K`, its own block of K GPUs through `CUDA_VISIBLE_DEVICES`
(`OUT/workers/devices.json` records which).

Testing without GPUs: with `KZOO_VIRTUAL_DEVICES=1` in the environment and no
GPU, each worker of a jax search gets K virtual CPU devices instead
(`XLA_FLAGS=--xla_force_host_platform_device_count=K`), so a search with
`gpus_per_worker=K` runs on a CPU-only machine.
"""

import json
import os
import pathlib
import re
import shutil
import socket
import subprocess
import sys
import time

from kzoo import rundir as layout
from kzoo.runtime.errors import UsageError
from kzoo.tuning.distribute import handoff
from kzoo.tuning.distribute.roles import ENV_ID, ENV_IP, ENV_PORT
from kzoo.tuning.distribute.worker import notify_dead
from kzoo.tuning.records import SearchFailedError, read_result

VIRTUAL_KNOB = "KZOO_VIRTUAL_DEVICES"
# Named as a string: the entry point (`api`) imports this module.
ENTRY = "import sys; from kzoo.tuning.api import run_role; run_role(sys.argv[1])"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gpu_ids():
    """GPUs on this host: $CUDA_VISIBLE_DEVICES if set, else `nvidia-smi -L`."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [g for g in visible.split(",") if g.strip() and g.strip() != "-1"]
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        text = subprocess.run(
            ["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(text.splitlines()) if line.startswith("GPU ")]


def plan_devices(workers, gpus_per_worker, backend, gpus=None, environ=None):
    """Each worker's extra environment: its GPU block, or its virtual CPU devices.

    Checked before anything is written. Returns a list of `workers` dicts.

    Args:
        workers: how many worker processes.
        gpus_per_worker: GPUs per worker; None keeps the default (one GPU each when
            there are several, shared round-robin).
        backend: the Keras backend (virtual devices are jax's).
        gpus: the GPU ids of this host. Defaults to `gpu_ids()`.
        environ: where `KZOO_VIRTUAL_DEVICES` is read. Defaults to `os.environ`.
    """
    gpus = gpu_ids() if gpus is None else list(gpus)
    environ = os.environ if environ is None else environ
    if gpus_per_worker is None:
        if len(gpus) > 1:  # one GPU per worker
            return [{"CUDA_VISIBLE_DEVICES": gpus[i % len(gpus)]} for i in range(workers)]
        return [{} for _ in range(workers)]
    k = gpus_per_worker
    if gpus:
        if workers * k > len(gpus):
            raise UsageError(
                f"{workers} workers x {k} GPUs per worker need {workers * k} GPUs, and this "
                f"host has {len(gpus)} ({', '.join(gpus)}). Lower --workers or "
                "--gpus-per-worker."
            )
        return [{"CUDA_VISIBLE_DEVICES": ",".join(gpus[i * k:(i + 1) * k])}
                for i in range(workers)]
    if k == 1:
        return [{} for _ in range(workers)]  # a CPU search, one device per trial
    if environ.get(VIRTUAL_KNOB) != "1":
        raise UsageError(
            f"--gpus-per-worker {k} needs {workers * k} GPUs ({workers} workers x {k}), and "
            f"this host has none (CUDA_VISIBLE_DEVICES, nvidia-smi). To try it on CPU with "
            f"virtual devices (jax), set {VIRTUAL_KNOB}=1."
        )
    if backend != "jax":
        raise UsageError(
            f"{VIRTUAL_KNOB}=1 makes virtual CPU devices through jax's XLA_FLAGS; this "
            f"search runs on {backend}. Use KERAS_BACKEND=jax, or real GPUs."
        )
    flags = environ.get("XLA_FLAGS", "")
    flags = re.sub(r"--xla_force_host_platform_device_count=\d+", "", flags).strip()
    flags = f"{flags} --xla_force_host_platform_device_count={k}".strip()
    return [{"XLA_FLAGS": flags, "JAX_PLATFORMS": "cpu"} for _ in range(workers)]


def block_name(extra):
    """How `devices.json` names a worker's devices."""
    if "CUDA_VISIBLE_DEVICES" in extra:
        return f"gpu:{extra['CUDA_VISIBLE_DEVICES']}"
    match = re.search(r"device_count=(\d+)", extra.get("XLA_FLAGS", ""))
    return f"virtual-cpu:{match.group(1)}" if match else "cpu"


def launch(encoded, workers, out, blocks=None):
    """Run a chief and `workers` worker processes on this host; wait for the chief.

    Args:
        encoded: `handoff.encode(...)` of the search's `tune` arguments.
        workers: how many worker processes.
        out: the search directory (already prepared).
        blocks: `plan_devices(...)`, each worker's extra environment. Defaults to
            one GPU per worker when there are several.
    """
    out = pathlib.Path(out)
    logs = out / layout.WORKERS_DIR
    logs.mkdir(exist_ok=True)
    settings = handoff.write(encoded, logs)
    port = free_port()
    cmd = [sys.executable, "-c", ENTRY, str(settings)]
    base = {**os.environ, ENV_IP: "127.0.0.1", ENV_PORT: str(port)}
    gpus = gpu_ids()
    if blocks is None:
        blocks = plan_devices(workers, None, None, gpus)
    layout.atomic_write_text(logs / layout.WORKER_DEVICES_FILE, json.dumps(
        {f"tuner{i}": block_name(b) for i, b in enumerate(blocks)}))

    def spawn(i):
        env = {**base, ENV_ID: f"tuner{i}", **blocks[i]}
        if gpus:  # JAX would otherwise reserve 75% of a shared GPU per process
            env.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
        log = open(logs / f"tuner{i}.log", "a")
        return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)

    chief = subprocess.Popen(cmd, env={**base, ENV_ID: "chief", "CUDA_VISIBLE_DEVICES": ""})
    procs = {i: spawn(i) for i in range(workers)}
    pids = {"chief": chief.pid, **{f"tuner{i}": p.pid for i, p in procs.items()}}
    layout.atomic_write_text(logs / layout.WORKER_PIDS_FILE, json.dumps(pids))
    restarts = workers  # a worker that keeps crashing must not loop forever
    lost = False
    try:
        while chief.poll() is None:
            time.sleep(0.2)
            for i, p in list(procs.items()):
                rc = p.poll()
                if rc is None or rc == 0:
                    continue
                notify_dead(port, f"tuner{i}")
                del procs[i]
                lost = restarts == 0
                if restarts > 0:
                    restarts -= 1
                    procs[i] = spawn(i)
                    print(f"worker tuner{i} exited ({rc}); restarted", flush=True)
                    pids[f"tuner{i}"] = procs[i].pid
                    layout.atomic_write_text(logs / layout.WORKER_PIDS_FILE, json.dumps(pids))
            if lost and not any(p.poll() is None for p in procs.values()):
                raise RuntimeError(
                    f"every worker exited before the search finished; see {logs}/*.log"
                )
    finally:
        for p in [*procs.values(), chief]:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
    if chief.returncode != 0:
        raise SearchFailedError(
            f"the chief exited with status {chief.returncode}; see the messages above "
            f"and {out}/trials.csv"
        )
    return read_result(out)
