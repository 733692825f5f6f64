"""A search over several hosts: SLURM's variables, or a hostfile, mapped to KerasTuner's roles.

KerasTuner's chief/worker engine reads three environment variables
(`roles.ENV_ID`, `roles.ENV_IP`, `roles.ENV_PORT`). On a cluster every process
runs the same `kzoo tune` command; this module tells each one its role:

- process (rank) 0 is the chief: it serves the oracle on the first host and
  trains nothing (it keeps off the GPUs);
- every other rank `r` is worker `tuner<r>`, which asks the chief for trials.

Where the ranks come from:

- `cluster="slurm"`: `SLURM_PROCID` (rank), `SLURM_NTASKS` (processes),
  `SLURM_JOB_NODELIST` or `SLURM_NODELIST` (the hosts, first = the chief's,
  bracket ranges such as `gpu[01-03,07]` expanded) and `SLURM_LOCALID` (the
  rank on its host, which picks a worker's GPU block);
- `cluster=<a hostfile>`: one host per line, a line per process (a host listed
  twice runs two), `#` comments; the rank is given (`--rank I`), and the local
  rank is the count of earlier lines naming the same host.

The chief's port is `chief_port` if given, else derived from `SLURM_JOB_ID`
(so two jobs sharing a host do not collide), else `DEFAULT_PORT`. This module
imports no keras: the CLI sets the variables before the backend starts.
"""

import dataclasses
import os
import pathlib
import re

from kzoo.runtime.checks import is_int
from kzoo.runtime.errors import UsageError
from kzoo.tuning.distribute.roles import ENV_ID, ENV_IP, ENV_PORT

DEFAULT_PORT = 47_610
_SLURM_PORTS = (47_611, 2_000)  # SLURM jobs: first port, how many job ids it spreads over
_SLURM_NEEDED = ("SLURM_PROCID", "SLURM_NTASKS")
_SLURM_NODES = ("SLURM_JOB_NODELIST", "SLURM_NODELIST")


@dataclasses.dataclass(frozen=True)
class ClusterRole:
    """This process's place in a search over several hosts.

    Attributes:
        rank: this process's index (0 is the chief).
        size: how many processes the search has.
        chief_host: the host the chief serves on (the first host).
        port: the chief's port.
        local_rank: this process's index among those on its host.
        hosts: the hosts (SLURM: its nodes; a hostfile: each process's host, by rank).
    """

    rank: int
    size: int
    chief_host: str
    port: int
    local_rank: int
    hosts: tuple = ()

    @property
    def tuner_id(self):
        return "chief" if self.rank == 0 else f"tuner{self.rank}"

    def environ(self):
        """The KerasTuner variables this process needs (`KERASTUNER_*`)."""
        return {ENV_ID: self.tuner_id, ENV_IP: self.chief_host, ENV_PORT: str(self.port)}


def expand_nodelist(nodelist):
    """SLURM's compressed host list as a list: `"gpu[01-03,07],login1"` ->
    `["gpu01", "gpu02", "gpu03", "gpu07", "login1"]` (zero padding kept)."""
    hosts = []
    # Split at commas outside brackets.
    for part in re.findall(r"[^,\[]+(?:\[[^\]]*\][^,\[]*)*", nodelist):
        hosts += _expand_one(part.strip())
    if not hosts:
        raise UsageError(f"SLURM's node list {nodelist!r} names no host.")
    return hosts


def _expand_one(name):
    match = re.search(r"\[([^\]]*)\]", name)
    if match is None:
        return [name] if name else []
    head, tail = name[: match.start()], name[match.end():]
    out = []
    for item in match.group(1).split(","):
        low, _, high = item.partition("-")
        if not low.isdigit() or (high and not high.isdigit()):
            raise UsageError(f"cannot read the range {item!r} in SLURM's node list {name!r}.")
        width = len(low)
        for i in range(int(low), int(high or low) + 1):
            out += _expand_one(f"{head}{i:0{width}d}{tail}")  # several bracket groups
    return out


def slurm_role(environ=None, chief_port=None):
    """The `ClusterRole` of this SLURM task (from `environ`, default `os.environ`)."""
    env = os.environ if environ is None else environ
    missing = [k for k in _SLURM_NEEDED if k not in env]
    if not any(k in env for k in _SLURM_NODES):
        missing.append(" or ".join(_SLURM_NODES))
    if missing:
        raise UsageError(
            f"--cluster slurm needs SLURM's variables, and {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not set. Start it with srun inside an "
            "sbatch or salloc allocation (one task per process), or use --cluster HOSTFILE "
            "--rank I."
        )
    rank, size = _int(env, "SLURM_PROCID"), _int(env, "SLURM_NTASKS")
    nodes = expand_nodelist(env.get(_SLURM_NODES[0]) or env[_SLURM_NODES[1]])
    if chief_port is None and "SLURM_JOB_ID" in env:
        first, span = _SLURM_PORTS
        chief_port = first + _int(env, "SLURM_JOB_ID") % span
    return _role(rank, size, nodes[0], chief_port, _int(env, "SLURM_LOCALID", 0), tuple(nodes))


