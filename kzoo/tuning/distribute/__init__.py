"""Distributed search: KerasTuner's chief/worker engine, with dead-worker handling.

- `roles`: which role this process plays (KerasTuner's environment variables);
- `chief`: the chief's gRPC oracle server, worker liveness, requeueing;
- `worker`: the worker's heartbeat, and the dead-worker notice;
- `handoff`: the JSON settings a launcher hands its chief and workers;
- `launcher`: a chief and N workers as local processes, each worker with its GPU block;
- `cluster`: the roles of a search over several hosts, from SLURM or a hostfile.
"""
