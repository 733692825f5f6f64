"""`tune(workers=N)`: a chief and N worker processes on this host.

Each process runs `kzoo.tuning.api.run_role` on the settings in
`OUT/workers/settings.json` (see `handoff`); the chief trains nothing and keeps
off the GPUs, and each worker gets one GPU when there are several.
"""

import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import time

from kzoo.tuning.distribute import handoff
from kzoo.tuning.distribute.roles import ENV_ID, ENV_IP, ENV_PORT
from kzoo.tuning.distribute.worker import notify_dead
from kzoo.tuning.records import SearchFailedError, atomic_write, read_result

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


def launch(encoded, workers, out):
    """Run a chief and `workers` worker processes on this host; wait for the chief.

    Args:
        encoded: `handoff.encode(...)` of the search's `tune` arguments.
        workers: how many worker processes.
        out: the search directory (already prepared).
    """
    out = pathlib.Path(out)
    logs = out / "workers"
    logs.mkdir(exist_ok=True)
    settings = handoff.write(encoded, logs)
    port = free_port()
    cmd = [sys.executable, "-c", ENTRY, str(settings)]
    base = {**os.environ, ENV_IP: "127.0.0.1", ENV_PORT: str(port)}
    gpus = gpu_ids()

    def spawn(i):
        env = {**base, ENV_ID: f"tuner{i}"}
        if len(gpus) > 1:  # one GPU per worker
            env["CUDA_VISIBLE_DEVICES"] = gpus[i % len(gpus)]
        if gpus:  # JAX would otherwise reserve 75% of a shared GPU per process
            env.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
        log = open(logs / f"tuner{i}.log", "a")
        return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)

    chief = subprocess.Popen(cmd, env={**base, ENV_ID: "chief", "CUDA_VISIBLE_DEVICES": ""})
    procs = {i: spawn(i) for i in range(workers)}
    pids = {"chief": chief.pid, **{f"tuner{i}": p.pid for i, p in procs.items()}}
    atomic_write(logs / "pids.json", json.dumps(pids))
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
                    atomic_write(logs / "pids.json", json.dumps(pids))
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