def hostfile_role(path, rank, chief_port=None):
    """The `ClusterRole` of process `rank` of a hostfile (a host per line and process)."""
    path = pathlib.Path(path)
    try:
        lines = path.read_text().splitlines()
    except OSError as err:
        raise UsageError(f"cannot read the hostfile {path}: {err}.") from None
    hosts = [ln.split("#", 1)[0].strip() for ln in lines]
    hosts = [h.split()[0] for h in hosts if h]
    if len(hosts) < 2:
        raise UsageError(
            f"the hostfile {path} lists {len(hosts)} process(es); a search needs a chief and "
            "at least one worker: one host per line and process."
        )
    if not is_int(rank) or not 0 <= rank < len(hosts):
        raise UsageError(
            f"--rank must be an int from 0 to {len(hosts) - 1} (a line of {path}), got {rank!r}."
        )
    local = hosts[:rank].count(hosts[rank])
    return _role(rank, len(hosts), hosts[0], chief_port, local, tuple(hosts))


def _role(rank, size, chief_host, port, local_rank, hosts):
    if size < 2:
        raise UsageError(
            f"a search on a cluster needs 2 processes or more (a chief and a worker); this "
            f"job has {size}. Ask for more tasks (sbatch --ntasks) or hostfile lines."
        )
    if not 0 <= rank < size:
        raise UsageError(f"this process's rank {rank} is outside 0..{size - 1}.")
    port = DEFAULT_PORT if port is None else port
    if not is_int(port) or not 0 < port < 65_536:
        raise UsageError(f"--chief-port must be a TCP port (1-65535), got {port!r}.")
    return ClusterRole(rank, size, chief_host, port, local_rank, hosts)


def cluster_role(cluster, rank=None, chief_port=None, environ=None):
    """`cluster="slurm"` or a hostfile path (with `rank`), as a `ClusterRole`."""
    if cluster == "slurm":
        if rank is not None:
            raise UsageError("--rank is for a hostfile; under SLURM the rank is SLURM_PROCID.")
        return slurm_role(environ, chief_port)
    if rank is None:
        raise UsageError(
            f"--cluster {cluster} reads a hostfile and needs this process's --rank (its line, "
            "from 0; rank 0 is the chief). For SLURM use --cluster slurm."
        )
    return hostfile_role(cluster, rank, chief_port)


def device_block(role, gpus, per_worker):
    """The GPUs (ids from `gpus`) a worker trains on: block `local_rank` of `per_worker`.

    The chief gets none. When the scheduler already gave this task exactly
    `per_worker` GPUs (`srun --gpus-per-task`), they are kept as they are.
    """
    if role.rank == 0:
        return []
    if len(gpus) == per_worker:
        return list(gpus)
    block = gpus[role.local_rank * per_worker : (role.local_rank + 1) * per_worker]
    if len(block) < per_worker:
        raise UsageError(
            f"worker {role.tuner_id} is process {role.local_rank + 1} on its host, which "
            f"has {len(gpus)} GPU(s): not enough for {role.local_rank + 1} blocks of "
            "--gpus-per-worker "
            f"{per_worker}. Start fewer tasks per host or lower --gpus-per-worker."
        )
    return block


def _int(env, name, default=None):
    value = env.get(name)
    if value is None and default is not None:
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise UsageError(f"SLURM variable {name}={value!r} is not an integer.") from None


def cluster_env(cluster, rank=None, chief_port=None, gpus_per_worker=None, *, environ=None,
                gpus=None, backend=None):
    """The environment variables that make this process its rank of a cluster search.

    The KerasTuner role variables, and the devices: none for the chief, the
    worker's block of `gpus_per_worker` GPUs (or, with no GPU and
    `KZOO_VIRTUAL_DEVICES=1`, virtual CPU devices on jax).

    Args:
        cluster: `"slurm"` or a hostfile path.
        rank: the process's hostfile line (hostfile only).
        chief_port: the chief's port. Defaults to one derived from `SLURM_JOB_ID`.
        gpus_per_worker: GPUs per worker; None leaves the devices as they are.
        environ: the environment to read. Defaults to `os.environ`.
        gpus: this host's GPU ids. Defaults to `launcher.gpu_ids()`.
        backend: the Keras backend. Defaults to the current one.
    """
    role = cluster_role(cluster, rank, chief_port, environ)
    env = role.environ()
    if role.rank == 0:
        env["CUDA_VISIBLE_DEVICES"] = ""  # the chief trains nothing
        return env
    if gpus_per_worker is None:
        return env
    from kzoo.tuning.distribute import launcher

    gpus = launcher.gpu_ids() if gpus is None else list(gpus)
    if gpus:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(device_block(role, gpus, gpus_per_worker))
        return env
    if backend is None:
        from kzoo.runtime.backend import current_backend

        backend = current_backend()
    env.update(launcher.plan_devices(1, gpus_per_worker, backend, [], environ)[0])
    return env
