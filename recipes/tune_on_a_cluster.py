"""
Title: Tuning on a cluster: SLURM or a hostfile
Author: kzoo contributors
Date created: 2026/12/01
Last modified: 2026/12/01
Description: `kzoo tune --cluster slurm`: rank 0 serves the oracle, the others train on GPU blocks.

KerasTuner's chief/worker engine needs three environment variables in every
process (`KERASTUNER_TUNER_ID`, `KERASTUNER_ORACLE_IP`, `KERASTUNER_ORACLE_PORT`).
`kzoo tune --cluster slurm` sets them from SLURM's own: process 0
(`SLURM_PROCID`) is the chief, on the first host of `SLURM_JOB_NODELIST`, and
trains nothing; every other task is a worker. The port follows `SLURM_JOB_ID`
(or `--chief-port`). With `--gpus-per-worker K` each worker trains its trials on
its own block of K GPUs (data parallel, `kzoo.runtime.devices`).

An sbatch script for 3 nodes with 4 GPUs each, two tasks per node, two GPUs per
worker (node 1 runs the chief and one worker, nodes 2 and 3 two workers each):

    #!/bin/bash
    #SBATCH --job-name=kzoo-tune
    #SBATCH --nodes=3
    #SBATCH --ntasks-per-node=2
    #SBATCH --gpus-per-node=4
    #SBATCH --time=04:00:00
    srun kzoo tune --model gru --data digits-seq --tuner bayesian --max-trials 60 \\
        --epochs 20 --cluster slurm --gpus-per-worker 2 --out /shared/$USER/gru-search

Without SLURM, list the processes in a hostfile (a host per line and process,
the chief's first) and start line `i` on its host with `--rank i`:

    kzoo tune ... --cluster hosts.txt --rank 0 --chief-port 47610   # on the chief's host
    kzoo tune ... --cluster hosts.txt --rank 1 --chief-port 47610   # and so on

`--out` must be on a filesystem every host shares: each trial checkpoints under
`OUT/kt/trial_<id>/ckpt`, so when a worker dies (its heartbeats stop for
`--heartbeat-timeout` seconds) its trial goes back to the queue and the worker
that takes it resumes from the last checkpoint, not from epoch 0
(`trials.csv`'s `resumed_from_epoch`). Run the same `srun` again to resume a
search whose job ended. The chief's port is unencrypted gRPC: keep it inside
the cluster's network.

    KERAS_BACKEND=jax python recipes/tune_on_a_cluster.py
"""

"""## Setup"""

import os  # noqa: E402
import pathlib  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

import kzoo  # before keras: picks an installed backend unless KERAS_BACKEND is set

print("Keras backend:", kzoo.runtime.backend.current_backend())
# KZOO_FAST=1: a tiny run (one epoch, little data) that only checks the recipe runs.
FAST = os.environ.get("KZOO_FAST") == "1"

from kzoo.tuning import tune  # noqa: E402
from kzoo.tuning.distribute import cluster  # noqa: E402

OUT = pathlib.Path("runs/tune_on_a_cluster")
WORKERS = 1 if FAST else 2
MAX_TRIALS = 1 if FAST else 4
EPOCHS = 1 if FAST else 5

"""## What each task is told

The mapping reads only environment variables, so it can be shown with a made-up
job: 5 tasks on `gpu[01-02,07]`. Rank 0 is the chief on `gpu01`; the workers
find it there.
"""

job = {"SLURM_PROCID": "0", "SLURM_NTASKS": "5", "SLURM_JOB_NODELIST": "gpu[01-02,07]",
       "SLURM_JOB_ID": "4242"}
print("hosts:", cluster.expand_nodelist(job["SLURM_JOB_NODELIST"]))
for rank in range(5):
    role = cluster.slurm_role({**job, "SLURM_PROCID": str(rank)})
    print(f"rank {rank}: {role.environ()}")

"""## A cluster on this host

The same thing with a hostfile that names this host once per process: the
workers start as separate `kzoo tune --cluster hosts.txt --rank i` processes, and
this script is rank 0, the chief. On a real cluster each line's process runs on
its own host.
"""

OUT.mkdir(parents=True, exist_ok=True)
hostfile = OUT.parent / "hosts.txt"
hostfile.write_text("127.0.0.1\n" * (WORKERS + 1))
with socket.socket() as s:  # a free port for the chief
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]

settings = ["--model", "mlp", "--data", "digits", "--max-trials", str(MAX_TRIALS),
            "--epochs", str(EPOCHS), "--hp", "depth=1", "--out", str(OUT), "--quiet"]
cli = "import sys; from kzoo.cli import main; sys.exit(main(sys.argv[1:]))"
workers = []
for rank in range(1, WORKERS + 1):
    log = open(OUT.parent / f"rank{rank}.log", "w")
    cmd = [sys.executable, "-c", cli, "tune", *settings, "--cluster", str(hostfile),
           "--rank", str(rank), "--chief-port", str(port)]
    workers.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT))

result = tune("mlp", "digits", out=OUT, max_trials=MAX_TRIALS, epochs=EPOCHS,
              fixed={"depth": 1}, cluster=str(hostfile), rank=0, chief_port=port, verbose=0)
for p in workers:
    p.wait(timeout=120)

"""## Who ran what

Each trial's row names its worker, the devices it trained on and the epoch it
started from (0 unless it took over a dead worker's checkpoint).
"""

for row in result.trials:
    print(f"trial {int(row['trial_id'])}: {row['status']} by {row['worker']} on "
          f"{int(row['devices'])} device(s), from epoch {row['resumed_from_epoch']}, "
          f"score {row['score']:.3f}")
print("best:", result.best["hyperparameters"])
